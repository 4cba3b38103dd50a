package server

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// send queues a stanza of the server's own for the client (an answer, a stream feature,
// a ping); the session's own reader calls it and waits for room in the outbox (outbox.go).
// It returns errClosed once the stream is ending.
func (c *conn) send(b []byte, name, ns string) error {
	if c.enqueue(outItem{b: b, name: name, ns: ns, kind: inspect.KindStanza}, true) == 0 {
		return errClosed
	}
	return nil
}

// sendRouted queues a routed stanza (a presence, a message) for the client from the
// session's own reader, waiting for room as send does: for what a session delivers to
// itself in bulk (presences of its contacts, its offline messages).
func (c *conn) sendRouted(b []byte) uint64 {
	return c.enqueue(outItem{b: b, kind: inspect.KindStanza, flags: routed}, true)
}

// observeOut reports bytes written to the client, with our header as last written as
// their namespace context. Only the writer calls it.
func (c *conn) observeOut(b []byte, kind inspect.Kind, name, ns string) {
	if c.srv.cfg.Observe != nil {
		r := &inspect.Record{Dir: inspect.ServerToClient, Kind: kind, Raw: append([]byte(nil), b...), Name: name, NS: ns, Header: c.ob.wout}
		if c.ws != nil {
			recordOut(r) // what the client got is the frame
		}
		c.observe(r)
	}
}

// observe stamps r with the connection and time and hands it to the observer.
func (c *conn) observe(r *inspect.Record) {
	if c.srv.cfg.Observe == nil {
		return
	}
	r.Conn = c.info
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if err := c.srv.cfg.Observe.Write(r); err != nil {
		c.srv.logf("switch: observer: %v", err)
	}
}

// observeEvent reports an event read from the client.
func (c *conn) observeEvent(ev inspect.Event) {
	if c.srv.cfg.Observe == nil {
		return
	}
	r := ev.Record()
	r.Dir = inspect.ClientToServer
	if r.Header == nil {
		r.Header = c.rd.Header()
	}
	if c.ws != nil {
		c.ws.recordIn(r)
	}
	c.observe(r)
}

// streamPrefix is the prefix our stream headers bind to the streams namespace; the stream
// errors and closing tags we write use it.
const streamPrefix = "stream"

// sendHeader queues our stream header. A pre-1.0 client gets no version attribute, exactly
// as in the textbook session; a 1.0 client gets version='1.0'.
func (c *conn) sendHeader(legacy bool) error {
	c.streamID = newStreamID()
	if c.enqueue(c.headerItem(legacy, c.streamID), true) == 0 {
		return errClosed
	}
	return nil
}

// headerItem returns our stream header with stream id as an outbox item.
func (c *conn) headerItem(legacy bool, id string) outItem {
	b := make([]byte, 0, 192)
	b = append(b, "<?xml version='1.0'?><"+streamPrefix+":stream xmlns:"+streamPrefix+"='"+inspect.NSStreams+"' id='"...)
	b = append(b, id...)
	b = append(b, "' xmlns='"+inspect.NSClient+"' from='"...)
	b = append(b, inspect.EscapeAttr(c.srv.domain.Domain)...)
	b = append(b, '\'')
	if !legacy {
		b = append(b, " version='1.0'"...)
	}
	b = append(b, '>')
	it := outItem{b: b, kind: inspect.KindStreamOpen, name: "stream", ns: inspect.NSStreams}
	if c.srv.cfg.Observe != nil {
		// The observer needs our header as the namespace context of what we send; without
		// one, idle sessions do not pay for it.
		it.hdr = &inspect.Header{Prefix: streamPrefix, ContentNS: inspect.NSClient, From: c.srv.domain.Domain,
			ID: id, NS: map[string]string{streamPrefix: inspect.NSStreams}}
		if !legacy {
			it.hdr.Version = "1.0"
		}
	}
	return it
}

// streamError ends the stream with <stream:error> (after our header if none was sent yet)
// and the closing tag, after what is queued; then the socket is closed.
func (c *conn) streamError(cond inspect.Cond, text string) {
	c.finish(final{cond: cond, text: text})
}

// closeTag ends our stream (inspect.AppendStreamClose with our prefix).
const closeTag = "</" + streamPrefix + ":stream>"

// streamErrorBytes returns <stream:error> with the condition cond and text (may be empty),
// written by inspect's one stream-error writer.
func streamErrorBytes(cond inspect.Cond, text string) []byte {
	return inspect.AppendStreamError(nil, streamPrefix, cond, text)
}

// closeStream answers the client's closing tag with ours, after what is queued, and closes
// the socket.
func (c *conn) closeStream() { c.finish(final{}) }

// JID returns the bound full JID.
func (c *conn) JID() inspect.JID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jid
}

// Deliver queues a stanza routed to this session. It never waits: it returns false when
// the session does not take the stanza (it is ending, or its outbox has no room, which
// ends it), and the caller then treats the stanza as for a session that is gone.
func (c *conn) Deliver(stanza []byte) bool {
	return c.enqueue(outItem{b: stanza, kind: inspect.KindStanza, flags: routed}, false) != 0
}

// Presence returns the session's presence state.
func (c *conn) Presence() PresenceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return PresenceState{Available: c.available, Priority: c.priority, Last: c.last, Stamp: c.lastStamp.UnixNano(), Legacy: c.legacy, Interested: c.interested}
}

// Kick ends the stream with a stream error (conflict, system-shutdown) after what is
// queued. The reader goroutine sees the closed socket and cleans up the session. During a
// TLS handshake nothing can be written, so the socket is just closed.
func (c *conn) Kick(cond inspect.Cond, text string) { c.streamError(cond, text) }
