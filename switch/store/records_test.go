package store

import (
	"reflect"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	a := sampleAccount("juliet")
	v, err := encodeAccount(a)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeAccount(v); err != nil || !equalAccount(got, a) {
		t.Errorf("account: %+v, %v", got, err)
	}
	it := sampleItem("romeo@example.net")
	v, _ = encodeItem(it)
	if got, err := decodeItem(v); err != nil || !reflect.DeepEqual(got, it) {
		t.Errorf("roster item: %+v, %v", got, err)
	}
	m := sampleMessage(7)
	v, _ = encodeMessage(m)
	got, err := decodeMessage(v)
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, []OfflineMessage{got}, 7, 1)
}

// FuzzDecodeRecords feeds arbitrary bytes to the record decoders, as a damaged or foreign
// database file would: they must fail cleanly, and whatever they accept must re-encode.
func FuzzDecodeRecords(f *testing.F) {
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return encodeAccount(sampleAccount("juliet")) },
		func() ([]byte, error) { return encodeItem(sampleItem("romeo@example.net")) },
		func() ([]byte, error) { return encodeMessage(sampleMessage(1)) },
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
