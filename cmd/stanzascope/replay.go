package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/replay"
	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
)

func init() {
	register(&command{
		name:    "replay",
		summary: "replay a recorded client against a server and show where the answers differ",
		run:     runReplay,
	})
}

const replayUsage = `replay LOG.jsonl [--target HOST:PORT] [--conn N] [--user NAME] [--password PW | --password-file FILE] [flags]

Replays the client side of one connection recorded in a stanzascope JSON log (--log of
proxy, switch or inspect) against a server, and reports, stanza by stanza, where the
server's answers differ from the recorded ones: element, type, error condition, the
payload of iq answers, missing or unexpected stanzas. Not compared: ids, time stamps,
addresses, bodies, the order of unrelated stanzas. Exit status 0: no differences;
1: differences (or the replay could not run); 2: usage error.

Without --target the server is a fresh embedded switch in memory, with the replay's
account (unless the recorded client registered it in-band itself) and the accounts the
recorded client wrote to. By default the first connection that logged in is replayed;
--list shows them all.

The replay logs in with its own credentials (the log's are redacted): --user (default: the
recorded one), --password, --password-file or $STANZASCOPE_PASSWORD (a random one is made
for the embedded switch). It negotiates STARTTLS whenever the server offers it and
verifies the certificate with the system's roots (--ca FILE: with those, --insecure: not
at all; the embedded switch's own certificate is trusted). What the server assigns is
rewritten in every stanza sent after it: the bound full JID, the stream id, the ids of
the server's requests. Pauses between client stanzas are kept (--speed 2: twice as
fast, --speed max: none); after each stanza the replay waits (at most --timeout) for the
answers recorded after it. See docs/REPLAY.md.`

// passwordEnv is the environment variable read for the replay's password.
const passwordEnv = "STANZASCOPE_PASSWORD"

type replayFlags struct {
	target, user, password, passwordFile, domain, resource, speed, ca, sasl, format string
	conn                                                                            uint64
	timeout                                                                         time.Duration
	insecure, list                                                                  bool
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", replayUsage, stderr)
	var f replayFlags
	fs.StringVar(&f.target, "target", "", "replay against the server at `HOST:PORT` (default: a fresh embedded switch in memory)")
	fs.Uint64Var(&f.conn, "conn", 0, "replay connection `N` of the log (default: the first that logged in)")
	fs.BoolVar(&f.list, "list", false, "list the connections of the log and stop")
	fs.StringVar(&f.user, "user", "", "log in as `NAME` (the localpart; default: the recorded one)")
	fs.StringVar(&f.password, "password", "", "the account's `password` (visible to other users of this machine: prefer --password-file or $"+passwordEnv+")")
	fs.StringVar(&f.passwordFile, "password-file", "", "read the password from the first line of `FILE`")
	fs.StringVar(&f.domain, "domain", "", "log in to `DOMAIN` (default: the recorded one)")
	fs.StringVar(&f.resource, "resource", "", "bind `RESOURCE` (default: the one the recorded client asked for)")
	fs.StringVar(&f.speed, "speed", "1", "`FACTOR` for the recorded pauses between client stanzas (2: twice as fast), or max for none")
	fs.DurationVar(&f.timeout, "timeout", replay.DefaultTimeout, "wait at most this `duration` for the answers to each client stanza")
	fs.StringVar(&f.ca, "ca", "", "verify the server's certificate with the roots in `FILE` (PEM) instead of the system's")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the server's certificate (anyone on the path can read the password)")
	fs.StringVar(&f.sasl, "sasl", "", "force a SASL `mechanism` (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN)")
	fs.StringVar(&f.format, "format", "text", "report as text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("replay takes one log file (LOG.jsonl, or - for standard input)")
	}
	cfg, err := f.config(fs.Changed("password"))
	if err != nil {
		return err
	}
	logName := fs.Arg(0)
	log, err := readReplayLog(logName, f.conn)
	if err != nil {
		return err
	}
	if f.list {
		for _, c := range log.Connections() {
			fmt.Fprintln(stdout, c)
		}
		return nil
	}
	script, err := pickScript(log, f.conn, stderr)
	if err != nil {
		return err
	}
	var rep *replay.Report
	if f.target == "" {
		rep, err = replayEmbedded(ctx, script, cfg, stderr)
	} else {
		rep, err = replay.Run(ctx, script, cfg)
	}
	if err != nil {
		return err
	}
	rep.Log = logName
	if f.format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if rep.Differences > 0 {
		return reportedError{fmt.Errorf("%d differences", rep.Differences)}
	}
	return nil
}

// config checks the flags and builds the replay's configuration (without the target's
// defaults, which need the script).
func (f *replayFlags) config(passwordFlag bool) (replay.Config, error) {
	cfg := replay.Config{Target: f.target, User: f.user, Domain: f.domain, Resource: f.resource,
		Mechanism: f.sasl, Timeout: f.timeout}
	switch f.format {
	case "text", "json":
	default:
		return cfg, usagef("--format must be text or json, not %q", f.format)
	}
	if f.target != "" {
		if _, _, err := net.SplitHostPort(f.target); err != nil {
			return cfg, usagef("--target must be HOST:PORT: %v", err)
		}
	}
	if f.timeout <= 0 || f.timeout > 10*time.Minute {
		return cfg, usagef("--timeout must be positive and at most 10m")
	}
	switch f.speed {
	case "max", "0":
		cfg.Speed = 0
	default:
		s, err := strconv.ParseFloat(f.speed, 64)
		if err != nil || s <= 0 || s > 1e6 {
			return cfg, usagef("--speed must be a positive factor (1: as recorded, 2: twice as fast) or max, not %q", f.speed)
		}
		cfg.Speed = s
	}
	switch f.sasl {
	case "", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN":
	default:
		return cfg, usagef("--sasl must be SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, not %q", f.sasl)
	}
	if f.insecure && f.ca != "" {
		return cfg, usagef("give --ca or --insecure, not both")
	}
	if f.target == "" && (f.insecure || f.ca != "") {
		return cfg, usagef("--ca and --insecure are for --target (the embedded switch's certificate is trusted)")
	}
	if f.target == "" && f.domain != "" {
		return cfg, usagef("--domain is for --target (the embedded switch serves the recorded domain)")
	}
	if f.domain != "" {
		if d, err := inspect.ParseJID(f.domain); err != nil || d.Local != "" || d.Resource != "" {
			return cfg, usagef("--domain must be a bare domain name, not %q", f.domain)
		}
	}
	if f.user != "" && (strings.ContainsAny(f.user, "@/") || f.user != strings.TrimSpace(f.user)) {
		return cfg, usagef("--user is the localpart alone (alice, not alice@example.org)")
	}
	if passwordFlag && f.passwordFile != "" {
		return cfg, usagef("give --password or --password-file, not both")
	}
	switch {
	case passwordFlag:
		cfg.Password = f.password
	case f.passwordFile != "":
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return cfg, fmt.Errorf("--password-file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		cfg.Password = strings.TrimSuffix(line, "\r")
	default:
		cfg.Password = os.Getenv(passwordEnv)
	}
	if cfg.Password == "" && f.target != "" {
		return cfg, usagef("the account's password is needed for --target: --password, --password-file or $%s (the log's is redacted)", passwordEnv)
	}
	if f.target != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.insecure}
		if f.ca != "" {
			pem, err := os.ReadFile(f.ca)
			if err != nil {
				return cfg, fmt.Errorf("--ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("--ca: no PEM certificate in %s", f.ca)
			}
		}
		cfg.TLS = tc
	}
	return cfg, nil
}

// readReplayLog reads the log named on the command line ("-": standard input).
func readReplayLog(name string, only uint64) (*replay.Log, error) {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	log, err := replay.ReadLog(r, only)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return log, nil
}

// pickScript picks the connection to replay. Without --conn it is the first that logged
// in; when several did, the others are listed on stderr so the choice is seen.
func pickScript(log *replay.Log, conn uint64, stderr io.Writer) (*replay.Script, error) {
	conns := log.Connections()
	s, err := log.Script(conn)
	if err != nil {
		var b strings.Builder
		for _, c := range conns {
			b.WriteString("\n  " + c.String())
		}
		if len(conns) == 0 {
			b.WriteString("\n  (none)")
		}
		if errors.Is(err, replay.ErrNoConn) || errors.Is(err, replay.ErrNotLogged) || errors.Is(err, replay.ErrManyConns) {
			return nil, usagef("%v; the log's connections:%s", err, b.String())
		}
		return nil, fmt.Errorf("%w; the log's connections:%s", err, b.String())
	}
	if conn == 0 {
		var logged []replay.ConnSummary
		for _, c := range conns {
			if c.JID != "" {
				logged = append(logged, c)
			}
		}
		if len(logged) > 1 {
			fmt.Fprintf(stderr, "stanzascope replay: %d connections of the log logged in; replaying conn %d (pick another with --conn N):\n", len(logged), s.Conn)
			for _, c := range logged {
				fmt.Fprintln(stderr, "  "+c.String())
			}
		}
	}
	return s, nil
}

// replayEmbedded replays against a fresh embedded switch in this process: in memory,
// serving the recorded domain on a loopback port with a certificate made for this run,
// with the accounts the replay needs.
func replayEmbedded(ctx context.Context, s *replay.Script, cfg replay.Config, stderr io.Writer) (*replay.Report, error) {
	domain := s.JID.Domain
	user := cfg.User
	if user == "" {
		user = s.JID.Local
	}
	if cfg.Password == "" {
		cfg.Password = randomPassword()
	}
	db := store.NewMemory()
	defer db.Close()
	accounts := map[string]string{}
	if !s.RegistersUser {
		accounts[user] = cfg.Password
	}
	for _, a := range s.Accounts() {
		if a != user {
			accounts[a] = randomPassword()
		}
	}
	for name, pw := range accounts {
		u, err := scram.NormalizeUsername(name)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w", name, err)
		}
		creds, err := scram.NewCredentials(pw, scram.MinIterations)
		if err != nil {
			return nil, fmt.Errorf("account %q: %w", name, err)
		}
		err = db.CreateAccount(ctx, store.Account{Username: u, Creds: creds, Created: time.Now()})
		if err != nil && !errors.Is(err, store.ErrExists) { // the user's, written another way
			return nil, fmt.Errorf("account %q: %w", name, err)
		}
	}
	cert, roots, err := ephemeralCert(domain)
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{
		Domain:  domain,
		Store:   db,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Logf:    func(string, ...any) {},
		Version: versionString(),
		// Only the replayer connects, all from 127.0.0.1: a log of many clients must not
		// meet the limits per address (docs/RELIABILITY.md) that guard a real switch.
		MaxConnsPerIP: -1, LoginsPerMinute: -1, RegistrationsPerMinute: -1, AuthFailuresPerMinute: -1, MaxSessionsPerAccount: -1,
	})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("embedded switch: listen: %w", err)
	}
	swCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- srv.Serve(swCtx, ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			fmt.Fprintf(stderr, "stanzascope replay: embedded switch: %v\n", err)
		}
	}()
	cfg.Target = ln.Addr().String()
	cfg.TLS = &tls.Config{RootCAs: roots, ServerName: domain, MinVersion: tls.VersionTLS12}
	rep, err := replay.Run(ctx, s, cfg)
	if err != nil {
		return nil, err
	}
	rep.Target = "a fresh embedded switch (" + domain + ", in memory, " + cfg.Target + ")"
	return rep, nil
}

// ephemeralCert makes a self-signed certificate for domain that lives as long as this
// process: the switch's own generator writes it to a private temporary directory, which
// is removed at once.
func ephemeralCert(domain string) (tls.Certificate, *x509.CertPool, error) {
	dir, err := os.MkdirTemp("", "stanzascope-replay-")
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	defer os.RemoveAll(dir)
	cert, err := server.LoadOrCreateCert(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), domain)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("embedded switch certificate: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return cert, roots, nil
}

// randomPassword returns a password for an account of the embedded switch that nobody
// needs to know.
func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
