// Command benchchart draws the figures of scripts/bench.sh as SVG, for people who would
// rather look than read: the latency distribution of every configuration on one chart
// (one per TLS setting), and memory per idle connection against the number of
// connections. It reads the results directory the script writes (rate-*.json,
// idle-*.json, the output of 'stanzascope bench --json') and needs nothing but Go's
// standard library: no plotting service, no fonts beyond the viewer's sans-serif.
//
// Usage:
//
//	go run ./scripts/benchchart RESULTS_DIR OUT_DIR
//
// writes OUT_DIR/latency-plain.svg, OUT_DIR/latency-tls.svg and OUT_DIR/memory.svg (a
// chart with no data is not written, and the command says so).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: benchchart RESULTS_DIR OUT_DIR")
		os.Exit(2)
	}
	written, err := run(os.Args[1], os.Args[2])
	for _, w := range written {
		fmt.Println("benchchart: wrote", w)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

// names are the configurations' labels, as the report names them, in the report's order.
var names = []struct{ id, label string }{
	{"switch", "embedded switch"},
	{"prosody", "Prosody"},
	{"ejabberd", "ejabberd"},
	{"proxy-prosody", "proxy → Prosody"},
	{"proxy-switch", "proxy → switch"},
	{"proxy-switch-json", "proxy with a JSON log → switch"},
	{"proxy-switch-noweb", "proxy without the web view → switch"},
	{"proxy-switch-web3", "proxy, 3 browsers on the web view → switch"},
	{"relay-prosody", "TCP relay → Prosody"},
	{"relay-switch", "TCP relay → switch"},
}

// palette: distinguishable on white, and in the order of names.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// label and colour of a configuration id.
func style(id string) (label, colour string) {
	for i, n := range names {
		if n.id == id {
			return n.label, palette[i%len(palette)]
		}
	}
	return id, "#000000"
}

// order sorts ids as names lists them, unknown ones last by name.
func order(ids []string) {
	rank := func(id string) int {
		for i, n := range names {
			if n.id == id {
				return i
			}
		}
		return len(names)
	}
	sort.Slice(ids, func(a, b int) bool {
		ra, rb := rank(ids[a]), rank(ids[b])
		if ra != rb {
			return ra < rb
		}
		return ids[a] < ids[b]
	})
}

// result is what the charts read of one 'stanzascope bench --json' output.
type result struct {
	Messages *struct {
		Latency struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50_ms"`
			P90   float64 `json:"p90_ms"`
			P99   float64 `json:"p99_ms"`
			P999  float64 `json:"p999_ms"`
			Max   float64 `json:"max_ms"`
		} `json:"latency"`
	} `json:"messages"`
	Idle *struct {
		Connections int     `json:"connections"`
		PerConn     float64 `json:"bytes_per_connection"`
		Error       string  `json:"error"`
	} `json:"idle"`
}

func load(path string) (result, error) {
	var r result
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// series is one line of a chart.
type series struct {
	id     string
	points [][2]float64 // x, y in data units
}

// run writes the charts of dir's results into out and returns the files written.
func run(dir, out string) ([]string, error) {
	var written []string
	var errs []error
	for _, tls := range []string{"plain", "tls"} {
		s, err := latencySeries(dir, tls)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(s) == 0 {
			fmt.Fprintf(os.Stderr, "benchchart: no latency results for %s in %s\n", tls, dir)
			continue
		}
		title := "End-to-end latency at the same offered rate, plaintext"
		if tls == "tls" {
			title = "End-to-end latency at the same offered rate, STARTTLS"
		}
		p := filepath.Join(out, "latency-"+tls+".svg")
		if err := writeFile(p, func(w io.Writer) error { return latencyChart(w, title, s) }); err != nil {
			errs = append(errs, err)
			continue
		}
		written = append(written, p)
	}
	s, err := memorySeries(dir)
	switch {
	case err != nil:
		errs = append(errs, err)
	case len(s) == 0:
		fmt.Fprintf(os.Stderr, "benchchart: no idle-memory results in %s\n", dir)
	default:
		p := filepath.Join(out, "memory.svg")
		if err := writeFile(p, func(w io.Writer) error { return memoryChart(w, s) }); err != nil {
			errs = append(errs, err)
		} else {
			written = append(written, p)
		}
	}
	return written, errors.Join(errs...)
}

func writeFile(path string, draw func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := draw(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// percentiles are the x positions of the latency chart: evenly spaced, as the tail is
// what differs between configurations.
var percentiles = []string{"p50", "p90", "p99", "p99.9", "max"}

func latencySeries(dir, tls string) ([]series, error) {
	files, err := filepath.Glob(filepath.Join(dir, "rate-"+tls+"-*.json"))
	if err != nil {
		return nil, err
	}
	var out []series
	for _, f := range files {
		r, err := load(f)
		if err != nil {
			return nil, err
		}
		if r.Messages == nil || r.Messages.Latency.Count == 0 {
			continue
		}
		l := r.Messages.Latency
		id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "rate-"+tls+"-"), ".json")
		s := series{id: id}
		for i, v := range []float64{l.P50, l.P90, l.P99, l.P999, l.Max} {
			if v > 0 {
				s.points = append(s.points, [2]float64{float64(i), v})
			}
		}
		out = append(out, s)
	}
	sortSeries(out)
	return out, nil
}

func memorySeries(dir string) ([]series, error) {
	files, err := filepath.Glob(filepath.Join(dir, "idle-*-*.json"))
	if err != nil {
		return nil, err
	}
	byID := map[string]*series{}
	for _, f := range files {
		base := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "idle-"), ".json")
		n, id, ok := strings.Cut(base, "-")
		if !ok {
			continue
		}
		want, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		r, err := load(f)
		if err != nil {
			return nil, err
		}
		// Only complete runs: a run where fewer clients logged in would draw a point at a
		// count that was never reached.
		if r.Idle == nil || r.Idle.Error != "" || r.Idle.Connections < want || r.Idle.PerConn <= 0 {
			continue
		}
		if byID[id] == nil {
			byID[id] = &series{id: id}
		}
		byID[id].points = append(byID[id].points, [2]float64{float64(r.Idle.Connections), r.Idle.PerConn / 1024})
	}
	var out []series
	for _, s := range byID {
		sort.Slice(s.points, func(a, b int) bool { return s.points[a][0] < s.points[b][0] })
		out = append(out, *s)
	}
	sortSeries(out)
	return out, nil
}

func sortSeries(s []series) {
	ids := make([]string, len(s))
	for i := range s {
		ids[i] = s[i].id
	}
	order(ids)
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	sort.Slice(s, func(a, b int) bool { return pos[s[a].id] < pos[s[b].id] })
}

// The charts' geometry, in SVG user units.
const (
	width, height = 760, 420
	left, right   = 70, 250 // the legend is on the right
	top, bottom   = 40, 50
)

// latencyChart draws latency (ms, log scale) against percentile.
func latencyChart(w io.Writer, title string, s []series) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, sr := range s {
		for _, p := range sr.points {
			lo, hi = math.Min(lo, p[1]), math.Max(hi, p[1])
		}
	}
	ylo, yhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yhi == ylo {
		yhi++
	}
	x := func(v float64) float64 { return left + v/float64(len(percentiles)-1)*(width-left-right) }
	y := func(v float64) float64 { return height - bottom - (math.Log10(v)-ylo)/(yhi-ylo)*(height-top-bottom) }
	c := &canvas{w: w}
	c.start(title)
	for e := ylo; e <= yhi; e++ {
		v := math.Pow(10, e)
		c.hline(y(v))
		c.text(left-8, y(v)+4, "end", msLabel(v))
	}
	for i, p := range percentiles {
		c.text(x(float64(i)), height-bottom+18, "middle", p)
	}
	c.text(left+(width-left-right)/2, height-10, "middle", "percentile of the messages' end-to-end latency")
	c.vtext(18, top+(height-top-bottom)/2, "milliseconds (log scale)")
	c.axes()
	for _, sr := range s {
		c.line(sr, x, y)
	}
	c.legend(s)
	return c.end()
}

// memoryChart draws resident memory per idle connection (KiB) against connections.
func memoryChart(w io.Writer, s []series) error {
	xhi, yhi := 0.0, 0.0
	for _, sr := range s {
		for _, p := range sr.points {
			xhi, yhi = math.Max(xhi, p[0]), math.Max(yhi, p[1])
		}
	}
	xstep, ystep := niceStep(xhi), niceStep(yhi)
	xhi, yhi = math.Ceil(xhi/xstep)*xstep, math.Ceil(yhi/ystep)*ystep
	x := func(v float64) float64 { return left + v/xhi*(width-left-right) }
	y := func(v float64) float64 { return height - bottom - v/yhi*(height-top-bottom) }
	c := &canvas{w: w}
	c.start("Resident memory per idle logged-in connection (plaintext)")
	for v := 0.0; v <= yhi+ystep/2; v += ystep {
		c.hline(y(v))
		c.text(left-8, y(v)+4, "end", strconv.FormatFloat(v, 'f', -1, 64))
	}
	for v := 0.0; v <= xhi+xstep/2; v += xstep {
		c.text(x(v), height-bottom+18, "middle", strconv.FormatFloat(v, 'f', -1, 64))
	}
	c.text(left+(width-left-right)/2, height-10, "middle", "idle connections held")
	c.vtext(18, top+(height-top-bottom)/2, "KiB per connection")
	c.axes()
	for _, sr := range s {
		c.line(sr, x, y)
	}
	c.legend(s)
	return c.end()
}

// niceStep is a grid step of 1, 2 or 5 times a power of ten giving 4 to 10 lines up to max.
func niceStep(max float64) float64 {
	if max <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(max)))
	for _, m := range []float64{0.1, 0.2, 0.5, 1, 2, 5} {
		if max/(m*p) <= 10 {
			return m * p
		}
	}
	return 10 * p
}

func msLabel(v float64) string {
	if v >= 1 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// canvas writes SVG elements, keeping the first write error.
type canvas struct {
	w   io.Writer
	err error
}

func (c *canvas) printf(format string, a ...any) {
	if c.err == nil {
		_, c.err = fmt.Fprintf(c.w, format, a...)
	}
}

func (c *canvas) start(title string) {
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	c.printf(`<title>%s</title>`+"\n", esc(title))
	c.printf(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	c.printf(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
}

func (c *canvas) end() error {
	c.printf("</svg>\n")
	return c.err
}

func (c *canvas) hline(y float64) {
	c.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd"/>`+"\n", left, y, width-right, y)
}

func (c *canvas) axes() {
	c.printf(`<polyline points="%d,%d %d,%d %d,%d" fill="none" stroke="#333333"/>`+"\n",
		left, top, left, height-bottom, width-right, height-bottom)
}

func (c *canvas) text(x, y float64, anchor, s string) {
	c.printf(`<text x="%.1f" y="%.1f" text-anchor="%s">%s</text>`+"\n", x, y, anchor, esc(s))
}

func (c *canvas) vtext(x, y float64, s string) {
	c.printf(`<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", x, y, x, y, esc(s))
}

// line draws a series as a polyline with a dot on each point, its data in a data-id.
func (c *canvas) line(s series, x, y func(float64) float64) {
	_, colour := style(s.id)
	var pts []string
	for _, p := range s.points {
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p[0]), y(p[1])))
	}
	c.printf(`<g data-id="%s" stroke="%s" fill="%s">`+"\n", esc(s.id), colour, colour)
	c.printf(`<polyline points="%s" fill="none" stroke-width="2"/>`+"\n", strings.Join(pts, " "))
	for i, p := range s.points {
		c.printf(`<circle cx="%.1f" cy="%.1f" r="3"><title>%s</title></circle>`+"\n", x(p[0]), y(p[1]), esc(pointTitle(s, i)))
	}
	c.printf("</g>\n")
}

func pointTitle(s series, i int) string {
	label, _ := style(s.id)
	return fmt.Sprintf("%s: %.3g at %.6g", label, s.points[i][1], s.points[i][0])
}

func (c *canvas) legend(s []series) {
	for i, sr := range s {
		label, colour := style(sr.id)
		y := float64(top + 10 + 20*i)
		c.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", width-right+15, y, width-right+35, y, colour)
		c.text(float64(width-right+40), y+4, "start", label)
	}
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
