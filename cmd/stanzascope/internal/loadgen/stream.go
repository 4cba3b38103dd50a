package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Stream is the client end of one XMPP stream: the connection, the reader on it and the
// steps of a login (stream header, STARTTLS, SASL, resource binding). The load
// generator's clients are built on it, and so is the replay
// (cmd/stanzascope/internal/replay), so that stanzascope has one XMPP client.
//
// Writes are safe from several goroutines; reading (Next, AwaitIQ, the login steps) is
// for one goroutine at a time.
type Stream struct {
	nc     net.Conn
	r      *inspect.Reader
	wmu    sync.Mutex // serialises writes: a sender and a reader's answers
	domain string     // the domain the stream is opened to
}

// NewStream returns a stream on nc to domain. Nothing is sent until Open.
func NewStream(nc net.Conn, domain string) *Stream {
	s := &Stream{}
	s.init(nc, domain)
	return s
}

func (s *Stream) init(nc net.Conn, domain string) {
	s.nc, s.domain = nc, domain
	s.r = inspect.NewReader(nc, readLimits)
}

// Conn returns the connection (after StartTLS, the TLS connection).
func (s *Stream) Conn() net.Conn { return s.nc }

// Reader returns the stream reader, for a caller that reads the events itself once logged in.
func (s *Stream) Reader() *inspect.Reader { return s.r }

// Close closes the connection.
func (s *Stream) Close() error {
	if s.nc == nil {
		return nil
	}
	return s.nc.Close()
}

// Write sends b whole.
func (s *Stream) Write(b []byte) error { return s.write(b) }

func (s *Stream) write(b []byte) error {
	s.wmu.Lock()
	_, err := s.nc.Write(b)
	s.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// Open sends a stream header and reads the server's header and features, which it returns.
func (s *Stream) Open() (*inspect.Element, error) { return s.openStream() }

func (s *Stream) openStream() (*inspect.Element, error) {
	hdr := "<?xml version='1.0'?><stream:stream to='" + inspect.EscapeAttr(s.domain) +
		"' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	if err := s.write([]byte(hdr)); err != nil {
		return nil, err
	}
	for {
		ev, err := s.r.Next()
		if err != nil {
			return nil, s.readError(err)
		}
		if ev.Kind == inspect.KindStreamOpen {
			break
		}
		if ev.Kind == inspect.KindStanza {
			return nil, s.unexpected(ev)
		}
	}
	el, err := s.nextElement()
	if err != nil {
		return nil, err
	}
	if el.Space != inspect.NSStreams || el.Local != "features" {
		return nil, fmt.Errorf("expected stream features, got <%s xmlns='%s'>", el.Local, el.Space)
	}
	return el, nil
}

// Next returns the next stanza as a tree; a stream error or the end of the stream is an
// error.
func (s *Stream) Next() (*inspect.Element, error) { return s.nextElement() }

func (s *Stream) nextElement() (*inspect.Element, error) {
	for {
		ev, err := s.r.Next()
		if err != nil {
			return nil, s.readError(err)
		}
		switch ev.Kind {
		case inspect.KindStanza:
			if ev.Name == "error" && ev.NS == inspect.NSStreams {
				return nil, s.unexpected(ev)
			}
			el, err := inspect.ParseElement(ev.Raw, s.r.Header())
			if err != nil {
				return nil, fmt.Errorf("parse <%s>: %w", ev.Name, err)
			}
			return el, nil
		case inspect.KindStreamClose:
			return nil, errors.New("the server closed the stream")
		case inspect.KindStreamOpen:
			return nil, errors.New("unexpected stream header")
		}
	}
}

// unexpected describes a stanza that should not have come, stream errors with their
// condition.
func (s *Stream) unexpected(ev inspect.Event) error {
	if ev.Name == "error" && ev.NS == inspect.NSStreams {
		if el, err := inspect.ParseElement(ev.Raw, s.r.Header()); err == nil {
			cond := "undefined-condition"
			if f := el.FirstElement(); f != nil {
				cond = f.Local
			}
			if t := el.Child(inspect.NSStreamErrors, "text"); t != nil {
				cond += ": " + t.Text()
			}
			return fmt.Errorf("stream error from the server: %s", cond)
		}
	}
	return fmt.Errorf("unexpected <%s> from the server", ev.Name)
}

func (s *Stream) readError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("the server closed the connection")
	}
	return fmt.Errorf("read: %w", err)
}

// StartTLS negotiates STARTTLS (RFC 6120 section 5) on a stream whose features offered
// it, with cfg as the TLS client configuration, and returns the features of the
// secured stream.
func (s *Stream) StartTLS(ctx context.Context, cfg *tls.Config) (*inspect.Element, error) {
	if err := s.write([]byte("<starttls xmlns='" + inspect.NSTLS + "'/>")); err != nil {
		return nil, err
	}
	el, err := s.nextElement()
	if err != nil {
		return nil, err
	}
	if el.Space != inspect.NSTLS || el.Local != "proceed" {
		return nil, fmt.Errorf("STARTTLS refused: <%s/>", el.Local)
	}
	tc := tls.Client(s.nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	s.nc = tc
	s.r.Reset(tc)
	return s.openStream()
}

// Authenticate runs SASL with mech (see ChooseMechanism) as acct and, on success,
// restarts the stream and returns the new features.
func (s *Stream) Authenticate(mech string, acct Account) (*inspect.Element, error) {
	if err := s.authenticate(mech, acct); err != nil {
		return nil, err
	}
	s.r.Restart()
	return s.openStream()
}

// Bind binds resource ("" lets the server choose) on a stream whose features offer
// binding (RFC 6120 section 7) and returns the full JID the server assigned. Where the
// features ask for the legacy session (RFC 3921) without marking it optional, it
// establishes one too.
func (s *Stream) Bind(features *inspect.Element, resource string) (inspect.JID, error) {
	if features.Child(inspect.NSBind, "bind") == nil {
		return inspect.JID{}, errors.New("the server offers no resource binding after login")
	}
	bind := "<iq type='set' id='" + bindID + "'><bind xmlns='" + inspect.NSBind + "'>"
	if resource != "" {
		bind += "<resource>" + inspect.EscapeText(resource) + "</resource>"
	}
	if err := s.write([]byte(bind + "</bind></iq>")); err != nil {
		return inspect.JID{}, err
	}
	el, err := s.awaitIQ(bindID)
	if err != nil {
		return inspect.JID{}, fmt.Errorf("bind: %w", err)
	}
	if el.Attr("type") == "error" {
		return inspect.JID{}, fmt.Errorf("bind refused: %s", StanzaErrorCondition(el))
	}
	var jid string
	if b := el.Child(inspect.NSBind, "bind"); b != nil {
		if j := b.Child(inspect.NSBind, "jid"); j != nil {
			jid = j.Text()
		}
	}
	full, err := inspect.ParseJID(jid)
	if err != nil || full.Resource == "" {
		return inspect.JID{}, fmt.Errorf("bind: the server gave no usable full JID (%q)", jid)
	}
	// Legacy session establishment, only where the server still requires it.
	if sess := features.Child(inspect.NSSession, "session"); sess != nil && sess.Child(inspect.NSSession, "optional") == nil {
		if err := s.write([]byte("<iq type='set' id='" + sessionID + "'><session xmlns='" + inspect.NSSession + "'/></iq>")); err != nil {
			return full, err
		}
		if el, err := s.awaitIQ(sessionID); err != nil || el.Attr("type") == "error" {
			if err == nil {
				err = errors.New(StanzaErrorCondition(el))
			}
			return full, fmt.Errorf("session establishment failed: %w", err)
		}
	}
	return full, nil
}

// The ids of the login's own requests.
const (
	bindID    = "bind"
	sessionID = "sess"
)

// AwaitIQ skips stanzas until the iq that answers id, which it returns.
func (s *Stream) AwaitIQ(id string) (*inspect.Element, error) { return s.awaitIQ(id) }

func (s *Stream) awaitIQ(id string) (*inspect.Element, error) {
	for {
		el, err := s.nextElement()
		if err != nil {
			return nil, err
		}
		if el.Local == "iq" && el.Attr("id") == id && (el.Attr("type") == "result" || el.Attr("type") == "error") {
			return el, nil
		}
	}
}

// SetDeadline sets the connection's read and write deadline (the zero time: none).
func (s *Stream) SetDeadline(t time.Time) error { return s.nc.SetDeadline(t) }
