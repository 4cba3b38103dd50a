package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/proxy/control"
)

func init() {
	register(&command{
		name:    "ctl",
		summary: "drive a running proxy's control API: breakpoints, held stanzas, send (needs --control there)",
		run:     runCtl,
	})
}

const ctlUsage = `ctl [--addr URL] [--token TOKEN] [--json] COMMAND [ARGS]

Drives the control API of a running 'stanzascope proxy --control' (see docs/API.md):

  conns                          list the live connections
  break                          list the breakpoints
  break add EXPR                 hold the stanzas that match EXPR (the --filter language)
  break rm ID                    remove a breakpoint
  break clear                    remove every breakpoint
  held                           list the held stanzas
  release ID                     forward a held stanza as it is
  edit ID [FILE|-]               forward the stanza in FILE (default: standard input) instead
  drop ID                        forward nothing
  reject ID CONDITION [TEXT]     forward nothing, bounce a stanza error (e.g. not-allowed)
  send CONN client|server [STANZA|-]   send one stanza into a connection (default: standard input)

The token is --token, else $STANZASCOPE_TOKEN (the proxy's --web-token).`

// ctlStdin is where edit and send read a stanza by default; tests replace it.
var ctlStdin io.Reader = os.Stdin

func runCtl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("ctl", ctlUsage, stderr)
	fset.SetInterspersed(false)
	addr := fset.String("addr", "http://"+defaultWebAddr, "the web view's `URL` (the proxy's --web)")
	token := fset.String("token", os.Getenv("STANZASCOPE_TOKEN"), "the web view's `TOKEN` (--web-token)")
	asJSON := fset.Bool("json", false, "print the API's JSON answer as it is")
	timeout := fset.Duration("timeout", 10*time.Second, "give up on the API after this `duration`")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	a := fset.Args()
	if len(a) == 0 {
		return usagef("give a command: conns, break, held, release, edit, drop, reject or send")
	}
	if !strings.Contains(*addr, "://") {
		*addr = "http://" + *addr
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &ctlRun{cl: &control.Client{Base: *addr, Token: *token}, ctx: ctx, out: stdout, json: *asJSON}
	err := c.run(a)
	var ae *control.Error
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %w", *addr, err)
	}
	return err
}

type ctlRun struct {
	cl   *control.Client
	ctx  context.Context
	out  io.Writer
	json bool
}

func (c *ctlRun) run(a []string) error {
	cmd, args := a[0], a[1:]
	nargs := func(min, max int) error {
		if len(args) < min || len(args) > max {
			return usagef("ctl %s: wrong number of arguments (see stanzascope ctl --help)", cmd)
		}
		return nil
	}
	switch cmd {
	case "conns":
		if err := nargs(0, 0); err != nil {
			return err
		}
		var ans control.ConnsAnswer
		return c.call("GET", "/api/conns", nil, &ans, func() { c.printConns(ans.Conns) })
	case "break":
		return c.breakCmd(args)
	case "held":
		if err := nargs(0, 0); err != nil {
			return err
		}
		var ans control.HeldAnswer
		return c.call("GET", "/api/held", nil, &ans, func() { c.printHeld(ans.Held) })
	case "release", "drop", "edit", "reject":
		min, max := 1, 1
		switch cmd {
		case "edit":
			max = 2
		case "reject":
			min, max = 2, 3
		}
		if err := nargs(min, max); err != nil {
			return err
		}
		id, err := ctlID(args[0])
		if err != nil {
			return err
		}
		req := control.DecisionRequest{By: proxy.ByCtl}
		switch cmd {
		case "edit":
			src := "-"
			if len(args) == 2 {
				src = args[1]
			}
			b, err := readStanzaArg(src, true)
			if err != nil {
				return err
			}
			req.Stanza = b
		case "reject":
			req.Condition = args[1]
			if len(args) == 3 {
				req.Text = args[2]
			}
		}
		return c.done("POST", "/api/held/"+id+"/"+cmd, req)
	case "send":
		if err := nargs(2, 3); err != nil {
			return err
		}
		id, err := ctlID(args[0])
		if err != nil {
			return err
		}
		if args[1] != "client" && args[1] != "server" {
			return usagef("ctl send: say where to: client or server, not %q", args[1])
		}
		src, isFile := "-", true
		if len(args) == 3 {
			src, isFile = args[2], args[2] == "-"
		}
		b, err := readStanzaArg(src, isFile)
		if err != nil {
			return err
		}
		return c.done("POST", "/api/conns/"+id+"/send", control.SendRequest{By: proxy.ByCtl, To: args[1], Stanza: b})
	}
	return usagef("ctl: unknown command %q (conns, break, held, release, edit, drop, reject, send)", cmd)
}

func (c *ctlRun) breakCmd(args []string) error {
	if len(args) == 0 || args[0] == "list" || args[0] == "ls" {
		if len(args) > 1 {
			return usagef("ctl break list takes no arguments")
		}
		var ans control.BreakpointsAnswer
		return c.call("GET", "/api/breakpoints", nil, &ans, func() {
			if len(ans.Breakpoints) == 0 {
				fmt.Fprintln(c.out, "no breakpoints")
				return
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tHITS\tFILTER")
			for _, b := range ans.Breakpoints {
				fmt.Fprintf(tw, "%d\t%d\t%s\n", b.ID, b.Hits, b.Expr)
			}
			tw.Flush()
		})
	}
	switch args[0] {
	case "add":
		if len(args) < 2 {
			return usagef("ctl break add EXPR: give a filter expression, e.g. 'name message and type chat'")
		}
		var b proxy.Breakpoint
		return c.call("POST", "/api/breakpoints", control.BreakpointRequest{Filter: strings.Join(args[1:], " ")}, &b, func() {
			fmt.Fprintf(c.out, "breakpoint %d: %s\n", b.ID, b.Expr)
		})
	case "rm", "remove", "delete":
		if len(args) != 2 {
			return usagef("ctl break rm ID")
		}
		id, err := ctlID(args[1])
		if err != nil {
			return err
		}
		return c.done("DELETE", "/api/breakpoints/"+id, nil)
	case "clear":
		if len(args) != 1 {
			return usagef("ctl break clear takes no arguments")
		}
		return c.done("DELETE", "/api/breakpoints", nil)
	}
	return usagef("ctl break: unknown command %q (list, add, rm, clear)", args[0])
}

// call does a request and prints its answer: as JSON with --json, else with show.
func (c *ctlRun) call(method, path string, body, out any, show func()) error {
	if err := c.cl.Do(c.ctx, method, path, body, out); err != nil {
		return err
	}
	if c.json {
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "%s\n", b)
		return nil
	}
	show()
	return nil
}

// done does a request whose answer says what was done.
func (c *ctlRun) done(method, path string, body any) error {
	var ans control.DoneAnswer
	return c.call(method, path, body, &ans, func() { fmt.Fprintln(c.out, ans.Done) })
}

func (c *ctlRun) printConns(cs []proxy.ConnState) {
	if len(cs) == 0 {
		fmt.Fprintln(c.out, "no connections")
		return
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCLIENT\tBOUND\tTLS\tHELD\tSTATE")
	for _, s := range cs {
		tls := "-"
		switch {
		case s.ClientTLS && s.UpstreamTLS:
			tls = "both"
		case s.ClientTLS:
			tls = "client"
		case s.UpstreamTLS:
			tls = "upstream"
		}
		state := s.Busy
		if state == "" {
			state = "ready"
		}
		bound := s.Bound
		if bound == "" {
			bound = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Client, bound, tls, s.Held, state)
	}
	tw.Flush()
}

func (c *ctlRun) printHeld(hs []proxy.Held) {
	if len(hs) == 0 {
		fmt.Fprintln(c.out, "nothing held")
		return
	}
	for _, h := range hs {
		left := time.Until(h.Deadline).Round(time.Second)
		fmt.Fprintf(c.out, "held %d: connection %d %s, breakpoint %d (%s), released unchanged in %v\n  %s\n",
			h.ID, h.Conn, h.Dir, h.Breakpoint, h.Filter, left, h.Stanza)
	}
}

func ctlID(s string) (string, error) {
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return "", usagef("%q is not an id (a number)", s)
	}
	return s, nil
}

// readStanzaArg returns the stanza given as src: the text itself, or when isFile the
// contents of the file src ("-": standard input). Surrounding whitespace (a file's final
// newline) is not part of the stanza.
func readStanzaArg(src string, isFile bool) (string, error) {
	if !isFile {
		return strings.TrimSpace(src), nil
	}
	var b []byte
	var err error
	if src == "-" {
		b, err = io.ReadAll(io.LimitReader(ctlStdin, 1<<20))
	} else {
		b, err = os.ReadFile(src)
	}
	if err != nil {
		return "", fmt.Errorf("reading the stanza: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
