// Package control is the JSON HTTP API over the proxy's control model (proxy.Control):
// list connections, set and clear breakpoints, list held stanzas, release, edit, drop or
// reject them, and send a stanza into a live connection. It is served on the web view's
// server, behind the web view's guard (its token, or a loopback Host without one), and only
// when the proxy runs with --control. `stanzascope ctl` and the web view's page are its
// clients; docs/API.md documents it.
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/rules"
)

// maxBody bounds a request body: a stanza (the reader's limit) and some JSON around it.
const maxBody = 512 << 10

// The request bodies.

// BreakpointRequest sets a breakpoint.
type BreakpointRequest struct {
	Filter string `json:"filter"`
}

// DecisionRequest is the body of a decision about a held stanza: By names the surface
// (api, web or ctl; api when empty), Stanza is the edit, Condition and Text the reject's
// stanza error.
type DecisionRequest struct {
	By        string `json:"by,omitempty"`
	Stanza    string `json:"stanza,omitempty"`
	Condition string `json:"condition,omitempty"`
	Text      string `json:"text,omitempty"`
}

// SendRequest sends a stanza into a connection: To is "client" or "server".
type SendRequest struct {
	By     string `json:"by,omitempty"`
	To     string `json:"to"`
	Stanza string `json:"stanza"`
}

// The answers.

// ConnsAnswer lists the live connections.
type ConnsAnswer struct {
	Conns []proxy.ConnState `json:"conns"`
}

// BreakpointsAnswer lists the breakpoints.
type BreakpointsAnswer struct {
	Breakpoints []proxy.Breakpoint `json:"breakpoints"`
}

// HeldAnswer lists the held stanzas.
type HeldAnswer struct {
	Held []proxy.Held `json:"held"`
}

// DoneAnswer says what was done.
type DoneAnswer struct {
	Done string `json:"done"`
}

// ErrorAnswer is every error's body. Column is set for a filter expression that does not
// parse (counted from 1).
type ErrorAnswer struct {
	Error  string `json:"error"`
	Column int    `json:"column,omitempty"`
}

// Handlers returns the API's routes, as http.ServeMux patterns, for
// web.HandlerOptions.Extra: mounted behind the web view's guard.
func Handlers(c *proxy.Control) map[string]http.Handler {
	a := &api{c: c}
	return map[string]http.Handler{
		"GET /api/conns":               http.HandlerFunc(a.conns),
		"POST /api/conns/{id}/send":    http.HandlerFunc(a.send),
		"GET /api/breakpoints":         http.HandlerFunc(a.breakpoints),
		"POST /api/breakpoints":        http.HandlerFunc(a.addBreakpoint),
		"DELETE /api/breakpoints":      http.HandlerFunc(a.clearBreakpoints),
		"DELETE /api/breakpoints/{id}": http.HandlerFunc(a.removeBreakpoint),
		"GET /api/held":                http.HandlerFunc(a.held),
		"POST /api/held/{id}/{action}": http.HandlerFunc(a.decide),
	}
}

// Routes lists the API's routes (for tests and documentation).
func Routes() []string {
	var out []string
	for p := range Handlers(nil) {
		out = append(out, p)
	}
	return out
}

type api struct{ c *proxy.Control }

func (a *api) conns(w http.ResponseWriter, r *http.Request) {
	answer(w, http.StatusOK, ConnsAnswer{Conns: a.c.Conns()})
}

func (a *api) breakpoints(w http.ResponseWriter, r *http.Request) {
	answer(w, http.StatusOK, BreakpointsAnswer{Breakpoints: a.c.Breakpoints()})
}

func (a *api) held(w http.ResponseWriter, r *http.Request) {
	answer(w, http.StatusOK, HeldAnswer{Held: a.c.Held()})
}

func (a *api) addBreakpoint(w http.ResponseWriter, r *http.Request) {
	var req BreakpointRequest
	if !readJSON(w, r, &req) {
		return
	}
	b, err := a.c.AddBreakpoint(req.Filter)
	if err != nil {
		fail(w, err)
		return
	}
	answer(w, http.StatusCreated, b)
}

func (a *api) removeBreakpoint(w http.ResponseWriter, r *http.Request) {
	if !sameSite(w, r) {
		return
	}
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	if err := a.c.RemoveBreakpoint(id); err != nil {
		fail(w, fmt.Errorf("breakpoint %d: %w", id, err))
		return
	}
	answer(w, http.StatusOK, DoneAnswer{Done: fmt.Sprintf("breakpoint %d removed", id)})
}

func (a *api) clearBreakpoints(w http.ResponseWriter, r *http.Request) {
	if !sameSite(w, r) {
		return
	}
	a.c.ClearBreakpoints()
	answer(w, http.StatusOK, DoneAnswer{Done: "every breakpoint removed"})
}

func (a *api) decide(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req DecisionRequest
	if !readJSON(w, r, &req) {
		return
	}
	d := proxy.Decision{Action: proxy.Action(r.PathValue("action")), By: by(req.By), Stanza: []byte(req.Stanza),
		Condition: inspect.Cond(req.Condition), Text: req.Text}
	if d.Action == proxy.Edit && req.Stanza == "" {
		fail(w, fmt.Errorf("edit: give the stanza to forward in \"stanza\": %w", proxy.ErrInvalid))
		return
	}
	if err := a.c.Decide(id, d); err != nil {
		fail(w, err)
		return
	}
	answer(w, http.StatusOK, DoneAnswer{Done: fmt.Sprintf("held stanza %d: %s", id, d.Action)})
}

func (a *api) send(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var req SendRequest
	if !readJSON(w, r, &req) {
		return
	}
	var dir inspect.Direction
	switch req.To {
	case "client":
		dir = inspect.ServerToClient
	case "server":
		dir = inspect.ClientToServer
	default:
		fail(w, fmt.Errorf("send: \"to\" is client or server, not %q: %w", req.To, proxy.ErrInvalid))
		return
	}
	if err := a.c.Send(id, dir, []byte(req.Stanza), by(req.By)); err != nil {
		fail(w, err)
		return
	}
	answer(w, http.StatusOK, DoneAnswer{Done: fmt.Sprintf("sent to the %s of connection %d", req.To, id)})
}

func by(s string) string {
	if s == "" {
		return proxy.ByAPI
	}
	return s
}

func pathID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		answer(w, http.StatusBadRequest, ErrorAnswer{Error: fmt.Sprintf("%q is not a number", r.PathValue("id"))})
		return 0, false
	}
	return id, true
}

// sameSite refuses a request that a browser says comes from another site. With a loopback
// Host and no token, the guard lets any page of this machine's browser through; a request
// with a JSON body (readJSON) cannot be sent cross-site without a preflight that this API
// never answers, and DELETE always needs one, so this is a second lock.
func sameSite(w http.ResponseWriter, r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		answer(w, http.StatusForbidden, ErrorAnswer{Error: "cross-site requests are refused"})
		return false
	}
	return true
}

// readJSON decodes the request's JSON body into v (an empty body leaves v as it is). The
// body must be declared application/json.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !sameSite(w, r) {
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		answer(w, http.StatusUnsupportedMediaType, ErrorAnswer{Error: "send the body as Content-Type: application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		answer(w, status, ErrorAnswer{Error: "body: " + err.Error()})
		return false
	}
	return true
}

// fail answers err with the status its kind calls for.
func fail(w http.ResponseWriter, err error) {
	var fe *rules.FilterError
	switch {
	case errors.As(err, &fe):
		answer(w, http.StatusBadRequest, ErrorAnswer{Error: err.Error(), Column: fe.Col})
	case errors.Is(err, proxy.ErrNotFound):
		answer(w, http.StatusNotFound, ErrorAnswer{Error: err.Error()})
	case errors.Is(err, proxy.ErrBusy):
		answer(w, http.StatusConflict, ErrorAnswer{Error: err.Error()})
	case errors.Is(err, proxy.ErrInvalid):
		answer(w, http.StatusBadRequest, ErrorAnswer{Error: err.Error()})
	default:
		answer(w, http.StatusInternalServerError, ErrorAnswer{Error: err.Error()})
	}
}

func answer(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
