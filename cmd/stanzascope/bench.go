package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/loadgen"
)

func init() {
	register(&command{
		name:    "bench",
		summary: "XMPP load generator: logins, paired chat messages, latency, idle memory",
		run:     runBench,
	})
}

const benchUsage = `bench --target HOST:PORT[,HOST:PORT...] --domain NAME --clients N --rate R|max --duration D [flags]
       bench --target HOST:PORT --domain NAME --clients N --offline M [flags]
       bench --target HOST:PORT --domain NAME --idle N --hold D [--watch-pid PID] [flags]
       bench relay --listen ADDR --upstream HOST:PORT

Logs N clients in (SASL SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, over STARTTLS with --tls),
pairs them and sends chat messages between each pair at R messages per second in total
(or as fast as the server takes them with --rate max, each client keeping at most --window
messages in flight) for D. Every message carries its send time, read by the receiver for
the end-to-end latency, and ends up delivered, errored (bounced) or lost (not received
within --grace after the run). Also reported: login rate and the generator's own CPU use,
flagged when it was the bottleneck. A live line shows progress on a terminal.

With several targets (--target a,b or --target a --target b: nodes of one cluster, one
domain) the clients are split between them, the two clients of each pair on two different
targets (--same-target-share S keeps the share S of the pairs on one), and the result
says how many delivered messages crossed between targets.

--offline M measures offline messages instead: the first client of each pair logs in
and sends M messages to the other's account, which is not logged in, then pings (the
server has kept them when it answers); then the other clients log in and the run waits
until each got its M messages (delivered at the initial presence). Reported: messages kept
per second, logins with their messages per second, messages handed out per second.

--idle N logs N clients in and holds them for --hold instead, reading the resident memory
of process --watch-pid before and after. 'bench relay' is a plain TCP relay (io.Copy), the
floor any proxy is compared with.`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "relay" {
		return runBenchRelay(ctx, args[1:], stderr)
	}
	fs := newFlagSet("bench", benchUsage, stderr)
	var cfg loadgen.Config
	targets := fs.StringSlice("target", nil, "server to load, `HOST:PORT`; several (comma separated or repeated) split the clients between them")
	fs.Float64Var(&cfg.SameTarget, "same-target-share", 0, "with several targets: the `share` of the pairs (0 to 1) whose clients are on the same one")
	fs.StringVar(&cfg.Domain, "domain", "", "XMPP `domain` of the accounts (default: the target's host)")
	fs.IntVar(&cfg.Clients, "clients", 10, "number of clients (even: they are paired), at most 20000")
	rate := fs.String("rate", "max", "total messages per `second`, or max")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send (at most 10m)")
	fs.BoolVar(&cfg.Register, "register", false, "create the accounts first (XEP-0077; existing ones are fine)")
	fs.BoolVar(&cfg.RegisterOnly, "register-only", false, "with --register: create the accounts and stop")
	accounts := fs.String("accounts", "", "read accounts from `FILE` (lines: USERNAME [PASSWORD])")
	fs.StringVar(&cfg.Prefix, "prefix", loadgen.DefaultPrefix, "account names are `PREFIX`0, PREFIX1, ... (without --accounts)")
	fs.StringVar(&cfg.Password, "password", loadgen.DefaultPassword, "password of the generated accounts (and of accounts listed without one)")
	fs.BoolVar(&cfg.TLS, "tls", false, "use STARTTLS (certificates are not verified on loopback)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "with --tls: do not verify the certificate of a non-loopback target")
	fs.StringVar(&cfg.Mechanism, "sasl", "", "force a SASL `mechanism` (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN)")
	fs.IntVar(&cfg.Window, "window", 0, "messages a client may have in flight (default 100; with a rate, 2 s of its messages)")
	fs.DurationVar(&cfg.Grace, "grace", loadgen.DefaultGrace, "wait this long after the run for messages in flight")
	fs.IntVar(&cfg.Concurrency, "login-concurrency", loadgen.DefaultConcurrency, "logins in flight at once")
	fs.DurationVar(&cfg.LoginTimeout, "login-timeout", loadgen.DefaultLoginTimout, "bound on each client's login")
	fs.IntVar(&cfg.Offline, "offline", 0, "send `N` messages per pair while the receivers are logged out, then log them in to get them (offline messages) instead of the chat run")
	fs.IntVar(&cfg.Idle, "idle", 0, "hold `N` idle logged-in connections instead of sending messages")
	fs.DurationVar(&cfg.Hold, "hold", 10*time.Second, "with --idle: how long to hold the connections")
	fs.IntVar(&cfg.WatchPID, "watch-pid", 0, "with --idle: report the resident memory of process `PID` per connection")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the generator to `FILE`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("bench takes no arguments (did you mean 'bench relay'?)")
	}
	if len(*targets) == 0 {
		return usagef("--target HOST:PORT is required")
	}
	var host string
	for i, t := range *targets {
		h, _, err := net.SplitHostPort(t)
		if err != nil {
			return usagef("--target must be HOST:PORT: %v", err)
		}
		if i == 0 {
			host = h
		}
	}
	cfg.Target = (*targets)[0]
	if len(*targets) > 1 {
		cfg.Targets = *targets
	}
	if fs.Changed("same-target-share") && len(cfg.Targets) == 0 {
		return usagef("--same-target-share goes with several targets")
	}
	if cfg.Domain == "" {
		cfg.Domain = host
	}
	if *rate != "max" {
		r, err := strconv.ParseFloat(*rate, 64)
		if err != nil || r <= 0 || r > 1e7 {
			return usagef("--rate must be a positive number of messages per second or max, not %q", *rate)
		}
		cfg.Rate = r
	}
	if cfg.Insecure && !cfg.TLS {
		return usagef("--insecure goes with --tls")
	}
	if *accounts != "" {
		f, err := os.Open(*accounts)
		if err != nil {
			return fmt.Errorf("--accounts: %w", err)
		}
		cfg.Accounts, err = loadgen.ReadAccounts(f, cfg.Password, loadgen.MaxClients)
		f.Close()
		if err != nil {
			return err
		}
	}
	if fs.Changed("hold") && cfg.Idle == 0 || fs.Changed("watch-pid") && cfg.Idle == 0 {
		return usagef("--hold and --watch-pid go with --idle")
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	if writerIsTerminal(stderr) {
		cfg.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.OpenFile(*cpuProfile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *jsonOut {
		return res.WriteJSON(stdout)
	}
	return res.WriteSummary(stdout)
}

// runBenchRelay is 'stanzascope bench relay': a plain TCP relay for the report.
func runBenchRelay(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("bench relay", "bench relay --listen ADDR --upstream HOST:PORT", stderr)
	listen := fs.String("listen", "127.0.0.1:5223", "accept connections on `ADDR`")
	upstream := fs.String("upstream", "", "relay each connection to `HOST:PORT`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *upstream == "" || fs.NArg() > 0 {
		return usagef("bench relay needs --upstream HOST:PORT and no arguments")
	}
	if _, _, err := net.SplitHostPort(*upstream); err != nil {
		return usagef("--upstream must be HOST:PORT: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logf := func(f string, a ...any) {
		fmt.Fprintf(stderr, "stanzascope bench relay: "+strings.TrimSuffix(f, "\n")+"\n", a...)
	}
	logf("relaying %s to %s", ln.Addr(), *upstream)
	return loadgen.Relay(ctx, ln, *upstream, logf)
}
