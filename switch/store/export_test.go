package store

// Waiting returns how many WaitOffline calls of s (a Memory or a Bolt) wait for a release
// of user's claims.
func Waiting(s Store, user string) int {
	switch s := s.(type) {
	case *Memory:
		return s.claims.waiting(user)
	case *Bolt:
		return s.claims.waiting(user)
	}
	return 0
}
