package server

import "github.com/stanzascope/stanzascope/inspect"

// serverInfo is the disco#info of the server (XEP-0030).
func (s *Server) serverInfo() []byte {
	b := []byte("<query xmlns='" + inspect.NSDiscoInfo + "'><identity category='server' type='im' name='stanzascope'/>")
	features := []string{inspect.NSDiscoInfo, inspect.NSDiscoItems, inspect.NSPing, inspect.NSVersion, inspect.NSRoster, "msgoffline", inspect.NSDelay, inspect.NSAuth}
	if !s.cfg.NoRegister {
		features = append(features, inspect.NSRegister)
	}
	for _, f := range features {
		b = append(b, "<feature var='"...)
		b = append(b, inspect.EscapeAttr(f)...)
		b = append(b, "'/>"...)
	}
	return append(b, "</query>"...)
}

// accountInfo is the disco#info of an account's bare JID.
func accountInfo() []byte {
	return []byte("<query xmlns='" + inspect.NSDiscoInfo + "'><identity category='account' type='registered'/><feature var='" + inspect.NSDiscoInfo + "'/><feature var='" + inspect.NSDiscoItems + "'/><feature var='" + inspect.NSPing + "'/></query>")
}
