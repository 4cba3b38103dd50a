package server

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// send writes one stanza to the client under the write lock with a write deadline, and
// reports it to the observer. A failed write closes the socket, so the reader goroutine
// ends the session; the writer (possibly another session's goroutine) is never blocked
// longer than WriteTimeout.
func (c *conn) send(b []byte, name, ns string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b, inspect.KindStanza, name, ns)
}

func (c *conn) writeLocked(b []byte, kind inspect.Kind, name, ns string) error {
	if c.wclosed || c.tlsBusy {
		return errClosed
	}
	// One deadline for the whole stanza, however many TLS records it takes.
	c.raw.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.closeLocked()
		return err
	}
	if c.guard.isStalled() {
		return c.endStalledLocked(b, kind, name, ns)
	}
	c.observeOut(b, kind, name, ns)
	return nil
}

// observeOut reports bytes written to the client.
func (c *conn) observeOut(b []byte, kind inspect.Kind, name, ns string) {
	if c.srv.cfg.Observe != nil {
		c.observe(&inspect.Record{Dir: inspect.ServerToClient, Kind: kind, Raw: append([]byte(nil), b...), Name: name, NS: ns, Header: c.out})
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
	c.observe(r)
}

// streamPrefix is the prefix our stream headers bind to the streams namespace; the stream
// errors and closing tags we write use it.
const streamPrefix = "stream"

// sendHeader writes our stream header. A pre-1.0 client gets no version attribute, exactly
// as in the textbook session; a 1.0 client gets version='1.0'.
func (c *conn) sendHeader(legacy bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.sendHeaderLocked(legacy)
}

func (c *conn) sendHeaderLocked(legacy bool) error {
	c.streamID = newStreamID()
	b := make([]byte, 0, 192)
	b = append(b, "<?xml version='1.0'?><"+streamPrefix+":stream xmlns:"+streamPrefix+"='"+inspect.NSStreams+"' id='"...)
	b = append(b, c.streamID...)
	b = append(b, "' xmlns='"+inspect.NSClient+"' from='"...)
	b = append(b, inspect.EscapeAttr(c.srv.domain.Domain)...)
	b = append(b, '\'')
	if !legacy {
		b = append(b, " version='1.0'"...)
	}
	b = append(b, '>')
	if c.srv.cfg.Observe != nil {
		// The observer needs our header as the namespace context of what we send; without
		// one, idle sessions do not pay for it.
		c.out = &inspect.Header{Prefix: streamPrefix, ContentNS: inspect.NSClient, From: c.srv.domain.Domain,
			ID: c.streamID, NS: map[string]string{streamPrefix: inspect.NSStreams}}
		if !legacy {
			c.out.Version = "1.0"
		}
	}
	c.headerSent = true
	return c.writeLocked(b, inspect.KindStreamOpen, "stream", inspect.NSStreams)
}

// streamError sends <stream:error> (after our header if none was sent yet) and the closing
// tag, then closes the socket.
func (c *conn) streamError(cond inspect.Cond, text string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.streamErrorLocked(cond, text)
}

func (c *conn) streamErrorLocked(cond inspect.Cond, text string) {
	if !c.wclosed && !c.tlsBusy {
		if !c.headerSent {
			c.sendHeaderLocked(false)
		}
		c.writeLocked(streamErrorBytes(cond, text), inspect.KindStanza, "error", inspect.NSStreams)
		c.writeLocked([]byte(closeTag), inspect.KindStreamClose, "stream", inspect.NSStreams)
	}
	c.closeLocked()
}

// closeTag ends our stream (inspect.AppendStreamClose with our prefix).
const closeTag = "</" + streamPrefix + ":stream>"

// streamErrorBytes returns <stream:error> with the condition cond and text (may be empty),
// written by inspect's one stream-error writer.
func streamErrorBytes(cond inspect.Cond, text string) []byte {
	return inspect.AppendStreamError(nil, streamPrefix, cond, text)
}

// closeStream answers the client's closing tag with ours and closes the socket at once.
func (c *conn) closeStream() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.wclosed && !c.tlsBusy && c.headerSent {
		c.writeLocked([]byte(closeTag), inspect.KindStreamClose, "stream", inspect.NSStreams)
	}
	c.closeLocked()
}

func (c *conn) closeSocket() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.closeLocked()
}

// closeLocked stops all writers and closes the socket; the reader then ends the session.
func (c *conn) closeLocked() {
	c.wclosed = true
	c.raw.Close()
}

// JID returns the bound full JID.
func (c *conn) JID() inspect.JID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.jid
}

// Deliver writes a stanza routed to this session, after the stanzas held for it (see
// hold.go), so that it never overtakes them.
func (c *conn) Deliver(stanza []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeHeldLocked()
	return c.deliverLocked(stanza)
}

// deliverLocked writes a routed stanza; the caller holds wmu. The element name is only for
// the observer, so without one the stanza is not scanned again on the routing hot path.
func (c *conn) deliverLocked(stanza []byte) error {
	name := ""
	if c.srv.cfg.Observe != nil {
		name = inspect.TopName(stanza)
	}
	return c.writeLocked(stanza, inspect.KindStanza, name, inspect.NSClient)
}

// Presence returns the session's presence state.
func (c *conn) Presence() PresenceState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return PresenceState{Available: c.available, Priority: c.priority, Last: c.last, Stamp: c.lastStamp.UnixNano(), Legacy: c.legacy}
}

// Kick ends the stream with a stream error (conflict, system-shutdown). The reader goroutine
// sees the closed socket and cleans up the session. During a TLS handshake nothing can be
// written, so the socket is just closed (streamError does that).
func (c *conn) Kick(cond inspect.Cond, text string) { c.streamError(cond, text) }
