#!/usr/bin/env bash
# Interop test of the proxy with real, independent peers: Debian's Prosody as the upstream
# and slixmpp as the client, TLS on both legs. Builds stanzascope, starts Prosody from
# testdata/prosody on a free loopback port (own config and data in a temporary directory,
# self-signed certificate made now), starts `stanzascope proxy` in front of it with a JSON
# log, runs scripts/interop/slixmpp_client.py through the proxy trusting the proxy's CA,
# then checks that every stanza in the client's trace is in the proxy's log. Stops Prosody
# and the proxy by their PIDs. Installs nothing: needs prosody, prosodyctl, openssl and
# /usr/bin/python3 with python3-slixmpp.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
prosody_pid=""
proxy_pid=""
stop() { # stop PID: TERM, then wait (bounded), then KILL
	local pid="$1"
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
		wait "$pid" 2>/dev/null || true
	fi
}
cleanup() {
	stop "$proxy_pid"
	stop "$prosody_pid"
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "interop-proxy: FAILED: $*" >&2
	for f in proxy.stderr prosody.log; do
		if [[ -f "$work/$f" ]]; then
			echo "--- $f (last lines)" >&2
			tail -n 30 "$work/$f" >&2
		fi
	done
	exit 1
}

for tool in prosody prosodyctl openssl; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install prosody openssl)"
done
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || fail "/usr/bin/python3 cannot import slixmpp (apt-get install python3-slixmpp)"

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() { # wait_port PORT PID NAME: until PORT accepts, failing if PID exits
	for _ in $(seq 1 100); do
		if /usr/bin/python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null; then
			return 0
		fi
		kill -0 "$2" 2>/dev/null || fail "$3 exited early"
		sleep 0.1
	done
	fail "$3 does not accept connections on port $1"
}

echo "interop-proxy: building stanzascope"
(cd "$root" && go build -o "$work/stanzascope" ./cmd/stanzascope)

# Prosody: config from the template, a certificate for localhost, its own data directory.
prosody_port="$(free_port)"
mkdir -p "$work/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$work/localhost.key" -out "$work/localhost.crt" 2>/dev/null
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$prosody_port|g" -e "s|@REQUIRE@|true|g" \
	"$root/testdata/prosody/prosody.cfg.lua" >"$work/prosody.cfg.lua"
prosody --config "$work/prosody.cfg.lua" -F >"$work/prosody.stdout" 2>&1 &
prosody_pid=$!
wait_port "$prosody_port" "$prosody_pid" prosody
echo "interop-proxy: prosody (pid $prosody_pid) on 127.0.0.1:$prosody_port"

# The proxy, in front of it, with its own CA and a JSON log.
proxy_port="$(free_port)"
"$work/stanzascope" proxy --listen "127.0.0.1:$proxy_port" --upstream "127.0.0.1:$prosody_port" \
	--upstream-insecure --ca-dir "$work/ca" --format json --log "$work/proxy.jsonl" \
	>"$work/proxy.stdout" 2>"$work/proxy.stderr" &
proxy_pid=$!
wait_port "$proxy_port" "$proxy_pid" "stanzascope proxy"
echo "interop-proxy: stanzascope proxy (pid $proxy_pid) on 127.0.0.1:$proxy_port"

status=0
/usr/bin/python3 "$root/scripts/interop/slixmpp_client.py" --host 127.0.0.1 --port "$proxy_port" \
	--domain localhost --user1 u1 --user2 u2 --password pw \
	--cafile "$work/ca/stanzascope-ca.pem" --trace "$work/trace.jsonl" || status=$?
[[ $status -eq 0 ]] || fail "the slixmpp client failed through the proxy (exit $status)"

# Stop the proxy first so its log is complete, then Prosody.
stop "$proxy_pid"
proxy_pid=""
stop "$prosody_pid"
prosody_pid=""

# Every stanza the client sent or received must be in the proxy's log, in that direction,
# with the same name, id and type, as often as the client saw it.
/usr/bin/python3 - "$work/trace.jsonl" "$work/proxy.jsonl" <<'PY' || fail "the proxy's log misses stanzas"
import collections, json, sys

trace = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
log = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
dirs = {"out": "c2s", "in": "s2c"}

def kind(t):
    # slixmpp reports a presence without a type attribute as type "available".
    typ = t.get("type") or ""
    return "" if t["name"] == "presence" and typ == "available" else typ

want = collections.Counter((dirs[t["dir"]], t["name"], t.get("id") or "", kind(t)) for t in trace)
have = collections.Counter((r.get("dir", ""), r.get("name", ""), r.get("id") or "", r.get("type") or "")
                           for r in log if r.get("kind") == "stanza")
missing = {k: n - have[k] for k, n in want.items() if have[k] < n}
notes = "\n".join(r.get("note", "") for r in log)
for must in ("TLS with client: TLS", "TLS with upstream: TLS", "SASL: success", "bound JID u1@localhost/"):
    if must not in notes:
        print(f"log has no note {must!r}")
        sys.exit(1)
if missing:
    for k, n in sorted(missing.items()):
        print(f"missing from the log: {n} x {k}")
    sys.exit(1)
print(f"interop-proxy: all {sum(want.values())} stanzas of the client's trace are in the proxy's log "
      f"({len(log)} records)")
PY
echo "interop-proxy: PASS (slixmpp -> stanzascope proxy -> prosody, TLS on both legs)"
