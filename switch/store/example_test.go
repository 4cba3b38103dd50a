package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Example registers an account in a database file, queues a message for it while it is
// offline, and delivers the message after a restart.
func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "switch.db") // a real switch uses store.DefaultPath()
	ctx := context.Background()

	db, err := store.OpenBolt(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	creds, _ := scram.NewCredentials("r0m30myr0m30", scram.MinIterations) // never the password itself
	if err := db.CreateAccount(ctx, store.Account{Username: "juliet", Creds: creds}); err != nil {
		fmt.Println(err)
		return
	}
	db.PutRosterItem(ctx, "juliet", store.RosterItem{JID: "romeo@example.net", Subscription: store.SubBoth})
	db.AddOffline(ctx, "juliet", store.OfflineMessage{
		Stanza: []byte("<message from='romeo@example.net/orchard' to='juliet@example.com'><body>Art thou not Romeo?</body></message>"),
		From:   "romeo@example.net/orchard",
		Stamp:  time.Now(),
	})
	db.Close() // or a crash: what was acknowledged is on disk

	db, err = store.OpenBolt(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	roster, _ := db.Roster(ctx, "juliet")
	msgs, _ := db.TakeOffline(ctx, "juliet")
	fmt.Println(roster[0].JID, roster[0].Subscription, len(msgs), msgs[0].From)
	msgs, _ = db.TakeOffline(ctx, "juliet")
	fmt.Println(len(msgs))
	if err := db.CreateAccount(ctx, store.Account{Username: "juliet"}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// romeo@example.net both 1 romeo@example.net/orchard
	// 0
	// store: already exists: account "juliet"
}
