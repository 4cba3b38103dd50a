package server

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
)

// TestDamagedDatabaseWhileServing: the database file is truncated under the running
// server (the copy truncated to half opened, then panicked at the first SASL
// login and took the process down). Logins now fail with a temporary error, the log says
// the file is damaged, and the sessions already logged in go on chatting.
func TestDamagedDatabaseWhileServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	db, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	logs := &logBuffer{}
	ts := startServer(t, func(c *Config) { c.Store = db; c.Logf = logs.logf })
	jane, dana := pair(t, ts)
	registerRaw(t, ts.addr, "late", "pw")
	// Keep only the two meta pages: every page a lookup needs is gone, whatever the
	// layout (half the file can still hold the pages that "late"'s login reads).
	if err := os.Truncate(path, int64(2*os.Getpagesize())); err != nil {
		t.Fatal(err)
	}

	c := dialRaw(t, ts.addr)
	c.send(header10)
	c.readStanza()
	c.readStanza() // features
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00late\x00pw")) + "</auth>")
	c.expect("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><temporary-auth-failure/></failure>")
	l := dialRaw(t, ts.addr)
	l.send(legacyHeader)
	l.expectRe(headerRe)
	l.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>late</username><password>pw</password><resource>r</resource></query></iq>")
	l.expect("<iq id='a' type='error'><error code='500' type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	logs.waitLine(t, "database file is damaged: "+path)
	undisturbed(t, jane, dana)
}

// panicStore is a memory store whose Account and Roster panic for the user "crash", as a
// bug or a damaged store might: the server must lose only that connection.
type panicStore struct{ store.Store }

func (p panicStore) Account(ctx context.Context, user string) (store.Account, error) {
	if user == "crash" {
		panic("injected panic in Account")
	}
	return p.Store.Account(ctx, user)
}

func (p panicStore) Roster(ctx context.Context, user string) ([]store.RosterItem, error) {
	if user == "crash2" {
		panic("injected panic in Roster")
	}
	return p.Store.Roster(ctx, user)
}

// TestPanicClosesOneConnection: a panic while serving a connection ends that connection
// with internal-server-error and a log line with the stack; the session leaves the
// directory, the others are undisturbed and new logins work.
func TestPanicClosesOneConnection(t *testing.T) {
	logs := &logBuffer{}
	ts := startServer(t, func(c *Config) { c.Store = panicStore{store.NewMemory()}; c.Logf = logs.logf })
	jane, dana := pair(t, ts)

	// Before login: the credentials lookup panics.
	c := dialRaw(t, ts.addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>crash</username><password>pw</password><resource>r</resource></query></iq>")
	expectStreamError(t, c, "internal-server-error")
	logs.waitLine(t, "injected panic in Account")
	if lines := logs.matching("injected panic in Account"); !strings.Contains(lines[0], "goroutine") {
		t.Errorf("the log line has no stack: %q", lines[0])
	}

	// After binding: initial presence reads the roster, which panics; ending the session
	// reads it again (to tell the contacts), which panics too.
	registerRaw(t, ts.addr, "crash2", "pw")
	c2 := legacyLogin(t, ts.addr, "crash2", "pw", "r")
	if n := ts.srv.Sessions(); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	c2.send("<presence/>")
	expectStreamError(t, c2, "internal-server-error")
	for deadline := time.Now().Add(5 * time.Second); ts.srv.Sessions() != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions after the panic, want 2", ts.srv.Sessions())
		}
	}
	undisturbed(t, jane, dana)
	registerRaw(t, ts.addr, "after", "pw")
	legacyLogin(t, ts.addr, "after", "pw", "r")
}
