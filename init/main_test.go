package pid1_test

import (
	"testing"

	"naught/init/reexec"
)

// Every test that becomes a subreaper or reaps does so in a helper (a
// re-executed test binary, see package reexec), never in the test process,
// whose own children (other tests' helpers) must stay waitable by os/exec.
var helpers = reexec.New("NAUGHT_PID1_TEST_HELPER")

func TestMain(m *testing.M) {
	helpers.Main(m, map[string]func(args ...string) error{
		"subreaper":       helperSubreaper,
		"pdeathsig":       helperPdeathsig,
		"pdeathsig-naive": helperPdeathsigNaive,
		"pid1":            helperPID1,
	})
}
