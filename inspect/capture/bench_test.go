package capture

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// benchCapture builds a capture of about size bytes: waves of 50 concurrent XMPP
// connections, each a session with 40 chat messages each way (bodies of ~400 bytes),
// interleaved packet by packet, so that the number of connections grows with the size
// while the number open at once does not.
func benchCapture(b *testing.B, size int, bulk bool) []byte {
	s := newSynth(b, linkEthernet)
	body := strings.Repeat("lorem ipsum ", 33)
	port := 10000
	for s.buf.Len() < size {
		const width = 50
		conns := make([]*conn, width)
		for i := range conns {
			port++
			conns[i] = s.dial(fmt.Sprintf("10.0.%d.%d:%d", port/250%250, port%250, 20000+port%40000), "10.9.9.9:5222")
			conns[i].send(0, clientHeader)
			conns[i].send(1, serverHeader+features)
		}
		for m := range 40 {
			for _, c := range conns {
				if bulk {
					// 100 stanzas per 56 KiB segment, as loopback and offloads produce.
					var sb strings.Builder
					for k := range 100 {
						fmt.Fprintf(&sb, `<message to='bob@example.org' id='m%d-%d' type='chat'><body>%s</body></message>`, m, k, body)
					}
					c.send(0, sb.String())
					continue
				}
				c.send(0, fmt.Sprintf(`<message to='bob@example.org' id='m%d' type='chat'><body>%s</body></message>`, m, body))
				c.send(1, fmt.Sprintf(`<message from='bob@example.org/x' id='r%d' type='chat'><body>%s</body></message>`, m, body))
			}
		}
		for _, c := range conns {
			c.send(0, "</stream:stream>")
			c.send(1, "</stream:stream>")
			c.close()
		}
	}
	return s.bytes()
}

// benchFiles caches the generated captures (on disk, so that the capture does not sit in
// the heap and hide what reading it costs).
var benchFiles = map[string]string{}

// BenchmarkReadFile reads captures of 25 MB and 100 MB (one stanza per segment), and
// 100 MB of 56 KiB segments holding 100 stanzas each: throughput (MB/s), the peak heap in
// use (garbage included, so it follows GC pacing) and the peak live heap (after a forced
// collection), which must not grow with the file.
//
//	go test -run '^$' -bench ReadFile -benchtime 3x ./inspect/capture
func BenchmarkReadFile(b *testing.B) {
	dir := b.TempDir()
	clear(benchFiles)
	for _, tc := range []struct {
		name string
		mb   int
		bulk bool
	}{{"25MB", 25, false}, {"100MB", 100, false}, {"100MB-56KiB-segments", 100, true}} {
		b.Run(tc.name, func(b *testing.B) {
			path := benchFiles[tc.name]
			if path == "" {
				path = filepath.Join(dir, tc.name+".pcap")
				if err := os.WriteFile(path, benchCapture(b, tc.mb<<20, tc.bulk), 0o600); err != nil {
					b.Fatal(err)
				}
				benchFiles[tc.name] = path
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			var peak, live uint64
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			base := ms.HeapInuse
			b.ResetTimer()
			for range b.N {
				n := 0
				sum, err := ReadFile(context.Background(), path, Options{}, inspect.SinkFunc(func(r *inspect.Record) error {
					n++
					if n%20000 == 0 { // sampling stops the world; keep it rare
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
					if n%25000 == 0 { // what is really retained: the heap after a collection
						runtime.GC()
						runtime.ReadMemStats(&ms)
						live = max(live, ms.HeapAlloc)
					}
					return nil
				}))
				if err != nil || sum.Gaps != 0 || sum.XMPPFlows == 0 {
					b.Fatalf("%v %+v", err, sum)
				}
			}
			b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(live)/(1<<20), "peak-live-MB")
		})
	}
}
