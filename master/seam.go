package master

import (
	"syscall"
	"time"
)

// WorkerSpec is what the master asks a Spawner to start.
type WorkerSpec struct {
	// ID is unique for the daemon's life and increases with every spawn
	// (Node's cluster worker id, NODE_UNIQUE_ID).
	ID int
	// Number is the worker's slot, 0..count-1 (NAUGHT_WORKER); a
	// replacement and a deploy's new worker keep the number they replace.
	Number int
	// Env is the worker's whole environment, NAUGHT_WORKER included.
	Env []string
	// Dir is the worker's working directory.
	Dir string
}

// WorkerMessage is what a running worker tells the master.
type WorkerMessage int

// The messages of the naught channel (SPEC §7).
const (
	MessageOnline  WorkerMessage = iota // ready to accept connections
	MessageOffline                      // wants to be replaced
)

// Reporter is how a spawned worker reports to the master. A Spawner calls
// it from any goroutine; every Message of a worker comes before its Exited,
// and Exited is called exactly once.
type Reporter interface {
	Message(WorkerMessage)
	Exited(description string)
}

// Process is a started worker as the master drives it. Every method is
// called from the master's loop only, and never after Exited was reported.
type Process interface {
	Pid() int
	// Shutdown asks the worker to finish its work and exit (the "shutdown"
	// message, plus the cluster disconnect act for a Node.js worker).
	Shutdown() error
	// StopAccepting makes a worker that went offline stop taking new
	// connections, without asking it to exit.
	StopAccepting() error
	// Kill kills the worker's process group.
	Kill() error
	// Signal sends sig to the worker's process group.
	Signal(sig syscall.Signal) error
}

// Spawner starts workers: the master's seam to the OS.
type Spawner interface {
	Spawn(spec WorkerSpec, report Reporter) (Process, error)
}

// Clock is the master's seam to time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the real Clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}
