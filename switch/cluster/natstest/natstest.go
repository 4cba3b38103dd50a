// Package natstest runs a throwaway NATS server with JetStream for tests, or a NATS
// cluster of several (StartCluster): Debian's nats-server binary (package nats-server),
// listening only on free 127.0.0.1 ports, with its JetStream store in a temporary
// directory, stopped by its PID at the end of the test.
//
// Without nats-server installed a test skips, but fails when the environment variable CI
// is set, so that CI never passes without having run it.
package natstest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a nats-server process.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	name string   // the server's name (-n), "" for the default
	args []string // more arguments: the routes of a NATS cluster

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of nats-server: on PATH or Debian's /usr/sbin/nats-server.
func Binary() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	const debian = "/usr/sbin/nats-server"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("natstest: nats-server is not installed (apt-get install nats-server)")
}

// Start starts a NATS server with JetStream for the test and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// StartCluster starts n NATS servers with JetStream that form one NATS cluster (each
// solicits routes to the others, on loopback ports), named n1, n2, ..., and stops them
// when the test ends. JetStream elects its leaders a few seconds after they start: wait
// for it before asking for streams.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ports, routes := make([]int, n), make([]int, n)
	for i := range n {
		if ports[i], err = freePort(); err == nil {
			routes[i], err = freePort()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	servers := make([]*Server, n)
	for i := range n {
		var others []string
		for j := range n {
			if j != i {
				others = append(others, "nats://127.0.0.1:"+strconv.Itoa(routes[j]))
			}
		}
		servers[i] = &Server{t: t, bin: bin, dir: t.TempDir(), port: ports[i], name: "n" + strconv.Itoa(i+1),
			args: []string{"--cluster_name", "natstest", "--cluster", "nats://127.0.0.1:" + strconv.Itoa(routes[i]), "--routes", strings.Join(others, ",")}}
	}
	for _, s := range servers {
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		})
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	return servers
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Name returns the server's name in its NATS cluster ("" for a server started alone).
func (s *Server) Name() string { return s.name }

// URL returns the server's client URL.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.port) }

// PID returns the server's process id, or 0 when it is stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Restart starts the server again on the same port (after Stop), and waits until it takes
// connections.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("natstest: the server is running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", filepath.Join(s.dir, "js")}
	if s.name != "" {
		args = append(args, "-n", s.name)
	}
	cmd := exec.Command(s.bin, append(args, s.args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("natstest: start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			s.cmd = nil
			return fmt.Errorf("natstest: nats-server exited at start; its log:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natstest: nats-server did not listen within 20s; its log:\n%s", s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (SIGKILL, by its PID) and waits for it to exit. Stopping a stopped
// server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("natstest: kill %d: %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		return fmt.Errorf("natstest: nats-server %d did not exit", s.cmd.Process.Pid)
	}
	s.cmd = nil
	return nil
}

// Log returns what the server wrote.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "nats.log"))
	return string(b)
}
