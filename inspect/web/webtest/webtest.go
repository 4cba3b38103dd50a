// Package webtest starts headless Chromium for tests of the web view, driven with
// chromedp. Tests look at what a person sees: the page's DOM.
package webtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package puts the browser.
const ChromiumPath = "/usr/bin/chromium"

// Browser starts a headless Chromium with a fresh profile and returns a chromedp context
// for one tab. The browser is stopped when the test ends. Without Chromium the test is
// skipped, or fails when the environment variable CI is set: in CI, a test that needs a
// browser must run.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path := ChromiumPath
	if _, err := os.Stat(path); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("chromium is not installed (%s: %v); install the Debian package chromium", ChromiumPath, err)
			}
			t.Skipf("chromium is not installed (%v)", err)
		}
		path = p
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so a broken installation fails here with its own error. The
	// context that starts it must outlive it: no timeout here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// A page that throws is broken even when the DOM looks right: every uncaught
	// exception fails the test.
	errs := &pageErrors{}
	if err := chromedp.Listen(ctx, errs.listen); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, e := range errs.list() {
			t.Errorf("JavaScript exception in the page: %s", e)
		}
	})
	return context.WithValue(ctx, errsKey{}, errs)
}

type errsKey struct{}

// pageErrors collects the uncaught exceptions of a page.
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) listen(ev any) {
	if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg = d.Exception.Description
		}
		p.mu.Lock()
		p.errs = append(p.errs, fmt.Sprintf("%s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg))
		p.mu.Unlock()
	}
}

func (p *pageErrors) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// Exceptions returns the uncaught JavaScript exceptions seen so far in the page of ctx.
func Exceptions(ctx context.Context) []string {
	if p, ok := ctx.Value(errsKey{}).(*pageErrors); ok {
		return p.list()
	}
	return nil
}

// WaitFor polls the JavaScript expression cond in the page until it is true, for at most
// d. It fails the test with what why says, and the last value of show (an expression),
// when the time is up.
func WaitFor(t testing.TB, ctx context.Context, d time.Duration, cond, show, why string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var got any
			if show != "" {
				got, _ = chromedp.Run(ctx, chromedp.Evaluate[any](show))
			}
			t.Fatalf("%s: not within %v (%v; %v; exceptions: %q)", why, d, err, got, Exceptions(ctx))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", why, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Eval evaluates the JavaScript expression in the page and returns its value as a T,
// failing the test on an error.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// Do runs the actions in the page, failing the test on an error.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}
