package proxy

import "syscall"

// errTooManyFiles is the accept error a process out of descriptors gets; it passes.
var errTooManyFiles error = syscall.EMFILE
