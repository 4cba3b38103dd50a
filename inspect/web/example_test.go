package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
)

// The hub is one more sink: records go in, the page and its event stream come out. Here
// a saved client stream is shown; the hub learns the bound JID from the legacy login.
func Example() {
	hub := web.NewHub(web.Options{Title: "stanzascope inspect"})
	conn := &inspect.ConnInfo{ID: 1}
	c2s := `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>` +
		`<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>parrot</password><resource>telnet</resource></query></iq>`
	s2c := `<stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='s1' xmlns='jabber:client' from='localhost'>` +
		`<iq id='auth1' type='result'/>`
	sink := inspect.NewRedactor(inspect.Number(hub)) // as the command's sink chain does
	_ = inspect.ReadStream(strings.NewReader(c2s), inspect.ClientToServer, conn, sink)
	_ = inspect.ReadStream(strings.NewReader(s2c), inspect.ServerToClient, conn, sink)
	fmt.Println("client 1 is", hub.Lanes()[1].JID)

	srv := httptest.NewServer(web.NewHandler(hub, web.HandlerOptions{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/record?i=2")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	detail, _ := io.ReadAll(resp.Body)
	fmt.Println("password shown:", strings.Contains(string(detail), "parrot"))
	// Output:
	// client 1 is mr_praline@localhost/telnet
	// password shown: false
}
