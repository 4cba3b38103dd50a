package server

import (
	"errors"

	"github.com/stanzascope/stanzascope/switch/store"
)

// textStoreDown is what a client is told when the account database cannot be reached (a
// PostgreSQL server down or unreachable): the operation failed, nothing was stored, and
// trying again later may work.
const textStoreDown = "the account database is unavailable; try again later"

// storeError is the stanza error for a store operation that failed: internal-server-error,
// which says so when the database cannot be reached.
func storeError(err error) stanzaError {
	if errors.Is(err, store.ErrUnavailable) {
		return errInternal.WithText(textStoreDown)
	}
	return errInternal
}

// condStoreDown is what checkPlain answers instead of a SASL condition when the database
// cannot be reached; saslStep then ends the stream with storeStreamError.
const condStoreDown = "internal-server-error"

// storeStreamError ends a login that the store cannot serve with internal-server-error
// (RFC 6120 4.9.3.8) and a text that says why, so that the client reports the server's
// fault instead of wrong credentials.
func storeStreamError() error {
	return newStreamErr("internal-server-error", textStoreDown)
}
