// stanzascope web view: a sequence diagram of the records the hub streams (/events), one
// lane per party and one arrow per stanza. Plain JavaScript, no build step, no network
// beyond this server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const CONN_COLOURS = 8;
  const CHUNK = 100; // rows per block of the diagram

  const state = {
    max: 10000,           // records kept in the page (the hub's bound, from hello)
    recs: [],             // summaries in arrival order
    byIdx: new Map(),     // hub index -> summary
    lanes: new Map(),     // lane id -> {id, kind, conn, jid, client, n (records held), el, line}
    known: new Map(),     // lane id -> {jid, client} from the hub's hello
    laneOrderDirty: true,
    serverName: "server",
    proxy: false,
    pending: [],          // received, not drawn yet (paused, or waiting for a frame): records and gaps
    paused: false,
    follow: true,
    // Gaps: runs of records (hub indexes from..to) the stream did not send live, in index
    // order, each drawn as a row that fetches them on a click (/records).
    gaps: [],
    lastI: 0,             // highest index heard of (sent or skipped): a resumed stream repeats none
    notLive: 0,           // records not sent live in all, and of them gone from the history
    gone: 0,
    liveRate: 0,
    orphans: new Map(),   // request index -> answer index, for answers whose request is not here
    selected: null,
    frame: 0,
    names: new Set(),
    filter: {conn: "", names: [], types: [], jid: "", dir: "", notes: true},
    live: false,
  };

  // What tests and benchmarks read (window.stanzascope).
  const api = {
    historyReceivedMs: null, // time from the navigation until the history was received
    historyRenderedMs: null, // ... and until it was drawn
    live: false,
    records: () => state.recs.length,
    lastIndex: () => state.lastI,   // the highest index heard of, drawn or skipped
    skipped: () => state.notLive,   // records the stream did not send live, in all
    gaps: () => state.gaps.map((g) => ({from: g.from, to: g.to, n: g.n, gone: g.gone})),
    fetchGap: (from) => {
      const g = state.gaps.find((x) => x.from === from);
      return g ? fetchGap(g) : Promise.resolve(false);
    },
    exportSVG: () => exportSVG(),
    exportMermaid: () => exportMermaid(),
    // The expression box (exprfilter.js), decided by the server: {matches(r), arrived()}
    // while an expression is in force, else null; applyFilter redraws after an answer.
    expr: null,
    applyFilter: () => applyFilter(),
    select: (seq) => {
      const r = state.recs.find((x) => x.seq === seq);
      if (r) select(r);
      return !!r;
    },
  };
  window.stanzascope = api;

  // ---- lanes ----

  function laneFor(id) {
    let l = state.lanes.get(id);
    if (l) return l;
    if (id === "proxy") l = {id, kind: 1, conn: 0};
    else if (id === "server") l = {id, kind: 2, conn: 0};
    else {
      l = {id, kind: 0, conn: Number(id.slice(1))};
      const k = state.known.get(id);
      if (k) {
        l.jid = k.jid;
        l.client = k.client;
      }
    }
    state.lanes.set(id, l);
    state.laneOrderDirty = true;
    laneSheet.insertRule(".a-" + id + "{--a:var(--lane-" + id + ")}", laneSheet.cssRules.length);
    laneSheet.insertRule(".b-" + id + "{--b:var(--lane-" + id + ")}", laneSheet.cssRules.length);
    return l;
  }

  function laneText(l) {
    if (l.kind === 1) return "stanzascope";
    if (l.kind === 2) return state.serverName;
    if (l.jid) return l.jid;
    return l.conn ? "client " + l.conn + (l.client ? " (" + l.client + ")" : "") : "client";
  }

  function orderedLanes() {
    return [...state.lanes.values()].sort((a, b) => a.kind - b.kind || a.conn - b.conn);
  }

  function connClass(conn) {
    return ((conn % CONN_COLOURS) + CONN_COLOURS) % CONN_COLOURS;
  }

  // Lane positions: a rule per lane, a-ID and b-ID, added when the lane appears.
  const laneSheet = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, laneSheet];

  // layoutLanes places every lane: CSS variables on #diagram, labels and lifelines.
  function layoutLanes() {
    if (!state.laneOrderDirty) return;
    state.laneOrderDirty = false;
    const lanes = orderedLanes();
    const diagram = $("diagram");
    const n = lanes.length;
    diagram.style.setProperty("--lanes", String(n));
    lanes.forEach((l, i) => {
      const x = ((i + 0.5) * 100 / n).toFixed(3) + "%";
      diagram.style.setProperty("--lane-" + l.id, x);
      if (!l.el) {
        l.el = document.createElement("div");
        l.el.className = "lane-label" + (l.kind === 0 ? " k" + connClass(l.conn) : "");
        l.el.dataset.lane = l.id;
        $("lanes").append(l.el);
        l.line = document.createElement("div");
        l.line.className = "lifeline";
        $("rows").prepend(l.line);
      }
      l.el.style.setProperty("--x", x);
      l.line.style.setProperty("--x", x);
      l.el.textContent = laneText(l);
      l.el.title = laneText(l);
    });
    refreshConnFilter();
  }

  function dropLane(l) {
    if (l.el) l.el.remove();
    if (l.line) l.line.remove();
    state.lanes.delete(l.id);
    state.laneOrderDirty = true;
  }

  function relabel(l) {
    if (l.el) {
      l.el.textContent = laneText(l);
      l.el.title = laneText(l);
    }
    refreshConnFilter();
  }

  function refreshConnFilter() {
    const sel = $("f-conn");
    const keep = sel.value;
    const opts = [["", "all"]];
    for (const l of orderedLanes()) if (l.kind === 0) opts.push([String(l.conn), laneText(l)]);
    if (sel.options.length === opts.length && [...sel.options].every((o, i) => o.value === opts[i][0] && o.text === opts[i][1])) return;
    sel.replaceChildren(...opts.map(([v, t]) => new Option(t, v, false, v === keep)));
  }

  // ---- records ----

  function ingest(r) {
    if (state.byIdx.has(r.i)) return; // a resumed stream may repeat the last one
    state.lastI = Math.max(state.lastI, r.i);
    admit(r);
    state.pending.push(r);
    schedule();
  }

  // admit keeps r in the page's state (in index order: a fetched record goes between the
  // others), its lanes, names and iq join; the caller draws it.
  function admit(r) {
    const recs = state.recs;
    if (!recs.length || recs[recs.length - 1].i < r.i) {
      recs.push(r);
    } else {
      let lo = 0, hi = recs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (recs[mid].i < r.i) lo = mid + 1; else hi = mid;
      }
      recs.splice(lo, 0, r);
    }
    state.byIdx.set(r.i, r);
    const cl = laneFor(r.src);
    if (r.dst) laneFor(r.dst);
    if (r.kind === "conn-open" && r.client && cl.kind === 0) {
      cl.client = r.client;
      relabel(cl);
    }
    if (r.bound && r.conn !== undefined) {
      const l = laneFor("c" + (r.conn || 0));
      l.jid = r.bound;
      relabel(l);
    }
    if (r.req) {
      const q = state.byIdx.get(r.req);
      if (q) {
        q.answer = r.i;
        r.reqSeq = q.seq;
        if (q.el) decorateRequest(q);
      } else {
        state.orphans.set(r.req, r.i); // its request may be fetched later
      }
    }
    const ans = state.orphans.get(r.i);
    if (ans !== undefined) {
      state.orphans.delete(r.i);
      if (state.byIdx.has(ans)) r.answer = ans;
    }
    const own = state.lanes.get("c" + (r.conn || 0));
    if (own) own.n = (own.n || 0) + 1; // records of the connection held: its lane goes at 0
    if (r.name && !state.names.has(r.name)) {
      state.names.add(r.name);
      $("f-names").append(new Option(r.name));
    }
    while (state.recs.length > state.max) {
      const old = state.recs.shift();
      state.byIdx.delete(old.i);
      if (old.el) {
        const chunk = old.el.parentElement;
        old.el.remove();
        if (chunk && chunk.classList.contains("chunk") && !chunk.firstElementChild) chunk.remove();
      }
      const l = state.lanes.get("c" + (old.conn || 0));
      if (l && --l.n <= 0) dropLane(l); // its connection left the history: no empty lanes
    }
    // Gaps older than every record held go with them.
    while (state.gaps.length && state.recs.length && state.gaps[0].to < state.recs[0].i) {
      const g = state.gaps.shift();
      g.dead = true;
      if (g.el) removeRow(g.el);
    }
    if (state.orphans.size > 4 * state.max) state.orphans.clear(); // answers whose request is long gone
  }

  function removeRow(el) {
    const chunk = el.parentElement;
    el.remove();
    if (chunk && chunk.classList.contains("chunk") && !chunk.firstElementChild) chunk.remove();
  }

  // skipped: the stream did not send records from..to live (too many a second for this
  // page, or they left the history while the page was away). A gap row takes their place.
  function skipped(m) {
    let from = m.from;
    if (m.to <= state.lastI) return; // heard of already (a resumed stream)
    let gone = m.gone;
    if (from <= state.lastI) {
      gone = Math.max(0, gone - (state.lastI + 1 - from));
      from = state.lastI + 1;
    }
    state.lastI = m.to;
    const g = {gap: true, from, to: m.to, n: m.to - from + 1, gone: Math.min(gone, m.to - from + 1)};
    state.gaps.push(g);
    state.notLive += g.n;
    state.gone += g.gone;
    const t = $("missed-text");
    t.textContent = state.notLive + (state.notLive === 1 ? " record" : " records") + " not shown live" +
      (state.gone ? " (" + state.gone + " gone from the history)" : "");
    $("missed").title = "More records arrived than this page is sent live (at most " + state.liveRate +
      " a second). Each ⋯ row in the diagram marks where; click it to load those still in the history.";
    $("missed").hidden = false;
    state.pending.push(g);
    schedule();
  }

  // gapHTML draws a gap: how many records, between which numbers, and whether they can
  // still be loaded.
  function gapHTML(g) {
    return '<div class="gap' + (g.gone >= g.n ? " gone" : "") + '" data-from="' + g.from + '">' + esc(gapText(g)) + "</div>";
  }

  function gapText(g) {
    // The numbers around it: the records held just before and after the gap.
    const recs = state.recs;
    let lo = 0, hi = recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (recs[mid].i < g.from) lo = mid + 1; else hi = mid;
    }
    const before = lo > 0 ? recs[lo - 1] : null;
    const after = lo < recs.length ? recs[lo] : null;
    let where = "";
    if (before && before.seq && after && after.seq) where = " between #" + before.seq + " and #" + after.seq;
    else if (after && after.seq) where = " before #" + after.seq;
    else if (before && before.seq) where = " after #" + before.seq;
    const n = g.n + (g.n === 1 ? " record" : " records");
    if (g.gone >= g.n) return "⋯ " + n + where + " not shown live, and gone from the history";
    return "⋯ " + n + where + " not shown live" + (g.gone ? " (the first " + g.gone + " gone from the history)" : "") +
      (g.loading ? ": loading…" : ": click to load");
  }

  function refreshGap(g) {
    if (!g.el) return;
    g.el.textContent = gapText(g);
    g.el.classList.toggle("gone", g.gone >= g.n);
  }

  // fetchGap loads the records of a gap that the history still holds (at most a thousand
  // a time) and draws them in its place; what left the history stays a gap that says so.
  async function fetchGap(g) {
    if (g.loading || g.dead || g.gone >= g.n) return false;
    g.loading = true;
    refreshGap(g);
    let body;
    try {
      const from = g.from + g.gone;
      const resp = await fetch("records?from=" + from + "&to=" + g.to, {cache: "no-store"});
      if (!resp.ok) throw new Error(await resp.text());
      body = await resp.json();
    } catch (e) {
      g.loading = false;
      if (g.el) g.el.textContent = gapText(g) + " (" + (e.message || e) + ")";
      return false;
    }
    g.loading = false;
    if (g.dead) return false;
    const start = g.from + g.gone;
    const html = [];
    const items = [];
    if (g.gone || body.gone) {
      // What left the history, before or since: a gap of its own that says so.
      const lost = {gap: true, from: g.from, to: start + body.gone - 1, n: g.gone + body.gone, gone: g.gone + body.gone};
      items.push(lost);
    }
    for (const r of body.records) {
      if (state.byIdx.has(r.i)) continue;
      admit(r);
      items.push(r);
    }
    const at = state.gaps.indexOf(g);
    const lost = items.length && items[0].gap ? items[0] : null;
    if (body.more) {
      g.from = body.more;
      g.n = g.to - g.from + 1;
      g.gone = 0;
    } else {
      g.dead = true;
      state.gaps.splice(at, 1);
    }
    if (lost) state.gaps.splice(state.gaps.indexOf(g) >= 0 ? state.gaps.indexOf(g) : at, 0, lost);
    for (const x of items) html.push(x.gap ? gapHTML(x) : rowHTML(x, !matches(x)));
    if (g.el) {
      g.el.insertAdjacentHTML("beforebegin", html.join(""));
      let el = g.el;
      for (let k = items.length - 1; k >= 0; k--) {
        el = el.previousElementSibling;
        items[k].el = el;
      }
      for (const x of items) if (!x.gap && x.answer) decorateRequest(x);
      for (const x of items) if (!x.gap && x.req && state.byIdx.get(x.req) && state.byIdx.get(x.req).el) decorateRequest(state.byIdx.get(x.req));
      if (g.dead) removeRow(g.el);
      else refreshGap(g);
      for (const x of items) if (x.gap) refreshGap(x);
    }
    updateCounts();
    if (api.expr) api.expr.arrived();
    return true;
  }

  function schedule() {
    if (!state.live) return; // the history is drawn at once when it is complete
    if (state.paused) {
      updateCounts();
      return;
    }
    if (state.frame) return;
    state.frame = requestAnimationFrame(draw);
  }

  function draw() {
    state.frame = 0;
    if (state.paused) return;
    const rows = $("rows");
    const atBottom = nearBottom();
    layoutLanes();
    const todo = state.pending.filter((r) => (r.gap ? !r.dead : state.byIdx.has(r.i))); // some left past the bound
    state.pending = [];
    // Rows go in chunks of CHUNK: the browser skips the style and layout of the chunks
    // out of view (content-visibility), so a long history costs little to show.
    let chunk = rows.lastElementChild && rows.lastElementChild.classList.contains("chunk") ? rows.lastElementChild : null;
    let k = 0;
    while (k < todo.length) {
      if (!chunk || chunk.childElementCount >= CHUNK) {
        chunk = document.createElement("div");
        chunk.className = "chunk";
        rows.append(chunk);
      }
      const n = Math.min(CHUNK - chunk.childElementCount, todo.length - k);
      const last = chunk.lastElementChild;
      chunk.insertAdjacentHTML("beforeend", todo.slice(k, k + n).map((r) => (r.gap ? gapHTML(r) : rowHTML(r, !matches(r)))).join(""));
      let el = last ? last.nextElementSibling : chunk.firstElementChild;
      for (const r of todo.slice(k, k + n)) {
        r.el = el;
        el = el.nextElementSibling;
      }
      k += n;
    }
    for (const r of todo) if (r.answer) decorateRequest(r);
    for (const r of todo) if (r.gap) refreshGap(r); // the records after it are drawn now
    updateCounts();
    if (state.follow && atBottom) {
      const d = $("diagram");
      d.scrollTop = d.scrollHeight;
    }
    if (state.live && api.historyRenderedMs === null) {
      void rows.offsetHeight; // include the layout in the time measured
      api.historyRenderedMs = performance.now(); // since the navigation started
    }
  }

  function nearBottom() {
    const d = $("diagram");
    return d.scrollHeight - d.scrollTop - d.clientHeight < 80 || state.recs.length === state.pending.length;
  }

  function span(cls, text) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function seqText(r) {
    return r.seq ? "#" + r.seq : "";
  }

  // rowHTML draws one record: an arrow between two lanes, or a note on one lane. Rows are
  // HTML text, parsed in one go for a batch, and placed by classes (a-LANE, b-LANE, kN)
  // rather than inline styles: 10,000 rows are drawn in one step when a page opens late.
  function rowHTML(r, hidden) {
    const k = "k" + connClass(r.conn || 0);
    let h = '<div class="row ' + k + '" data-i="' + r.i + '"' + (r.seq ? ' data-seq="' + r.seq + '"' : "") +
      (hidden ? " hidden" : "") + ">";
    const seq = '<span class="seq">' + seqText(r) + "</span> " + esc(r.label);
    if (!r.dst) {
      const err = r.kind === "error" || r.kind === "gap" ? " error" : "";
      return h + '<div class="note' + err + " a-" + r.src + '">' + seq + "</div></div>";
    }
    const src = state.lanes.get(r.src), dst = state.lanes.get(r.dst);
    const right = src.kind < dst.kind || (src.kind === dst.kind && src.conn < dst.conn);
    let cls = "arrow " + (right ? "right" : "left") + " a-" + r.src + " b-" + r.dst;
    if (r.origin === "proxy") cls += " by-proxy";
    if (r.verdict === "dropped" || r.verdict === "rejected") cls += " stopped";
    h += '<div class="' + cls + '"><span class="label">' + seq;
    if (r.verdict) h += ' <span class="verdict">' + esc(r.verdict.toUpperCase()) + "</span>";
    if (r.rtt_ms) h += ' <span class="rtt">↩ ' + (r.reqSeq ? "#" + r.reqSeq + " " : "") + fmtRTT(r.rtt_ms) + "</span>";
    return h + "</span></div></div>";
  }

  function arrowTitle(r) {
    const parts = [seqText(r), r.time, r.label];
    if (r.from) parts.push("from " + r.from);
    if (r.to) parts.push("to " + r.to);
    if (r.origin) parts.push("by " + r.origin);
    return parts.filter(Boolean).join("  ");
  }

  function decorateRequest(q) {
    const a = state.byIdx.get(q.answer);
    const lab = q.el.querySelector(".label");
    if (!a || !lab || lab.querySelector(".answered")) return;
    lab.append(" ", span("rtt answered", "→ #" + a.seq + (a.rtt_ms ? " in " + fmtRTT(a.rtt_ms) : "")));
  }

  function fmtRTT(ms) {
    if (ms < 1) return Math.round(ms * 1000) + " µs";
    if (ms < 1000) return ms.toFixed(1) + " ms";
    return (ms / 1000).toFixed(2) + " s";
  }

  function updateCounts() {
    const n = state.recs.length;
    $("count").textContent = n + (n === 1 ? " record" : " records");
    const p = $("pause");
    p.textContent = state.paused ? "Resume (+" + state.pending.filter((x) => !x.gap).length + ")" : "Pause";
    p.setAttribute("aria-pressed", state.paused ? "true" : "false");
  }

  // ---- filters ----

  function list(v) {
    return v.split(",").map((s) => s.trim()).filter(Boolean);
  }

  function readFilter() {
    state.filter = {
      conn: $("f-conn").value,
      names: list($("f-name").value),
      types: list($("f-type").value),
      jid: $("f-jid").value.trim().toLowerCase(),
      dir: $("f-dir").value,
      notes: $("f-notes").checked,
    };
  }

  function jidMatches(j, want) {
    if (!j) return false;
    j = j.toLowerCase();
    return j === want || j.startsWith(want + "/");
  }

  function matches(r) {
    const f = state.filter;
    if (api.expr && !api.expr.matches(r)) return false;
    if (f.conn && String(r.conn || 0) !== f.conn) return false;
    if (!r.dst) {
      // Notes: kept with their connection when notes are on.
      return f.notes && !f.names.length && !f.types.length && !f.dir && (!f.jid || connJID(r, f.jid));
    }
    if (f.dir && r.dir !== f.dir) return false;
    if (f.names.length && !f.names.includes(r.name || "")) return false;
    if (f.types.length) {
      let t = r.type || "";
      if (!t && r.name === "presence") t = "available";
      if (!t && r.name === "message") t = "normal";
      if (!f.types.includes(t)) return false;
    }
    if (f.jid && !jidMatches(r.from, f.jid) && !jidMatches(r.to, f.jid) && !connJID(r, f.jid)) return false;
    return true;
  }

  function connJID(r, want) {
    const l = state.lanes.get("c" + (r.conn || 0));
    return !!(l && jidMatches(l.jid, want));
  }

  function applyFilter() {
    readFilter();
    let shown = 0;
    for (const r of state.recs) {
      if (!r.el) continue;
      const ok = matches(r);
      if (r.el.hidden === ok) r.el.hidden = !ok;
      if (ok) shown++;
    }
    const f = state.filter;
    const on = f.conn || f.names.length || f.types.length || f.jid || f.dir || !f.notes || api.expr;
    $("shown").textContent = on ? shown + " shown" : "";
  }

  // ---- detail ----

  async function select(r) {
    for (const el of document.querySelectorAll(".row.selected, .row.pair")) el.classList.remove("selected", "pair");
    state.selected = r;
    if (r.el) r.el.classList.add("selected");
    const other = state.byIdx.get(r.answer || r.req);
    if (other && other.el) other.el.classList.add("pair");
    $("detail").hidden = false;
    $("d-title").textContent = seqText(r) + " " + r.label;
    $("d-explain").replaceChildren();
    $("d-pretty").textContent = "loading…";
    facts(r, null);
    let d;
    try {
      const resp = await fetch("record?i=" + r.i, {cache: "no-store"});
      if (!resp.ok) throw new Error(await resp.text());
      d = await resp.json();
    } catch (e) {
      if (state.selected === r) $("d-pretty").textContent = String(e.message || e);
      return;
    }
    if (state.selected !== r) return;
    facts(r, d);
    const ex = $("d-explain");
    for (const s of d.explain || []) {
      if (s.href) {
        const a = document.createElement("a");
        a.href = s.href;
        a.textContent = s.text;
        a.target = "_blank";
        a.rel = "noreferrer noopener";
        ex.append(a);
      } else {
        ex.append(s.text);
      }
    }
    $("d-pretty").textContent = d.pretty;
  }

  function facts(r, d) {
    const dl = $("d-facts");
    dl.replaceChildren();
    const add = (k, v, onclick) => {
      if (!v) return;
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      if (onclick) {
        const b = document.createElement("a");
        b.href = "#";
        b.textContent = v;
        b.addEventListener("click", (e) => { e.preventDefault(); onclick(); });
        dd.append(b);
      } else {
        dd.textContent = v;
      }
      dl.append(dt, dd);
    };
    const l = state.lanes.get("c" + (r.conn || 0));
    add("time", r.time);
    add("connection", r.conn ? r.conn + (l && l.jid ? " (" + l.jid + ")" : "") : "");
    add("direction", r.dir === "c2s" ? "client → server" : r.dir === "s2c" ? "server → client" : "");
    add("origin", r.origin ? r.origin + (r.origin === "proxy" ? " (stanzascope wrote these bytes)" : "") : "");
    add("verdict", (d && d.verdict) || r.verdict || (r.dst ? "forwarded" : ""));
    if (d && d.transport) add("transport", d.transport === "websocket" ? "WebSocket (RFC 7395): one frame per element" : d.transport);
    if (d && d.changed) add("changed", d.transport === "websocket"
      ? "changed on its way (the lines below show how): the WebSocket framing (each frame declares its namespaces; <open/> and <close/> stand for the stream's header and closing tag), or a rule or a person at a breakpoint"
      : "a rule or a person at a breakpoint changed this stanza (the lines below show how)");
    if (d && d.rules && d.rules.length) add("rules", d.rules.join(", "));
    const q = state.byIdx.get(r.req);
    if (q) add("answers", "#" + q.seq, () => select(q));
    const a = state.byIdx.get(r.answer);
    if (a) add("answered by", "#" + a.seq + (a.rtt_ms ? " in " + fmtRTT(a.rtt_ms) : ""), () => select(a));
    if (r.rtt_ms) add("round trip", fmtRTT(r.rtt_ms));
    add("size", r.size ? r.size + " bytes" : "");
  }

  // ---- exports ----

  function visible() {
    return state.recs.filter((r) => r.el && !r.el.hidden);
  }

  // exported: the records shown and the gaps between them, in order, so an export says
  // where records were not shown live.
  function exported() {
    const out = [];
    const recs = visible();
    let k = 0;
    for (const g of state.gaps) {
      if (!g.el) continue;
      while (k < recs.length && recs[k].i < g.from) out.push(recs[k++]);
      out.push(g);
    }
    while (k < recs.length) out.push(recs[k++]);
    return out;
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
  }

  function cssVar(name) {
    return getComputedStyle(document.body).getPropertyValue(name).trim() || "#444";
  }

  // exportSVG draws the shown records as a standalone SVG (light colours, for print).
  function exportSVG() {
    const lanes = orderedLanes();
    const recs = exported();
    const W = 220, H = 28, top = 56;
    const x = new Map(lanes.map((l, i) => [l.id, i * W + W / 2]));
    const width = lanes.length * W, height = top + recs.length * H + 20;
    const colour = (c) => cssVar("--conn-" + connClass(c));
    const out = [];
    out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
    out.push(`<rect width="100%" height="100%" fill="${esc(cssVar("--bg"))}"/>`);
    for (const l of lanes) {
      const lx = x.get(l.id);
      out.push(`<line x1="${lx}" y1="${top - 12}" x2="${lx}" y2="${height}" stroke="${esc(cssVar("--line"))}" stroke-dasharray="4 3"/>`);
      out.push(`<text x="${lx}" y="24" text-anchor="middle" font-weight="bold" fill="${esc(cssVar("--fg"))}">${esc(laneText(l))}</text>`);
    }
    recs.forEach((r, k) => {
      const y = top + k * H + H * 0.7;
      const c = esc(colour(r.conn || 0));
      const text = (seqText(r) + " " + r.label + (r.verdict ? " " + r.verdict.toUpperCase() : "") + (r.rtt_ms ? " (" + fmtRTT(r.rtt_ms) + ")" : "")).trim();
      if (r.gap) {
        out.push(`<text x="${width / 2}" y="${y}" text-anchor="middle" fill="${esc(cssVar("--bad"))}">${esc(gapText(r))}</text>`);
        return;
      }
      const x1 = x.get(r.src);
      if (!r.dst) {
        out.push(`<text x="${x1}" y="${y}" text-anchor="middle" fill="${esc(cssVar("--muted"))}">${esc(text)}</text>`);
        return;
      }
      const x2 = x.get(r.dst);
      const dirn = x2 > x1 ? 1 : -1;
      const dash = r.origin === "proxy" ? ` stroke-dasharray="6 3"` : "";
      out.push(`<g class="arrow" data-seq="${r.seq || ""}"><line x1="${x1}" y1="${y}" x2="${x2 - dirn * 8}" y2="${y}" stroke="${c}" stroke-width="2"${dash}/>`);
      out.push(`<path d="M${x2} ${y} l${-dirn * 9} -5 v10 z" fill="${c}"/>`);
      out.push(`<text x="${(x1 + x2) / 2}" y="${y - 5}" text-anchor="middle" fill="${esc(cssVar("--fg"))}">${esc(text)}</text></g>`);
    });
    out.push("</svg>");
    return out.join("\n") + "\n";
  }

  // mermaidText escapes what Mermaid reads as syntax in a message (entity codes).
  function mermaidText(s) {
    return String(s).replace(/[#;<>\n\r]/g, (c) => "#" + c.charCodeAt(0) + ";");
  }

  function exportMermaid() {
    const lanes = orderedLanes();
    const out = ["sequenceDiagram"];
    for (const l of lanes) out.push("  participant " + l.id + " as " + mermaidText(laneText(l)));
    const first = lanes.length ? lanes[0].id : "", last = lanes.length ? lanes[lanes.length - 1].id : "";
    for (const r of exported()) {
      if (r.gap) {
        out.push("  Note over " + first + (last !== first ? "," + last : "") + ": " + mermaidText(gapText(r)));
        continue;
      }
      const text = mermaidText((r.seq ? "[" + r.seq + "] " : "") + r.label +
        (r.verdict ? " " + r.verdict.toUpperCase() : "") + (r.rtt_ms ? " (" + fmtRTT(r.rtt_ms) + ")" : ""));
      if (r.dst) {
        out.push("  " + r.src + (r.dir === "s2c" ? "-->>" : "->>") + r.dst + ": " + text);
      } else {
        out.push("  Note over " + r.src + ": " + text);
      }
    }
    return out.join("\n") + "\n";
  }

  function download(name, type, text) {
    const url = URL.createObjectURL(new Blob([text], {type}));
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // ---- controls ----

  function setTheme(t) {
    document.documentElement.dataset.theme = t;
    $("theme").textContent = t === "dark" ? "Light" : "Dark";
    try { localStorage.setItem("stanzascope-theme", t); } catch (e) { /* private mode */ }
  }

  function setProjector(on) {
    document.body.classList.toggle("projector", on);
    $("projector").setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("stanzascope-projector", on ? "1" : ""); } catch (e) { /* private mode */ }
  }

  function setPaused(p) {
    state.paused = p;
    if (!p) schedule();
    updateCounts();
  }

  function controls() {
    let theme = null, proj = false;
    try {
      theme = localStorage.getItem("stanzascope-theme");
      proj = localStorage.getItem("stanzascope-projector") === "1";
    } catch (e) { /* private mode */ }
    if (!theme) theme = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
    setTheme(theme);
    setProjector(proj);
    $("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
    $("projector").addEventListener("click", () => setProjector(!document.body.classList.contains("projector")));
    $("pause").addEventListener("click", () => setPaused(!state.paused));
    $("follow").addEventListener("click", () => {
      state.follow = !state.follow;
      $("follow").setAttribute("aria-pressed", state.follow ? "true" : "false");
    });
    $("export-svg").addEventListener("click", () => download("stanzascope.svg", "image/svg+xml", exportSVG()));
    $("export-mermaid").addEventListener("click", () => download("stanzascope.mmd", "text/plain", exportMermaid()));
    $("close-detail").addEventListener("click", () => { $("detail").hidden = true; });
    $("filters").addEventListener("input", applyFilter);
    $("filters").addEventListener("change", applyFilter);
    $("filters").addEventListener("submit", (e) => e.preventDefault());
    $("rows").addEventListener("mouseover", (e) => {
      const el = e.target.closest(".row");
      if (el && !el.title) {
        const r = state.byIdx.get(Number(el.dataset.i));
        if (r) el.title = arrowTitle(r); // made on demand: 10,000 titles cost a lot up front
      }
    });
    $("rows").addEventListener("click", (e) => {
      const gel = e.target.closest(".gap");
      if (gel) {
        const g = state.gaps.find((x) => x.el === gel);
        if (g) fetchGap(g);
        return;
      }
      const el = e.target.closest(".row");
      if (el) {
        const r = state.byIdx.get(Number(el.dataset.i));
        if (r) select(r);
      }
    });
    document.addEventListener("keydown", (e) => {
      if (e.target.closest("input, select")) return;
      if (e.key === " ") { e.preventDefault(); setPaused(!state.paused); }
      if (e.key === "Escape") $("detail").hidden = true;
    });
  }

  // ---- the stream ----

  function connect() {
    const es = new EventSource("events");
    const status = $("status");
    es.addEventListener("hello", (e) => {
      const h = JSON.parse(e.data);
      state.max = h.history || state.max;
      state.liveRate = h.live_rate || 0;
      state.serverName = h.server;
      state.proxy = h.proxy;
      document.title = h.title;
      $("title").textContent = h.title;
      laneFor("server");
      if (h.proxy) laneFor("proxy");
      // What the hub knows of connections whose first records may have left the history;
      // a lane is made only for a connection that has records here.
      for (const l of h.lanes || []) state.known.set("c" + l.conn, l);
      if (h.first > 1) {
        const b = $("history-note");
        b.textContent = "The history starts at record " + h.first + ": the view keeps the last " + h.history + " records.";
        b.hidden = false;
      }
      state.laneOrderDirty = true;
      schedule();
    });
    es.addEventListener("live", () => {
      if (api.historyReceivedMs === null) api.historyReceivedMs = performance.now();
      state.live = api.live = true;
      status.textContent = "live";
      status.className = "status live";
      schedule();
    });
    es.addEventListener("skipped", (e) => skipped(JSON.parse(e.data)));
    es.addEventListener("lanes", (e) => {
      // Labels learnt from records this page may not have been sent (a bound JID).
      for (const k of JSON.parse(e.data)) {
        const id = "c" + k.conn;
        state.known.set(id, k);
        const l = state.lanes.get(id);
        if (l && l.kind === 0) {
          if (k.jid) l.jid = k.jid;
          if (k.client) l.client = k.client;
          relabel(l);
        }
      }
    });
    es.addEventListener("records", (e) => {
      for (const r of JSON.parse(e.data)) ingest(r);
      if (api.expr) api.expr.arrived();
    });
    es.onopen = () => {
      if (state.live) {
        status.textContent = "live";
        status.className = "status live";
      }
    };
    es.onerror = () => {
      status.textContent = es.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…";
      status.className = "status lost";
    };
  }

  controls();
  connect();
})();
