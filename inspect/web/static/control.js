// stanzascope web view: the control panel (issue 16). When the proxy runs with --control,
// its JSON API (docs/API.md) is on this server; the panel sets breakpoints, shows the held
// stanzas with an editor (release, edit and release, drop, reject) and composes stanzas to
// send into a live connection, with templates. Without --control the API answers 404 and
// the panel stays hidden. Every request says by: "web", which the record names.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 500;

  // Templates of the composer: the common stanzas, then the textbook session's steps
  // (shared/docs/textbook-session.md), which a teacher types into a telnet session.
  const TEMPLATES = [
    ["message (chat)", "<message to='dana@localhost' type='chat'><body>Hello!</body></message>"],
    ["presence (available)", "<presence/>"],
    ["presence (subscribe)", "<presence to='dana@localhost' type='subscribe'/>"],
    ["iq get (roster)", "<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>"],
    ["iq set (roster item)", "<iq type='set' id='roster2'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' name='Dana'/></query></iq>"],
    ["iq get (ping)", "<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"],
    ["iq get (disco#info)", "<iq type='get' id='disco1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"],
    ["textbook 2: how to register", "<iq id='AnythingYouWantHere' type='get'><query xmlns='jabber:iq:register'/></iq>"],
    ["textbook 3: register", "<iq id='WhateverYouWantHere' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>secret</password><name>Mr_Praline</name><email>Mr_Praline@python.com</email></query></iq>"],
    ["textbook 4: log in (iq:auth)", "<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>secret</password><resource>telnet</resource></query></iq>"],
    ["textbook 5: initial presence", "<presence/>"],
    ["textbook 6: chat message", "<message to='dana@localhost' type='chat'><body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique.</body></message>"],
  ];

  // The stanza error conditions of RFC 6120 section 8.3.3, for reject.
  const CONDITIONS = ["bad-request", "conflict", "feature-not-implemented", "forbidden", "gone",
    "internal-server-error", "item-not-found", "jid-malformed", "not-acceptable", "not-allowed",
    "not-authorized", "policy-violation", "recipient-unavailable", "redirect",
    "registration-required", "remote-server-not-found", "remote-server-timeout",
    "resource-constraint", "service-unavailable", "subscription-required",
    "undefined-condition", "unexpected-request"];

  const ctl = {enabled: false, held: new Map(), polls: 0};
  // For tests: window.stanzascopeControl.enabled, .held() (ids shown), .polls.
  window.stanzascopeControl = {
    get enabled() { return ctl.enabled; },
    get polls() { return ctl.polls; },
    held: () => [...ctl.held.keys()],
  };

  async function call(method, path, body) {
    const opt = {method, headers: {}, credentials: "same-origin"};
    if (method === "POST") {
      opt.headers["Content-Type"] = "application/json";
      // Decisions and sends name the surface for the record; a breakpoint is nobody's.
      const by = path.startsWith("api/breakpoints") ? {} : {by: "web"};
      opt.body = JSON.stringify(Object.assign(by, body || {}));
    }
    const resp = await fetch(path, opt);
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (!resp.ok) {
      const err = new Error((data && data.error) || resp.status + " " + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v);
    }
    e.append(...kids);
    return e;
  }

  function build() {
    const panel = el("aside", {id: "control", "aria-label": "control"},
      el("section", {id: "c-breakpoints"},
        el("h2", {text: "Breakpoints"}),
        el("form", {id: "bp-form", autocomplete: "off"},
          el("input", {id: "bp-filter", size: "28", placeholder: "name message and type chat and dir c2s",
            title: "a filter expression (the --filter language): stanzas that match are held"}),
          el("button", {type: "submit", id: "bp-add", text: "Set"})),
        el("p", {id: "bp-error", class: "c-error", role: "alert"}),
        el("ul", {id: "bp-list"})),
      el("section", {id: "c-held"},
        el("h2", {text: "Held stanzas"}),
        el("p", {id: "held-empty", class: "c-muted", text: "nothing held"}),
        el("div", {id: "held-list"})),
      el("section", {id: "c-composer"},
        el("h2", {text: "Send"}),
        el("form", {id: "cmp-form", autocomplete: "off"},
          el("label", {}, "connection ", el("select", {id: "cmp-conn"})),
          el("label", {}, " to ", el("select", {id: "cmp-to"},
            new Option("the server", "server"), new Option("the client", "client"))),
          el("label", {}, " template ", el("select", {id: "cmp-template"},
            new Option("—", ""), ...TEMPLATES.map(([name], i) => new Option(name, String(i))))),
          el("textarea", {id: "cmp-stanza", rows: "4", spellcheck: "false", placeholder: "<message to='dana@localhost' type='chat'><body>…</body></message>"}),
          el("button", {type: "submit", id: "cmp-send", text: "Send"}),
          el("span", {id: "cmp-result", class: "c-muted", role: "status"}))));
    document.body.append(panel);
    document.body.classList.add("with-control");

    $("bp-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const f = $("bp-filter").value.trim();
      if (!f) return;
      try {
        await call("POST", "api/breakpoints", {filter: f});
        $("bp-filter").value = "";
        $("bp-error").textContent = "";
      } catch (e) {
        $("bp-error").textContent = e.message;
      }
      refreshBreakpoints();
    });
    $("cmp-template").addEventListener("change", () => {
      const t = TEMPLATES[Number($("cmp-template").value)];
      if (t) $("cmp-stanza").value = t[1];
    });
    $("cmp-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const conn = $("cmp-conn").value;
      if (!conn) {
        $("cmp-result").textContent = "no connection to send into";
        return;
      }
      try {
        const d = await call("POST", "api/conns/" + conn + "/send", {to: $("cmp-to").value, stanza: $("cmp-stanza").value.trim()});
        $("cmp-result").className = "c-muted";
        $("cmp-result").textContent = d.done;
      } catch (e) {
        $("cmp-result").className = "c-error";
        $("cmp-result").textContent = e.message;
      }
    });
  }

  async function refreshBreakpoints() {
    let d;
    try {
      d = await call("GET", "api/breakpoints");
    } catch (e) {
      return;
    }
    const items = d.breakpoints.map((b) => {
      const rm = el("button", {type: "button", class: "bp-remove", title: "remove this breakpoint", text: "×"});
      rm.addEventListener("click", async () => {
        try {
          await call("DELETE", "api/breakpoints/" + b.id);
        } catch (e) {
          $("bp-error").textContent = e.message;
        }
        refreshBreakpoints();
      });
      return el("li", {class: "bp", "data-id": String(b.id)},
        el("code", {text: b.filter}), el("span", {class: "c-muted", text: " " + b.hits + " held "}), rm);
    });
    $("bp-list").replaceChildren(...items);
  }

  function refreshConns(conns) {
    const sel = $("cmp-conn");
    const keep = sel.value;
    const opts = conns.map((c) => {
      let t = c.id + ": " + (c.bound || c.client);
      if (c.busy) t += " (" + c.busy + ")";
      return [String(c.id), t];
    });
    if (sel.options.length === opts.length && [...sel.options].every((o, i) => o.value === opts[i][0] && o.text === opts[i][1])) return;
    sel.replaceChildren(...opts.map(([v, t]) => new Option(t, v, false, v === keep)));
  }

  // The held stanzas: a card each, kept while it is held so that an edit in progress is
  // not overwritten by the next poll.
  function refreshHeld(list) {
    const now = new Set(list.map((h) => h.id));
    for (const [id, card] of ctl.held) {
      if (!now.has(id)) {
        card.el.remove();
        ctl.held.delete(id);
      }
    }
    for (const h of list) {
      let card = ctl.held.get(h.id);
      if (!card) {
        card = heldCard(h);
        ctl.held.set(h.id, card);
        $("held-list").append(card.el);
      }
      const left = Math.max(0, Math.round((Date.parse(h.deadline) - Date.now()) / 1000));
      card.left.textContent = "released unchanged in " + left + " s";
    }
    $("held-empty").hidden = list.length > 0;
  }

  function heldCard(h) {
    const area = el("textarea", {class: "held-edit", rows: "4", spellcheck: "false"});
    area.value = h.stanza;
    const left = el("span", {class: "c-muted"});
    const err = el("p", {class: "c-error held-error", role: "alert"});
    const cond = el("select", {class: "held-cond"}, ...CONDITIONS.map((c) => new Option(c, c, false, c === "not-allowed")));
    const text = el("input", {class: "held-text", size: "14", placeholder: "text (optional)"});
    const card = {el: null, left};
    const act = (label, cls, fn) => {
      const b = el("button", {type: "button", class: cls, text: label});
      b.addEventListener("click", async () => {
        try {
          await fn();
          err.textContent = "";
        } catch (e) {
          err.textContent = e.message;
        }
        poll();
      });
      return b;
    };
    const base = "api/held/" + h.id + "/";
    card.el = el("div", {class: "held", "data-id": String(h.id)},
      el("div", {class: "held-head"},
        el("strong", {text: "#" + h.id}),
        el("span", {text: " connection " + h.conn + " " + (h.dir === "c2s" ? "client → server" : "server → client") + " "}),
        el("code", {text: h.filter}), " ", left),
      h.redacted ? el("p", {class: "c-muted", text: "credentials are redacted here: an edit forwards what it says"}) : "",
      area,
      el("div", {class: "held-actions"},
        act("Release", "held-release", () => call("POST", base + "release")),
        act("Edit & release", "held-edit-release", () => call("POST", base + "edit", {stanza: area.value.trim()})),
        act("Drop", "held-drop", () => call("POST", base + "drop")),
        act("Reject", "held-reject", () => call("POST", base + "reject", {condition: cond.value, text: text.value})),
        cond, text),
      err);
    return card;
  }

  async function poll() {
    try {
      const [held, conns] = await Promise.all([call("GET", "api/held"), call("GET", "api/conns")]);
      refreshHeld(held.held);
      refreshConns(conns.conns);
      ctl.polls++;
    } catch (e) {
      // The proxy may have stopped: the event stream says so; try again at the next tick.
    }
  }

  async function start() {
    try {
      await call("GET", "api/breakpoints");
    } catch (e) {
      return; // no --control: the panel stays away
    }
    ctl.enabled = true;
    build();
    refreshBreakpoints();
    poll();
    setInterval(poll, POLL_MS);
    setInterval(refreshBreakpoints, 4 * POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
