// stanzascope web view: the filter box's expression, in the filter language of --filter
// (docs/INSPECT.md). The page does not parse it: the server does (GET /filter), with the
// same code as the terminal's filter, and answers which records of its history the
// expression shows, or why it does not compile. Records that arrive later are hidden
// until the server has been asked again about them.
(() => {
  "use strict";
  const api = window.stanzascope;
  const input = document.getElementById("f-expr");
  const msg = document.getElementById("f-expr-msg");
  if (!api || !input || !msg) return;

  let text = "";        // the expression in force or being asked about
  let shown = new Set(); // indices the server said it shows
  let next = 0;         // records from this index on are not decided yet
  let timer = 0, busy = false, again = false;

  const active = {
    matches: (r) => r.i < next && shown.has(r.i),
    arrived: () => later(150),
  };
  api.exprAnswers = 0; // answers applied, for tests

  function later(ms) {
    clearTimeout(timer);
    timer = setTimeout(ask, ms);
  }

  function say(t, isError) {
    msg.textContent = t;
    msg.classList.toggle("error", !!isError);
    input.setAttribute("aria-invalid", isError ? "true" : "false");
  }

  async function ask() {
    if (!text) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    const want = text;
    try {
      const resp = await fetch("filter?expr=" + encodeURIComponent(want), {cache: "no-store"});
      let body;
      try {
        body = await resp.json();
      } catch (e) {
        body = {error: resp.status === 404 ? "expressions are not available in this view" : "the server answered " + resp.status};
      }
      if (want !== text) return; // changed meanwhile: the newer one is asked next
      api.exprAnswers++;
      if (!resp.ok || body.error) {
        // Not an expression: say why, and show what the other boxes show.
        say(body.error || "the server answered " + resp.status, true);
        api.expr = null;
      } else {
        say((body.warnings || []).join("; "), false);
        shown = new Set(body.match);
        next = body.next;
        api.expr = active;
      }
      api.applyFilter();
    } catch (e) {
      say("cannot ask the server: " + e.message, true);
    } finally {
      busy = false;
      if (again) {
        again = false;
        ask();
      }
    }
  }

  input.addEventListener("input", () => {
    text = input.value.trim();
    if (!text) {
      clearTimeout(timer);
      say("", false);
      api.expr = null;
      api.applyFilter();
      return;
    }
    later(250);
  });
})();
