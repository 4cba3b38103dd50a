package store

import (
	"reflect"
	"testing"
	"time"
)

// The storetest samples cannot be used here: storetest imports this package.

func sampleAccount() Account {
	return Account{
		Username: "juliet",
		Creds: Credentials{
			Salt: []byte("salt"), Iterations: 4096,
			SHA1:   Keys{StoredKey: []byte{1}, ServerKey: []byte{2}},
			SHA256: Keys{StoredKey: []byte{3}, ServerKey: []byte{4}},
		},
		Name: "Juliet", Email: "juliet@example.com", Created: time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC),
	}
}

func sampleItem() RosterItem {
	return RosterItem{
		JID: "romeo@example.net", Name: "R", Groups: []string{"Friends"}, Subscription: SubFrom,
		AskOut: true, PendingIn: true, PendingStanza: []byte("<presence type='subscribe'/>"),
	}
}

func sampleMessage() OfflineMessage {
	return OfflineMessage{
		Stanza: []byte("<message><body>7</body></message>"), From: "romeo@example.net/orchard",
		Stamp: time.Date(2026, 11, 25, 17, 0, 7, 0, time.UTC),
	}
}

func TestRecordRoundTrip(t *testing.T) {
	a := sampleAccount()
	v, err := encodeAccount(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeAccount(v); err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("account: %+v, %v", got, err)
	}
	it := sampleItem()
	v, _ = encodeItem(it)
	if got, err := decodeItem(v); err != nil || !reflect.DeepEqual(got, it) {
		t.Errorf("roster item: %+v, %v", got, err)
	}
	m := sampleMessage()
	v, _ = encodeMessage(m)
	if got, err := decodeMessage(v); err != nil || !reflect.DeepEqual(got, m) {
		t.Errorf("offline message: %+v, %v", got, err)
	}
}

// FuzzDecodeRecords feeds arbitrary bytes to the record decoders, as a damaged or foreign
// database file would: they must fail cleanly, and whatever they accept must re-encode.
func FuzzDecodeRecords(f *testing.F) {
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return encodeAccount(sampleAccount()) },
		func() ([]byte, error) { return encodeItem(sampleItem()) },
		func() ([]byte, error) { return encodeMessage(sampleMessage()) },
	} {
		v, err := enc()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := decodeAccount(b); err == nil {
			if _, err := encodeAccount(a); err != nil {
				t.Fatalf("decoded account does not encode: %v", err)
			}
		}
		if it, err := decodeItem(b); err == nil {
			if _, err := encodeItem(it); err != nil {
				t.Fatalf("decoded item does not encode: %v", err)
			}
		}
		if m, err := decodeMessage(b); err == nil {
			if _, err := encodeMessage(m); err != nil {
				t.Fatalf("decoded message does not encode: %v", err)
			}
		}
	})
}
