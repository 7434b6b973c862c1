// Package e2e drives the real, statically built naught binary as a user
// would: the CLI in both modes, real node workers, real sockets, real
// signals. TestMain builds the binary once (CGO_ENABLED=0).
//
// Invariant: no test leaks a process or a socket, even when it fails.
// Every process a test starts carries NAUGHT_E2E_MARK=<test-unique value>
// in its environment, and the test's cleanup kills whatever still carries
// it — daemon, workers and their children alike.
// The Docker tests (docker_test.go) likewise remove every container they
// start at their cleanup, and TestMain removes whatever carries the run's
// naught-e2e label (containers, volumes, the images it built).
package e2e
