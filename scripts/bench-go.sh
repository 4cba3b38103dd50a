#!/usr/bin/env bash
# scripts/bench-go.sh: runs the Go benchmarks whose figures docs/BENCHMARKS.md quotes, each
# with exactly the command the document names, and keeps the raw output in
# docs/bench/go/NAME.txt under a header that records the command, the commit (and whether
# the working tree had changes), the date, Go, the machine and the load average before and
# after. docs/BENCHMARKS.md then quotes figures from these files and names them.
#
#   scripts/bench-go.sh             every group, one after the other (about 15-30 minutes)
#   scripts/bench-go.sh rules proxy  only these groups
#   scripts/bench-go.sh -list        the groups and their commands
#
#   scripts/bench-go.sh -check FILE  only the check below, on a raw output file
#
# It fails (exit 1, after running every group asked for) when a benchmark fails, or when a
# proxy benchmark's JSON log missed a record or never caught up: the proxy runs log every
# record (lossless: the traffic waits for the log), their figures include the wait for the
# log to catch up ("logged-msg/s", after "log-behind", how far behind it was when the
# traffic ended), and a figure measured while the log missed records measures less work
# than it claims. Such a benchmark fails by itself; the check names it in the file.
# Run it on a machine as quiet as you can get; the header shows how quiet it was.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_GO_OUT:-$ROOT/docs/bench/go}

# name|command (run from the repository's root; the same text is in docs/BENCHMARKS.md)
GROUPS_TABLE="reader|go test -run '^\$' -bench 'Frame|RawToken' -benchtime 1s -count 5 ./inspect
printers|go test -run '^\$' -bench 'BenchmarkJSON|BenchmarkPretty' -benchtime 2s -count 3 ./inspect
switch-route|go test -run '^\$' -bench RouteMessages -benchtime 300000x -count 3 ./switch/server/
switch-idle|go test -run '^\$' -bench IdleSessionMemory -benchtime 1x -count 3 ./switch/server/
switch-idle-10k|for g in 100 50 100 50; do echo \"# GOGC=\$g\"; GOGC=\$g STANZASCOPE_IDLE_SESSIONS=10000 go test -run '^\$' -bench 'IdleSessionMemory/plain' -benchtime 1x -count 1 -timeout 20m ./switch/server/; done
storage|go test -run '^\$' -bench . ./switch/scram ./switch/store
store-compare|go test -run '^\$' -bench 'BenchmarkBolt\$|BenchmarkPostgres\$|BenchmarkLogin\$' -benchtime 200x -count 3 ./switch/store/... ./switch/server/
cluster-route|go test -run '^\$' -bench Route -benchtime 10000x -count 3 ./switch/cluster/
proxy|go test -run '^\$' -bench 'Throughput|SwitchChat|Latency' -benchtime 20000x -count 3 ./proxy
breakpoints|go test -run '^\$' -bench 'Breakpoints\$|BreakpointMatch' -benchtime 50000x -count 8 -cpu 1 ./proxy
websocket|go test -run '^\$' -bench WebSocketChat -benchtime 5000x -count 6 ./proxy
proxy-idle|go test -run '^\$' -bench IdleMemory -benchtime 1x -count 3 ./proxy
rules|go test -run '^\$' -bench 'BenchmarkApply|BenchmarkReadAndApply' -benchtime 1s -count 5 ./rules/
rules-proxy|go test -run '^\$' -bench BenchmarkProxy -benchtime 10000x -count 5 ./rules/
captures|go test -run '^\$' -bench ReadFile -benchtime 3x -count 2 ./inspect/capture
web-hub|go test -run '^\$' -bench HubWrite -benchtime 100000x -count 3 ./inspect/web
web-page|go test -run '^\$' -bench PageHistory -benchtime 5x -count 3 ./inspect/web
logs|go test -run '^\$' -bench 'LogsAgainstRawXML|ReadSlixmpp|ReadProsody|ReadRawXML' -benchtime 3x -count 3 ./inspect/logs
metrics|go test -run '^\$' -bench 'Routing|RecordMetrics' -benchtime 50000x -count 6 ./cmd/stanzascope/internal/metrics"

command_of() { # command_of NAME: the command of a group, or nothing
	echo "$GROUPS_TABLE" | awk -F'|' -v n="$1" '$1 == n { sub(/^[^|]*\|/, ""); print }'
}

# check FILE: the lines of a raw output that say its proxy log missed records or never
# caught up (proxy/bench_test.go, benchLog), and a benchmark line that reports log-behind
# without logged-msg/s (the log did not catch up before the figure was taken); nothing
# when the log was complete.
check() {
	grep -E 'the JSON log lost records|the log is still [0-9]+ records behind' "$1" || true
	awk '/^Benchmark/ && / log-behind/ && !/ logged-msg\/s/ { print $1 ": log-behind without logged-msg/s" }' "$1"
}

if [ "${1:-}" = "-check" ]; then
	[ $# -eq 2 ] || { echo "usage: scripts/bench-go.sh -check FILE" >&2; exit 2; }
	bad=$(check "$2")
	if [ -n "$bad" ]; then
		echo "$bad"
		exit 1
	fi
	exit 0
fi
if [ "${1:-}" = "-list" ]; then
	echo "$GROUPS_TABLE" | sed 's/|/: /'
	exit 0
fi
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	mapfile -t names < <(echo "$GROUPS_TABLE" | cut -d'|' -f1)
fi
for n in "${names[@]}"; do
	if [ -z "$(command_of "$n")" ]; then
		echo "bench-go: no group $n (see scripts/bench-go.sh -list)" >&2
		exit 2
	fi
done

commit=$(git rev-parse HEAD)
subject=$(git log -1 --format=%s HEAD)
dirty=""
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	dirty=" WITH UNCOMMITTED CHANGES (the figures do not belong to this commit)"
fi
mkdir -p "$OUT"
status=0
for n in "${names[@]}"; do
	cmd=$(command_of "$n")
	file=$OUT/$n.txt
	echo "bench-go: $n: $cmd" >&2
	{
		echo "# command: $cmd"
		echo "# commit: ${commit:0:12} ($subject)$dirty"
		echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "# go: $(go version | awk '{print $3, $4}')"
		echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
		echo "# load average before (1, 5, 15 min): $(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$file"
	rc=0
	bash -c "$cmd" >>"$file" 2>&1 || rc=$?
	echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$file"
	if [ "$rc" -ne 0 ]; then
		echo "bench-go: $n FAILED (exit $rc); see $file" >&2
		echo "# FAILED: exit $rc" >>"$file"
		status=1
	fi
	# A proxy log that missed records, or never caught up, invalidates the group's figures.
	bad=$(check "$file")
	if [ -n "$bad" ]; then
		echo "bench-go: $n: THE LOG MISSED RECORDS, the figures do not hold:" >&2
		echo "$bad" >&2
		{ echo "# INVALID: the log missed records:"; echo "$bad" | sed 's/^/#   /'; } >>"$file"
		status=1
	fi
done
exit $status
