package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stanzascope/stanzascope/proxy/ca"
)

func init() {
	register(&command{
		name:    "ca",
		summary: "create or show the local CA used for TLS interception",
		run:     runCA,
	})
}

const caUsage = `ca [--ca-dir DIR]

Creates stanzascope's certificate authority on first use (an ECDSA P-256 root; the key is
written with mode 0600) and prints where its certificate is, its SHA-256 fingerprint and
how to make clients trust it. The proxy signs a certificate for each domain a client asks
for with this root.`

func runCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("ca", caUsage, stderr)
	dir := fset.String("ca-dir", "", "`DIR` holding the CA (default $XDG_CONFIG_HOME/stanzascope or ~/.config/stanzascope)")
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usagef("ca takes no arguments")
	}
	if *dir == "" {
		d, err := ca.DefaultDir()
		if err != nil {
			return err
		}
		*dir = d
	}
	_, statErr := os.Stat(filepath.Join(*dir, ca.CertFile))
	created := errors.Is(statErr, fs.ErrNotExist)
	authority, err := ca.LoadOrCreate(*dir)
	if err != nil {
		return err
	}
	state := "existing"
	if created {
		state = "created now"
	}
	path := authority.CertPath()
	fmt.Fprintf(stdout, `stanzascope CA (%s)
  certificate: %s
  key:         %s (mode 0600, keep it private)
  SHA-256:     %s

Clients must trust this certificate to talk TLS through the proxy:
  Debian/Ubuntu (system-wide):
    sudo cp %s /usr/local/share/ca-certificates/stanzascope.crt && sudo update-ca-certificates
  slixmpp:  pass the file to the client, e.g. scripts/interop/slixmpp_client.py --cafile %s
            (in code: ssl.create_default_context(cafile=...) assigned to xmpp.ssl_context)
  mellium (Go): add it to tls.Config.RootCAs (x509.CertPool.AppendCertsFromPEM)
  other clients: import it as a certificate authority, or pin the fingerprint above.
Only trust it on machines you use for debugging: whoever holds the key can impersonate
any server to them.
`, state, path, filepath.Join(authority.Dir(), ca.KeyFile), authority.Fingerprint(), path, path)
	return nil
}
