#!/usr/bin/env bash
# Runs every test of stanzascope: installs the real peers the tests need (Prosody, slixmpp,
# tshark, ...) from Debian when they are missing, then gofmt, go vet, staticcheck,
# go test -race (which also runs every fuzz target on its seed corpus in testdata/) and the
# interop scripts.
#
# Peers are required here: CI=1 makes every test that needs a peer, a capture permission
# or test data fail instead of skipping, and scripts/testreport fails the run if any test
# skipped for a reason it does not list as harmless (for example a helper process). A
# quick local `go test ./...` without CI still skips what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=1

# What the tests need: a check, and the Debian package that satisfies it.
need=()
command -v prosody >/dev/null 2>&1 || need+=(prosody)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
/usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 || need+=(python3-slixmpp)
# cmd/stanzascope runs the curl examples of docs/API.md as written.
command -v curl >/dev/null 2>&1 || need+=(curl)
# scripts/interop-sendxmpp.sh: Debian's command-line clients (Go and Perl XMPP libraries).
command -v go-sendxmpp >/dev/null 2>&1 || need+=(go-sendxmpp)
command -v sendxmpp >/dev/null 2>&1 || need+=(sendxmpp)
# inspect/web and cmd/stanzascope drive the web view in headless Chromium (chromedp).
[ -x /usr/bin/chromium ] || need+=(chromium)
# cmd/stanzascope's log tests start ejabberd with erl and its libraries from Debian.
{ command -v erl && compgen -G '/usr/lib/*/ejabberd-*/ebin'; } >/dev/null 2>&1 || need+=(ejabberd)
# switch/store/pgtest runs initdb and postgres from PATH or Debian's /usr/lib/postgresql/*/bin.
{ command -v initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb'; } >/dev/null 2>&1 || need+=(postgresql)
# switch/cluster/natstest runs nats-server (with JetStream) from PATH or /usr/sbin.
{ command -v nats-server || [ -x /usr/sbin/nats-server ]; } >/dev/null 2>&1 || need+=(nats-server)
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

echo "== go test -race (peers required; failures, skips and a summary follow)"
report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT
go build -o "$report/testreport" ./scripts/testreport
set +e
go test -race -count=1 -timeout 15m -json ./... 2>&1 | "$report/testreport"
status=("${PIPESTATUS[@]}")
set -e
if [ "${status[0]}" -ne 0 ] || [ "${status[1]}" -ne 0 ]; then
	echo "== go test failed (go test exit ${status[0]}, report exit ${status[1]})"
	exit 1
fi

echo "== allocation guards (without -race, which allocates)"
go test -count=1 -run 'Allocs$' ./...

echo "== interop"
scripts/interop.sh

echo "== stress (the switch against real adversaries, docs/RELIABILITY.md)"
scripts/stress.sh

echo "== all tests passed"
