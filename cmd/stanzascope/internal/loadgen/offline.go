package loadgen

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// offlineBody marks the messages of an offline run, so that a receiver counts only them.
const offlineBody = "stanzascope-bench offline "

// MaxOffline bounds Config.Offline: every message is kept by the server until its
// receiver logs in.
const MaxOffline = 1000

// Offline is the outcome of an offline-message run (Config.Offline): the senders of the
// pairs send while the receivers are not logged in, and the server keeps the messages;
// then the receivers log in and get them.
type Offline struct {
	PerPair int   `json:"per_pair"` // messages each sender sent
	Sent    int64 `json:"sent"`
	// Stored: how long the senders took to send every message and have the server
	// answer a ping sent after them (the server has handled, so kept, each message
	// before it answers), and the messages per second that makes.
	StoredSeconds float64 `json:"stored_seconds"`
	StoredPerSec  float64 `json:"stored_per_second"`
	// Logins is the receivers' login phase: authentication, bind and initial presence, at
	// which the server delivers what it kept, until each receiver has all its messages.
	Logins         Phase   `json:"logins"`
	Delivered      int64   `json:"delivered"`
	DeliveredPerSc float64 `json:"delivered_per_second"` // during Logins
	Missing        int64   `json:"missing"`              // sent, not received within Grace after the login
	Errored        int64   `json:"errored"`              // bounced to the sender
}

// runOffline is the run of Config.Offline: the even clients (senders) are logged in, the
// odd ones (their receivers) not.
func runOffline(ctx context.Context, cfg *Config, senders []*client, prog *progress) *Offline {
	per := cfg.Offline
	o := &Offline{PerPair: per}
	var sent, errored atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range senders {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer := cfg.account(c.idx+1).Username + "@" + cfg.Domain
			var b strings.Builder
			for k := range per {
				fmt.Fprintf(&b, "<message to='%s' type='chat' id='o%d'><body>%s%d</body></message>", inspect.EscapeAttr(peer), k, offlineBody, k)
			}
			b.WriteString("<iq type='get' id='stored' to='" + inspect.EscapeAttr(cfg.Domain) + "'><ping xmlns='" + inspect.NSPing + "'/></iq>")
			_ = c.nc.SetDeadline(time.Now().Add(cfg.LoginTimeout))
			if err := c.write([]byte(b.String())); err != nil {
				return
			}
			sent.Add(int64(per))
			for {
				el, err := c.nextElement()
				if err != nil {
					return
				}
				if el.Local == "message" && el.Attr("type") == "error" {
					errored.Add(1)
				}
				if el.Local == "iq" && el.Attr("id") == "stored" {
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	o.Sent, o.Errored = sent.Load(), errored.Load()
	o.StoredSeconds = el.Seconds()
	if el > 0 {
		o.StoredPerSec = float64(o.Sent) / el.Seconds()
	}

	var delivered atomic.Int64
	receivers := len(senders)
	o.Logins = runPhase(ctx, receivers, cfg.Concurrency, prog, "login with offline messages", func(k int) error {
		c := &client{idx: 2*k + 1, acct: cfg.account(2*k + 1), cfg: cfg}
		defer c.close()
		if _, err := c.bindSession(ctx); err != nil {
			return err
		}
		sync := "<presence/><iq type='get' id='sync' to='" + inspect.EscapeAttr(cfg.Domain) + "'><ping xmlns='" + inspect.NSPing + "'/></iq>"
		if err := c.write([]byte(sync)); err != nil {
			return err
		}
		// The messages come with the initial presence; wait after the ping's answer at
		// most Grace for the rest (a server may deliver them later).
		got, synced := 0, false
		_ = c.nc.SetDeadline(time.Now().Add(cfg.LoginTimeout))
		for got < per {
			el, err := c.nextElement()
			if err != nil {
				delivered.Add(int64(got))
				return fmt.Errorf("%d of %d offline messages: %w", got, per, err)
			}
			switch {
			case el.Local == "message" && el.Attr("type") != "error" && isOffline(el):
				got++
			case el.Local == "iq" && el.Attr("id") == "sync" && !synced:
				synced = true
				_ = c.nc.SetDeadline(time.Now().Add(cfg.Grace))
			}
		}
		delivered.Add(int64(got))
		_ = c.write([]byte("</stream:stream>"))
		return nil
	})
	o.Delivered = delivered.Load()
	o.Missing = o.Sent - o.Delivered
	if o.Logins.Seconds > 0 {
		o.DeliveredPerSc = float64(o.Delivered) / o.Logins.Seconds
	}
	return o
}

// isOffline reports whether el is a message of an offline run.
func isOffline(el *inspect.Element) bool {
	b := el.Child("", "body")
	return b != nil && strings.HasPrefix(b.Text(), offlineBody)
}
