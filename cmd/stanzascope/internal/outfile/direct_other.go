//go:build !linux

package outfile

import "os"

// Elsewhere files are not written direct.
type direct struct{}

func openDirect(*os.File, string, int64) *direct { return nil }
func (*direct) write([]byte) (int, error)        { return 0, errNotSupported }
func (*direct) out(bool) error                   { return errNotSupported }
func (*direct) leave() (int64, error)            { return 0, errNotSupported }
func (*direct) available() []byte                { return nil }
func (*direct) end() int64                       { return 0 }
func (*direct) visible() int64                   { return 0 }
func (*direct) failure() error                   { return nil }
func (*direct) close() error                     { return nil }
