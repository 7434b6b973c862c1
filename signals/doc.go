// Package signals turns process signals into calls on the daemon.
//
// Invariant: exactly one buffered channel receives every signal naught
// handles, and one goroutine (Loop.Run's) dispatches them in the order it
// receives them; nothing else in the naught daemon calls signal.Notify.
// (reaper.Reaper.Run has a private SIGCHLD subscription for programs that do
// not use this package, such as tests; the daemon never calls it.)
//
// # What is subscribed, and why it is safe
//
// Run subscribes to every signal from 1 to 64 except:
//
//   - SIGKILL and SIGSTOP, which cannot be caught;
//   - SIGURG, which the Go runtime sends itself to preempt goroutines (the
//     runtime passes it on to subscribers, so subscribing would forward a
//     stream of spurious signals to workers; runc skips it too);
//   - SIGPROF, which the runtime keeps for its CPU profiler and never
//     delivers to a channel;
//   - 32, 33 and 34, which the C libraries reserve for their threads (glibc
//     32 and 33, musl also 34) and which os/signal cannot deliver: the Go
//     runtime keeps 33 for its own per-thread system calls and installs no
//     handler for 32 and 34, so Notify is a no-op for them.
//
// A known limit follows: 32 and 34 keep their default action, terminate.
// `kill -s RTMIN` (34 in glibc's numbering, which kill(1) uses) therefore
// kills naught — and with it its workers, through Pdeathsig — instead of
// being forwarded. Only a raw sigaction could change that, and SIG_IGN would
// be inherited by every worker across exec. RTMIN+1 (35) to RTMAX (64) are
// forwarded.
//
// The synchronous signals SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and SIGSYS
// are subscribed, which is safe in Go: the runtime's handler checks si_code,
// and a fault raised by the kernel (a real bad access, illegal instruction,
// seccomp trap) still becomes a panic or a crash as before. Only a copy sent
// with kill(2) reaches the channel, and it is forwarded like any other
// signal, instead of crashing naught (the runtime's default for a kill -SEGV
// to a Go program). Likewise SIGQUIT and SIGABRT are forwarded, so `kill
// -QUIT` no longer dumps naught's goroutines: for an init, dying on a stray
// signal is worse than losing that debugging aid.
//
// # Dispatch
//
//   - SIGHUP → Handler.Deploy. In foreground mode on a terminal, closing the
//     terminal also sends SIGHUP: run on a terminal under nohup, or in daemon
//     mode, which has no controlling terminal.
//   - SIGTERM, SIGINT → Handler.Stop.
//   - SIGUSR1 → Handler.ReopenLogs.
//   - SIGCHLD → Reap, on a separate goroutine fed by a one-slot channel, so
//     a burst of thousands of exits coalesces into a few calls and never
//     delays (or, by filling the channel, drops) another signal.
//   - SIGPIPE → nothing: subscribed so a write to a closed stdout/stderr
//     returns EPIPE instead of killing naught; not signal.Ignore, because
//     SIG_IGN survives exec and workers must start with the default.
//   - everything else → Handler.Forward, which sends it to every worker's
//     process group (ForwardToGroups): SIGUSR2, SIGWINCH, SIGQUIT, SIGCONT,
//     the real-time signals, and the job-control stops SIGTSTP, SIGTTIN and
//     SIGTTOU. Being subscribed to the stops means naught itself never
//     stops: a stopped init would neither reap nor answer its control
//     socket. Forwarding them lets Ctrl+Z (SIGTSTP, sent to naught's group
//     only, since every worker has its own) stop the workers, and the
//     SIGCONT of `fg` continue them. naught does not read its terminal, so
//     the kernel has no reason to send it SIGTTIN itself.
//
// # Order and coalescing
//
// Signals are dispatched in the order the channel yields them, which is the
// order the Go runtime hands them over. Two caveats come from the kernel and
// the runtime, not from this package: a signal sent while the same signal
// is still pending is merged with it (standard signals are not queued, and
// the runtime keeps pending signals in a bit set, real-time ones included),
// and signals pending at the same moment are handed over in signal-number
// order. Signals sent one after another, each after the previous one was
// handled, are dispatched in the order sent.
package signals
