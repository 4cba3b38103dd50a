package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/server/dirtest"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
	"mellium.im/sasl"
	"mellium.im/xmpp"
)

// TestLocalDirectory runs the directory conformance suite on the in-process directory.
func TestLocalDirectory(t *testing.T) {
	dirtest.Run(t, func(*testing.T) server.Directory { return server.NewLocalDirectory() })
}

// countingDirectory is a Directory given through Config.Directory: the local one, with
// its binds counted.
type countingDirectory struct {
	server.Directory
	binds, unbinds atomic.Int64
}

func (d *countingDirectory) Bind(s server.Session) server.Session {
	d.binds.Add(1)
	return d.Directory.Bind(s)
}

func (d *countingDirectory) Unbind(s server.Session) {
	d.unbinds.Add(1)
	d.Directory.Unbind(s)
}

// TestConfigDirectory: the server finds sessions only through the directory it is given.
func TestConfigDirectory(t *testing.T) {
	dir := &countingDirectory{Directory: server.NewLocalDirectory()}
	db := store.NewMemory()
	switchtest.AddAccount(t, db, "alice", "pw")
	switchtest.AddAccount(t, db, "bob", "pw")
	dirPath := t.TempDir()
	cert, err := server.LoadOrCreateCert(filepath.Join(dirPath, "cert.pem"), filepath.Join(dirPath, "key.pem"), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	srv, err := server.New(server.Config{Store: db, Directory: dir, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	login := func(user string) *switchtest.Client {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return switchtest.Login(t, c, user+"@localhost",
			xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: pool}),
			xmpp.SASL("", "pw", sasl.ScramSha256), xmpp.BindResource())
	}
	alice, bob := login("alice"), login("bob")
	if n := dir.binds.Load(); n != 2 || dir.Len() != 2 || srv.Sessions() != 2 {
		t.Fatalf("%d binds, Len %d, Sessions %d; want 2 of each", n, dir.Len(), srv.Sessions())
	}
	bob.SendRaw("<presence/>")
	bob.WaitFor("<presence", `from="`+bob.JID()+`"`)
	alice.SendRaw("<message to='bob@localhost' type='chat'><body>through the given directory</body></message>")
	bob.WaitFor("through the given directory", `from="`+alice.JID()+`"`)
	alice.Close()
	for deadline := time.Now().Add(5 * time.Second); dir.unbinds.Load() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the session that ended was not unbound from the given directory")
		}
	}
}
