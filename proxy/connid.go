package proxy

import (
	"context"
	"net/netip"
)

type connIDKey struct{}

// dialInfo is what a Config.Dial call is told about the connection it dials for.
type dialInfo struct {
	id     uint64
	client netip.AddrPort // the client's address, as the proxy's socket sees it
}

func withConnID(ctx context.Context, id uint64, client netip.AddrPort) context.Context {
	return context.WithValue(ctx, connIDKey{}, dialInfo{id: id, client: client})
}

type transportKey struct{}

// ConnTransport returns the transport of the client connection that a Config.Dial call
// opens the upstream leg for: inspect.TransportWebSocket, or "" for TCP.
func ConnTransport(ctx context.Context) string {
	t, _ := ctx.Value(transportKey{}).(string)
	return t
}

// ConnID returns the number of the connection that a Config.Dial call opens the upstream
// leg for (the number its records carry), so that whoever serves that leg (the embedded
// switch) can say which client connection its messages are about.
func ConnID(ctx context.Context) (uint64, bool) {
	d, ok := ctx.Value(connIDKey{}).(dialInfo)
	return d.id, ok
}

// ClientAddr returns the address of the client that a Config.Dial call opens the upstream
// leg for, so that the dialer can tell the upstream who the client is (a PROXY protocol
// header for a switch that limits per client address).
func ClientAddr(ctx context.Context) (netip.AddrPort, bool) {
	d, ok := ctx.Value(connIDKey{}).(dialInfo)
	return d.client, ok && d.client.IsValid()
}
