-- Prosody configuration for stanzascope's tests (proxy/prosody_test.go and
-- scripts/interop-proxy.sh). The placeholders are replaced before use:
--   @DIR@      a temporary directory holding the data, the log and the certificate
--   @PORT@     a free loopback port for client connections
--   @REQUIRE@  true or false: whether clients must use STARTTLS before logging in
-- Start it with `prosody --config FILE -F`: it runs as the current user in the
-- foreground, on 127.0.0.1 only, with no server-to-server or HTTP listener, so a test can
-- start it and stop it by PID. Accounts: `prosodyctl --config FILE register USER localhost
-- PASSWORD`, or in-band registration (allowed).

run_as_root = true -- only matters when the tests run as root (CI containers)
pidfile = "@DIR@/prosody.pid"
data_path = "@DIR@/data"
plugin_paths = {}
certificates = "@DIR@"
log = { { levels = { min = "info" }, to = "file", filename = "@DIR@/prosody.log" } }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "register"; "time"; "version"; "offline";
}
modules_disabled = { "s2s" }

allow_registration = true
min_seconds_between_registrations = 0
c2s_require_encryption = @REQUIRE@
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"

VirtualHost "localhost"
	ssl = {
		certificate = "@DIR@/localhost.crt";
		key = "@DIR@/localhost.key";
	}
