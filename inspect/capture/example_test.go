package capture_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/capture"
)

// Records written with a PcapWriter (as the proxy does with --pcap-out) come back from
// Read as the same stream events, with their connection and times.
func Example() {
	conn := &inspect.ConnInfo{ID: 1,
		Client: netip.MustParseAddrPort("192.0.2.10:40000"),
		Server: netip.MustParseAddrPort("192.0.2.20:5222")}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

	var file bytes.Buffer
	w, _ := capture.NewPcapWriter(&file)
	for i, raw := range []string{
		`<stream:stream to='example.org' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
		`<message to='juliet@example.org'><body>Art thou not Romeo?</body></message>`,
		`</stream:stream>`,
	} {
		kind := inspect.KindStanza
		switch i {
		case 0:
			kind = inspect.KindStreamOpen
		case 2:
			kind = inspect.KindStreamClose
		}
		_ = w.Write(&inspect.Record{Time: t0.Add(time.Duration(i) * time.Second), Conn: conn,
			Dir: inspect.ClientToServer, Kind: kind, Raw: []byte(raw)})
	}
	_ = w.Write(&inspect.Record{Time: t0.Add(3 * time.Second), Conn: conn, Kind: inspect.KindConnClose})
	_ = w.Close()

	sum, err := capture.Read(context.Background(), &file, capture.Options{}, inspect.SinkFunc(func(r *inspect.Record) error {
		line := fmt.Sprintln(r.Time.Format("15:04:05"), r.Conn.ID, r.Dir, r.Kind, r.Name, r.Note())
		fmt.Println(strings.TrimSpace(line))
		return nil
	}))
	fmt.Println(sum.XMPPFlows, sum.Gaps, err)
	// Output:
	// 12:00:00 1  conn-open  192.0.2.10:40000 -> 192.0.2.20:5222
	// 12:00:00 1 c2s open stream
	// 12:00:01 1 c2s stanza message
	// 12:00:02 1 c2s close stream
	// 12:00:03 1  conn-close  closed (FIN)
	// 1 0 <nil>
}
