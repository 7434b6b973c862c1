// Package reaper owns wait4.
//
// Invariant: in a naught process, only this package calls wait4/waitid. A
// caller that starts a child does so through Reaper.Start, which registers
// interest in the pid while holding the lock the reap loop takes, so even a
// child that exits at once cannot be reaped before its exit has a receiver.
// Every other zombie (an orphan reparented to us) is reaped and counted.
//
// Reap loops wait4(-1, WNOHANG) until no zombie is left, so one call after
// any number of coalesced SIGCHLDs empties the zombie table. It is driven
// either by signals.Loop (the daemon: SIGCHLD → Reap) or by Reaper.Run (a
// private SIGCHLD subscription, for tests and small tools) — never both in
// one process.
//
// # Starting children with os/exec
//
// A start function may use exec.Cmd.Start, with these rules, because Go's
// os/exec assumes it is the one waiting for its child:
//
//   - Never call cmd.Wait or cmd.Process.Wait: the reaper has taken (or will
//     take) the exit status, and they fail with "waitid: no child processes"
//     (the bug class of go-reap, ramr/go-reaper #2/#11). Use the channel
//     Start returns.
//   - Call cmd.Process.Release() once the pid is read (it sets Pid to -1) to
//     free the pidfd os.StartProcess holds on Linux.
//   - Give Stdin/Stdout/Stderr as *os.File (or nil); do not use StdoutPipe,
//     StderrPipe or a non-*os.File io.Writer: os/exec closes those pipes and
//     stops their copying goroutines only in Wait. Do not use
//     exec.CommandContext, whose watcher goroutine also ends only in Wait.
//
// Signals to a child must be sent before its Exit is received (after that
// its pid may be reused); naught signals workers through their process
// group, which the kernel does not recycle while any member lives.
package reaper
