package server

import (
	"testing"

	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

// TestMain removes the PostgreSQL cluster that the tests on pgstore start (only when one
// of them runs).
func TestMain(m *testing.M) { pgtest.Main(m) }
