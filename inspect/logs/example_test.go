package logs_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/logs"
)

// Two lines of Prosody's debug log, one per session, read as two connections.
func ExampleRead() {
	log := "Nov 28 02:04:24 c2s55d0\tdebug\tRECV: <presence/>\n" +
		"Nov 28 02:04:25 c2s61a2\tdebug\tSEND: <message from='a@localhost' type='chat'><body>hi</body></message>\n"
	f := logs.Detect([]byte(log))
	err := logs.Read(strings.NewReader(log), f, inspect.NewJSON(os.Stdout, inspect.JSONOptions{}), logs.Options{})
	fmt.Println(f, err)
	// Output:
	// {"time":"0000-11-28T02:04:24Z","conn":1,"kind":"conn-open","size":0,"note":"Prosody session c2s55d0"}
	// {"time":"0000-11-28T02:04:24Z","conn":1,"dir":"c2s","kind":"stanza","name":"presence","ns":"jabber:client","size":11,"xml":"<presence/>","origin":"client"}
	// {"time":"0000-11-28T02:04:25Z","conn":2,"kind":"conn-open","size":0,"note":"Prosody session c2s61a2"}
	// {"time":"0000-11-28T02:04:25Z","conn":2,"dir":"s2c","kind":"stanza","name":"message","ns":"jabber:client","type":"chat","from":"a@localhost","size":65,"xml":"<message from='a@localhost' type='chat'><body>hi</body></message>","origin":"server"}
	// prosody <nil>
}
