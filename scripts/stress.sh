#!/usr/bin/env bash
# Runs the switch's tests with real adversaries (switch/server/stress_test.go, build tag
# "stress"): slow readers, half-open and slowloris connections, registration and login
# floods, kill -9 during a burst, a switch process under `prlimit --nofile` (util-linux)
# flooded past its descriptor limit. Loopback only, each bounded in count and time; the whole
# run takes well under 5 minutes. Each test prints its figures on lines with "figures:",
# collected at the end (docs/RELIABILITY.md tabulates them).
set -euo pipefail
cd "$(dirname "$0")/.."

# Thousands of connections, both ends in one process: as many descriptors as allowed.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
set +e
go test -tags stress -count=1 -timeout 5m -run '^TestStress' -v ./switch/server/ >"$out" 2>&1
status=$?
set -e
grep -E '^(--- |FAIL|ok|PASS)' "$out" || true
if [ "$status" -ne 0 ]; then
	echo "== stress tests failed; their output:"
	cat "$out"
	exit 1
fi
echo "== figures"
grep -o 'figures: .*' "$out" | sed 's/^figures: //'
