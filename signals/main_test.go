package signals_test

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The os/exec TestMain pattern: the test binary re-executes itself with
// helperEnv naming a helper, and TestMain runs that helper instead of the
// tests. Every Loop runs in such a child, so the test process never
// subscribes to signals and every signal a test sends has one clear target.
const helperEnv = "NAUGHT_SIGNALS_TEST_HELPER"

// helperCommands is filled in init (helper functions start other helpers,
// which would make a composite literal an initialization cycle) and never
// written afterwards.
var helperCommands map[string]func(args ...string) error

func init() {
	helperCommands = map[string]func(args ...string) error{
		"loop":      helperLoop,
		"forwarder": helperForwarder,
		"sigecho":   helperSigecho,
	}
}

// helpersUsed records which helpers the suite started, so a helper nobody
// uses any more fails the suite (os/exec does the same). Test bookkeeping
// only.
var helpersUsed sync.Map

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(runHelper(name, os.Args[1:]))
	}
	flag.Parse()
	code := m.Run()
	if code == 0 && !testing.Short() && flag.Lookup("test.run").Value.String() == "" &&
		flag.Lookup("test.bench").Value.String() == "" &&
		flag.Lookup("test.list").Value.String() == "" &&
		flag.Lookup("test.skip").Value.String() == "" {
		for name := range helperCommands {
			if _, ok := helpersUsed.Load(name); !ok {
				fmt.Fprintf(os.Stderr, "helper command unused: %q\n", name)
				code = 1
			}
		}
	}
	os.Exit(code)
}

func runHelper(name string, args []string) int {
	f, ok := helperCommands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
		return 2
	}
	if err := f(args...); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		return 1
	}
	return 0
}

// helperCmd returns a command that runs the named helper in a re-executed
// test binary. It does not set up cleanup; see runHelperProcess.
func helperCmd(name string, args ...string) (*exec.Cmd, error) {
	helpersUsed.Store(name, true)
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("unable to find test executable: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	return cmd, nil
}

func killGroup(t testing.TB, pgid int) {
	if err := unix.Kill(-pgid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		t.Errorf("kill process group %d: %v", pgid, err)
	}
}

// pollUntil calls cond until it returns true or deadline passes. The short
// pause between calls is polling, not synchronisation: cond is the event.
func pollUntil(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %v", timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// longHelper is a helper process that keeps running in its own process
// group; the test reads its stdout line by line and may write to its stdin.
type longHelper struct {
	cmd   *exec.Cmd
	pid   int
	stdin io.WriteCloser
	lines chan string
	done  chan struct{} // closed once the helper is waited for
	err   error         // what Wait returned; read after done is closed
}

func startLongHelper(t testing.TB, name string, args ...string) *longHelper {
	t.Helper()
	cmd, err := helperCmd(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &longHelper{cmd: cmd, pid: cmd.Process.Pid, stdin: stdin,
		lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		killGroup(t, h.pid)
		_ = stdin.Close() // nothing to report: the helper is dead
		<-h.done
	})
	return h
}

// line returns the helper's next stdout line; it fails the test if there is
// none within a minute (a hang guard).
func (h *longHelper) line(t testing.TB) string {
	t.Helper()
	select {
	case l, ok := <-h.lines:
		if !ok {
			t.Fatalf("helper ended early: %v", h.wait(t))
		}
		return l
	case <-time.After(time.Minute):
		t.Fatal("no line from helper within a minute")
		return ""
	}
}

// wait waits (with a hang guard) for the helper to end and returns Wait's
// error.
func (h *longHelper) wait(t testing.TB) error {
	t.Helper()
	select {
	case <-h.done:
		return h.err
	case <-time.After(time.Minute):
		t.Fatal("helper did not end within a minute")
		return nil
	}
}
