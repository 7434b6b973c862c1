package reaper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Exit is the end of one child process, as wait4 reported it.
type Exit struct {
	Pid    int
	Status unix.WaitStatus
}

// String describes the status the way os.ProcessState does:
// "exit status 3", "signal: killed", "signal: segmentation fault (core dumped)".
func (e Exit) String() string {
	s := e.Status
	var res string
	switch {
	case s.Exited():
		res = "exit status " + strconv.Itoa(s.ExitStatus())
	case s.Signaled():
		res = "signal: " + s.Signal().String()
	case s.Stopped():
		res = "stop signal: " + s.StopSignal().String()
	case s.Continued():
		res = "continued"
	default:
		res = fmt.Sprintf("unknown wait status %#x", uint32(s))
	}
	if s.CoreDump() {
		res += " (core dumped)"
	}
	return res
}

// Code is the exit code a shell would report: the exit status, or 128 plus
// the signal number when the process was killed by a signal. It is -1 for a
// status that is not an end (stopped, continued), which Reap never reports.
func (e Exit) Code() int {
	switch {
	case e.Status.Exited():
		return e.Status.ExitStatus()
	case e.Status.Signaled():
		return 128 + int(e.Status.Signal())
	default:
		return -1
	}
}

// ErrDuplicatePid is returned by Start when the start function reports a pid
// that is already registered and not yet reaped: the start function did not
// start a new child.
var ErrDuplicatePid = errors.New("pid already registered")

// Reaper is the single owner of wait4(-1) in a process. The zero value is not
// usable; call New.
type Reaper struct {
	// mu is held by Start across the start function and the registration,
	// and by Reap across each wait4 and the lookup of the pid it returns. So
	// a pid returned by wait4 is either already registered or was never
	// started through Start, and a registered pid cannot be reused before
	// its exit is delivered.
	mu      sync.Mutex
	waiters map[int]chan Exit

	orphans atomic.Uint64
}

// New returns a Reaper with no registered children.
func New() *Reaper {
	return &Reaper{waiters: make(map[int]chan Exit)}
}

// Start calls start, which must start exactly one child process and return
// its pid, while holding the lock Reap takes, registers the pid, and returns a
// channel (buffered 1) that receives that child's Exit exactly once. So a
// child that exits immediately can never be reaped before its exit has a
// receiver. If start fails, its error is returned (wrapped) and nothing is
// registered.
//
// start runs with the lock held: it must not call Reap or Start.
func (r *Reaper) Start(start func() (pid int, err error)) (int, <-chan Exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, fmt.Errorf("unable to start child: %w", err)
	}
	if pid <= 0 {
		return 0, nil, fmt.Errorf("unable to start child: start returned pid %d", pid)
	}
	if _, ok := r.waiters[pid]; ok {
		return 0, nil, fmt.Errorf("unable to register child %d: %w", pid, ErrDuplicatePid)
	}
	ch := make(chan Exit, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

// Reap reaps every zombie child available now, without blocking: it loops
// wait4(-1, WNOHANG) until no child has exited (pid 0) or there are no
// children (ECHILD), retrying on EINTR. The exit of a child registered by
// Start goes to its channel; every other child is an orphan and is counted.
// It returns how many children it reaped. Safe for concurrent use.
func (r *Reaper) Reap() int {
	n := 0
	for r.reapOne() {
		n++
	}
	return n
}

// reapOne reaps one zombie, if there is one, and reports whether it did.
// wait4 and the lookup happen under mu, so a pid cannot be reaped, freed and
// reused by a concurrent Start between the two.
func (r *Reaper) reapOne() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no children at all. Other errors (EINVAL, EFAULT)
			// cannot happen with these arguments; there is nothing to retry.
			return false
		}
		e := Exit{Pid: pid, Status: ws}
		ch, ok := r.waiters[pid]
		if !ok {
			r.orphans.Add(1)
			return true
		}
		delete(r.waiters, pid)
		ch <- e // never blocks: buffered 1, sent once
		return true
	}
}

// Orphans returns how many unregistered children Reap has reaped so far.
func (r *Reaper) Orphans() uint64 {
	return r.orphans.Load()
}

// Run reaps once, then on every SIGCHLD, until ctx is done. It is for
// programs that do not run naught's signals package (tests, small tools);
// the daemon drives Reap from signals.Loop instead. Run uses a private
// signal.Notify channel and stops it before returning.
func (r *Reaper) Run(ctx context.Context) {
	// One slot is enough: a SIGCHLD that arrives while Reap runs leaves a
	// value in the buffer, so the reap after it is never missed.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	for {
		r.Reap()
		select {
		case <-ctx.Done():
			return
		case <-sigs:
		}
	}
}
