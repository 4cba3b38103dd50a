package loadgen

import (
	"encoding/base64"
	"fmt"
	"slices"

	"mellium.im/sasl"

	"github.com/stanzascope/stanzascope/inspect"
)

// SASL mechanisms, in order of preference.
const (
	mechSHA256 = "SCRAM-SHA-256"
	mechSHA1   = "SCRAM-SHA-1"
	mechPlain  = "PLAIN"
)

var mechPreference = []string{mechSHA256, mechSHA1, mechPlain}

// ChooseMechanism picks forced if the features offer it, else the best offered of
// SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN.
func ChooseMechanism(features *inspect.Element, forced string) (string, error) {
	var offered []string
	if ms := features.Child(inspect.NSSASL, "mechanisms"); ms != nil {
		for _, m := range ms.Elements() {
			if m.Local == "mechanism" {
				offered = append(offered, m.Text())
			}
		}
	}
	if forced != "" {
		if slices.Contains(offered, forced) {
			return forced, nil
		}
		return "", fmt.Errorf("the server does not offer %s (it offers %v)", forced, offered)
	}
	for _, m := range mechPreference {
		if slices.Contains(offered, m) {
			return m, nil
		}
	}
	return "", fmt.Errorf("no usable SASL mechanism offered (the server offers %v)", offered)
}

func saslMechanism(name string) sasl.Mechanism {
	switch name {
	case mechSHA256:
		return sasl.ScramSha256
	case mechSHA1:
		return sasl.ScramSha1
	}
	return sasl.Plain
}

// authenticate runs the SASL exchange on s (RFC 6120 section 6).
func (s *Stream) authenticate(mech string, acct Account) error {
	neg := sasl.NewClient(saslMechanism(mech), sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(acct.Username), []byte(acct.Password), nil
	}))
	_, resp, err := neg.Step(nil)
	if err != nil {
		return fmt.Errorf("SASL %s: %w", mech, err)
	}
	out := "<auth xmlns='" + inspect.NSSASL + "' mechanism='" + mech + "'>" + encode64(resp) + "</auth>"
	if err := s.write([]byte(out)); err != nil {
		return err
	}
	for {
		el, err := s.nextElement()
		if err != nil {
			return err
		}
		if el.Space != inspect.NSSASL {
			continue
		}
		switch el.Local {
		case "challenge":
			data, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return fmt.Errorf("SASL %s: bad challenge: %w", mech, err)
			}
			_, resp, err := neg.Step(data)
			if err != nil {
				return fmt.Errorf("SASL %s: %w", mech, err)
			}
			out := "<response xmlns='" + inspect.NSSASL + "'>" + encode64(resp) + "</response>"
			if err := s.write([]byte(out)); err != nil {
				return err
			}
		case "success":
			if t := el.Text(); t != "" && t != "=" && mech != mechPlain {
				data, err := base64.StdEncoding.DecodeString(t)
				if err != nil {
					return fmt.Errorf("SASL %s: bad success data: %w", mech, err)
				}
				if _, _, err := neg.Step(data); err != nil {
					return fmt.Errorf("SASL %s: the server's signature does not verify: %w", mech, err)
				}
			}
			return nil
		case "failure":
			cond := "failure"
			if f := el.FirstElement(); f != nil && f.Local != "text" {
				cond = f.Local
			}
			if t := el.Child(inspect.NSSASL, "text"); t != nil {
				cond += ": " + t.Text()
			}
			return fmt.Errorf("login refused for %s (SASL %s): %s", acct.Username, mech, cond)
		}
	}
}

func encode64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}
