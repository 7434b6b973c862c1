package reaper_test

import (
	"testing"

	"naught/init/reexec"
)

// Every test that calls wait4(-1) or becomes a subreaper does so in a helper
// (a re-executed test binary, see package reexec), never in the test
// process, whose own children (other tests' helpers) must stay waitable by
// os/exec.
var helpers = reexec.New("NAUGHT_REAPER_TEST_HELPER")

func TestMain(m *testing.M) {
	helpers.Main(m, map[string]func(args ...string) error{
		"start-race":    helperStartRace,
		"orphans":       helperOrphans,
		"spawn-orphans": helperSpawnOrphans,
		"burst":         helperBurst,
	})
}
