#!/usr/bin/env bash
# Interop with independent implementations: slixmpp against the embedded switch, and
# slixmpp through the proxy in front of Prosody; Debian's command-line clients go-sendxmpp
# and sendxmpp against the switch and (sendxmpp) through the proxy to Prosody.
set -euo pipefail
cd "$(dirname "$0")/.."
for s in scripts/interop-switch.sh scripts/interop-proxy.sh scripts/interop-sendxmpp.sh; do
	if [ ! -x "$s" ]; then
		echo "interop: $s is missing" >&2
		exit 1
	fi
	echo "-- $s"
	"$s"
done
