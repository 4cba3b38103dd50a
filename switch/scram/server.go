package scram

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/stanzascope/stanzascope/switch/store"
)

// Mechanism names served by NewServer.
const (
	SHA1   = "SCRAM-SHA-1"
	SHA256 = "SCRAM-SHA-256"
)

// Server is the server side of one SCRAM conversation (RFC 5802 section 5). It is not safe
// for concurrent use; create one per <auth/> attempt.
type Server struct {
	mech   string
	h      func() hash.Hash
	lookup func(username string) (store.Credentials, error)
	// newNonce makes the server's nonce part; tests replace it to replay RFC exchanges.
	newNonce func() (string, error)

	state     state
	first     clientFirst
	serverMsg []byte
	nonce     string
	keys      store.Keys
	fake      bool // the user is unknown: carry on with a decoy salt, then fail
	username  string
}

type state int

const (
	stateStart     state = iota // nothing received
	stateWaitFirst              // sent an empty challenge, waiting for client-first
	stateWaitFinal              // sent server-first, waiting for client-final
	stateDone                   // success sent
	stateFailed
)

// NewServer starts a SCRAM conversation for mech (SHA1 or SHA256; -PLUS variants are not
// offered). lookup is called once with the normalised username; it returns
// store.ErrNotFound for an unknown user, any other error ends the exchange with ErrTemporary.
func NewServer(mech string, lookup func(username string) (store.Credentials, error)) (*Server, error) {
	var h func() hash.Hash
	switch mech {
	case SHA1:
		h = sha1.New
	case SHA256:
		h = sha256.New
	default:
		return nil, fmt.Errorf("%w: %q", ErrInvalidMechanism, clip([]byte(mech)))
	}
	if lookup == nil {
		return nil, errors.New("scram: nil lookup")
	}
	return &Server{mech: mech, h: h, lookup: lookup, newNonce: randomNonce}, nil
}

// Mechanism returns the SASL mechanism name of the conversation.
func (s *Server) Mechanism() string { return s.mech }

// Username returns the normalised username once Step has reported done, and "" before.
func (s *Server) Username() string {
	if s.state != stateDone {
		return ""
	}
	return s.username
}

// Authzid returns the authorization identity the client asked for ("" when none), once Step
// has reported done. Step already refused an authzid whose localpart is not the username;
// the caller must still check that its domain is the server's own.
func (s *Server) Authzid() string {
	if s.state != stateDone {
		return ""
	}
	return s.first.authzid
}

// Step consumes one client message and returns the server's reply. An empty in before
// anything else means the client sent no initial response: out is then an empty challenge.
// After the client-final message, out is the server-final message ("v=...", the additional
// data of <success/>) and done is true. An error ends the conversation: send a <failure/>
// with Condition(err); further calls fail.
func (s *Server) Step(in []byte) (out []byte, done bool, err error) {
	if s.state == stateDone || s.state == stateFailed {
		return nil, false, fmt.Errorf("%w: the SCRAM exchange is over", ErrMalformed)
	}
	if len(in) > MaxMessage {
		s.state = stateFailed
		return nil, false, fmt.Errorf("%w: message longer than %d bytes", ErrMalformed, MaxMessage)
	}
	switch s.state {
	case stateStart, stateWaitFirst:
		if len(in) == 0 && s.state == stateStart {
			s.state = stateWaitFirst
			return []byte{}, false, nil
		}
		out, err = s.serverFirst(in)
		if err != nil {
			s.state = stateFailed
			return nil, false, err
		}
		s.state = stateWaitFinal
		return out, false, nil
	case stateWaitFinal:
		out, err = s.serverFinal(in)
		if err != nil {
			s.state = stateFailed
			return nil, false, err
		}
		s.state = stateDone
		return out, true, nil
	default:
		return nil, false, fmt.Errorf("%w: the SCRAM exchange is over", ErrMalformed)
	}
}

func (s *Server) serverFirst(in []byte) ([]byte, error) {
	cf, err := parseClientFirst(in)
	if err != nil {
		return nil, err
	}
	user, err := NormalizeUsername(cf.username)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	}
	if cf.authzid != "" && !authzidIsUser(cf.authzid, user) {
		return nil, fmt.Errorf("%w: %q may not act as %q", ErrInvalidAuthzid, user, clip([]byte(cf.authzid)))
	}
	s.first, s.username = cf, user

	creds, err := s.lookup(user)
	switch {
	case errors.Is(err, store.ErrNotFound):
		creds, s.fake = decoy(user), true
	case err != nil:
		return nil, fmt.Errorf("%w: looking up %q: %w", ErrTemporary, user, err)
	}
	s.keys = s.pick(creds)
	size := s.h().Size()
	if len(s.keys.StoredKey) != size || len(s.keys.ServerKey) != size || len(creds.Salt) == 0 ||
		creds.Iterations < 1 || creds.Iterations > MaxIterations {
		// No usable keys for this hash: behave as for an unknown user.
		creds, s.fake = decoy(user), true
		s.keys = s.pick(creds)
	} else if !s.fake {
		noteIterations(creds.Iterations)
	}
	sn, err := s.newNonce()
	if err != nil {
		return nil, fmt.Errorf("%w: nonce: %w", ErrTemporary, err)
	}
	s.nonce = cf.nonce + sn
	s.serverMsg = []byte("r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(creds.Salt) +
		",i=" + strconv.Itoa(creds.Iterations))
	return s.serverMsg, nil
}

func (s *Server) serverFinal(in []byte) ([]byte, error) {
	cf, err := parseClientFinal(in)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(cf.binding, s.first.gs2Header) != 1 {
		return nil, fmt.Errorf("%w: channel binding c= does not match the gs2 header", ErrNotAuthorized)
	}
	if cf.nonce != s.nonce {
		return nil, fmt.Errorf("%w: nonce mismatch", ErrNotAuthorized)
	}
	if len(cf.proof) != s.h().Size() {
		return nil, fmt.Errorf("%w: proof has %d bytes, want %d", ErrNotAuthorized, len(cf.proof), s.h().Size())
	}
	auth := make([]byte, 0, len(s.first.bare)+len(s.serverMsg)+len(cf.withoutProof)+2)
	auth = append(auth, s.first.bare...)
	auth = append(auth, ',')
	auth = append(auth, s.serverMsg...)
	auth = append(auth, ',')
	auth = append(auth, cf.withoutProof...)

	// ClientKey = ClientProof XOR ClientSignature; the proof is right iff H(ClientKey) is
	// the StoredKey (RFC 5802 section 3).
	clientKey := hmacSum(s.h, s.keys.StoredKey, auth)
	subtle.XORBytes(clientKey, clientKey, cf.proof)
	h := s.h()
	h.Write(clientKey)
	ok := subtle.ConstantTimeCompare(h.Sum(nil), s.keys.StoredKey) == 1
	if !ok || s.fake {
		return nil, fmt.Errorf("%w: wrong proof for %q", ErrNotAuthorized, s.username)
	}
	sig := hmacSum(s.h, s.keys.ServerKey, auth)
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig)), nil
}

// pick returns the keys for the conversation's hash.
func (s *Server) pick(c store.Credentials) store.Keys {
	if s.mech == SHA1 {
		return c.SHA1
	}
	return c.SHA256
}

// authzidIsUser accepts an authzid that names the authenticated user: the bare username or
// a JID whose localpart normalises to it (the domain is for the caller to check).
func authzidIsUser(authzid, user string) bool {
	local, _, _ := strings.Cut(authzid, "@")
	if strings.ContainsRune(authzid, '/') {
		return false
	}
	n, err := NormalizeUsername(local)
	return err == nil && n == user
}

func randomNonce() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
