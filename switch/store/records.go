package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// The on-disk encoding of Bolt's values: JSON objects with a version field, decoupled from
// the Go types of the Store interface so that either can change without breaking the other.
// A reader refuses versions it does not know instead of guessing.
const recordVersion = 1

type accountRecord struct {
	V            int       `json:"v"`
	Username     string    `json:"username"`
	Salt         []byte    `json:"salt"`
	Iterations   int       `json:"iterations"`
	SHA1Stored   []byte    `json:"sha1_stored_key,omitempty"`
	SHA1Server   []byte    `json:"sha1_server_key,omitempty"`
	SHA256Stored []byte    `json:"sha256_stored_key,omitempty"`
	SHA256Server []byte    `json:"sha256_server_key,omitempty"`
	Name         string    `json:"name,omitempty"`
	Email        string    `json:"email,omitempty"`
	Created      time.Time `json:"created"`
}

type rosterRecord struct {
	V             int      `json:"v"`
	JID           string   `json:"jid"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	Subscription  string   `json:"subscription"`
	AskOut        bool     `json:"ask_out,omitempty"`
	PendingIn     bool     `json:"pending_in,omitempty"`
	PendingStanza []byte   `json:"pending_stanza,omitempty"`
}

type offlineRecord struct {
	V      int       `json:"v"`
	Stanza []byte    `json:"stanza"`
	From   string    `json:"from"`
	Stamp  time.Time `json:"stamp"`
}

func encodeAccount(a Account) ([]byte, error) {
	return json.Marshal(accountRecord{
		V: recordVersion, Username: a.Username,
		Salt: a.Creds.Salt, Iterations: a.Creds.Iterations,
		SHA1Stored: a.Creds.SHA1.StoredKey, SHA1Server: a.Creds.SHA1.ServerKey,
		SHA256Stored: a.Creds.SHA256.StoredKey, SHA256Server: a.Creds.SHA256.ServerKey,
		Name: a.Name, Email: a.Email, Created: a.Created.UTC(),
	})
}

func decodeAccount(b []byte) (Account, error) {
	var r accountRecord
	if err := decode(b, &r, &r.V); err != nil {
		return Account{}, fmt.Errorf("account record: %w", err)
	}
	return Account{
		Username: r.Username,
		Creds: Credentials{
			Salt: r.Salt, Iterations: r.Iterations,
			SHA1:   Keys{StoredKey: r.SHA1Stored, ServerKey: r.SHA1Server},
			SHA256: Keys{StoredKey: r.SHA256Stored, ServerKey: r.SHA256Server},
		},
		Name: r.Name, Email: r.Email, Created: r.Created,
	}, nil
}

func encodeItem(it RosterItem) ([]byte, error) {
	return json.Marshal(rosterRecord{
		V: recordVersion, JID: it.JID, Name: it.Name, Groups: it.Groups,
		Subscription: it.Subscription, AskOut: it.AskOut, PendingIn: it.PendingIn,
		PendingStanza: it.PendingStanza,
	})
}

func decodeItem(b []byte) (RosterItem, error) {
	var r rosterRecord
	if err := decode(b, &r, &r.V); err != nil {
		return RosterItem{}, fmt.Errorf("roster record: %w", err)
	}
	return RosterItem{
		JID: r.JID, Name: r.Name, Groups: r.Groups, Subscription: r.Subscription,
		AskOut: r.AskOut, PendingIn: r.PendingIn, PendingStanza: r.PendingStanza,
	}, nil
}

func encodeMessage(m OfflineMessage) ([]byte, error) {
	return json.Marshal(offlineRecord{V: recordVersion, Stanza: m.Stanza, From: m.From, Stamp: m.Stamp.UTC()})
}

func decodeMessage(b []byte) (OfflineMessage, error) {
	var r offlineRecord
	if err := decode(b, &r, &r.V); err != nil {
		return OfflineMessage{}, fmt.Errorf("offline record: %w", err)
	}
	return OfflineMessage{Stanza: r.Stanza, From: r.From, Stamp: r.Stamp}, nil
}

// decode unmarshals a record and checks its version.
func decode(b []byte, rec any, v *int) error {
	if err := json.Unmarshal(b, rec); err != nil {
		return err
	}
	if *v != recordVersion {
		return fmt.Errorf("unsupported record version %d (this program reads %d)", *v, recordVersion)
	}
	return nil
}
