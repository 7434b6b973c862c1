package signals_test

import (
	"testing"

	"naught/init/reexec"
)

// Every Loop runs in a helper (a re-executed test binary, see package
// reexec), so the test process never subscribes to signals and every signal
// a test sends has one clear target.
var helpers = reexec.New("NAUGHT_SIGNALS_TEST_HELPER")

func TestMain(m *testing.M) {
	helpers.Main(m, map[string]func(args ...string) error{
		"loop":      helperLoop,
		"forwarder": helperForwarder,
		"sigecho":   helperSigecho,
	})
}
