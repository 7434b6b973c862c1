// Package reexec is the test scaffolding that lets a test suite run code in a
// child process: the test binary re-executes itself with an environment
// variable naming a helper, and TestMain runs that helper instead of the
// tests (the os/exec TestMain pattern). Suites whose code would change the
// whole test process (becoming a subreaper, calling wait4(-1), subscribing to
// signals) run that code in such a helper. It is imported by test files only.
//
// Use: one Suite per test package, named by its own environment variable;
// TestMain hands it the helper table, tests start helpers by name.
//
//	var helpers = reexec.New("NAUGHT_FOO_TEST_HELPER")
//
//	func TestMain(m *testing.M) {
//		helpers.Main(m, map[string]func(args ...string) error{"echo": helperEcho})
//	}
//
//	func TestEcho(t *testing.T) {
//		out := helpers.Run(t, time.Minute, "echo", "hi") // to completion, stdout
//		c := helpers.Start(t, "echo", "hi")              // long-running, line by line
//		_ = c.Line(t)
//	}
//
// Invariant: a helper process never runs the tests, and the test process
// never runs a helper.
//
// Invariant: when the whole suite ran and passed, every registered helper was
// started at least once (by Command, Run or Start, or declared with MarkUsed
// when only another helper starts it); otherwise the suite fails, so a helper
// nobody uses any more does not linger (os/exec does the same).
//
// Invariant: every child started by Run, RunCmd, Start or StartCmd leads its
// own process group, and that whole group is SIGKILLed at the test's cleanup,
// so nothing left in it outlives the test (a process that moves to a group of
// its own is the starting test's to clean up). Every wait for a child has a
// hang guard (a time limit that fails the test; not a timing assertion).
//
// Stat, Children and PollUntil are the /proc and polling helpers tests and
// helpers use to watch the processes they start.
package reexec
