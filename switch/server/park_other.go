//go:build !linux

package server

// idlePoller is Linux-only (park_linux.go): elsewhere every idle session waits for its
// next byte with its own goroutine.
type idlePoller struct{}

func newIdlePoller(*Server) (*idlePoller, error) { return nil, nil }

func (p *idlePoller) park(*conn) bool { return false }
func (p *idlePoller) unpark(*conn)    {}
func (p *idlePoller) close()          {}
