package reexec

import (
	"bufio"
	"bytes"
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

// lineTimeout is the hang guard of Child.Line and Child.Wait.
const lineTimeout = time.Minute

// Suite is one test package's set of helpers, selected by its environment
// variable. Its methods may be called from concurrent tests.
type Suite struct {
	envVar string
	used   sync.Map // helper name -> struct{}: started at least once
}

// New returns the Suite whose helpers are selected by envVar.
func New(envVar string) *Suite {
	return &Suite{envVar: envVar}
}

// Main is the whole of TestMain; it never returns. In a re-executed test
// binary (envVar set) it runs the named helper with the binary's arguments
// and exits 0 if it returned nil, 1 if it returned an error and 2 if no
// helper has that name. Otherwise it runs the tests and, if they all passed
// and the run was complete (no -short, -run, -skip, -bench or -list), fails
// the suite for each helper in helpers that was never used.
func (s *Suite) Main(m *testing.M, helpers map[string]func(args ...string) error) {
	if name := os.Getenv(s.envVar); name != "" {
		os.Exit(runHelper(helpers, name, os.Args[1:]))
	}
	flag.Parse()
	code := m.Run()
	if code == 0 && !testing.Short() && flag.Lookup("test.run").Value.String() == "" &&
		flag.Lookup("test.bench").Value.String() == "" &&
		flag.Lookup("test.list").Value.String() == "" &&
		flag.Lookup("test.skip").Value.String() == "" {
		for name := range helpers {
			if _, ok := s.used.Load(name); !ok {
				fmt.Fprintf(os.Stderr, "helper command unused: %q\n", name)
				code = 1
			}
		}
	}
	os.Exit(code)
}

func runHelper(helpers map[string]func(args ...string) error, name string, args []string) int {
	f, ok := helpers[name]
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

// MarkUsed counts the named helpers as used. It is for helpers that only
// other helpers start: their Command runs in a child, which cannot tell the
// test process.
func (s *Suite) MarkUsed(names ...string) {
	for _, name := range names {
		s.used.Store(name, struct{}{})
	}
}

// Command returns a command that runs the named helper with args in a
// re-executed test binary, and counts the helper as used. Nothing cleans it
// up; see RunCmd and StartCmd for that. A helper may call it to start
// another helper.
func (s *Suite) Command(name string, args ...string) (*exec.Cmd, error) {
	s.MarkUsed(name)
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("unable to find test executable: %w", err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), s.envVar+"="+name)
	return cmd, nil
}

// Run runs the named helper to completion as RunCmd does and returns its
// stdout.
func (s *Suite) Run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	cmd, err := s.Command(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return RunCmd(t, timeout, cmd)
}

// RunCmd runs cmd in its own process group and returns its stdout. It fails
// the test, showing stdout and stderr, if cmd fails or is not done within
// timeout (a hang guard, not a timing assertion); stderr of a successful run
// is logged. Whatever is left of the group is SIGKILLed at cleanup. cmd must
// not be started and must have no Stdout or Stderr set.
func RunCmd(t testing.TB, timeout time.Duration, cmd *exec.Cmd) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	setpgid(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { killGroup(t, pgid) })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		killGroup(t, pgid) // hang guard; Wait below reports it
		err = <-done
		t.Errorf("%v did not finish within %v", cmd.Args, timeout)
	}
	if err != nil || t.Failed() {
		t.Fatalf("%v: %v\nstdout:\n%s\nstderr:\n%s", cmd.Args, err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("%v stderr:\n%s", cmd.Args, stderr.String())
	}
	return stdout.String()
}

// Child is a process started by Start or StartCmd that keeps running: the
// test reads its stdout line by line and may write to its stdin. Its stderr
// is the test binary's.
type Child struct {
	Pid   int            // also its process group id
	Stdin io.WriteCloser // the child's stdin; closed at cleanup

	args  []string
	lines chan string   // stdout, closed at its end
	done  chan struct{} // closed once the child is waited for
	err   error         // what Wait returned; read after done is closed
}

// Start starts the named helper as StartCmd does.
func (s *Suite) Start(t testing.TB, name string, args ...string) *Child {
	t.Helper()
	cmd, err := s.Command(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return StartCmd(t, cmd)
}

// StartCmd starts cmd as the leader of a new process group, with a pipe as
// stdin. At cleanup the group is SIGKILLed, stdin closed and the child
// waited for. cmd must not be started and must have no Stdin, Stdout or
// Stderr set.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	setpgid(cmd)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	// A plain pipe rather than StdoutPipe: the child's end of it may live
	// on in processes the child started, and waiting for the child must
	// not wait for those.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	err = cmd.Start()
	_ = w.Close() // the child has its copy; ours would keep stdout from ending
	if err != nil {
		_ = stdout.Close()
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	c := &Child{Pid: cmd.Process.Pid, Stdin: stdin, args: cmd.Args,
		lines: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() {
		defer close(c.done)
		c.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		killGroup(t, c.Pid)
		_ = stdin.Close() // nothing to report: the child is dead
		<-c.done
	})
	return c
}

// Line returns the child's next stdout line. It fails the test if the
// output ends first or there is no line within a minute (a hang guard).
func (c *Child) Line(t testing.TB) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("%v ended early: %v", c.args, c.Wait(t))
		}
		return l
	case <-time.After(lineTimeout):
		t.Fatalf("no line from %v within %v", c.args, lineTimeout)
		return ""
	}
}

// Wait waits for the child to end (not for its stdout to end) and returns
// what exec.Cmd.Wait returned. It fails the test if the child is not done
// within a minute (a hang guard).
func (c *Child) Wait(t testing.TB) error {
	t.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(lineTimeout):
		t.Fatalf("%v did not end within %v", c.args, lineTimeout)
		return nil
	}
}

// Done is closed once the child has ended and been waited for.
func (c *Child) Done() <-chan struct{} { return c.done }

// setpgid makes cmd the leader of a new process group, keeping whatever
// else its SysProcAttr asks for.
func setpgid(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pgid = 0
}

func killGroup(t testing.TB, pgid int) {
	if err := unix.Kill(-pgid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		t.Errorf("kill process group %d: %v", pgid, err)
	}
}
