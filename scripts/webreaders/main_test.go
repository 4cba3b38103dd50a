package main

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
)

func TestEventsURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/":               "http://127.0.0.1:8080/events",
		"http://h:1/?token=a+b":                "http://h:1/events?token=a+b",
		"https://class.example/view/?token=xy": "https://class.example/view/events?token=xy",
	} {
		if got, err := eventsURL(in, ""); err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", in, got, err, want)
		}
	}
	if got, _ := eventsURL("http://h:1/", "s3cret"); got != "http://h:1/events?token=s3cret" {
		t.Errorf("with --token: %s", got)
	}
	if _, err := eventsURL("127.0.0.1:8080", ""); err == nil {
		t.Error("no scheme accepted")
	}
}

// TestRead reads a real web view: the history, then live records; and, above the live
// rate, is told what it was not sent.
func TestRead(t *testing.T) {
	hub := web.NewHub(web.Options{})
	srv := httptest.NewServer(web.NewHandler(hub, web.HandlerOptions{Token: "reader-token"}))
	defer srv.Close()
	defer hub.Close()
	write := func(n int) {
		for range n {
			r := (&inspect.Record{Kind: inspect.KindNote}).WithNote("hello")
			if err := hub.Write(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(3)
	events, err := eventsURL(srv.URL+"/", "reader-token")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan result, 1)
	go func() { done <- read(ctx, events, false, 5) }()
	write(2)
	res := <-done
	if res.err != nil || res.records != 5 || res.skipped != 0 {
		t.Fatalf("%+v", res)
	}
	// At a live rate of 10 (the least), 200 at once are not all sent: every one is read
	// or counted as skipped.
	fast := web.NewHub(web.Options{LiveRate: 10})
	fsrv := httptest.NewServer(web.NewHandler(fast, web.HandlerOptions{}))
	defer fsrv.Close()
	defer fast.Close()
	fev, _ := eventsURL(fsrv.URL+"/", "")
	fdone := make(chan result, 1)
	go func() { fdone <- read(ctx, fev, false, 200) }()
	for deadline := time.Now().Add(10 * time.Second); fast.Watching() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the reader did not connect")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 200 {
		if err := fast.Write((&inspect.Record{Kind: inspect.KindNote}).WithNote("hi")); err != nil {
			t.Fatal(err)
		}
	}
	if res := <-fdone; res.err != nil || res.records+res.skipped != 200 || res.skipped == 0 {
		t.Fatalf("%+v", res)
	}
	bad, _ := eventsURL(srv.URL+"/", "wrong-token")
	if res := read(ctx, bad, false, 1); res.err == nil {
		t.Error("a wrong token was accepted")
	}
}
