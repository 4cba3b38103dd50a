#!/usr/bin/env bash
# scripts/bench.sh: the side-by-side benchmark of issue 7.
#
# Runs the same load ('stanzascope bench') against the embedded switch, Prosody, ejabberd,
# Prosody through 'stanzascope proxy', the switch through the proxy (printing nothing, and
# writing a JSON log: proxy-switch-json; without the web view: proxy-switch-noweb; with three
# browsers reading the web view: proxy-switch-web3), the main job with a JSON log, its switch
# in the same process (proxy-embedded-json, issue 12's configuration) and a plain TCP relay (io.Copy, 'stanzascope bench
# relay') in front of Prosody and of the switch, in plaintext and then with STARTTLS, and
# measures resident memory per idle connection; for issue 17 also the switch on PostgreSQL
# (switch-pg) and two switch nodes on PostgreSQL and NATS with each pair of clients split
# between them (cluster) or on one of them (cluster-same). Writes docs/bench/REPORT.md, its charts
# (docs/bench/*.svg, scripts/benchchart) and the raw
# JSON results under docs/bench/results/.
#
# Everything listens on and talks to 127.0.0.1. Every process the script starts is
# stopped by PID when it exits. Needs root (or the packages installed) for apt-get.
#
# Knobs (environment): BENCH_OFFLINE (20, offline messages per pair), BENCH_DURATION (10s), BENCH_CLIENTS (100), BENCH_RATE (2000, the
# offered rate of the latency runs), BENCH_ROUNDS (3: max runs of the main job and the relay,
# alternating, for issue 12's comparison), BENCH_HOLD (10s), BENCH_IDLE_SERVER ("1000 9000"),
# BENCH_IDLE_PROXY ("1000 4500"), BENCH_OUT (docs/bench). BENCH_ONLY: the targets to run,
# separated by spaces (for example "switch relay-switch proxy-switch-json"); the servers
# they need are started, the others are not, and the idle-memory runs are skipped. Give
# such a run its own BENCH_OUT, so that the full report stays whole.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DUR=${BENCH_DURATION:-10s}
CLIENTS=${BENCH_CLIENTS:-100}
RATE=${BENCH_RATE:-2000}
HOLD=${BENCH_HOLD:-10s}
IDLE_SERVER=${BENCH_IDLE_SERVER:-"1000 9000"}
IDLE_PROXY=${BENCH_IDLE_PROXY:-"1000 4500"}
ONLY=${BENCH_ONLY:-}
if [ -n "$ONLY" ]; then IDLE_SERVER="" IDLE_PROXY=""; fi
# want TARGET...: whether any of the targets is to be run.
want() {
	local t
	[ -z "$ONLY" ] && return 0
	for t in "$@"; do [[ " $ONLY " == *" $t "* ]] && return 0; done
	return 1
}
OUT=${BENCH_OUT:-$ROOT/docs/bench}
PY=/usr/bin/python3
START_TIME=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

WORK=$(mktemp -d /tmp/stanzascope-bench.XXXXXX)
chmod 755 "$WORK"
RES=$WORK/results
mkdir -p "$RES" "$OUT"
CMDS=$RES/commands.txt
NOTES=$RES/notes.txt
: >"$CMDS"
: >"$NOTES"
PIDS=()

log() { echo "bench.sh: $*" >&2; }
SRVCMDS=$RES/servers.txt
: >"$SRVCMDS"
# record CMD...: note how a server was started, with the work directory as $WORK.
record() { echo "$*" | sed "s|$WORK|\$WORK|g" >>"$SRVCMDS"; }
note() { echo "$*" >>"$NOTES"; log "$*"; }

# descendants PID: the PID and all its descendants, children first.
descendants() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		descendants "$c"
	done
	echo "$1"
}

stop_pid() {
	local p
	for p in $(descendants "$1"); do
		kill "$p" 2>/dev/null || true
	done
}

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		stop_pid "$p"
	done
	sleep 1
	for p in "${PIDS[@]}"; do
		for q in $(descendants "$p"); do kill -9 "$q" 2>/dev/null || true; done
	done
	if [ -n "${KEEP_WORK:-}" ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT PID NAME: until something accepts on 127.0.0.1:PORT (20 s), or PID died.
wait_port() {
	local i
	for i in $(seq 200); do
		if ! kill -0 "$2" 2>/dev/null; then
			log "$3 exited while starting"
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	log "$3 does not accept on 127.0.0.1:$1"
	return 1
}

# report: REPORT.md from the results directory (Python from Debian's python3).
report() {
	"$PY" - "$OUT/results" <<'PYEOF'
import json, os, sys

res = sys.argv[1]
def load(name):
    p = os.path.join(res, name + ".json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return None
def error(name):
    p = os.path.join(res, name + ".error")
    if os.path.exists(p):
        lines = [l.strip() for l in open(p) if l.strip()]
        return lines[-1] if lines else "failed"
    return "not run"
def text(name):
    p = os.path.join(res, name)
    return open(p).read() if os.path.exists(p) else ""

machine = dict(l.strip().split("=", 1) for l in text("machine.txt").splitlines() if "=" in l)
rate = machine.get("rate", "?")
NAMES = [("switch", "embedded switch"), ("prosody", "Prosody"), ("ejabberd", "ejabberd"),
         ("proxy-prosody", "proxy → Prosody"), ("proxy-switch", "proxy → switch"),
         ("proxy-switch-json", "proxy with a JSON log → switch"),
         ("proxy-embedded-json", "the main job with a JSON log (its embedded switch in process)"),
         ("proxy-switch-noweb", "proxy without the web view → switch"),
         ("proxy-switch-web3", "proxy with 3 browsers on the web view → switch"),
         ("relay-prosody", "TCP relay (io.Copy) → Prosody"),
         ("relay-switch", "TCP relay (io.Copy) → switch"),
         ("switch-pg", "embedded switch on PostgreSQL"),
         ("cluster-same", "2 switch nodes, PostgreSQL + NATS, every pair on one node"),
         ("cluster", "2 switch nodes, PostgreSQL + NATS, every pair across")]
IDLE = {"switch": [], "prosody": [], "ejabberd": [], "proxy-prosody": []}
for f in sorted(os.listdir(res)):
    if f.startswith("idle-") and (f.endswith(".json") or f.endswith(".error")):
        n, t = f[len("idle-"):].rsplit(".", 1)[0].split("-", 1)
        if t in IDLE and int(n) not in IDLE[t]:
            IDLE[t].append(int(n))
for t in IDLE:
    IDLE[t].sort()

def m(run):
    return run and run.get("messages")
def fmt(x, d=0):
    return "–" if x is None else f"{x:,.{d}f}"
def ratio(a, b):
    return None if a is None or not b else a / b
def dps(t, tls):
    r = m(load(f"max-{tls}-{t}"))
    return r and r["delivered_per_second"]
def p99(t, tls, q="p99_ms"):
    r = m(load(f"rate-{tls}-{t}"))
    return r and r["latency"][q]
def idle_kib(t, n):
    r = load(f"idle-{n}-{t}")
    if not r:
        return None, error(f"idle-{n}-{t}")
    i = r.get("idle") or {}
    if i.get("error"):
        return None, i["error"]
    if i.get("connections", 0) < n:
        return i.get("bytes_per_connection", 0) / 1024, f"only {i.get('connections')} of {n} connections logged in"
    return i.get("bytes_per_connection", 0) / 1024, None

out = []
w = out.append
w("# stanzascope bench: the embedded switch and the proxy against Prosody and ejabberd\n")
w("Written by `scripts/bench.sh` (do not edit by hand; run the script again). All traffic on 127.0.0.1;"
  " every server runs on the same machine as the load generator, `stanzascope bench`.\n")
w("## Machine and versions\n")
w(f"- {machine.get('nproc')} cores: {machine.get('cpu')}; {machine.get('memory')} memory; Linux {machine.get('kernel')}")
w(f"- {machine.get('go')}, stanzascope at commit {machine.get('stanzascope')}, Prosody {machine.get('prosody')} (Debian), ejabberd {machine.get('ejabberd')} (Debian)")
w(f"- file descriptor limit {machine.get('fds')}; runs of {machine.get('duration')} with {machine.get('clients')} clients"
  f" ({int(machine.get('clients', 0))//2} pairs); latency runs at {rate} messages/s offered; idle connections held {machine.get('hold')};"
  f" the whole script took {machine.get('elapsed')} s")
w(f"- load average (1, 5, 15 min): {machine.get('load')}. Other work on the machine during the run shares its cores with the servers and the generator: compare the rows of one run, not runs on different days. Even within one run, other work skews the rows: Linux shares the CPUs by thread, so a configuration of two processes (the relay and its switch) keeps more of the machine against other work than one process (the main job) does; issue 12's rounds say how many cores each had.\n")
notes = text("notes.txt").strip()
if notes:
    w("**Not measured / problems:**\n")
    for l in notes.splitlines():
        w(f"- {l}")
    w("")

w("## Results\n")
w(f"Throughput: `--rate max` (each client keeps at most 100 messages in flight). Latency: `--rate {rate}`"
  " (the same offered rate for every configuration), end to end from the sender's stamp to the receiver."
  " Every message sent is delivered, errored or lost; the column says how many were not delivered in both runs."
  " Ratios are to Prosody with the same TLS setting. Memory: resident memory growth of the server (or proxy)"
  " process per idle logged-in connection, plaintext.\n")
w("| configuration | TLS | logins/s | msgs/s (max) | × Prosody | p50 / p99 ms @" + rate + "/s | p99 × Prosody | not delivered | generator CPU (cores) | KiB per idle connection |")
w("|---|---|---:|---:|---:|---:|---:|---|---:|---|")
for tls in ("plain", "tls"):
    for t, name in NAMES:
        mx, rt = load(f"max-{tls}-{t}"), load(f"rate-{tls}-{t}")
        if not mx and not rt and not os.path.exists(os.path.join(res, f"max-{tls}-{t}.error")):
            continue
        cells = [name, "STARTTLS" if tls == "tls" else "no"]
        cells.append(fmt(mx and mx["login"]["per_second"]))
        d = dps(t, tls)
        cells.append(fmt(d) if mx else "failed: " + error(f"max-{tls}-{t}"))
        cells.append(fmt(ratio(d, dps("prosody", tls)), 2) + "×" if d and dps("prosody", tls) else "–")
        if rt:
            l = rt["messages"]["latency"]
            cells.append(f"{l['p50_ms']:.2f} / {l['p99_ms']:.2f}")
            r = ratio(l["p99_ms"], p99("prosody", tls))
            cells.append(f"{r:.2f}×" if r else "–")
        else:
            cells += ["failed: " + error(f"rate-{tls}-{t}"), "–"]
        nd = []
        for run in (mx, rt):
            mm = m(run)
            if mm:
                for k in ("lost", "errored", "skipped"):
                    if mm.get(k):
                        nd.append(f"{mm[k]} {k}")
        cells.append(", ".join(nd) if nd else "0")
        cpu = mx and mx["messages"]["cpu"]
        cells.append((fmt(cpu["cores_used"], 2) + (" **saturated**" if cpu["saturated"] else "")) if cpu else "–")
        mem = []
        if tls == "plain":
            for n in IDLE.get(t, []):
                k, e = idle_kib(t, n)
                mem.append(f"{n}: " + (f"{k:.1f}" if k is not None else "–") + (f" ({e})" if e else ""))
        cells.append("; ".join(mem) if mem else "–")
        w("| " + " | ".join(cells) + " |")
w("")

# Targets.
w("## Targets of issue 7\n")
def verdict(ok):
    return "**met**" if ok else "**missed**"
def target_ratio(label, a, b, need, what):
    if a is None or b is None:
        w(f"- {label}: not measured ({what} missing)")
        return
    r = a / b
    s = f"- {label}: {r:.2f}× (needs {need}×) — {verdict(r >= need)}"
    if r < need:
        s += f", short by {(need - r) / need * 100:.0f} % ({a:,.0f} vs the {need * b:,.0f} needed)"
    w(s)
for tls in ("plain", "tls"):
    tag = "plaintext" if tls == "plain" else "STARTTLS"
    w(f"**{tag}**\n")
    sw, pr, ej = dps("switch", tls), dps("prosody", tls), dps("ejabberd", tls)
    target_ratio("switch msgs/s vs Prosody", sw, pr, 3.0, "a throughput run")
    target_ratio("switch msgs/s vs ejabberd", sw, ej, 1.5, "a throughput run")
    for other in ("prosody", "ejabberd"):
        a, b = p99("switch", tls), p99(other, tls)
        if a is None or b is None:
            w(f"- switch p99 below {other}'s at {rate}/s: not measured")
        else:
            s = f"- switch p99 below {other}'s at {rate}/s: {a:.2f} ms vs {b:.2f} ms — {verdict(a < b)}"
            if a >= b:
                s += f", {a - b:.2f} ms too high"
            w(s)
    a, b = dps("proxy-prosody", tls), pr
    if a is None or b is None:
        w("- proxy keeps ≥ 90 % of Prosody's throughput: not measured")
    else:
        r = a / b
        s = f"- proxy keeps ≥ 90 % of Prosody's throughput: {r * 100:.0f} % ({a:,.0f} vs {b:,.0f} msgs/s) — {verdict(r >= 0.9)}"
        if r < 0.9:
            s += f", short by {(0.9 - r) * 100:.0f} points"
        w(s)
    a, b = p99("proxy-prosody", tls), p99("prosody", tls)
    if a is None or b is None:
        w("- proxy adds ≤ 1 ms p99: not measured")
    else:
        s = f"- proxy adds ≤ 1 ms p99 at {rate}/s: +{a - b:.2f} ms ({a:.2f} vs {b:.2f} ms) — {verdict(a - b <= 1.0)}"
        if a - b > 1.0:
            s += f", {a - b - 1.0:.2f} ms over"
        w(s)
    # Issue 12: "the proxy with a JSON log in front of the embedded switch": the main job
    # (its switch in the same process) against a TCP relay in front of the switch.
    def cpu_us(t, run=""):
        kv = dict(x.split("=", 1) for x in text(f"cpu-{tls}-{t}{run}.txt").split() if "=" in x)
        r = m(load(f"max-{tls}-{t}{run}"))
        if not kv or not r or not r["delivered"]:
            return None
        return float(kv["proxy"]) / float(kv.get("hz", 100)) / r["delivered"] * 1e6
    def sys_per_msg(t, run=""):
        # System calls per message, the host's steal time, the idle CPUs and the I/O wait:
        # what bounded a run, and whether the machine disturbed it.
        kv = dict(x.split("=", 1) for x in text(f"cpu-{tls}-{t}{run}.txt").split() if "=" in x)
        r = m(load(f"max-{tls}-{t}{run}"))
        if "syscr" not in kv or not r or not r["delivered"]:
            return ""
        n = r["delivered"]
        hz = float(kv.get('hz', 100))
        s = f"{n / max(int(kv['syscr']), 1):.1f} messages per read, {n / max(int(kv['syscw']), 1):.1f} per write; {float(kv['steal']) / hz:.1f} s stolen by the host"
        if "idle" in kv:
            s += f"; the CPUs idle {int(kv['idle']) / hz:.1f} s (both together)"
        if "iopressure_us" in kv:
            s += f"; some task waited for I/O {int(kv['iopressure_us']) / 1e6:.1f} s"
        return s
    def cores(t, run=""):
        # The CPU the target had over its run (with the separate switch's, for the relay).
        kv = dict(x.split("=", 1) for x in text(f"cpu-{tls}-{t}{run}.txt").split() if "=" in x)
        if "wall_ms" not in kv or not int(kv["wall_ms"]):
            return None
        return (float(kv["proxy"]) + float(kv.get("switch", 0))) / float(kv.get("hz", 100)) / (int(kv["wall_ms"]) / 1000)
    def median(xs):
        xs = sorted(xs)
        return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    # The rounds of the pair: the first with the other targets, the others alternating
    # after them (BENCH_ROUNDS); the verdict is on the medians.
    runs = [""] + sorted({f[len(f"max-{tls}-relay-switch"):-len(".json")] for f in os.listdir(res)
                          if f.startswith(f"max-{tls}-relay-switch-r") and f.endswith(".json")})
    pairs = [(dps("proxy-embedded-json" + k, tls), dps("relay-switch" + k, tls), k) for k in runs]
    pairs = [(a, b, k) for a, b, k in pairs if a is not None and b is not None]
    if not pairs:
        w("- the main job with a JSON log (proxy + embedded switch) ≥ a TCP relay in front of the switch (issue 12): not measured")
    else:
        a, b = median([x[0] for x in pairs]), median([x[1] for x in pairs])
        what = "one round" if len(pairs) == 1 else f"medians of {len(pairs)} rounds, alternating"
        s = f"- the main job with a JSON log (proxy + embedded switch) ≥ a TCP relay in front of the switch (issue 12): {a:,.0f} vs {b:,.0f} msgs/s ({a / b * 100:.0f} %, {what}) — {verdict(a >= b)}"
        cs = [c for c in (cpu_us("proxy-embedded-json", k) for _, _, k in pairs) if c is not None]
        if cs:
            s += f"; its CPU time {median(cs):.1f} µs per message delivered, the switch's work included"
        rs, ss = [], []
        for _, _, k in pairs:
            # (The relay's system calls are not counted: io.Copy between two TCP
            # connections splices, which /proc/PID/io does not count as reads or writes.)
            kv = dict(x.split("=", 1) for x in text(f"cpu-{tls}-relay-switch{k}.txt").split() if "=" in x)
            r = m(load(f"max-{tls}-relay-switch{k}"))
            if kv and r and r["delivered"] and "switch" in kv:
                hz = float(kv.get("hz", 100))
                rs.append(float(kv["proxy"]) / hz / r["delivered"] * 1e6)
                ss.append(float(kv["switch"]) / hz / r["delivered"] * 1e6)
        if rs:
            s += f"; the relay's {median(rs):.1f} µs and its switch's {median(ss):.1f} µs"
        w(s)
        if len(pairs) > 1 or sys_per_msg("proxy-embedded-json"):
            for i, (x, y, k) in enumerate(pairs):
                d = sys_per_msg("proxy-embedded-json", k)
                c = cpu_us("proxy-embedded-json", k)
                ca, cb = cores("proxy-embedded-json", k), cores("relay-switch", k)
                share = f"; CPU over the run: the main job {ca:.2f} cores, the relay and its switch {cb:.2f}" if ca and cb else ""
                w(f"  - round {i + 1}: {x:,.0f} vs {y:,.0f} msgs/s ({x / y * 100:.0f} %)"
                  + (f", {c:.1f} µs per message" if c is not None else "") + (f" ({d}{share})" if d else ""))
    a, b = dps("proxy-switch-json", tls), dps("relay-switch", tls)
    if a is None or b is None:
        w("- proxy with a JSON log in front of a separate switch process ≥ a TCP relay (issue 12, the other configuration): not measured")
    else:
        s = f"- proxy with a JSON log in front of a separate switch process ≥ a TCP relay (issue 12, the other configuration): {a:,.0f} vs {b:,.0f} msgs/s ({a / b * 100:.0f} %) — {verdict(a >= b)}"
        c = cpu_us("proxy-switch-json")
        if c is not None:
            s += f"; the proxy's CPU time {c:.1f} µs per message delivered"
        w(s)
    a, b, c = dps("proxy-switch-web3", tls), dps("proxy-switch", tls), dps("proxy-switch-noweb", tls)
    if a is None or b is None or c is None:
        w("- the web view's cost, in front of the switch (issue 15): not measured")
    else:
        w(f"- the web view's cost, in front of the switch (issue 15): {c:,.0f} msgs/s without it, {b:,.0f} with it and no browser ({b / c * 100:.0f} %), {a:,.0f} with 3 browsers reading ({a / c * 100:.0f} %)")
        def cpu(t):
            kv = dict(x.split("=", 1) for x in text(f"cpu-{tls}-{t}.txt").split() if "=" in x)
            r = m(load(f"max-{tls}-{t}"))
            if not kv or not r or not r["delivered"]:
                return None, None
            hz = float(kv.get("hz", 100))
            return float(kv["proxy"]) / hz / r["delivered"] * 1e6, float(kv.get("readers", 0)) / hz / r["delivered"] * 1e6
        (ca, ra), (cb, _), (cc, _) = cpu("proxy-switch-web3"), cpu("proxy-switch"), cpu("proxy-switch-noweb")
        if None not in (ca, cb, cc):
            w(f"  - the proxy's CPU time per message delivered in the same runs (less disturbed by other work on the machine than throughput): {cc:.1f} µs without the web view, {cb:.1f} µs with it and no browser ({cb / cc * 100:.0f} %), {ca:.1f} µs with 3 browsers reading ({ca / cc * 100:.0f} %; the 3 readers themselves: {ra:.1f} µs)")
    # Issue 17: the switch on PostgreSQL against bbolt, and what a crossing between two nodes costs.
    a, b = dps("switch-pg", tls), dps("switch", tls)
    if a is None or b is None:
        w("- the switch on PostgreSQL ≥ 50 % of the switch on bbolt (issue 17): not measured")
    else:
        la, lb = (load(f"max-{tls}-{t}")["login"]["per_second"] for t in ("switch-pg", "switch"))
        w(f"- the switch on PostgreSQL ≥ 50 % of the switch on bbolt (issue 17): {a:,.0f} vs {b:,.0f} msgs/s ({a / b * 100:.0f} %) — {verdict(a >= 0.5 * b)};"
          f" logins {la:,.0f} vs {lb:,.0f} per second ({la / lb * 100:.0f} %)")
    # Within a node: the same two nodes with every pair on one of them, else one node on PostgreSQL.
    same = "cluster-same" if load(f"rate-{tls}-cluster-same") else "switch-pg"
    c, one = load(f"max-{tls}-cluster"), dps(same, tls)
    rc, r1 = load(f"rate-{tls}-cluster"), load(f"rate-{tls}-{same}")
    within = "within a node of the cluster" if same == "cluster-same" else "on one node on PostgreSQL"
    if c is None or rc is None:
        w("- two nodes over NATS (issue 17): not measured")
    else:
        s = (f"- two nodes over NATS, every pair across (issue 17): {dps('cluster', tls):,.0f} msgs/s"
             + (f" ({dps('cluster', tls) / one * 100:.0f} % of pairs {within})" if one else "")
             + f", {c['messages'].get('crossed_share', 0) * 100:.0f} % of the delivered messages crossed nodes")
        if r1:
            l2, l1 = rc["messages"]["latency"], r1["messages"]["latency"]
            r = l2["p50_ms"] / l1["p50_ms"]
            s += (f"; at {rate}/s p50 {l2['p50_ms']:.2f} ms / p99 {l2['p99_ms']:.2f} ms against {l1['p50_ms']:.2f} / {l1['p99_ms']:.2f} ms {within}:"
                  f" p50 {r:.2f}× (target ≤ 2×) — {verdict(r <= 2)}")
        w(s)
    if tls == "plain":
        off, per = [], None
        for t, label in (("switch", "bbolt"), ("switch-pg", "PostgreSQL"), ("cluster", "2 nodes, pairs across")):
            r = load(f"offline-plain-{t}")
            if r and r.get("offline"):
                o = r["offline"]
                per = o["per_pair"]
                off.append(f"{label}: {o['stored_per_second']:,.0f} kept/s, {o['logins']['per_second']:,.0f} logins/s with their messages"
                           f" ({o['delivered_per_second']:,.0f} messages/s), {o['missing']} missing")
        if off:
            w(f"- offline messages, {per} per pair, plaintext (issue 17): " + "; ".join(off))
    if tls == "plain":
        cm = [(n, text(f"cluster-metrics-{n}.txt")) for n in ("a", "b")]
        cm = [(n, t) for n, t in cm if "stanzascope_cluster_stanzas_total" in t]
        if cm:
            parts = []
            for n, t in cm:
                kv = {}
                for l in t.splitlines():
                    if l.startswith("stanzascope_cluster_stanzas_total{"):
                        kv[l.split('result="')[1].split('"')[0]] = l.rsplit(" ", 1)[1]
                parts.append(f"node {n}: " + ", ".join(f"{k} {v}" for k, v in sorted(kv.items())))
            w("- the cluster's stanzas between nodes over its runs, by result (issue 17; `refused`, `failed` and `kept_offline` are what an online receiver of the load tool misses): " + "; ".join(parts))
    rl = dps("relay-prosody", tls)
    if rl and pr:
        w(f"- for scale, the plain TCP relay keeps {rl / pr * 100:.0f} % of Prosody's throughput and adds {p99('relay-prosody', tls) - p99('prosody', tls):+.2f} ms p99")
    w("")
wr = [f for f in sorted(os.listdir(res)) if f.startswith("webreaders-")]
if wr:
    w("**the three browsers of proxy-switch-web3** (records each read, in the history and live, and the records the web view did not send it live, at most 1,000 a second each: docs/WEB.md; one line per start of the servers):\n")
    for f in wr:
        lines = [l.strip() for l in text(f).splitlines() if l.strip()]
        w(f"- {f}: " + ("; ".join(lines) if lines else "no output"))
    w("")
charts = [(f, t) for f, t in (("latency-plain.svg", "latency, plaintext"), ("latency-tls.svg", "latency, STARTTLS"), ("memory.svg", "memory per idle connection"))
          if os.path.exists(os.path.join(res, "..", f))]
if charts:
    w("**charts** (drawn by `scripts/benchchart` from the results below):\n")
    for f, t in charts:
        w(f"![{t}]({f})\n")
w("**memory per idle connection (plaintext)**\n")
for t, limit, label in (("switch", 16, "switch ≤ 16 KiB"), ("proxy-prosody", 32, "proxy ≤ 32 KiB for both legs"), ("prosody", None, "Prosody (about 30 KiB expected)"), ("ejabberd", None, "ejabberd (reference)")):
    for n in IDLE.get(t, []):
        k, e = idle_kib(t, n)
        if k is None:
            w(f"- {label} at {n} connections: not measured ({e})")
            continue
        s = f"- {label} at {n} connections: {k:.1f} KiB"
        if limit:
            s += f" — {verdict(k <= limit and not e)}"
            if k > limit:
                s += f", {k - limit:.1f} KiB ({(k - limit) / limit * 100:.0f} %) over"
        if e:
            s += f" ({e})"
        w(s)
w("")
sat = [f for f in sorted(os.listdir(res)) if f.endswith(".json") and (m(load(f[:-5])) or {}).get("cpu", {}).get("saturated")]
if sat:
    w("**Load generator saturated** (more than 80 % of the cores) in: " + ", ".join(s[:-5] for s in sat) + "; those figures are a lower bound for the server.\n")

w("## Method\n")
w("- Every server runs with settings made equivalent on purpose (`testdata/bench/`): one host `localhost`, in-band registration open,"
  " STARTTLS offered but not required, SCRAM-SHA-1 with 4,096 PBKDF2 iterations (`--sasl SCRAM-SHA-1`: Prosody 0.12 has no SCRAM-SHA-256),"
  " no rate limits or traffic shapers, Nagle off (Prosody keeps it on by default), a listen backlog of at least 128 (ejabberd defaults to 5),"
  " no archive; the switch and the proxy print nothing (`--filter-name` matching no stanza).")
w("- Accounts are registered first (all servers at once), then every server is restarted: Prosody 0.12 was measured about three times"
  " slower in the process that had just registered 9,000 accounts in-band than after a restart. Each target gets a 2 s warm-up run.")
w("- The idle-memory runs use servers started afresh for each count (no earlier run's garbage or grown heap in the reading):"
  " VmRSS before the logins and at the end of the hold, divided by the connections. For garbage-collected servers (Go, Lua, Erlang)"
  " this includes the collector's headroom and the heap growth of the logins themselves, so it is what the process really costs,"
  " not the live data per session.")
w("- The generator is one process on the same 2 cores; its CPU column shows it never came near saturation.\n")
w("## Commands\n")
w("Servers (ports are free loopback ports chosen at run time, `$WORK` a temporary directory):\n")
w("```")
w(text("servers.txt").rstrip())
w("```\n")
w("Load (in this order; `--json` output kept in `docs/bench/results/`):\n")
w("```")
w(text("commands.txt").rstrip())
w("```\n")
prof = text("max-plain-switch.generator.txt")
if prof:
    w("## Where the generator's time goes (max run against the switch, `--cpuprofile`)\n")
    w("```")
    w("\n".join(prof.splitlines()[:22]))
    w("```\n")
print("\n".join(out))
PYEOF
}

# ---------------------------------------------------------------- packages and limits
install_pkg() { # install_pkg PKG: from Debian if missing; 1 when it cannot be installed
	dpkg -s "$1" >/dev/null 2>&1 && return 0
	log "installing $1 from Debian"
	if [ "$(id -u)" != 0 ]; then
		note "$1 is not installed and this script is not root: cannot install it"
		return 1
	fi
	apt-get update -qq >/dev/null 2>&1 || true
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >"$WORK/apt-$1.log" 2>&1; then
		note "apt-get install $1 failed: $(tail -1 "$WORK/apt-$1.log")"
		return 1
	fi
}
HAVE_PROSODY=1
HAVE_EJABBERD=1
install_pkg prosody || HAVE_PROSODY=0
install_pkg ejabberd || HAVE_EJABBERD=0
command -v openssl >/dev/null || install_pkg openssl
# Issue 17's targets: PostgreSQL (initdb, postgres, createdb) and nats-server, from Debian.
HAVE_PG=0
HAVE_NATS=0
PG_BIN=
NATS_BIN=
if want switch-pg cluster; then
	pg_find() { PG_BIN=$(dirname "$(readlink -f "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -1)")" 2>/dev/null); [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/createdb" ]; }
	if pg_find || { install_pkg postgresql && pg_find; }; then HAVE_PG=1; else note "PostgreSQL is not available: the switch-pg and cluster rows are missing"; fi
	NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
	if [ -x "$NATS_BIN" ] || { install_pkg nats-server && NATS_BIN=/usr/sbin/nats-server; }; then HAVE_NATS=1; else note "nats-server is not available: the cluster row is missing"; fi
fi

hard=$(ulimit -Hn)
want=20000
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then want=$hard; fi
ulimit -n "$want"
FDS=$(ulimit -n)
log "file descriptor limit: $FDS"

# ---------------------------------------------------------------- build and certificates
BIN=$WORK/stanzascope
(cd "$ROOT" && go build -o "$BIN" ./cmd/stanzascope)
WEBREADERS=$WORK/webreaders
(cd "$ROOT" && go build -o "$WEBREADERS" ./scripts/webreaders)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/server.key" -out "$WORK/server.crt" \
	-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost >/dev/null 2>&1
cat "$WORK/server.crt" "$WORK/server.key" >"$WORK/server.pem"
chmod 644 "$WORK/server.key" "$WORK/server.pem"

# ---------------------------------------------------------------- servers
declare -A PORT PID BARGS # BARGS: bench flags of one target (unquoted words)
STARTS=0 # how many times start_all started the servers (names the web readers' reports)
QUIET=(--format raw --filter-name bench-shows-nothing) # the switch and proxy print no stanza
# Every load client comes from 127.0.0.1: the switch's limits per client address would
# refuse all but the first few (docs/RELIABILITY.md), so the runs turn them off.
NOLIMITS=(--max-conns-per-ip 0 --logins-per-minute 0 --registrations-per-minute 0 --auth-failures-per-minute 0 --max-sessions-per-account 0)

start_switch() {
	PORT[switch]=$(free_port)
	mkdir -p "$WORK/switch"
	"$BIN" switch --listen "127.0.0.1:${PORT[switch]}" --domain localhost --db "$WORK/switch/switch.db" \
		--cert "$WORK/server.crt" --key "$WORK/server.key" "${QUIET[@]}" "${NOLIMITS[@]}" >"$WORK/switch.log" 2>&1 &
	PID[switch]=$!
	PIDS+=($!)
	record "stanzascope switch --listen 127.0.0.1:${PORT[switch]} --domain localhost --db $WORK/switch/switch.db --cert $WORK/server.crt --key $WORK/server.key ${QUIET[*]} ${NOLIMITS[*]}"
	wait_port "${PORT[switch]}" "${PID[switch]}" switch
}

# ---------------------------------------------------------------- PostgreSQL and NATS (issue 17)
# One PostgreSQL cluster in $WORK/pg (initdb on the first start, its data kept across
# restarts like the other servers' accounts; default durability, as a deployment would
# run it), as the postgres user when this script is root; one nats-server with JetStream
# in $WORK/nats. Both on free loopback ports, stopped by PID like every other server.
start_postgres() {
	local d=$WORK/pg runas=()
	[ "$(id -u)" = 0 ] && runas=(setpriv --reuid=postgres --regid=postgres --init-groups)
	if [ ! -d "$d/data" ]; then
		mkdir -p "$d"
		[ "$(id -u)" = 0 ] && chown postgres: "$d"
		"${runas[@]}" "$PG_BIN/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --locale=C --no-instructions >"$d/initdb.log" 2>&1 || return 1
	fi
	PORT[postgres]=$(free_port)
	"${runas[@]}" "$PG_BIN/postgres" -D "$d/data" -p "${PORT[postgres]}" -c listen_addresses=127.0.0.1 \
		-c unix_socket_directories= -c max_connections=200 >>"$d/server.log" 2>&1 &
	PID[postgres]=$!
	PIDS+=($!)
	record "${runas[*]} postgres -D $d/data -p ${PORT[postgres]} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200   # initdb -U postgres -A trust -E UTF8 --locale=C; databases switchpg and cluster"
	wait_port "${PORT[postgres]}" "${PID[postgres]}" postgres || return 1
	if [ ! -e "$d/created" ]; then
		local i
		for i in switchpg cluster; do
			# Ready a moment after the port accepts: a few tries.
			for _ in 1 2 3 4 5 6 7 8 9 10; do "$PG_BIN/createdb" -h 127.0.0.1 -p "${PORT[postgres]}" -U postgres "$i" 2>>"$d/createdb.log" && break; sleep 0.5; done
		done
		touch "$d/created"
	fi
}

start_nats() {
	PORT[nats]=$(free_port)
	mkdir -p "$WORK/nats"
	"$NATS_BIN" -js -a 127.0.0.1 -p "${PORT[nats]}" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
	PID[nats]=$!
	PIDS+=($!)
	record "nats-server -js -a 127.0.0.1 -p ${PORT[nats]} -sd $WORK/nats"
	wait_port "${PORT[nats]}" "${PID[nats]}" nats-server
}

start_pgswitch() { # start_pgswitch NAME DATABASE [ARGS...]: the switch as start_switch runs it, on PostgreSQL
	local name=$1 db="postgres://postgres@127.0.0.1:${PORT[postgres]}/$2"
	shift 2
	PORT[$name]=$(free_port)
	"$BIN" switch --listen "127.0.0.1:${PORT[$name]}" --domain localhost --db "$db" \
		--cert "$WORK/server.crt" --key "$WORK/server.key" "${QUIET[@]}" "${NOLIMITS[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=($!)
	record "stanzascope switch --listen 127.0.0.1:${PORT[$name]} --domain localhost --db $db --cert $WORK/server.crt --key $WORK/server.key ${QUIET[*]} ${NOLIMITS[*]} $*   # $name"
	wait_port "${PORT[$name]}" "${PID[$name]}" "$name"
}

# start_cluster_targets: switch-pg, cluster and cluster-same, when wanted (called by
# start_all). The cluster's two nodes are one target: its "port" is both addresses, so that
# 'stanzascope bench --target' splits the clients between them ($CLUSTER_PORT in the
# commands): cluster puts the two clients of every pair on two nodes, cluster-same both on
# one (half the pairs on each node), the within-a-node figure a crossing is compared with.
EXTRA_SERVERS=()
start_cluster_targets() {
	EXTRA_SERVERS=()
	want switch-pg cluster || return 0
	[ "$HAVE_PG" = 1 ] || return 0
	if ! start_postgres; then
		note "PostgreSQL did not start: $(tail -3 "$WORK/pg/initdb.log" "$WORK/pg/server.log" 2>/dev/null | tr '\n' ' ')"
		return 0
	fi
	if want switch-pg && start_pgswitch switch-pg switchpg; then
		TARGETS+=(switch-pg)
		EXTRA_SERVERS+=(switch-pg)
	fi
	if want cluster cluster-same && [ "$HAVE_NATS" = 1 ]; then
		local nats
		PORT[metrics-a]=$(free_port)
		PORT[metrics-b]=$(free_port)
		if start_nats && nats="nats://127.0.0.1:${PORT[nats]}" &&
			start_pgswitch cluster-a cluster --cluster "$nats" --node a --metrics "127.0.0.1:${PORT[metrics-a]}" &&
			start_pgswitch cluster-b cluster --cluster "$nats" --node b --metrics "127.0.0.1:${PORT[metrics-b]}"; then
			PORT[cluster]="${PORT[cluster-a]},127.0.0.1:${PORT[cluster-b]}"
			PORT[cluster-same]=${PORT[cluster]}
			BARGS[cluster-same]="--same-target-share 1" # half the pairs on node a, half on b
			want cluster && TARGETS+=(cluster)
			want cluster-same && TARGETS+=(cluster-same)
			EXTRA_SERVERS+=(cluster) # one registration for both: the same nodes and database
		else
			note "the cluster did not start: $(tail -2 "$WORK/nats.log" "$WORK/cluster-a.log" "$WORK/cluster-b.log" 2>/dev/null | tr '\n' ' ')"
		fi
	fi
}

start_prosody() {
	PORT[prosody]=$(free_port)
	local d=$WORK/prosody
	mkdir -p "$d/data"
	cp "$WORK/server.crt" "$WORK/server.key" "$d/"
	sed "s|@DIR@|$d|g; s|@PORT@|${PORT[prosody]}|g" "$ROOT/testdata/bench/prosody.cfg.lua" >"$d/prosody.cfg.lua"
	prosody --config "$d/prosody.cfg.lua" -F >"$d/out.log" 2>&1 &
	PID[prosody]=$!
	PIDS+=($!)
	record "prosody --config $d/prosody.cfg.lua -F   # testdata/bench/prosody.cfg.lua, port ${PORT[prosody]}"
	wait_port "${PORT[prosody]}" "${PID[prosody]}" prosody
}

start_ejabberd() {
	PORT[ejabberd]=$(free_port)
	local d=$WORK/ejabberd dist
	dist=$(free_port)
	mkdir -p "$d/spool" "$d/logs" "$d/modules.d"
	cp "$WORK/server.pem" "$d/"
	sed "s|@DIR@|$d|g; s|@PORT@|${PORT[ejabberd]}|g" "$ROOT/testdata/bench/ejabberd.yml" >"$d/ejabberd.yml"
	# Our own ejabberdctl.cfg: Debian's sets EJABBERD_CONFIG_PATH, which would override --config.
	cat >"$d/ejabberdctl.cfg" <<-EOF
		ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
		EJABBERD_PID_PATH=$d/ejabberd.pid
		CONTRIB_MODULES_CONF_DIR=$d/modules.d
		INET_DIST_INTERFACE=127.0.0.1
	EOF
	chown -R ejabberd:ejabberd "$d"
	# Started as the ejabberd user with setpriv rather than through ejabberdctl's su, which
	# resets the file descriptor limit through PAM. ERL_DIST_PORT: no epmd daemon, Erlang
	# distribution on a loopback port of our choosing.
	(cd "$d" && HOME=/var/lib/ejabberd ERL_DIST_PORT=$dist exec setpriv --reuid=ejabberd --regid=ejabberd --init-groups \
		ejabberdctl --ctl-config "$d/ejabberdctl.cfg" --config "$d/ejabberd.yml" \
		--spool "$d/spool" --logs "$d/logs" --node "stanzascopebench@localhost" foreground >"$d/out.log" 2>&1) &
	PIDS+=($!)
	record "HOME=/var/lib/ejabberd ERL_DIST_PORT=$dist setpriv --reuid=ejabberd --regid=ejabberd --init-groups ejabberdctl --ctl-config $d/ejabberdctl.cfg --config $d/ejabberd.yml --spool $d/spool --logs $d/logs --node stanzascopebench@localhost foreground   # testdata/bench/ejabberd.yml, port ${PORT[ejabberd]}"
	local top=$! i
	wait_port "${PORT[ejabberd]}" "$top" ejabberd || return 1
	for i in $(descendants "$top"); do
		if [ "$(ps -o comm= -p "$i")" = beam.smp ]; then PID[ejabberd]=$i; fi
	done
	[ -n "${PID[ejabberd]:-}" ] || { log "ejabberd: no beam.smp process found"; return 1; }
	log "ejabberd beam.smp pid ${PID[ejabberd]}, fd limit $(awk '/open files/{print $4}' /proc/"${PID[ejabberd]}"/limits)"
}

start_proxy() { # start_proxy NAME UPSTREAM_PORT [ARGS...]
	local name=$1 up=$2
	shift 2
	PORT[$name]=$(free_port)
	"$BIN" proxy --listen "127.0.0.1:${PORT[$name]}" --upstream "127.0.0.1:$up" --upstream-insecure \
		--ca-dir "$WORK/ca" "${QUIET[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=($!)
	record "stanzascope proxy --listen 127.0.0.1:${PORT[$name]} --upstream 127.0.0.1:$up --upstream-insecure --ca-dir $WORK/ca ${QUIET[*]} $*   # $name"
	set -- "$name"
	wait_port "${PORT[$1]}" "${PID[$1]}" "$1"
}

start_embedded() { # start_embedded NAME [ARGS...]: the main job, its embedded switch as start_switch runs the switch
	local name=$1 wp
	shift
	PORT[$name]=$(free_port)
	wp=$(free_port)
	mkdir -p "$WORK/$name"
	"$BIN" --listen "127.0.0.1:${PORT[$name]}" --ca-dir "$WORK/ca" --domain localhost --db "$WORK/$name/switch.db" \
		--web "127.0.0.1:$wp" "${QUIET[@]}" "${NOLIMITS[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=($!)
	record "stanzascope --listen 127.0.0.1:${PORT[$name]} --ca-dir $WORK/ca --domain localhost --db $WORK/$name/switch.db --web 127.0.0.1:\$WEB_PORT ${QUIET[*]} ${NOLIMITS[*]} $*   # $name"
	wait_port "${PORT[$name]}" "${PID[$name]}" "$name"
}

start_relay() { # start_relay NAME UPSTREAM_PORT
	PORT[$1]=$(free_port)
	"$BIN" bench relay --listen "127.0.0.1:${PORT[$1]}" --upstream "127.0.0.1:$2" >"$WORK/$1.log" 2>&1 &
	PID[$1]=$!
	PIDS+=($!)
	record "stanzascope bench relay --listen 127.0.0.1:${PORT[$1]} --upstream 127.0.0.1:$2   # $1"
	wait_port "${PORT[$1]}" "${PID[$1]}" "$1"
}

# bench NAME TARGET SECONDS ARGS...: one run, stopped after SECONDS; its JSON goes to results/NAME.json, or its error to
# results/NAME.error. The command is recorded with the port replaced by the target's name.
bench() {
	local name=$1 target=$2 limit=$3
	shift 3
	local args=(bench --target "127.0.0.1:${PORT[$target]}" --domain localhost --sasl SCRAM-SHA-1 --json ${BARGS[$target]:-} "$@")
	echo "stanzascope ${args[*]}   # $name, target $target" | sed "s|127.0.0.1:${PORT[$target]}|127.0.0.1:\$${target^^}_PORT|" >>"$CMDS"
	log "$name: ${args[*]}"
	# The bound: SIGTERM makes the tool stop and still report what it measured.
	local rc=0
	timeout -s TERM "$limit" "$BIN" "${args[@]}" >"$RES/$name.json" 2>"$RES/$name.stderr" || rc=$?
	if [ "$rc" = 0 ] || { [ "$rc" = 124 ] && [ -s "$RES/$name.json" ]; }; then
		[ "$rc" = 124 ] && note "$name was stopped after $limit s: its figures are partial"
		rm -f "$RES/$name.stderr"
	else
		mv "$RES/$name.stderr" "$RES/$name.error"
		rm -f "$RES/$name.json"
		log "$name failed: $(tail -1 "$RES/$name.error")"
	fi
}

# start_all: every server, proxy and relay, each on a new free port (the data of earlier
# starts, accounts included, is kept). Sets SERVERS and TARGETS.
start_all() {
	SERVERS=(switch)
	start_switch
	if [ "$HAVE_PROSODY" = 1 ] && want prosody proxy-prosody relay-prosody; then
		if start_prosody; then SERVERS+=(prosody); else note "Prosody did not start: $(tail -3 "$WORK/prosody/out.log" "$WORK/prosody/prosody.log" 2>/dev/null | tr '\n' ' ')"; fi
	fi
	if [ "$HAVE_EJABBERD" = 1 ] && want ejabberd; then
		if start_ejabberd; then SERVERS+=(ejabberd); else note "ejabberd did not start: $(tail -3 "$WORK/ejabberd/out.log" 2>/dev/null | tr '\n' ' ')"; fi
	fi
	TARGETS=()
	for s in "${SERVERS[@]}"; do want "$s" && TARGETS+=("$s"); done
	if [[ " ${SERVERS[*]} " == *" prosody "* ]]; then
		want proxy-prosody && start_proxy proxy-prosody "${PORT[prosody]}" && TARGETS+=(proxy-prosody)
		want relay-prosody && start_relay relay-prosody "${PORT[prosody]}" && TARGETS+=(relay-prosody)
	fi
	want proxy-switch && start_proxy proxy-switch "${PORT[switch]}" && TARGETS+=(proxy-switch)
	# The proxy as a user runs it to keep a record: every record in a JSON log, lossless.
	want proxy-switch-json && start_proxy proxy-switch-json "${PORT[switch]}" --log "$WORK/proxy-switch-json.jsonl" &&
		TARGETS+=(proxy-switch-json)
	want relay-switch && start_relay relay-switch "${PORT[switch]}" && TARGETS+=(relay-switch)
	# Issue 12's configuration: the main job ('stanzascope' with no upstream) with a JSON
	# log, its switch in the same process, the web view on as by default; its own database,
	# so it registers its own accounts.
	EMBEDDED=()
	want proxy-embedded-json && start_embedded proxy-embedded-json --log "$WORK/proxy-embedded-json.jsonl" &&
		TARGETS+=(proxy-embedded-json) && EMBEDDED+=(proxy-embedded-json)
	# The web view's cost (issue 15): every proxy above serves it, as by default, with no
	# browser; proxy-switch-noweb has none, proxy-switch-web3 has three browsers reading it
	# (scripts/webreaders: three event streams read and parsed as three open pages do).
	want proxy-switch-noweb && start_proxy proxy-switch-noweb "${PORT[switch]}" --web off && TARGETS+=(proxy-switch-noweb)
	if want proxy-switch-web3; then
		local wp
		wp=$(free_port)
		if start_proxy proxy-switch-web3 "${PORT[switch]}" --web "127.0.0.1:$wp"; then
			STARTS=$((STARTS + 1))
			"$WEBREADERS" --url "http://127.0.0.1:$wp/" --n 3 >"$RES/webreaders-$STARTS.txt" 2>&1 &
			PIDS+=($!)
			PID[webreaders]=$!
			record "go run ./scripts/webreaders --url http://127.0.0.1:\$WEB_PORT/ --n 3   # three browsers on proxy-switch-web3"
			TARGETS+=(proxy-switch-web3)
		fi
	fi
	start_cluster_targets
	return 0
}

# stop_all: stops everything started so far and waits (10 s) for it to be gone.
stop_all() {
	local p i
	for p in "${PIDS[@]}"; do stop_pid "$p"; done
	for i in $(seq 100); do
		local alive=0
		for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
}

[ "$HAVE_EJABBERD" = 1 ] || note "ejabberd is not available here: its rows are missing"
start_all

MAXIDLE=0
for n in $IDLE_SERVER $IDLE_PROXY "$CLIENTS"; do [ "$n" -gt "$MAXIDLE" ] && MAXIDLE=$n; done
if [ $((MAXIDLE % 2)) = 1 ]; then MAXIDLE=$((MAXIDLE + 1)); fi

# ---------------------------------------------------------------- accounts and warm-up
# In parallel: registration is not measured for the table, and fsync-bound on the switch.
REG=()
for s in "${SERVERS[@]}" "${EXTRA_SERVERS[@]}"; do
	bench "register-$s" "$s" 300 --clients "$MAXIDLE" --register --register-only --login-concurrency 32 &
	REG+=($!)
done
# The main job has no idle-memory run: the message runs' clients are all it needs.
for s in "${EMBEDDED[@]}"; do
	bench "register-$s" "$s" 300 --clients "$CLIENTS" --register --register-only --login-concurrency 32 &
	REG+=($!)
done
for p in "${REG[@]}"; do wait "$p" || true; done
# Fresh processes for the measurements: Prosody 0.12 routes about three times fewer
# messages per second in the process that has just registered 9,000 accounts in-band than
# after a restart (7,400 vs 24,000 here), and no server should carry that state.
stop_all
start_all
# ---------------------------------------------------------------- warm-up and message runs
for t in "${TARGETS[@]}"; do # first use: code loading, JIT, caches
	bench "warmup-$t" "$t" 60 --clients "$CLIENTS" --rate max --duration 2s
done

# ---------------------------------------------------------------- message runs
# cputicks PID: the CPU time (user + system, in clock ticks) process PID has used.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# sysc PID: the read and write system calls process PID has made ("READS WRITES").
sysc() { awk '/^syscr/ {r = $2} /^syscw/ {w = $2} END {print r + 0, w + 0}' "/proc/$1/io" 2>/dev/null || echo 0 0; }
# steal: the clock ticks this virtual machine's CPUs waited for the host, all CPUs together.
steal() { awk '/^cpu / {print $9 + 0}' /proc/stat; }
# cpuidle: the clock ticks the machine's CPUs were idle or waiting for I/O, all CPUs together.
cpuidle() { awk '/^cpu / {print $5 + $6}' /proc/stat; }
# iopressure: microseconds during which some task of the machine waited for I/O (PSI).
iopressure() { sed -n 's/^some .*total=//p' /proc/pressure/io 2>/dev/null || echo 0; }
# maxrun NAME TARGET [ARGS...]: the --rate max run max-NAME against TARGET. For the proxies
# and the relay it also writes, over the run, the target process's CPU time (and the web
# readers', and the separate switch's), its read and write system calls, the host's steal
# time, the CPUs' idle time and the machine's I/O wait to cpu-NAME.txt: per message
# delivered, CPU time is a cost that the other work on a shared machine disturbs far less
# than throughput, and the rest says what bounded the run.
maxrun() {
	local name=$1 t=$2 c0=0 r0=0 r1=0 s0=0 io0 st0 p0 i0 w0 cr0 cw0 cr1 cw1 measured=0
	shift 2
	case $t in proxy-switch | proxy-switch-noweb | proxy-switch-web3 | proxy-switch-json | proxy-embedded-json | relay-switch) measured=1 ;; esac
	if [ "$measured" = 1 ]; then
		c0=$(cputicks "${PID[$t]}") s0=$(cputicks "${PID[switch]}") io0=$(sysc "${PID[$t]}") st0=$(steal)
		p0=$(iopressure) i0=$(cpuidle) w0=$(date +%s%N)
		[ -n "${PID[webreaders]:-}" ] && r0=$(cputicks "${PID[webreaders]}")
	fi
	bench "max-$name" "$t" 90 --clients "$CLIENTS" --rate max --duration "$DUR" "$@"
	if [ "$measured" = 1 ]; then
		[ -n "${PID[webreaders]:-}" ] && r1=$(cputicks "${PID[webreaders]}")
		read -r cr1 cw1 <<<"$(sysc "${PID[$t]}")"
		read -r cr0 cw0 <<<"$io0"
		echo "proxy=$(($(cputicks "${PID[$t]}") - c0)) readers=$((r1 - r0)) switch=$(($(cputicks "${PID[switch]}") - s0))" \
			"syscr=$((cr1 - cr0)) syscw=$((cw1 - cw0)) steal=$(($(steal) - st0))" \
			"iopressure_us=$(($(iopressure) - p0)) idle=$(($(cpuidle) - i0)) wall_ms=$((($(date +%s%N) - w0) / 1000000)) hz=$(getconf CLK_TCK)" >"$RES/cpu-$name.txt"
	fi
}
# Issue 12 compares two targets of one run: the main job and the relay. Single runs of
# 10 s swing by 10-20 % with what else the machine does, so the pair gets ROUNDS12 - 1 more
# max runs each after the others, in alternating order (the first round ran relay first),
# and the report compares the medians.
ROUNDS12=${BENCH_ROUNDS:-3}
for tls in plain tls; do
	flag=()
	[ "$tls" = tls ] && flag=(--tls)
	for t in "${TARGETS[@]}"; do
		bench "rate-$tls-$t" "$t" 90 --clients "$CLIENTS" --rate "$RATE" --duration "$DUR" "${flag[@]}"
		maxrun "$tls-$t" "$t" "${flag[@]}" --cpuprofile "$RES/max-$tls-$t.generator.pprof"
	done
	if [[ " ${TARGETS[*]} " == *" proxy-embedded-json "* && " ${TARGETS[*]} " == *" relay-switch "* ]]; then
		for k in $(seq 2 "$ROUNDS12"); do
			pair=(proxy-embedded-json relay-switch)
			[ $((k % 2)) = 1 ] && pair=(relay-switch proxy-embedded-json)
			for t in "${pair[@]}"; do maxrun "$tls-$t-r$k" "$t" "${flag[@]}"; done
		done
	fi
done

# ---------------------------------------------------------------- offline messages (issue 17)
# The store's part of the switch on bbolt, on PostgreSQL and in the cluster: each of the
# 50 senders sends BENCH_OFFLINE messages (20) to its pair's account while it is logged
# out, then the receivers log in and get them (plaintext).
for t in "${TARGETS[@]}"; do
	case $t in
	switch | switch-pg | cluster)
		if want switch-pg cluster; then
			bench "offline-plain-$t" "$t" 180 --clients "$CLIENTS" --offline "${BENCH_OFFLINE:-20}"
		fi
		;;
	esac
done

# What the cluster's nodes counted over the runs since their last start (stanzas between
# nodes by result: a stanza not answered or refused is kept offline, which the load tool
# counts as lost), for the report.
if [[ " ${TARGETS[*]} " == *" cluster"* ]]; then
	for n in a b; do
		"$PY" -c 'import sys, urllib.request; print("".join(l for l in urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().splitlines(True) if l.startswith("stanzascope_cluster_") or l.startswith("stanzascope_offline")))' \
			"http://127.0.0.1:${PORT[metrics-$n]}/metrics" >"$RES/cluster-metrics-$n.txt" 2>&1 || note "the metrics of cluster node $n could not be read"
	done
fi

# ---------------------------------------------------------------- idle memory (plaintext)
# On freshly started servers for each count: the message runs leave garbage in their heaps
# (Go, Lua, Erlang), and a Lua heap grown by 9,000 sessions slows Prosody down for later
# runs, so no measurement follows another on the same process.
SERVER_COUNTS=($IDLE_SERVER)
PROXY_COUNTS=($IDLE_PROXY)
for k in "${!SERVER_COUNTS[@]}"; do
	stop_all
	start_all
	sleep 3 # let the servers settle before the "before" reading
	for s in "${SERVERS[@]}"; do
		n=${SERVER_COUNTS[$k]}
		bench "idle-$n-$s" "$s" 240 --idle "$n" --hold "$HOLD" --watch-pid "${PID[$s]}"
	done
	n=${PROXY_COUNTS[$k]:-}
	if [ -n "$n" ] && [[ " ${TARGETS[*]} " == *" proxy-prosody "* ]]; then
		bench "idle-$n-proxy-prosody" proxy-prosody 240 --idle "$n" --hold "$HOLD" --watch-pid "${PID[proxy-prosody]}"
	fi
done

# Generator profiles: the top of the heaviest one, for the report.
for f in "$RES"/max-*.generator.pprof; do
	[ -s "$f" ] && (cd "$ROOT" && go tool pprof -top -nodecount=15 "$BIN" "$f" >"${f%.pprof}.txt" 2>/dev/null) || true
	rm -f "$f"
done

# ---------------------------------------------------------------- machine and versions
{
	echo "nproc=$(nproc)"
	echo "cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"
	echo "memory=$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "kernel=$(uname -r)"
	echo "go=$(go version | awk '{print $3}')"
	# The commit the figures belong to; a working tree with changes is said so in the report.
	echo "stanzascope=$(cd "$ROOT" && git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ' WITH UNCOMMITTED CHANGES')"
	echo "prosody=$(dpkg-query -W -f='${Version}' prosody 2>/dev/null || echo 'not installed')"
	echo "ejabberd=$(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null || echo 'not installed')"
	echo "fds=$FDS"
	echo "duration=$DUR"
	echo "clients=$CLIENTS"
	echo "rate=$RATE"
	echo "hold=$HOLD"
	echo "elapsed=$(($(date +%s) - START_TIME))"
	echo "load=$LOAD_BEFORE at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
} >"$RES/machine.txt"

stop_all # the web readers print what they read when stopped
rm -rf "$OUT/results"
mkdir -p "$OUT/results"
cp "$RES"/*.json "$RES"/*.txt "$OUT/results/" 2>/dev/null || true
cp "$RES"/*.error "$OUT/results/" 2>/dev/null || true
cp "$NOTES" "$OUT/results/notes.txt"
# The charts (SVG, beside the report, which shows them): latency distributions and memory.
(cd "$ROOT" && go run ./scripts/benchchart "$OUT/results" "$OUT") || note "the charts were not drawn"
report >"$OUT/REPORT.md"
log "wrote $OUT/REPORT.md in $(($(date +%s) - START_TIME)) s"
