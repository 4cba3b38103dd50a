package pgtest

import "syscall"

// dieWithParent makes the process get SIGQUIT when the test process dies, so that the
// server does not outlive it.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
