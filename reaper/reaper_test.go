package reaper_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"naught/init/reexec"
	"naught/reaper"
)

func TestExitStringAndCode(t *testing.T) {
	t.Parallel()
	// Raw wait statuses as the kernel encodes them.
	cases := []struct {
		status unix.WaitStatus
		str    string
		code   int
	}{
		{0, "exit status 0", 0},
		{3 << 8, "exit status 3", 3},
		{255 << 8, "exit status 255", 255},
		{unix.WaitStatus(unix.SIGKILL), "signal: killed", 128 + 9},
		{unix.WaitStatus(unix.SIGTERM), "signal: terminated", 128 + 15},
		{unix.WaitStatus(unix.SIGSEGV) | 0x80, "signal: segmentation fault (core dumped)", 128 + 11},
		{unix.WaitStatus(unix.SIGSTOP)<<8 | 0x7f, "stop signal: stopped (signal)", -1},
		{0xffff, "continued", -1},
	}
	for _, c := range cases {
		e := reaper.Exit{Pid: 42, Status: c.status}
		assert.Equal(t, c.str, e.String(), "status %#x", uint32(c.status))
		assert.Equal(t, c.code, e.Code(), "status %#x", uint32(c.status))
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	// No real child is started and Reap is never called: this runs in the
	// test process.
	r := reaper.New()

	boom := errors.New("boom")
	_, _, err := r.Start(func() (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)

	_, _, err = r.Start(func() (int, error) { return 0, nil })
	require.Error(t, err)

	const fakePid = 1 << 30 // above any pid_max: never a real process
	pid, ch, err := r.Start(func() (int, error) { return fakePid, nil })
	require.NoError(t, err)
	require.Equal(t, fakePid, pid)
	require.NotNil(t, ch)

	_, _, err = r.Start(func() (int, error) { return fakePid, nil })
	require.ErrorIs(t, err, reaper.ErrDuplicatePid)
}

// TestStartRace starts many children that exit at once while another
// goroutine reaps in a tight loop: every exit must reach its Start channel,
// none may be counted as an orphan.
func TestStartRace(t *testing.T) {
	t.Parallel()
	out := helpers.Run(t, 2*time.Minute, "start-race", "200")
	t.Log(strings.TrimSpace(out))
}

func helperStartRace(args ...string) error {
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return fmt.Errorf("bad count: %w", err)
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	shPath, err := exec.LookPath("sh")
	if err != nil {
		return err
	}
	r := reaper.New()
	stop := make(chan struct{})
	spinDone := make(chan int)
	go func() {
		reaped := 0
		for {
			select {
			case <-stop:
				spinDone <- reaped
				return
			default:
				reaped += r.Reap()
			}
		}
	}()

	type want struct {
		argv []string
		str  string
		code int
	}
	kinds := []want{
		{[]string{truePath}, "exit status 0", 0},
		{[]string{shPath, "-c", "exit 3"}, "exit status 3", 3},
		{[]string{shPath, "-c", "kill -KILL $$"}, "signal: killed", 137},
		{[]string{shPath, "-c", "kill -TERM $$"}, "signal: terminated", 143},
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := kinds[i%len(kinds)]
			pid, exited, err := r.Start(func() (int, error) {
				cmd := exec.Command(k.argv[0], k.argv[1:]...)
				if err := cmd.Start(); err != nil {
					return 0, err
				}
				pid := cmd.Process.Pid
				_ = cmd.Process.Release() // never fails on unix; we never Wait
				return pid, nil
			})
			if err != nil {
				errs <- err
				return
			}
			select {
			case e := <-exited:
				switch {
				case e.Pid != pid:
					errs <- fmt.Errorf("child %d: exit reports pid %d", pid, e.Pid)
				case e.String() != k.str || e.Code() != k.code:
					errs <- fmt.Errorf("child %d %v: got %q code %d, want %q code %d",
						pid, k.argv, e, e.Code(), k.str, k.code)
				}
			case <-time.After(time.Minute):
				errs <- fmt.Errorf("child %d %v: exit never delivered", pid, k.argv)
			}
		})
	}
	wg.Wait()
	close(stop)
	reaped := <-spinDone
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return err
	}
	if o := r.Orphans(); o != 0 {
		return fmt.Errorf("%d registered children were counted as orphans", o)
	}
	if reaped != n {
		return fmt.Errorf("Reap returned %d in total, want %d", reaped, n)
	}
	fmt.Printf("delivered %d exits\n", n)
	return nil
}

// TestOrphansAreReaped: as a child subreaper, the helper inherits 20 zombies
// and 5 still-running processes when an intermediate process exits; Run
// reaps all of them, counts exactly 25 orphans, and still delivers the
// intermediate's own exit to its Start channel.
func TestOrphansAreReaped(t *testing.T) {
	t.Parallel()
	helpers.MarkUsed("spawn-orphans") // started by the "orphans" helper
	out := helpers.Run(t, time.Minute, "orphans")
	t.Log(strings.TrimSpace(out))
}

func helperOrphans(...string) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	cmd, err := helpers.Command("spawn-orphans", "20", "5")
	if err != nil {
		return err
	}
	cmd.Stderr = os.Stderr
	_, exited, err := r.Start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release() // never fails on unix; we never Wait
		return pid, nil
	})
	if err != nil {
		return err
	}
	select {
	case e := <-exited:
		if e.Code() != 7 {
			return fmt.Errorf("spawner: %v, want exit status 7", e)
		}
	case <-time.After(time.Minute):
		return errors.New("spawner exit never delivered")
	}
	const want = 25
	err = reexec.PollUntil(time.Minute, func() (bool, error) {
		kids, err := reexec.Children(os.Getpid())
		return r.Orphans() >= want && len(kids) == 0, err
	})
	if err != nil {
		kids, _ := reexec.Children(os.Getpid())
		return fmt.Errorf("orphans %d (want %d), children left %v: %w", r.Orphans(), want, kids, err)
	}
	if got := r.Orphans(); got != want {
		return fmt.Errorf("orphans %d, want %d", got, want)
	}
	fmt.Printf("reaped %d orphans\n", want)
	return nil
}

// helperSpawnOrphans starts nZombie children that exit at once and nLive
// children that exit only when it does (cat on a pipe it holds), waits until
// the first ones are zombies, and exits 7 without reaping any of them.
func helperSpawnOrphans(args ...string) error {
	nZombie, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	nLive, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pw.Close()
	for range nLive {
		cmd := exec.Command("cat")
		cmd.Stdin = pr
		if err := cmd.Start(); err != nil {
			return err
		}
	}
	if err := pr.Close(); err != nil {
		return err
	}
	var pids []int
	for range nZombie {
		cmd := exec.Command("true")
		if err := cmd.Start(); err != nil {
			return err
		}
		pids = append(pids, cmd.Process.Pid)
	}
	err = reexec.PollUntil(time.Minute, func() (bool, error) {
		for _, pid := range pids {
			st, err := reexec.Stat(pid)
			if err != nil {
				return false, err // it is our unreaped child: stat must exist
			}
			if st.State != 'Z' {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	os.Exit(7)
	return nil
}

// TestOrphanBurst: 10,000 short-lived orphans (plus the 10 shells that made
// them) are reparented to a subreaper driven by Run; none may remain a
// zombie. Ten shells of 1,000 each, because dash's job table makes a single
// shell quadratic.
func TestOrphanBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("burst of 10,000 processes skipped in -short mode")
	}
	t.Parallel()
	out := helpers.Run(t, 3*time.Minute, "burst", "10", "1000")
	t.Log(strings.TrimSpace(out))
}

func BenchmarkReapOrphan(b *testing.B) {
	// b.N orphans, made by shells of at most 1,000 each.
	shells := (b.N + 999) / 1000
	per := (b.N + shells - 1) / shells
	out := helpers.Run(b, 5*time.Minute, "burst", strconv.Itoa(shells), strconv.Itoa(per))
	var orphans, shellsOut, cpuUS, wallMS int
	if _, err := fmt.Sscanf(out, "orphans=%d shells=%d cpu_us=%d wall_ms=%d", &orphans, &shellsOut, &cpuUS, &wallMS); err != nil {
		b.Fatalf("parse helper output %q: %v", out, err)
	}
	if orphans > 0 {
		b.ReportMetric(float64(cpuUS)/float64(orphans), "µs-cpu/orphan")
	}
}

// helperBurst makes shells*per orphans as a subreaper reaping with Run, and
// waits until no child is left. It prints the orphan count and the CPU time
// (user+sys of this process: the reaping side only) it took.
func helperBurst(args ...string) error {
	shells, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	per, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	script := fmt.Sprintf(`for j in $(seq %d); do sh -c 'for i in $(seq %d); do true & done' & done`, shells, per)
	var before unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		return err
	}
	start := time.Now()
	_, exited, err := r.Start(func() (int, error) {
		cmd := exec.Command("sh", "-c", script)
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release() // never fails on unix; we never Wait
		return pid, nil
	})
	if err != nil {
		return err
	}
	select {
	case e := <-exited:
		if e.Code() != 0 {
			return fmt.Errorf("burst script: %v", e)
		}
	case <-time.After(2 * time.Minute):
		return errors.New("burst script exit never delivered")
	}
	// Wait for the count a shell that never reaps its background jobs
	// (dash) gives, checking /proc only now and then so the check costs
	// little of the CPU being measured; a shell that reaps some jobs itself
	// ends the wait through the /proc check.
	want := uint64(shells*per + shells)
	polls := 0
	err = reexec.PollUntil(2*time.Minute, func() (bool, error) {
		if r.Orphans() >= want {
			return true, nil
		}
		if polls++; polls%200 != 0 {
			return false, nil
		}
		kids, err := reexec.Children(os.Getpid())
		return len(kids) == 0, err
	})
	wall := time.Since(start)
	var after unix.Rusage
	if err2 := unix.Getrusage(unix.RUSAGE_SELF, &after); err2 != nil {
		return err2
	}
	kids, err2 := reexec.Children(os.Getpid())
	if err2 != nil {
		return err2
	}
	if err != nil || len(kids) != 0 {
		return fmt.Errorf("orphans %d of %d, children left %v: %w", r.Orphans(), want, kids, err)
	}
	cpu := time.Duration(unix.TimevalToNsec(after.Utime) - unix.TimevalToNsec(before.Utime) +
		unix.TimevalToNsec(after.Stime) - unix.TimevalToNsec(before.Stime))
	fmt.Printf("orphans=%d shells=%d cpu_us=%d wall_ms=%d\n", r.Orphans(), shells, cpu.Microseconds(), wall.Milliseconds())
	return nil
}
