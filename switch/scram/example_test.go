package scram_test

import (
	"fmt"

	"mellium.im/sasl"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Example registers an account, then logs it in with SCRAM-SHA-256 (the client side here is
// mellium.im/sasl; on the wire each message travels base64-encoded in <auth/>, <challenge/>,
// <response/> and <success/>).
func Example() {
	creds, err := scram.NewCredentials("pencil", scram.MinIterations)
	if err != nil {
		fmt.Println(err)
		return
	}
	lookup := func(username string) (store.Credentials, error) {
		if username != "user" {
			return store.Credentials{}, store.ErrNotFound
		}
		return creds, nil
	}
	srv, err := scram.NewServer(scram.SHA256, lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	client := sasl.NewClient(sasl.ScramSha256, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte("User"), []byte("pencil"), nil
	}))
	_, msg, _ := client.Step(nil) // client-first, sent in <auth/>
	for {
		reply, done, err := srv.Step(msg)
		if err != nil {
			fmt.Println("failure:", scram.Condition(err))
			return
		}
		if done {
			_, _, err := client.Step(reply) // the client checks the server's signature
			fmt.Println("success for", srv.Username(), "server verified:", err == nil)
			return
		}
		_, msg, _ = client.Step(reply)
	}
	// Output: success for user server verified: true
}

// ExampleVerifyPlain checks a password sent with SASL PLAIN or jabber:iq:auth against the
// stored keys.
func ExampleVerifyPlain() {
	creds, _ := scram.NewCredentials("pencil", scram.MinIterations)
	fmt.Println(scram.VerifyPlain(creds, "pencil"), scram.VerifyPlain(creds, "pen"))
	// Output: true false
}
