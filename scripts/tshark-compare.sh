#!/bin/sh
# tshark-compare.sh: check that stanzascope reads the reference captures exactly as
# tshark's XMPP dissector does (per connection: the same top-level elements, in the same
# order), and that the captures PcapWriter writes decode in tshark.
#
#   scripts/tshark-compare.sh            compare (fails when tshark is missing)
#   scripts/tshark-compare.sh -update    rewrite inspect/capture/testdata/tshark-golden.txt
#   scripts/tshark-compare.sh FILE...    also list, per connection, what each tool finds
#
# Needs Debian's tshark. The captures are the repository's testdata/captures.
set -eu
cd "$(dirname "$0")/.."
command -v tshark >/dev/null || { echo "tshark-compare: tshark is not installed (apt install tshark)" >&2; exit 1; }

if [ "${1:-}" = "-update" ]; then
	exec go test ./inspect/capture -count=1 -run 'TestRealCapturesMatchTshark' -update
fi

CI=1 go test ./inspect/capture -count=1 -run 'TestRealCapturesMatchTshark|TestRoundTrip|TestWriterAfterSTARTTLS' -v |
	grep -E '^(=== RUN|--- |ok|FAIL|PASS)'

for f in "$@"; do
	echo "== $f"
	echo "-- tshark: XMPP packets per TCP stream (a packet may hold several stanzas)"
	tshark -r "$f" -Y xmpp -T fields -e tcp.stream 2>/dev/null | sort -n | uniq -c
	echo "-- stanzascope: stream events per connection"
	go run ./cmd/stanzascope inspect "$f" --format json 2>/dev/null |
		grep -E '"kind":"(open|stanza|close)"' | sed -E 's/.*"conn":([0-9]+).*/\1/' | sort -n | uniq -c
done
