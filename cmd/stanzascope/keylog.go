package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/outfile"
)

// keylogHelp is the help of --keylog on the proxy and the switch.
const keylogHelp = "append the TLS secrets of every connection (the proxy: both legs) to `FILE` in the SSLKEYLOGFILE format " +
	"(created with mode 0600), so that Wireshark decrypts a capture taken beside stanzascope; anyone who reads FILE can read the traffic"

// addKeylogFlag registers --keylog on fs.
func addKeylogFlag(fs *pflag.FlagSet) *string {
	return fs.String("keylog", "", keylogHelp)
}

// openKeylog opens the --keylog file for appending, private (mode 0600, also when it
// existed: it holds what decrypts the traffic). crypto/tls serialises the writes of all
// connections to it.
func openKeylog(path string) (*os.File, error) {
	f, err := outfile.Private(path, os.O_APPEND)
	if err != nil {
		return nil, fmt.Errorf("--keylog: %w", err)
	}
	return f, nil
}

// keylogWarning is printed when --keylog is on.
func keylogWarning(path string) string {
	return fmt.Sprintf("--keylog %s holds the TLS secrets: anyone who reads it can decrypt the traffic", path)
}
