-- Prosody configuration for the tests of inspect/logs: Prosody's debug log with whole
-- stanzas (mod_stanza_debug, shipped with Prosody 0.12) is one of the formats that
-- `stanzascope inspect` reads. Placeholders replaced before use:
--   @DIR@   a temporary directory for data, log, pid and the certificate
--   @PORT@  a free loopback port for client connections
-- Start with `prosody --config FILE -F`; it stays in the foreground as the current user,
-- on 127.0.0.1 only, with no server-to-server or HTTP listener.

run_as_root = true -- only matters when the tests run as root (CI containers)
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
plugin_paths = {}
certificates = "@DIR@"
log = { { levels = { min = "debug" }, to = "file", filename = "@DIR@/prosody.log" } }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "version"; "offline"; "stanza_debug";
}
modules_disabled = { "s2s" }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

VirtualHost "localhost"
	ssl = {
		certificate = "@DIR@/localhost.crt";
		key = "@DIR@/localhost.key";
	}
