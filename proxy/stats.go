package proxy

import "sync/atomic"

// Stats counts the client connections the proxy accepted and holds, for an operator. The
// records say more about each connection, but they begin with the client's stream header:
// a connection that never sends one (a half-open or slowloris client) is only counted
// here. The proxy only adds; a reader (the metrics of cmd/stanzascope) loads the fields
// whenever it likes. Every field is safe for concurrent use.
type Stats struct {
	Accepted          atomic.Uint64 // connections accepted by Serve (plaintext, STARTTLS possible)
	AcceptedDirectTLS atomic.Uint64 // connections accepted by ServeTLS (Direct TLS)
	OpenPlain         atomic.Int64  // open connections whose client leg has no TLS
	OpenStartTLS      atomic.Int64  // open connections whose client started TLS with STARTTLS
	OpenDirectTLS     atomic.Int64  // open Direct TLS connections
	StartTLS          atomic.Uint64 // client legs upgraded with STARTTLS (each moves one from OpenPlain to OpenStartTLS)
}

func (st *Stats) opened(direct bool) {
	if direct {
		st.AcceptedDirectTLS.Add(1)
		st.OpenDirectTLS.Add(1)
		return
	}
	st.Accepted.Add(1)
	st.OpenPlain.Add(1)
}

func (st *Stats) startedTLS() {
	st.StartTLS.Add(1)
	st.OpenStartTLS.Add(1)
	st.OpenPlain.Add(-1)
}

func (st *Stats) closed(direct, tls bool) {
	switch {
	case direct:
		st.OpenDirectTLS.Add(-1)
	case tls:
		st.OpenStartTLS.Add(-1)
	default:
		st.OpenPlain.Add(-1)
	}
}
