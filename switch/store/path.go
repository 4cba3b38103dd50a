package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultPath returns where the switch keeps its database when no path is given:
// $XDG_DATA_HOME/stanzascope/switch.db, else ~/.local/share/stanzascope/switch.db (the XDG
// Base Directory default). It creates nothing.
func DefaultPath() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		// The spec says a relative XDG_DATA_HOME is invalid and must be ignored.
		return filepath.Join(d, "stanzascope", "switch.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store: default database path: %w", err)
	}
	if home == "" {
		return "", errors.New("store: default database path: no home directory")
	}
	return filepath.Join(home, ".local", "share", "stanzascope", "switch.db"), nil
}
