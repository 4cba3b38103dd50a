//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "os"

// ttyColumns returns 0: the width of a terminal is not known here ($COLUMNS still is).
func ttyColumns(*os.File) int { return 0 }
