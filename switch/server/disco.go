package server

import "github.com/stanzascope/stanzascope/inspect"

// serverInfo is the disco#info of the server (XEP-0030).
func (s *Server) serverInfo() []byte {
	b := []byte("<query xmlns='" + nsDiscoInfo + "'><identity category='server' type='im' name='stanzascope'/>")
	features := []string{nsDiscoInfo, nsDiscoItems, nsPing, nsVersion, nsRoster, "msgoffline", nsDelay, nsAuth}
	if !s.cfg.NoRegister {
		features = append(features, nsRegister)
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
	return []byte("<query xmlns='" + nsDiscoInfo + "'><identity category='account' type='registered'/><feature var='" + nsDiscoInfo + "'/><feature var='" + nsDiscoItems + "'/><feature var='" + nsPing + "'/></query>")
}
