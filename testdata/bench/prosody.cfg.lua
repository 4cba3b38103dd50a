-- Prosody configuration for scripts/bench.sh. Placeholders replaced before use:
--   @DIR@   a temporary directory for data, log, pid and the certificate
--   @PORT@  a free loopback port for client connections
-- Settings match testdata/bench/ejabberd.yml and the embedded switch: one host
-- "localhost", in-band registration open (no throttle), STARTTLS offered but not
-- required, SCRAM-SHA-1 with hashed storage, no rate limits (mod_limits not loaded), no
-- archive, no server-to-server or HTTP listener, log at warning level only.
-- Start with `prosody --config FILE -F`; it stays in the foreground as the current user.

run_as_root = true
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
plugin_paths = {}
certificates = "@DIR@"
log = { { levels = { min = "warn" }, to = "file", filename = "@DIR@/prosody.log" } }
network_backend = "epoll"
-- Prosody keeps Nagle's algorithm on by default; Go (the switch, the proxy, the relay) and
-- ejabberd's c2s sockets set TCP_NODELAY. Off here too, so that no server waits for the
-- client's delayed ACK (40 ms) before sending a small stanza.
network_settings = { nagle = false }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "version"; "offline";
}
modules_disabled = { "s2s" }

allow_registration = true
min_seconds_between_registrations = 0
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
default_iteration_count = 4096 -- as the switch and ejabberd (Prosody 0.12 defaults to 10000)
storage = "internal"

VirtualHost "localhost"
	ssl = {
		certificate = "@DIR@/server.crt";
		key = "@DIR@/server.key";
	}
