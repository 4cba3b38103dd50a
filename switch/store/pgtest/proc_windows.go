package pgtest

import (
	"errors"
	"syscall"
)

// runAs is whom the cluster's processes run as: on Windows always as this process.
type runAs = *struct{}

// unprivileged is not needed on Windows, where there is no root (os.Geteuid is -1).
func unprivileged() (runAs, error) {
	return nil, errors.New("pgtest: running as another user is not supported on Windows")
}

// procAttr returns no attributes: the processes run as this one.
func procAttr(runAs) *syscall.SysProcAttr { return nil }

// giveTo is not needed on Windows (see unprivileged).
func giveTo(string, runAs) error {
	return errors.New("pgtest: changing owners is not supported on Windows")
}
