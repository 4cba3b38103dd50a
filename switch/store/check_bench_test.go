package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkOpenBoltCheck opens a database of 10,000 accounts, each with 10 contacts and 10
// offline messages: the consistency check at open (checkFile) reads every page once. It
// is written in bulk, two hundred thousand fsyncs would take long through the API.
func BenchmarkOpenBoltCheck(b *testing.B) {
	path := b.TempDir() + "/switch.db"
	s, err := OpenBolt(path)
	if err != nil {
		b.Fatal(err)
	}
	acct, err := encodeAccount(Account{Username: "x", Creds: Credentials{Salt: make([]byte, 16), Iterations: 4096,
		SHA1: Keys{make([]byte, 20), make([]byte, 20)}, SHA256: Keys{make([]byte, 32), make([]byte, 32)}}, Created: time.Unix(0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	msg, err := encodeMessage(OfflineMessage{Stanza: []byte("<message to='x@localhost' type='chat'><body>a typical message of some length</body></message>"),
		From: "y@localhost/phone", Stamp: time.Unix(0, 0)})
	if err != nil {
		b.Fatal(err)
	}
	for chunk := range 10 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i := range 1000 {
				user := fmt.Appendf(nil, "user%05d", chunk*1000+i)
				if err := tx.Bucket(bucketAccounts).Put(user, acct); err != nil {
					return err
				}
				r, err := tx.Bucket(bucketRosters).CreateBucket(user)
				if err != nil {
					return err
				}
				q, err := tx.Bucket(bucketOffline).CreateBucket(user)
				if err != nil {
					return err
				}
				for j := range 10 {
					jid := fmt.Sprintf("contact%d@example.net", j)
					item, err := encodeItem(RosterItem{JID: jid, Name: "Contact", Groups: []string{"Friends"}, Subscription: SubBoth})
					if err != nil {
						return err
					}
					if err := r.Put([]byte(jid), item); err != nil {
						return err
					}
					if err := q.Put(binary.BigEndian.AppendUint64(nil, uint64(j)), msg); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("OpenBolt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := OpenBolt(path)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
		b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
	})
	// What the open costs without the check, for comparison.
	b.Run("bboltOnly", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			db, err := openFile(path, &bolt.Options{Timeout: DefaultLockTimeout})
			if err != nil {
				b.Fatal(err)
			}
			db.Close()
		}
	})
}
