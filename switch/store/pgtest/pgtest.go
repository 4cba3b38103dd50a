// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb in a temporary
// directory, postgres listening only on a free 127.0.0.1 port, a fresh database per test,
// and the server stopped by its PID at the end.
//
// As root (CI on a fresh Debian) the cluster runs as the unprivileged "postgres" user
// (Debian's postgresql package creates it) or else "nobody", because initdb and postgres
// refuse to run as root. The binaries are found on PATH or in /usr/lib/postgresql/*/bin,
// where Debian puts them.
//
// A package's tests share one cluster, started when the first test asks for it: call Main
// from TestMain and Database from each test.
// Without PostgreSQL installed a test skips, but fails when the environment variable CI is
// set, so that CI never passes without having run it.
package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Config says how to start a cluster.
type Config struct {
	// Durable keeps PostgreSQL's default fsync and synchronous_commit, as in production
	// (benchmarks). Otherwise they are off, which makes tests several times faster and
	// changes nothing of what they check.
	Durable bool
}

// Timeouts, generous for a loaded 2-core machine.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// ErrNoPostgres is returned by Start when initdb or postgres cannot be found.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL is not installed (initdb and postgres not on PATH or in /usr/lib/postgresql/*/bin)")

// Cluster is a running (or stopped) PostgreSQL cluster in a temporary directory.
type Cluster struct {
	cfg  Config
	bin  string // directory with initdb and postgres
	dir  string // the temporary directory: data/ and the server log
	port int
	cred runAs // whom initdb and postgres run as; nil: as this process

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running postgres, or nil
	exited chan struct{} // closed when cmd has been waited for
	seq    atomic.Uint64 // database names
}

// Start initialises a cluster in a new temporary directory and starts it.
func Start(cfg Config) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, bin: bin}
	parent := ""
	if os.Geteuid() == 0 {
		if c.cred, err = unprivileged(); err != nil {
			return nil, err
		}
		// The unprivileged user must be able to reach the directory; TMPDIR could be
		// under /root.
		parent = "/tmp"
	}
	if c.dir, err = os.MkdirTemp(parent, "pgtest-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if c.cred != nil {
		if err := giveTo(c.dir, c.cred); err != nil {
			c.Remove()
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := c.initdb(); err != nil {
		c.Remove()
		return nil, err
	}
	// A free port can be taken by someone else before postgres binds it: try a few.
	for range 3 {
		if c.port, err = freePort(); err != nil {
			break
		}
		if err = c.Restart(); err == nil {
			return c, nil
		}
	}
	c.Remove()
	return nil, err
}

// findBin returns the directory holding initdb and postgres.
func findBin() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: "9.6" sorts after "15" as a string, so compare numbers.
	slices.SortFunc(found, func(a, b string) int { return version(b) - version(a) })
	for _, d := range append(dirs, found...) {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(dir string) int {
	v, _, _ := strings.Cut(filepath.Base(filepath.Dir(dir)), ".")
	n, _ := strconv.Atoi(v)
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// command returns a command for one of the cluster's binaries, run as the cluster's user.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	// LC_ALL=C: the messages we wait for are in English, whatever the machine's locale.
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = procAttr(c.cred)
	return cmd
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) initdb() error {
	cmd := c.command("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	return nil
}

// Restart starts the cluster's server again after Stop, on the same port, and waits until
// it accepts connections.
func (c *Cluster) Restart() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return errors.New("pgtest: the server is already running")
	}
	args := []string{"-D", c.data(), "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=200", "-c", "lc_messages=C"}
	if !c.cfg.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := c.command("postgres", args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	ready := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		// Copy the log to the file, and say when the server is ready. The goroutine ends
		// when the server exits and closes its stderr.
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !once && strings.Contains(sc.Text(), "database system is ready to accept connections") {
				once = true
				close(ready)
			}
		}
		io.Copy(logf, stderr)
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	select {
	case <-ready:
		c.cmd, c.exited = cmd, exited
		return nil
	case <-exited:
		return fmt.Errorf("pgtest: postgres exited during start: %v\n%s", cmd.ProcessState, c.Log())
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("pgtest: postgres not ready after %v\n%s", startTimeout, c.Log())
	}
}

// PID returns the server's process id, or 0 when it is stopped.
func (c *Cluster) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Stop shuts the server down by its PID (SIGINT, PostgreSQL's fast shutdown: sessions are
// ended, committed data is kept), escalating to SIGKILL if it does not exit in time.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return nil
	}
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		return fmt.Errorf("pgtest: stop postgres %d: %w", cmd.Process.Pid, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("pgtest: postgres %d did not stop in %v; killed", cmd.Process.Pid, stopTimeout)
	}
}

// Remove stops the server and deletes the cluster's directory.
func (c *Cluster) Remove() error {
	err := c.Stop()
	if c.dir != "" {
		if rerr := os.RemoveAll(c.dir); err == nil {
			err = rerr
		}
	}
	return err
}

// Log returns the server's log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}

// URL returns the connection URL of database db (superuser postgres, no password).
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a new, empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	conn, err := pgconn.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("test_%d", c.seq.Add(1))
	// template0 and FILE_COPY: no WAL for the copy, the quickest way to an empty database.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 STRATEGY FILE_COPY").ReadAll(); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// The package's shared clusters, one per Config, each started by the first test that asks
// for it, so that a run of tests that need none does not pay for initdb.
var (
	mainCalled bool
	sharedMu   sync.Mutex
	shared     = map[Config]*sharedCluster{}
)

type sharedCluster struct {
	c   *Cluster
	err error
}

// Main runs the package's tests and then removes the shared clusters that tests started:
// call it from TestMain.
func Main(m *testing.M) {
	mainCalled = true
	code := m.Run()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	for _, sc := range shared {
		if sc.c == nil {
			continue
		}
		if err := sc.c.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Database returns the URL of a new, empty database on the shared cluster. Without
// PostgreSQL the test is skipped, or failed when CI is set; a cluster that failed to
// start fails the test.
func Database(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	url, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// Shared returns the shared cluster, skipping or failing the test as Database does.
func Shared(t testing.TB) *Cluster { return SharedConfig(t, Config{}) }

// SharedConfig returns the shared cluster started with cfg (a durable one for benchmarks),
// skipping or failing the test as Database does.
func SharedConfig(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if !mainCalled {
		t.Fatal("pgtest: call pgtest.Main from TestMain, which removes the shared clusters")
	}
	sharedMu.Lock()
	sc := shared[cfg]
	if sc == nil {
		sc = &sharedCluster{}
		sc.c, sc.err = Start(cfg)
		shared[cfg] = sc
	}
	sharedMu.Unlock()
	switch {
	case sc.c != nil:
		return sc.c
	case errors.Is(sc.err, ErrNoPostgres) && os.Getenv("CI") == "":
		t.Skip(sc.err)
	}
	t.Fatal(sc.err)
	return nil
}
