#!/usr/bin/env bash
# scripts/ab-mainjob.sh: the main job's CPU time per message delivered, two builds side by
# side in the same run (issue 12). It starts each binary as the main job (the proxy in
# front of its embedded switch, with a JSON log of its own, as scripts/bench.sh's
# proxy-embedded-json does), registers 100 accounts on each, then runs rounds of the load
# tool at --rate max against A and B in turn and prints, per round, the messages delivered
# and the CPU time (user + system) the job spent per message. On a shared or virtual
# machine a job's CPU per message is steadier than its throughput; alternating rounds
# spreads what the machine does over both builds. Compare medians, not single rounds.
#
#   scripts/ab-mainjob.sh OLD_BINARY NEW_BINARY      (go build -o X ./cmd/stanzascope)
#
# Environment: ROUNDS (3), DURATION (8s), TLS=--tls for STARTTLS clients, AB_DIR (a
# temporary directory, removed at the end unless KEEP_WORK is set), AB_PORT (26040: uses
# four ports from there, on 127.0.0.1). A binary may be a wrapper script that sets the
# environment (GOGC=200 exec ...): the load tool is always A's.
set -euo pipefail
A=${1:?usage: scripts/ab-mainjob.sh OLD_BINARY NEW_BINARY}
B=${2:?usage: scripts/ab-mainjob.sh OLD_BINARY NEW_BINARY}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
PORT=${AB_PORT:-26040}
W=${AB_DIR:-$(mktemp -d)}
mkdir -p "$W/a" "$W/b"
QUIET=(--format raw --filter-name bench-shows-nothing --max-conns-per-ip 0 --logins-per-minute 0
	--registrations-per-minute 0 --auth-failures-per-minute 0 --max-sessions-per-account 0)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -z "${KEEP_WORK:-}" ]; then rm -rf "$W"; else echo "work directory kept: $W" >&2; fi
}
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# idle: clock ticks the machine's CPUs were idle or waiting for I/O, all together: a round
# whose job waited on something (its log's disk) leaves the CPUs idle.
idle() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
start() { # start NAME BINARY PORT: the main job, its log in $W/NAME
	"$2" --listen "127.0.0.1:$3" --ca-dir "$W/$1/ca" --domain localhost --db "$W/$1/switch.db" \
		--web "127.0.0.1:$(($3 + 1))" "${QUIET[@]}" --log "$W/$1/log.jsonl" >"$W/$1/job.out" 2>&1 &
	PIDS+=($!)
}
start a "$A" "$PORT"
PA=${PIDS[0]}
start b "$B" "$((PORT + 2))"
PB=${PIDS[1]}
for p in "$PORT" "$((PORT + 2))"; do # up, then 100 accounts
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
	"$A" bench --target "127.0.0.1:$p" --domain localhost --sasl SCRAM-SHA-1 --clients 100 --register --register-only >/dev/null
done
HZ=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
	for t in a b; do
		if [ $t = a ]; then p=$PORT pid=$PA; else p=$((PORT + 2)) pid=$PB; fi
		c0=$(ticks "$pid") i0=$(idle)
		n=$("$A" bench --target "127.0.0.1:$p" --domain localhost --sasl SCRAM-SHA-1 --clients 100 --rate max \
			--duration "$DURATION" ${TLS:-} 2>&1 | awk '/^delivered/ {print $2}')
		c=$(($(ticks "$pid") - c0)) i=$(($(idle) - i0))
		echo "$t round=$round delivered=$n cpu_us_per_msg=$(awk -v c="$c" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.2f", c * 1e6 / hz / n }') log_mb=$(du -m "$W/$t/log.jsonl" | cut -f1) cpus_idle_s=$(awk -v i="$i" -v hz="$HZ" 'BEGIN { printf "%.1f", i / hz }') load=$(cut -d' ' -f1 /proc/loadavg)"
	done
done
