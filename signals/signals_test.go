package signals_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"naught/init/reexec"
	"naught/signals"
)

// sigRTMIN is SIGRTMIN as glibc and kill(1) number it (the kernel's 32 and
// 33 are taken by the C library).
const sigRTMIN = unix.Signal(34)

func TestCatchable(t *testing.T) {
	t.Parallel()
	got := signals.Catchable()
	require.Len(t, got, 64-7)
	for _, s := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP, unix.SIGURG, unix.SIGPROF, 32, 33, 34} {
		assert.NotContains(t, got, os.Signal(s))
	}
	for _, s := range []unix.Signal{unix.SIGHUP, unix.SIGCHLD, unix.SIGPIPE, unix.SIGSEGV, unix.SIGTSTP,
		unix.SIGTTIN, unix.SIGTTOU, unix.SIGWINCH, sigRTMIN + 1, sigRTMIN + 3, 64} {
		assert.Contains(t, got, os.Signal(s))
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 137, signals.ExitCode(unix.SIGKILL))
	assert.Equal(t, 143, signals.ExitCode(unix.SIGTERM))
	assert.Equal(t, 129, signals.ExitCode(unix.SIGHUP))
}

func TestRunWithoutHandler(t *testing.T) {
	t.Parallel()
	// Returns before subscribing: safe in the test process.
	require.Error(t, (&signals.Loop{}).Run(context.Background()))
}

// printHandler is the helpers' recording Handler: one stdout line per call.
type printHandler struct{}

func (printHandler) Deploy()     { fmt.Println("deploy") }
func (printHandler) Stop()       { fmt.Println("stop") }
func (printHandler) ReopenLogs() { fmt.Println("reopen") }
func (printHandler) Forward(sig os.Signal) {
	fmt.Println("forward", int(sig.(syscall.Signal)))
}

// helperLoop runs a Loop with printHandler. It prints "reap" for each Reap
// call and "ready" from Ready. A "stop" line on stdin cancels Run; it then
// prints "stopped" and lives on until stdin closes.
func helperLoop(...string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &signals.Loop{
		Handler: printHandler{},
		Reap:    func() int { fmt.Println("reap"); return 0 },
		Ready:   func() { fmt.Println("ready") },
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stop" {
			cancel()
			if err := <-errc; err != nil {
				return err
			}
			fmt.Println("stopped")
		}
	}
	return sc.Err()
}

// startLoop starts the "loop" helper and waits for its initial reap and
// readiness.
func startLoop(t *testing.T) *reexec.Child {
	t.Helper()
	h := helpers.Start(t, "loop")
	require.Equal(t, "reap", h.Line(t), "the initial Reap comes before Ready")
	require.Equal(t, "ready", h.Line(t))
	return h
}

// TestLoopDispatch sends signals one after another, each once the previous
// one was handled, and checks what each became and that nothing else
// happened in between: a signal that must do nothing is followed by a
// SIGUSR1, whose "reopen" must be the next line.
func TestLoopDispatch(t *testing.T) {
	t.Parallel()
	h := startLoop(t)
	cases := []struct {
		sig  unix.Signal
		want string // "" = nothing
	}{
		{unix.SIGHUP, "deploy"},
		{unix.SIGTERM, "stop"},
		{unix.SIGINT, "stop"},
		{unix.SIGUSR1, "reopen"},
		{unix.SIGUSR2, "forward 12"},
		{unix.SIGWINCH, "forward 28"},
		{sigRTMIN + 3, "forward 37"},
		{sigRTMIN + 1, "forward 35"},
		{64, "forward 64"},
		{unix.SIGCHLD, "reap"},
		{unix.SIGURG, ""},
		{unix.SIGPIPE, ""},
		{unix.SIGTSTP, "forward 20"}, // and the helper is not stopped: the next line comes
		{unix.SIGTTIN, "forward 21"},
		{unix.SIGTTOU, "forward 22"},
		{unix.SIGCONT, "forward 18"},
		{unix.SIGQUIT, "forward 3"},
		{unix.SIGABRT, "forward 6"},
		{unix.SIGALRM, "forward 14"},
		// Sent with kill, the synchronous signals are forwarded too; the
		// runtime still crashes on a real fault.
		{unix.SIGSEGV, "forward 11"},
		{unix.SIGBUS, "forward 7"},
		{unix.SIGFPE, "forward 8"},
		{unix.SIGILL, "forward 4"},
		{unix.SIGTRAP, "forward 5"},
		{unix.SIGSYS, "forward 31"},
		{unix.SIGHUP, "deploy"},
	}
	for _, c := range cases {
		require.NoError(t, unix.Kill(h.Pid, c.sig))
		want := c.want
		if want == "" {
			require.NoError(t, unix.Kill(h.Pid, unix.SIGUSR1))
			want = "reopen"
		}
		require.Equal(t, want, h.Line(t), "after %v", c.sig)
	}
}

// TestLoopBurst sends distinct signals back to back without waiting: each
// is handled exactly once. The order may differ from the sending order (the
// Go runtime hands over signals pending together in number order), so it is
// only logged.
func TestLoopBurst(t *testing.T) {
	t.Parallel()
	h := startLoop(t)
	burst := []unix.Signal{sigRTMIN + 3, unix.SIGWINCH, unix.SIGUSR2, unix.SIGUSR1, unix.SIGHUP, unix.SIGTERM}
	want := []string{"forward 37", "forward 28", "forward 12", "reopen", "deploy", "stop"}
	for _, s := range burst {
		require.NoError(t, unix.Kill(h.Pid, s))
	}
	var got []string
	for range burst {
		got = append(got, h.Line(t))
	}
	require.ElementsMatch(t, want, got)
	t.Logf("sent %v, handled %v", want, got)
	// Nothing more: the next line belongs to this signal.
	require.NoError(t, unix.Kill(h.Pid, unix.SIGUSR1))
	require.Equal(t, "reopen", h.Line(t))
}

// TestLoopStopUnsubscribes: after Run returns, SIGTERM has its default
// effect again.
func TestLoopStopUnsubscribes(t *testing.T) {
	t.Parallel()
	h := startLoop(t)
	require.NoError(t, unix.Kill(h.Pid, unix.SIGTERM))
	require.Equal(t, "stop", h.Line(t))
	_, err := fmt.Fprintln(h.Stdin, "stop")
	require.NoError(t, err)
	require.Equal(t, "stopped", h.Line(t))
	require.NoError(t, unix.Kill(h.Pid, unix.SIGTERM))
	var exitErr *exec.ExitError
	require.ErrorAs(t, h.Wait(t), &exitErr)
	ws := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled(), "helper ended with %v", exitErr)
	require.Equal(t, syscall.SIGTERM, ws.Signal())
}

// TestForwardToGroupsReachesWholeGroup: two shells in one process group,
// each trapping SIGUSR2, both get it, and a group that is gone is no error.
func TestForwardToGroupsReachesWholeGroup(t *testing.T) {
	t.Parallel()
	const script = `
trap 'echo got-leader; exit 0' USR2
sh -c 'trap "echo got-member; exit 0" USR2; echo ready-member; sleep 1000 & wait' &
echo ready-leader
sleep 1000 & wait`
	sh := reexec.StartCmd(t, exec.Command("sh", "-c", script))
	ready := []string{sh.Line(t), sh.Line(t)}
	require.ElementsMatch(t, []string{"ready-leader", "ready-member"}, ready)

	gone := exec.Command("true")
	gone.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, gone.Run())

	require.NoError(t, signals.ForwardToGroups(unix.SIGUSR2, []int{gone.Process.Pid, sh.Pid}))
	got := []string{sh.Line(t), sh.Line(t)}
	require.ElementsMatch(t, []string{"got-leader", "got-member"}, got)
	require.NoError(t, sh.Wait(t))
}

func TestForwardToGroupsErrors(t *testing.T) {
	t.Parallel()
	for _, pgid := range []int{0, 1, -1, -5} {
		err := signals.ForwardToGroups(unix.SIGUSR2, []int{pgid})
		require.ErrorIs(t, err, signals.ErrInvalidGroup, "pgid %d", pgid)
	}
	// Every group is tried; a gone one (ESRCH) is no error, invalid ids are.
	gone := exec.Command("true")
	gone.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, gone.Run())
	err := signals.ForwardToGroups(0, []int{0, gone.Process.Pid, 1})
	require.ErrorIs(t, err, signals.ErrInvalidGroup)
	assert.Contains(t, err.Error(), "process group 0:")
	assert.Contains(t, err.Error(), "process group 1:")
	assert.NotContains(t, err.Error(), strconv.Itoa(gone.Process.Pid))
}

// helperForwarder runs a Loop whose Forward sends every forwarded signal to
// the process group given as argument.
func helperForwarder(args ...string) error {
	pgid, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	l := &signals.Loop{
		Handler: forwardHandler{pgid: pgid},
		Logf:    func(format string, args ...any) {}, // exercised, not printed
		Ready:   func() { fmt.Println("ready") },
	}
	return l.Run(context.Background())
}

type forwardHandler struct{ pgid int }

func (forwardHandler) Deploy()     {}
func (forwardHandler) Stop()       {}
func (forwardHandler) ReopenLogs() {}
func (h forwardHandler) Forward(sig os.Signal) {
	if err := signals.ForwardToGroups(sig.(unix.Signal), []int{h.pgid}); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// helperSigecho is a worker: one "usr2" line per SIGUSR2 received.
func helperSigecho(...string) error {
	c := make(chan os.Signal, 1)
	signal.Notify(c, unix.SIGUSR2)
	fmt.Println("ready")
	for range c {
		fmt.Println("usr2")
	}
	return nil
}

// TestForwardEndToEnd: a signal sent to a process running Loop reaches a
// worker's process group.
func TestForwardEndToEnd(t *testing.T) {
	t.Parallel()
	worker := helpers.Start(t, "sigecho")
	require.Equal(t, "ready", worker.Line(t))
	fwd := helpers.Start(t, "forwarder", strconv.Itoa(worker.Pid))
	require.Equal(t, "ready", fwd.Line(t))
	for range 3 {
		require.NoError(t, unix.Kill(fwd.Pid, unix.SIGUSR2))
		require.Equal(t, "usr2", worker.Line(t))
	}
}

// BenchmarkForwardLatency measures the time from kill(naught, SIGUSR2) to
// the worker having received it (its line read by the benchmark), and
// reports the median.
func BenchmarkForwardLatency(b *testing.B) {
	worker := helpers.Start(b, "sigecho")
	require.Equal(b, "ready", worker.Line(b))
	fwd := helpers.Start(b, "forwarder", strconv.Itoa(worker.Pid))
	require.Equal(b, "ready", fwd.Line(b))
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		if err := unix.Kill(fwd.Pid, unix.SIGUSR2); err != nil {
			b.Fatal(err)
		}
		if l := worker.Line(b); l != "usr2" {
			b.Fatalf("worker said %q", l)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "µs-median")
}

// BenchmarkForwardHop measures what the target is about: the time
// from kill(naught, SIGUSR2) to the kernel handing the forwarded signal to
// the worker, and nothing else. The worker (testdata/sigwait.c, built with
// gcc) takes SIGUSR2 with sigwait and stamps it with CLOCK_MONOTONIC, which
// is one clock for every process; the stamp travels back over a pipe after
// the fact, so neither the pipe nor a Go runtime in the worker is timed.
// Reports the median and the 90th percentile.
func BenchmarkForwardHop(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "sigwait")
	if out, err := exec.Command("gcc", "-O2", "-o", bin, filepath.Join("testdata", "sigwait.c")).CombinedOutput(); err != nil {
		b.Skipf("gcc cannot build the sigwait worker: %v\n%s", err, out)
	}
	worker := reexec.StartCmd(b, exec.Command(bin))
	require.Equal(b, "ready", worker.Line(b))
	fwd := helpers.Start(b, "forwarder", strconv.Itoa(worker.Pid))
	require.Equal(b, "ready", fwd.Line(b))
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		var t0 unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &t0); err != nil {
			b.Fatal(err)
		}
		if err := unix.Kill(fwd.Pid, unix.SIGUSR2); err != nil {
			b.Fatal(err)
		}
		t1, err := strconv.ParseInt(worker.Line(b), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Duration(t1-t0.Nano()))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "µs-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds())/1e3, "µs-p90")
}

// TestSignal34KillsGoProgram pins the known limit documented in the package:
// a Go program cannot catch signal 34 (glibc's SIGRTMIN), so it keeps its
// default action even while Run is subscribed to everything it can. If a Go
// release changes that, this test says Catchable can include it.
func TestSignal34KillsGoProgram(t *testing.T) {
	t.Parallel()
	h := startLoop(t)
	require.NoError(t, unix.Kill(h.Pid, sigRTMIN))
	var exitErr *exec.ExitError
	require.ErrorAs(t, h.Wait(t), &exitErr)
	ws := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled(), "helper ended with %v", exitErr)
	require.Equal(t, syscall.Signal(34), ws.Signal())
}
