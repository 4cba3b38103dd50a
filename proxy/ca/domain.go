package ca

import (
	"fmt"
	"net"
	"strings"

	"golang.org/x/net/idna"
)

// normalise turns the domain a client asked for into the ASCII host name put in a leaf
// certificate, or explains why it cannot. An empty name means "localhost".
func normalise(domain string) (string, error) {
	domain = strings.TrimSuffix(domain, ".")
	if domain == "" {
		return "localhost", nil
	}
	if ip := net.ParseIP(domain); ip != nil {
		return ip.String(), nil
	}
	if len(domain) > 253 {
		return "", fmt.Errorf("ca: domain of %d bytes is too long", len(domain))
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("ca: invalid domain %q: %w", domain, err)
	}
	for _, label := range strings.Split(ascii, ".") {
		if label == "" || len(label) > 63 {
			return "", fmt.Errorf("ca: invalid domain %q: bad label", domain)
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return "", fmt.Errorf("ca: invalid domain %q: character %q", domain, ch)
			}
		}
	}
	return ascii, nil
}
