//go:build race

package server

// raceEnabled: the race detector allocates on its own, so allocation guards do not run.
const raceEnabled = true
