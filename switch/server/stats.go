package server

import "sync/atomic"

// Stats counts what an operator watches and the stream records (Config.Observe) do not
// show: connections, accounts created in-band, offline messages, and sessions closed
// because their outbox was full. The server only adds to them; a reader (the metrics of
// cmd/stanzascope) loads them whenever it likes. Every field is safe for concurrent use.
type Stats struct {
	Accepted     atomic.Uint64 // connections accepted
	OpenPlain    atomic.Int64  // connections open without TLS
	OpenStartTLS atomic.Int64  // connections open that started TLS with STARTTLS
	StartTLS     atomic.Uint64 // STARTTLS handshakes completed, or STARTTLS exchanges on an in-process link (Config.InProcessLink); each moves one connection from OpenPlain to OpenStartTLS

	Registrations    atomic.Uint64 // accounts created in-band (XEP-0077)
	OfflineStored    atomic.Uint64 // messages kept for a user who was offline
	OfflineDelivered atomic.Uint64 // kept messages handed to the user's session after login

	// OutboxCloses counts sessions closed with policy-violation because they did not take
	// what was sent to them fast enough: their outbox was full, or a write to them took
	// longer than WriteTimeout.
	OutboxCloses atomic.Uint64

	// Refusals by the limits per client address (limits.go): connections refused,
	// login attempts and registrations refused, failed authentications answered after
	// the delay.
	RefusedConns         atomic.Uint64
	RefusedLogins        atomic.Uint64
	RefusedRegistrations atomic.Uint64
	DelayedAuthFailures  atomic.Uint64
}

func (st *Stats) opened() {
	st.Accepted.Add(1)
	st.OpenPlain.Add(1)
}

func (st *Stats) startedTLS() {
	st.StartTLS.Add(1)
	st.OpenStartTLS.Add(1)
	st.OpenPlain.Add(-1)
}

func (st *Stats) closed(tls bool) {
	if tls {
		st.OpenStartTLS.Add(-1)
	} else {
		st.OpenPlain.Add(-1)
	}
}
