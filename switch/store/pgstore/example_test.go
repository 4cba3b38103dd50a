package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
)

// Example opens the switch's store on a PostgreSQL database shared by several switches.
// The password comes from PGPASSWORD or ~/.pgpass rather than the URL, where ps would show
// it. (It needs a server, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	url := "postgres://stanzascope@db.example.com/switch?sslmode=verify-full"
	db, err := pgstore.Open(ctx, url) // creates or migrates the schema
	if errors.Is(err, store.ErrUnavailable) {
		log.Fatalf("database %s cannot be reached: %v", pgstore.Redact(url), err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	// Both ends of a subscription change in one transaction.
	err = store.UpdatePair(ctx, db,
		store.RosterKey{User: "juliet", JID: "romeo@example.net"},
		store.RosterKey{User: "romeo", JID: "juliet@example.net"},
		func(j, r *store.RosterSlot) error {
			j.Exists, j.Item.Subscription = true, store.SubBoth
			r.Exists, r.Item.Subscription = true, store.SubBoth
			return nil
		})
	fmt.Println(err)
}
