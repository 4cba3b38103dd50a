#!/usr/bin/env bash
# Interop with Debian's command-line XMPP clients: go-sendxmpp (Go, mattn/go-xmpp) and
# sendxmpp (Perl, Net::XMPP) each send one message over STARTTLS to the embedded switch
# (`stanzascope switch`), and through `stanzascope proxy` to Prosody
# (testdata/prosody, TLS required). A slixmpp receiver (scripts/interop/receive.py),
# logged in before they send, must get every message; the JSON log of the switch or the
# proxy must show them on the wire. go-sendxmpp writes "\n" behind its <auth/> and
# "<?xml version='1.0'?>" before its restarted header: through the proxy, Prosody must get
# that "\n" before its parser reset, as it does direct (its expat refuses "\n<?xml").
# Builds stanzascope; every process it starts listens on 127.0.0.1 and is stopped by its
# PID. Installs nothing: needs go-sendxmpp, sendxmpp, prosody, openssl and /usr/bin/python3
# with python3-slixmpp (scripts/test.sh installs them).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
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
	for p in "${pids[@]}"; do stop "$p"; done
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "interop-sendxmpp: FAILED: $*" >&2
	for f in "$work"/*.out "$work"/*.stderr "$work"/prosody.log; do
		if [[ -s "$f" ]]; then
			echo "--- $(basename "$f") (last lines)" >&2
			tail -n 25 "$f" >&2
		fi
	done
	for f in "$work"/*.jsonl; do
		if grep -q '"kind":"error"' "$f" 2>/dev/null; then
			echo "--- error records in $(basename "$f")" >&2
			grep '"kind":"error"' "$f" | cut -c1-400 >&2
		fi
	done
	exit 1
}

for tool in go-sendxmpp sendxmpp prosody openssl; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install $tool)"
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

# deliver NAME PORT CAFILE CLIENT...: the receiver logs in, then each CLIENT (go:
# go-sendxmpp, pl: sendxmpp) sends it a message with its own token through
# 127.0.0.1:PORT; every one must arrive. Sets tokens to the tokens sent.
deliver() {
	local name=$1 port=$2 cafile=$3
	shift 3
	local clients=("$@") senders=() c
	tokens=()
	for c in "${clients[@]}"; do
		tokens+=("$c-sendxmpp-to-$name-$$")
		senders+=(--sender "${c}send=$c-sendxmpp-to-$name-$$")
	done
	rm -f "$work/ready"
	/usr/bin/python3 "$root/scripts/interop/receive.py" --host 127.0.0.1 --port "$port" --domain localhost \
		--password 'Norwegian Blue' --user rcpt "${senders[@]}" \
		--ready "$work/ready" --cafile "$cafile" >"$work/$name-receive.out" 2>&1 &
	local rpid=$!
	pids+=("$rpid")
	for _ in $(seq 1 600); do # the senders' registrations and the login: at most 60 s
		[[ -s "$work/ready" ]] && break
		kill -0 "$rpid" 2>/dev/null || fail "$name: the receiver ended before it was ready"
		sleep 0.1
	done
	[[ -s "$work/ready" ]] || fail "$name: the receiver was not ready after 60 s"

	for c in "${clients[@]}"; do
		case $c in
		go) # STARTTLS is its default; -n because it takes no CA file.
			printf '%s\n' "go-sendxmpp-to-$name-$$" | timeout 30 go-sendxmpp -u gosend@localhost -p 'Norwegian Blue' \
				-j "127.0.0.1:$port" -n rcpt@localhost >"$work/$name-go-sendxmpp.out" 2>&1 ||
				fail "$name: go-sendxmpp failed (exit $?)"
			;;
		pl) # -t for STARTTLS, -o for the domain when -j names the address.
			printf '%s\n' "pl-sendxmpp-to-$name-$$" | timeout 30 sendxmpp -t -n -u plsend -p 'Norwegian Blue' \
				-j "127.0.0.1:$port" -o localhost rcpt@localhost >"$work/$name-sendxmpp.out" 2>&1 ||
				fail "$name: sendxmpp failed (exit $?)"
			;;
		esac
	done

	local rc=0
	wait "$rpid" || rc=$?
	[[ $rc -eq 0 ]] || fail "$name: the receiver did not get every message (exit $rc)"
	echo "interop-sendxmpp: $name: $(grep -c '^got the message' "$work/$name-receive.out") messages received"
}

# on_wire LOG NAME: each token is in a message stanza the log shows in DIRS.
on_wire() {
	local log=$1 name=$2
	shift 2
	for dir in "$@"; do
		for tok in "${tokens[@]}"; do
			grep -F "\"dir\":\"$dir\"" "$log" | grep -F '"name":"message"' | grep -qF "$tok" ||
				fail "$name: the log has no $dir message with $tok"
		done
	done
}

echo "interop-sendxmpp: building stanzascope"
(cd "$root" && go build -o "$work/stanzascope" ./cmd/stanzascope)

# 1. The embedded switch.
port="$(free_port)"
"$work/stanzascope" switch --listen "127.0.0.1:$port" --domain localhost --db "$work/switch.db" \
	--format json --log "$work/switch.jsonl" >"$work/switch.stdout" 2>"$work/switch.stderr" &
switch_pid=$!
pids+=("$switch_pid")
wait_port "$port" "$switch_pid" "stanzascope switch"
deliver switch "$port" "$work/switch-cert.pem" go pl
stop "$switch_pid"
on_wire "$work/switch.jsonl" switch c2s

# 2. The proxy in front of Prosody, which requires TLS.
prosody_port="$(free_port)"
mkdir -p "$work/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost \
	-keyout "$work/localhost.key" -out "$work/localhost.crt" 2>/dev/null
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$prosody_port|g" -e "s|@REQUIRE@|true|g" \
	"$root/testdata/prosody/prosody.cfg.lua" >"$work/prosody.cfg.lua"
prosody --config "$work/prosody.cfg.lua" -F >"$work/prosody.stdout" 2>&1 &
prosody_pid=$!
pids+=("$prosody_pid")
wait_port "$prosody_port" "$prosody_pid" prosody
port="$(free_port)"
"$work/stanzascope" proxy --listen "127.0.0.1:$port" --upstream "127.0.0.1:$prosody_port" \
	--upstream-insecure --ca-dir "$work/ca" --format json --log "$work/proxy.jsonl" \
	>"$work/proxy.stdout" 2>"$work/proxy.stderr" &
proxy_pid=$!
pids+=("$proxy_pid")
wait_port "$port" "$proxy_pid" "stanzascope proxy"
deliver proxy-prosody "$port" "$work/ca/stanzascope-ca.pem" go pl
stop "$proxy_pid"
on_wire "$work/proxy.jsonl" proxy-prosody c2s s2c
echo "interop-sendxmpp: PASS (go-sendxmpp and sendxmpp -> switch; go-sendxmpp and sendxmpp -> stanzascope proxy -> prosody)"
