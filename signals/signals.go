package signals

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// Handler is what signals are turned into. Its methods are called from the
// Loop's single goroutine, one at a time, in the order signals are received.
// They must return promptly (post an event to the daemon's loop and return):
// while one runs, further signals wait in the Loop's buffer, and the Go
// runtime drops a signal when that buffer is full.
type Handler interface {
	Deploy()               // SIGHUP
	Stop()                 // SIGTERM, SIGINT: graceful stop
	ReopenLogs()           // SIGUSR1
	Forward(sig os.Signal) // every other catchable signal: to every worker's process group
}

// ErrInvalidGroup is returned by ForwardToGroups for an id kill(-pgid) would
// not read as one worker's group: 0 (kill(0) is our own group), 1 (kill(-1)
// is every process we may signal) and negative ids.
var ErrInvalidGroup = errors.New("invalid process group id")

// bufferSize is the capacity of the Loop's signal channel. Dispatching is
// fast (handlers only post events; reaping runs on its own goroutine), so
// this only has to absorb a burst of distinct signals.
const bufferSize = 128

// Loop owns the single buffered signal channel of a naught process.
type Loop struct {
	// Handler receives every subscribed signal except SIGCHLD and SIGPIPE.
	// Required.
	Handler Handler
	// Reap, if not nil, is called once when Run starts and then after every
	// SIGCHLD, on a goroutine of its own. Calls never overlap; SIGCHLDs that
	// arrive while Reap runs are coalesced into one more call.
	Reap func() int
	// Logf, if not nil, logs each signal Run dispatches (not SIGCHLD or
	// SIGPIPE).
	Logf func(format string, args ...any)
	// Ready, if not nil, is called once Run is subscribed and the initial
	// Reap is done, before any signal is dispatched. Until then a signal
	// has its default effect (SIGTERM kills), so the daemon starts workers
	// only after Ready.
	Ready func()
}

// Catchable returns the signals Run subscribes to, in number order: 1 to 64
// except SIGKILL and SIGSTOP (cannot be caught), SIGURG (the Go runtime's
// preemption signal), SIGPROF (the runtime's profiler; never delivered to a
// channel) and 32 to 34, which a Go program cannot catch (see the package
// documentation).
func Catchable() []os.Signal {
	var sigs []os.Signal
	for s := unix.Signal(1); s <= 64; s++ {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGURG, unix.SIGPROF, 32, 33, 34:
		default:
			sigs = append(sigs, s)
		}
	}
	return sigs
}

// Run subscribes to every signal Catchable returns and dispatches them until
// ctx is done: SIGHUP → Deploy, SIGTERM and SIGINT → Stop, SIGUSR1 →
// ReopenLogs, SIGCHLD → Reap, SIGPIPE → nothing, anything else → Forward.
// When ctx is done it unsubscribes (signal.Stop), so those signals have
// their default effect again, waits for a Reap in progress, and returns nil.
// It returns an error only when the Loop is misconfigured.
func (l *Loop) Run(ctx context.Context) error {
	if l.Handler == nil {
		return errors.New("signals: Loop.Handler is nil")
	}
	sigs := make(chan os.Signal, bufferSize)
	signal.Notify(sigs, Catchable()...)
	defer signal.Stop(sigs)

	reapReq := make(chan struct{}, 1) // coalesces SIGCHLDs
	if l.Reap != nil {
		// Zombies that were there before we subscribed get no SIGCHLD.
		l.Reap()
		stop := make(chan struct{})
		reaped := make(chan struct{})
		go func() {
			defer close(reaped)
			for {
				select {
				case <-stop:
					return
				case <-reapReq:
					l.Reap()
				}
			}
		}()
		defer func() {
			close(stop)
			<-reaped
		}()
	}
	if l.Ready != nil {
		l.Ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-sigs:
			l.dispatch(sig, reapReq)
		}
	}
}

func (l *Loop) dispatch(sig os.Signal, reapReq chan<- struct{}) {
	switch sig {
	case unix.SIGCHLD:
		select {
		case reapReq <- struct{}{}:
		default: // a reap is already due; it will see this child too
		}
	case unix.SIGPIPE:
		// Subscribed only so that a write to a closed stdout or stderr
		// returns EPIPE instead of killing naught (the Go runtime's default
		// for fds 1 and 2). Not signal.Ignore: an ignored signal stays
		// ignored across exec, and workers must get the default. Not logged:
		// the log itself may be the broken pipe.
	case unix.SIGHUP:
		l.logf("%s: deploy", sigName(sig))
		l.Handler.Deploy()
	case unix.SIGTERM, unix.SIGINT:
		l.logf("%s: stop", sigName(sig))
		l.Handler.Stop()
	case unix.SIGUSR1:
		l.logf("%s: reopen logs", sigName(sig))
		l.Handler.ReopenLogs()
	default:
		l.logf("%s: forward to workers", sigName(sig))
		l.Handler.Forward(sig)
	}
}

func (l *Loop) logf(format string, args ...any) {
	if l.Logf != nil {
		l.Logf(format, args...)
	}
}

// sigName names a signal: "SIGHUP", or "signal 37" for one without a name.
func sigName(sig os.Signal) string {
	s, ok := sig.(unix.Signal)
	if !ok {
		return sig.String()
	}
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d", int(s))
}

// ForwardToGroups sends sig to each process group in pgids (kill(-pgid)).
// A group that no longer exists (ESRCH) is already gone, not an error. It
// tries every group and returns the other failures joined.
func ForwardToGroups(sig unix.Signal, pgids []int) error {
	var errs []error
	for _, pgid := range pgids {
		if pgid <= 1 {
			errs = append(errs, fmt.Errorf("unable to send %s to process group %d: %w", sigName(sig), pgid, ErrInvalidGroup))
			continue
		}
		if err := unix.Kill(-pgid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("unable to send %s to process group %d: %w", sigName(sig), pgid, err))
		}
	}
	return errors.Join(errs...)
}

// ExitCode returns 128 plus the signal number: the exit code a shell (and
// docker) reports for a process killed by sig.
func ExitCode(sig unix.Signal) int {
	return 128 + int(sig)
}
