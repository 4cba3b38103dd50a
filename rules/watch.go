package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long Watch waits after the last change before reloading: editors write a
// file in several steps (truncate, write, rename), and one reload should see the result.
const debounce = 100 * time.Millisecond

// Watch reloads e whenever one of its files changes, until ctx is done; it then returns
// nil. It watches the files' directories rather than the files, because editors replace a
// file by renaming a new one over it, which ends a watch on the file itself. Each reload is
// reported through logf: the number of rules now in force, or why the reload failed and
// the previous rules stay. It returns an error only if watching cannot start.
func Watch(ctx context.Context, e *Engine, logf func(string, ...any)) error {
	if len(e.paths) == 0 {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("rules: watch: %w", err)
	}
	defer w.Close()
	files := map[string]bool{}
	dirs := map[string]bool{}
	for _, p := range e.paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("rules: watch %s: %w", p, err)
		}
		files[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("rules: watch %s: %w", d, err)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			abs, err := filepath.Abs(ev.Name)
			if err != nil || !files[abs] {
				continue
			}
			if ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) == 0 {
				continue
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			logf("rules: watching files: %v", err)
		case <-timer.C:
			if err := e.Reload(); err != nil {
				logf("rules: reload failed, keeping the %d rules in force:\n%v", e.Len(), err)
			} else {
				logf("rules: reloaded %d rules from %s", e.Len(), strings.Join(e.paths, ", "))
			}
		}
	}
}
