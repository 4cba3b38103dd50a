//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyCounts relays SIGUSR1, the signal that asks for the rules' match counts, to c.
func notifyCounts(c chan<- os.Signal) { signal.Notify(c, syscall.SIGUSR1) }
