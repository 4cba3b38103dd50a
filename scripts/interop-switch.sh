#!/usr/bin/env bash
# Interop test of the embedded switch with a real, independent client (slixmpp): builds
# stanzascope, starts `stanzascope switch` on a free loopback port with a temporary database,
# runs scripts/interop/slixmpp_client.py against it and stops the switch by its PID.
# Needs /usr/bin/python3 with python3-slixmpp (scripts/test.sh installs it); installs nothing.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

if ! /usr/bin/python3 -c 'import slixmpp' 2>/dev/null; then
	echo "interop-switch: /usr/bin/python3 cannot import slixmpp (apt-get install python3-slixmpp)" >&2
	exit 1
fi

echo "interop-switch: building stanzascope"
(cd "$root" && go build -o "$work/stanzascope" ./cmd/stanzascope)

# A free port: bind port 0, read it back, release it.
port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"

"$work/stanzascope" switch --listen "127.0.0.1:$port" --domain localhost --db "$work/switch.db" \
	--require-tls --format json --log "$work/switch.jsonl" >"$work/stdout.log" 2>"$work/stderr.log" &
pid=$!

# Wait (bounded) until the switch accepts connections.
for _ in $(seq 1 100); do
	if /usr/bin/python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))" 2>/dev/null; then
		break
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "interop-switch: the switch exited early:" >&2
		cat "$work/stderr.log" >&2
		exit 1
	fi
	sleep 0.1
done

status=0
/usr/bin/python3 "$root/scripts/interop/slixmpp_client.py" --host 127.0.0.1 --port "$port" \
	--domain localhost --user1 praline --user2 dana --password 'Norwegian Blue' \
	--cafile "$work/switch-cert.pem" --trace "$work/trace.jsonl" || status=$?

kill "$pid"
wait "$pid" || true
pid=""
if [[ $status -ne 0 ]]; then
	echo "interop-switch: FAILED; switch log follows" >&2
	tail -n 50 "$work/stderr.log" >&2
	tail -n 40 "$work/stdout.log" >&2
	exit "$status"
fi
echo "interop-switch: slixmpp against the switch passed ($(wc -l <"$work/switch.jsonl") records logged)"
