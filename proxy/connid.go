package proxy

import "context"

type connIDKey struct{}

func withConnID(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, connIDKey{}, id)
}

// ConnID returns the number of the connection that a Config.Dial call opens the upstream
// leg for (the number its records carry), so that whoever serves that leg (the embedded
// switch) can say which client connection its messages are about.
func ConnID(ctx context.Context) (uint64, bool) {
	id, ok := ctx.Value(connIDKey{}).(uint64)
	return id, ok
}
