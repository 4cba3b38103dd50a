package ca_test

import (
	"crypto/tls"
	"fmt"
	"log"
	"os"

	"github.com/stanzascope/stanzascope/proxy/ca"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ca-example")
	defer os.RemoveAll(dir)
	authority, err := ca.LoadOrCreate(dir)
	if err != nil {
		log.Fatal(err)
	}
	// A TLS server that presents a certificate for whatever name the client asked for.
	cfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return authority.Leaf(h.ServerName)
	}}
	leaf, _ := authority.Leaf("localhost")
	fmt.Println(cfg != nil, leaf.Leaf.DNSNames)
	// Output: true [localhost]
}
