//go:build !linux

package capture

import (
	"context"
	"errors"
	"io"

	"github.com/stanzascope/stanzascope/inspect"
)

// ReadLive captures live traffic. It is implemented on Linux only (AF_PACKET, no cgo);
// elsewhere capture with tcpdump and read the file with ReadFile.
func ReadLive(ctx context.Context, iface string, opt Options, sink inspect.Sink, stderr io.Writer) (Summary, error) {
	return Summary{}, errors.New("capture: live capture is supported on Linux only; capture with tcpdump and read the file")
}
