package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// MaxAccountLine bounds one line of an accounts file.
const MaxAccountLine = 4096

// ReadAccounts reads an accounts list: one account per line, "USERNAME PASSWORD"
// (separated by spaces or a tab), or "USERNAME" alone to use defaultPassword. A username
// may be given as a bare JID (user@domain); its domain is dropped. Blank lines and lines
// starting with # are skipped. At most max accounts are read.
func ReadAccounts(r io.Reader, defaultPassword string, max int) ([]Account, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), MaxAccountLine)
	var out []Account
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if len(out) == max {
			break
		}
		user, pass, found := strings.Cut(text, " ")
		if !found {
			user, pass, found = strings.Cut(text, "\t")
		}
		pass = strings.TrimSpace(pass)
		if !found || pass == "" {
			pass = defaultPassword
		}
		if at := strings.IndexByte(user, '@'); at >= 0 {
			user = user[:at]
		}
		if user == "" {
			return nil, fmt.Errorf("accounts line %d: no username", line)
		}
		out = append(out, Account{Username: user, Password: pass})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return out, nil
}
