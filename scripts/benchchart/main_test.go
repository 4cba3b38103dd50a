package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// svgDoc is what the test reads back of a chart: each series' group and its dots.
type svgDoc struct {
	Groups []struct {
		ID      string `xml:"data-id,attr"`
		Circles []struct {
			CX    float64 `xml:"cx,attr"`
			CY    float64 `xml:"cy,attr"`
			Title string  `xml:"title"`
		} `xml:"circle"`
	} `xml:"g"`
}

func readSVG(t *testing.T, path string) svgDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d svgDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not well-formed XML: %v", path, err)
	}
	return d
}

// TestChartsDrawTheData: the charts of testdata/results are written, well-formed, with a
// series per configuration and a dot per figure, and they do not lie: a larger figure is
// drawn higher, at the same x across series and along each series.
func TestChartsDrawTheData(t *testing.T) {
	out := t.TempDir()
	written, err := run("testdata/results", out)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 3 {
		t.Fatalf("wrote %v, want latency-plain, latency-tls and memory", written)
	}
	for _, name := range []string{"latency-plain.svg", "latency-tls.svg"} {
		d := readSVG(t, filepath.Join(out, name))
		tls := strings.TrimSuffix(strings.TrimPrefix(name, "latency-"), ".svg")
		if len(d.Groups) != 2 {
			t.Fatalf("%s: %d series, want switch and prosody", name, len(d.Groups))
		}
		type dot struct{ y, v float64 }
		atX := map[float64][]dot{}
		for _, g := range d.Groups {
			r, err := load(filepath.Join("testdata/results", "rate-"+tls+"-"+g.ID+".json"))
			if err != nil {
				t.Fatal(err)
			}
			l := r.Messages.Latency
			want := []float64{l.P50, l.P90, l.P99, l.P999, l.Max}
			if len(g.Circles) != len(want) {
				t.Fatalf("%s %s: %d dots, want %d", name, g.ID, len(g.Circles), len(want))
			}
			for i, c := range g.Circles {
				// The dot's title carries the figure it stands for.
				if !strings.Contains(c.Title, strconv.FormatFloat(want[i], 'g', 3, 64)) {
					t.Errorf("%s %s dot %d: title %q, figure %v", name, g.ID, i, c.Title, want[i])
				}
				atX[c.CX] = append(atX[c.CX], dot{c.CY, want[i]})
			}
		}
		for x, dots := range atX {
			sort.Slice(dots, func(a, b int) bool { return dots[a].v < dots[b].v })
			for i := 1; i < len(dots); i++ {
				if dots[i].v > dots[i-1].v && dots[i].y >= dots[i-1].y {
					t.Errorf("%s at x=%v: %v ms drawn at y=%v, not above %v ms at y=%v", name, x, dots[i].v, dots[i].y, dots[i-1].v, dots[i-1].y)
				}
			}
		}
	}
	d := readSVG(t, filepath.Join(out, "memory.svg"))
	if len(d.Groups) != 2 {
		t.Fatalf("memory.svg: %d series, want switch and prosody", len(d.Groups))
	}
	for _, g := range d.Groups {
		if len(g.Circles) != 2 {
			t.Fatalf("memory.svg %s: %d dots, want 1000 and 9000 connections", g.ID, len(g.Circles))
		}
		if g.Circles[0].CX >= g.Circles[1].CX {
			t.Errorf("memory.svg %s: 1000 connections drawn right of 9000", g.ID)
		}
		for i, n := range []int{1000, 9000} {
			r, err := load(filepath.Join("testdata/results", "idle-"+strconv.Itoa(n)+"-"+g.ID+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if want := strconv.FormatFloat(r.Idle.PerConn/1024, 'g', 3, 64); !strings.Contains(g.Circles[i].Title, want) {
				t.Errorf("memory.svg %s at %d: title %q, want %s KiB", g.ID, n, g.Circles[i].Title, want)
			}
		}
	}
}

// TestNoResults: an empty directory writes nothing and is no error (bench.sh may have run
// only some targets).
func TestNoResults(t *testing.T) {
	written, err := run(t.TempDir(), t.TempDir())
	if err != nil || len(written) != 0 {
		t.Fatalf("wrote %v, %v", written, err)
	}
}

// TestBrokenResult: a damaged result file is an error that names it.
func TestBrokenResult(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rate-plain-switch.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(dir, t.TempDir()); err == nil || !strings.Contains(err.Error(), "rate-plain-switch.json") {
		t.Fatalf("error %v, want one naming the file", err)
	}
}
