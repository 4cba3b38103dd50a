package outfile

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLog writes a JSON log as the main job does: lines of 460 bytes appended to
// the File's AvailableBuffer and written, and a Flush every `flush` lines (the queue
// running empty; 0: never). "behind" is the File with direct writing turned off: a
// 64 KiB bufio.Writer in front of the write-behind, as the log was written before. One
// op is 1 MiB of lines; -benchtime 2048x writes 2 GB. It reports the process's system
// and user CPU time per GB written (getrusage), which is what the log costs the proxy,
// and wall time per GB.
//
//	TMPDIR=/tmp go test -run XXX -bench 'Log$' -benchtime 2048x ./cmd/stanzascope/internal/outfile
func BenchmarkLog(b *testing.B) {
	for _, way := range []struct {
		name     string
		noDirect bool
	}{{"direct", false}, {"behind", true}} {
		for _, every := range []int{0, 1000, 10} {
			b.Run(fmt.Sprintf("%s/flush=%d", way.name, every), func(b *testing.B) {
				defer func(v bool) { noDirect = v }(noDirect)
				noDirect = way.noDirect
				benchLog(b, every)
			})
		}
	}
}

func benchLog(b *testing.B, every int) {
	path := filepath.Join(b.TempDir(), "log.jsonl")
	o, err := Open(path, os.O_TRUNC)
	if err != nil {
		b.Fatal(err)
	}
	if b.Name() != "" && o.d == nil && !noDirect {
		b.Log("not written direct here")
	}
	line := []byte(`{"n":1,"t":"2026-11-28T17:31:20.123456Z","conn":"c1","dir":"C->S","kind":"stanza","origin":"client","name":"message","attrs":{"to":"u2@localhost/r","type":"chat","id":"k3"},"raw":"<message to='u2@localhost/r' type='chat' id='k3'><body>bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench bench</body></message>"}`)
	line = append(line[:min(len(line), 459)], '\n')
	for len(line) < 460 {
		line = append(line[:len(line)-1], ' ', '\n')
	}
	var u0, u1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u0)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	lines, total := 0, int64(0)
	for range b.N {
		for n := 0; n < 1<<20; n += len(line) {
			if _, err := o.Write(append(o.AvailableBuffer(), line...)); err != nil {
				b.Fatal(err)
			}
			total += int64(len(line))
			if lines++; every > 0 && lines%every == 0 {
				if err := o.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	if err := o.Close(); err != nil {
		b.Fatal(err)
	}
	wall := time.Since(start)
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &u1)
	gb := float64(total) / 1e9
	sys := time.Duration(syscall.TimevalToNsec(u1.Stime) - syscall.TimevalToNsec(u0.Stime))
	usr := time.Duration(syscall.TimevalToNsec(u1.Utime) - syscall.TimevalToNsec(u0.Utime))
	b.ReportMetric(sys.Seconds()/gb, "sys-s/GB")
	b.ReportMetric(usr.Seconds()/gb, "user-s/GB")
	b.ReportMetric(wall.Seconds()/gb, "wall-s/GB")
	os.Remove(path)
}

// BenchmarkLogBufSize is BenchmarkLog written direct with a Flush every 1000 lines, for
// sizes of the buffers.
func BenchmarkLogBufSize(b *testing.B) {
	for _, size := range []int{256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("buf=%dk", size>>10), func(b *testing.B) {
			defer func(v int) { bufSize = v }(bufSize)
			bufSize = size
			benchLog(b, 1000)
		})
	}
}
