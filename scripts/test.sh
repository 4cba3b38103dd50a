#!/usr/bin/env bash
# Runs every test of stanzascope: installs the real peers the tests need (Prosody, slixmpp,
# tshark) from Debian when they are missing, then gofmt, go vet, go test -race (which also
# runs every fuzz target on its seed corpus in testdata/) and the interop scripts.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prosody >/dev/null 2>&1 || need+=(prosody)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
/usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 || need+=(python3-slixmpp)
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]} from Debian"
	if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test -race"
go test -race -count=1 -timeout 15m ./...

echo "== interop"
scripts/interop.sh

echo "== all tests passed"
