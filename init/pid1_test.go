package pid1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	pid1 "naught/init"
	"naught/init/reexec"
	"naught/reaper"
)

func TestIsPID1FalseInTests(t *testing.T) {
	t.Parallel()
	require.NotEqual(t, 1, os.Getpid(), "the test binary runs as PID 1; this test assumes it does not")
	require.False(t, pid1.IsPID1())
}

// getSubreaper is prctl(PR_GET_CHILD_SUBREAPER).
func getSubreaper() (int32, error) {
	var v int32
	_, _, errno := unix.Syscall(unix.SYS_PRCTL, unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("prctl(PR_GET_CHILD_SUBREAPER): %w", errno)
	}
	return v, nil
}

// TestSetupBecomesSubreaper runs Setup in a child, because being a subreaper
// would change the whole test process.
func TestSetupBecomesSubreaper(t *testing.T) {
	t.Parallel()
	out := helpers.Run(t, time.Minute, "subreaper")
	require.Equal(t, "subreaper before=0 after=1\n", out)
}

func helperSubreaper(...string) error {
	before, err := getSubreaper()
	if err != nil {
		return err
	}
	isPID1, err := pid1.Setup()
	if err != nil {
		return err
	}
	if isPID1 {
		return errors.New("Setup reports PID 1")
	}
	if err := pid1.BecomeSubreaper(); err != nil { // idempotent
		return err
	}
	after, err := getSubreaper()
	if err != nil {
		return err
	}
	fmt.Printf("subreaper before=%d after=%d\n", before, after)
	return nil
}

func TestThreadSpawnerRunsOnOneThread(t *testing.T) {
	t.Parallel()
	s := pid1.NewThreadSpawner()
	t.Cleanup(s.Close)

	var mu sync.Mutex
	tids := map[int]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				s.Do(func() {
					tid := unix.Gettid()
					runtime.Gosched() // give the scheduler a chance to move us; it must not
					mu.Lock()
					tids[tid]++
					if tid != unix.Gettid() {
						tids[-1]++
					}
					mu.Unlock()
				})
			}
		})
	}
	wg.Wait()
	require.Len(t, tids, 1, "Do ran on threads %v", tids)
	for tid, n := range tids {
		assert.Positive(t, tid)
		assert.Equal(t, 200, n)
	}
}

func TestThreadSpawnerPanicsAndClose(t *testing.T) {
	t.Parallel()
	s := pid1.NewThreadSpawner()
	var tid1, tid2 int
	s.Do(func() { tid1 = unix.Gettid() })
	require.PanicsWithValue(t, "boom", func() {
		s.Do(func() { panic("boom") })
	})
	s.Do(func() { tid2 = unix.Gettid() })
	require.Equal(t, tid1, tid2, "a panicking f must not cost the spawner its thread")

	s.Close()
	s.Close() // idempotent
	require.Panics(t, func() { s.Do(func() {}) })
}

// childPid reads "child <pid>" from helper h and registers a cleanup that
// kills that child if it is still around.
func childPid(t *testing.T, h *reexec.Child) int {
	t.Helper()
	l := h.Line(t)
	pid, err := strconv.Atoi(strings.TrimPrefix(l, "child "))
	require.NoError(t, err, "line %q", l)
	t.Cleanup(func() {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(comm)) == "sleep" {
			_ = unix.Kill(pid, unix.SIGKILL) // best effort: it may exit meanwhile
		}
	})
	return pid
}

// dead reports whether pid is gone or a zombie.
func dead(pid int) (bool, error) {
	st, err := reexec.Stat(pid)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return st.State == 'Z' || st.State == 'X', nil
}

// TestPdeathsigWithThreadSpawner: a child started on the spawner's thread
// with Pdeathsig survives other threads of its parent ending and the
// spawner being closed, and is killed when its parent is SIGKILLed.
func TestPdeathsigWithThreadSpawner(t *testing.T) {
	t.Parallel()
	h := helpers.Start(t, "pdeathsig")
	child := childPid(t, h)
	require.Equal(t, "churned", h.Line(t))

	st, err := reexec.Stat(child)
	require.NoError(t, err)
	require.Equal(t, h.Pid, st.PPid)
	require.NotEqual(t, byte('Z'), st.State, "child died while its parent lives")

	require.NoError(t, unix.Kill(h.Pid, unix.SIGKILL))
	select {
	case <-h.Done():
	case <-time.After(time.Minute):
		t.Fatal("helper not dead within a minute of SIGKILL")
	}
	require.NoError(t, reexec.PollUntil(time.Minute, func() (bool, error) { return dead(child) }),
		"child %d outlived its SIGKILLed parent", child)
}

func helperPdeathsig(...string) error {
	s := pid1.NewThreadSpawner()
	var cmd *exec.Cmd
	var err error
	s.Do(func() {
		cmd = exec.Command("sleep", "1000")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		err = cmd.Start()
	})
	if err != nil {
		return err
	}
	fmt.Printf("child %d\n", cmd.Process.Pid)
	s.Close()
	// Goroutines that lock a thread and return end that thread. None of
	// them may be the thread the child was forked from.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { runtime.LockOSThread() })
	}
	wg.Wait()
	fmt.Println("churned")
	_, err = io.Copy(io.Discard, os.Stdin) // until the test kills us
	return err
}

// TestPdeathsigNaive is the control for the test above: a child started
// with Pdeathsig from a goroutine whose locked thread then ends is killed
// although its parent process lives on (golang/go#27505). This is what
// ThreadSpawner prevents.
func TestPdeathsigNaive(t *testing.T) {
	t.Parallel()
	h := helpers.Start(t, "pdeathsig-naive")
	child := childPid(t, h)
	require.NoError(t, reexec.PollUntil(time.Minute, func() (bool, error) { return dead(child) }),
		"child %d did not receive its Pdeathsig when the forking thread ended", child)
	parentDead, err := dead(h.Pid)
	require.NoError(t, err)
	require.False(t, parentDead, "the parent process itself died")
}

func helperPdeathsigNaive(...string) error {
	type result struct {
		pid int
		err error
	}
	for {
		res := make(chan result)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
			if unix.Gettid() == unix.Getpid() {
				// The runtime never ends the main thread; it parks it
				// for good when this goroutine returns, so the next
				// try runs elsewhere.
				res <- result{}
				return
			}
			cmd := exec.Command("sleep", "1000")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
			if err := cmd.Start(); err != nil {
				res <- result{err: err}
				return
			}
			res <- result{pid: cmd.Process.Pid}
		}()
		r := <-res
		if r.err != nil {
			return r.err
		}
		if r.pid != 0 {
			fmt.Printf("child %d\n", r.pid)
			break
		}
	}
	_, err := io.Copy(io.Discard, os.Stdin) // until the test kills us
	return err
}

// TestPID1InPidNamespace runs the helper as PID 1 of a new pid namespace
// (unshare, no Docker): IsPID1 is true there, Setup reports it, and a
// Reaper driven by Run reaps the orphans the kernel reparents to it.
func TestPID1InPidNamespace(t *testing.T) {
	t.Parallel()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare(1) not installed")
	}
	ns := []string{"--pid", "--fork", "--kill-child", "--mount-proc"}
	if out, err := exec.Command(unshare, append(ns, "true")...).CombinedOutput(); err != nil {
		t.Skipf("unshare %s not permitted here (needs root or user namespaces): %v: %s",
			strings.Join(ns, " "), err, out)
	}
	cmd, err := helpers.Command("pid1")
	require.NoError(t, err)
	cmd.Args = append(append([]string{unshare}, ns...), cmd.Args...)
	cmd.Path = unshare
	out := reexec.RunCmd(t, time.Minute, cmd)
	require.Contains(t, out, "pid 1, orphans reaped: ")
	t.Log(strings.TrimSpace(out))
}

func helperPID1(...string) error {
	if !pid1.IsPID1() {
		return fmt.Errorf("IsPID1 false in the new namespace (pid %d)", os.Getpid())
	}
	isPID1, err := pid1.Setup()
	if err != nil {
		return err
	}
	if !isPID1 {
		return errors.New("Setup reports not PID 1")
	}
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	_, exited, err := r.Start(func() (int, error) {
		cmd := exec.Command("sh", "-c", "for i in 1 2 3 4 5; do true & done; exit 4")
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release() // never fails on unix; the reaper waits
		return pid, nil
	})
	if err != nil {
		return err
	}
	select {
	case e := <-exited:
		if e.Code() != 4 {
			return fmt.Errorf("shell: %v, want exit status 4", e)
		}
	case <-time.After(time.Minute):
		return errors.New("shell exit never delivered")
	}
	err = reexec.PollUntil(time.Minute, func() (bool, error) {
		kids, err := reexec.Children(1)
		return len(kids) == 0 && r.Orphans() > 0, err
	})
	if err != nil {
		kids, _ := reexec.Children(1)
		return fmt.Errorf("orphans %d, children left %v: %w", r.Orphans(), kids, err)
	}
	fmt.Printf("pid %d, orphans reaped: %d\n", os.Getpid(), r.Orphans())
	return nil
}
