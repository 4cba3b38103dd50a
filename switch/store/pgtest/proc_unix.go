//go:build unix

package pgtest

import (
	"errors"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// runAs is whom the cluster's processes run as; nil: as this process.
type runAs = *syscall.Credential

// unprivileged returns the credentials of the postgres user, else of nobody.
func unprivileged() (runAs, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		// An empty Groups drops root's supplementary groups.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("pgtest: running as root and there is neither a postgres nor a nobody user to run PostgreSQL as")
}

// procAttr returns the attributes of a cluster's process run as u.
func procAttr(u runAs) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{
		Credential: u,
		Setpgid:    true, // a Ctrl-C in the terminal goes to the test, which stops postgres itself
	}
	dieWithParent(a)
	return a
}

// giveTo makes dir u's.
func giveTo(dir string, u runAs) error { return os.Chown(dir, int(u.Uid), int(u.Gid)) }
