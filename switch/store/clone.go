package store

// Deep copies, so that a caller can neither change stored data through a slice it passed
// in nor through one it got back.

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func cloneCredentials(c Credentials) Credentials {
	c.Salt = cloneBytes(c.Salt)
	c.SHA1 = Keys{StoredKey: cloneBytes(c.SHA1.StoredKey), ServerKey: cloneBytes(c.SHA1.ServerKey)}
	c.SHA256 = Keys{StoredKey: cloneBytes(c.SHA256.StoredKey), ServerKey: cloneBytes(c.SHA256.ServerKey)}
	return c
}

func cloneAccount(a Account) Account {
	a.Creds = cloneCredentials(a.Creds)
	return a
}

func cloneItem(it RosterItem) RosterItem {
	if it.Groups != nil {
		it.Groups = append([]string{}, it.Groups...)
	}
	it.PendingStanza = cloneBytes(it.PendingStanza)
	return it
}

func cloneMessage(m OfflineMessage) OfflineMessage {
	m.Stanza = cloneBytes(m.Stanza)
	return m
}
