package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestDialKnowsConnection: Config.Dial learns, through ConnID, the number of the client
// connection it opens the upstream leg for: the number that connection's records carry;
// and through ClientAddr the client's address (for a PROXY protocol header).
func TestDialKnowsConnection(t *testing.T) {
	ids := make(chan uint64, 4)
	clients := make(chan netip.AddrPort, 4)
	tp := startProxy(t, Config{Dial: func(ctx context.Context) (net.Conn, error) {
		id, ok := ConnID(ctx)
		if !ok {
			id = 0
		}
		ids <- id
		client, _ := ClientAddr(ctx)
		clients <- client
		return nil, errors.New("no upstream in this test")
	}}, false)
	for range 2 {
		c, err := net.Dial("tcp", tp.addr)
		if err != nil {
			t.Fatal(err)
		}
		local := c.LocalAddr().(*net.TCPAddr).AddrPort()
		io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.ReadAll(c) // the proxy answers remote-connection-failed and closes
		c.Close()
		var id uint64
		select {
		case id = <-ids:
		case <-time.After(10 * time.Second):
			t.Fatal("Dial was not called")
		}
		// The records of this client's connection, found by its address: another
		// connection's records (the previous one's close) may come after them.
		var recID uint64
		for _, r := range tp.sink.all() {
			if r.Conn != nil && r.Conn.Client.Addr().Unmap() == local.Addr().Unmap() && r.Conn.Client.Port() == local.Port() {
				recID = r.Conn.ID
			}
		}
		if id == 0 || id != recID {
			t.Errorf("Dial was told connection %d, its records say %d", id, recID)
		}
		if client := <-clients; client.Addr().Unmap() != local.Addr().Unmap() || client.Port() != local.Port() {
			t.Errorf("Dial was told client %v, the client is %v", client, local)
		}
	}
	if _, ok := ConnID(context.Background()); ok {
		t.Error("ConnID found a connection in a bare context")
	}
	if _, ok := ClientAddr(context.Background()); ok {
		t.Error("ClientAddr found a client in a bare context")
	}
}
