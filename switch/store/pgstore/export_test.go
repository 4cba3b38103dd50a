package pgstore

// Waiting returns how many WaitOffline calls of s wait for a release of user's messages.
func Waiting(s *Store, user string) int { return s.rel.waiting(user) }
