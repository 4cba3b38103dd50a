package store_test

import (
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts ...store.Option) store.Store { return store.NewMemory(opts...) })
}

// TestMemoryWaitRelease: a WaitOffline that waits is woken by the release.
func TestMemoryWaitRelease(t *testing.T) {
	s := store.NewMemory()
	storetest.WaitRelease(t, s, s, func(user string) int { return store.Waiting(s, user) })
}
