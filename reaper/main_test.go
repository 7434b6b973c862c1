package reaper_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The os/exec TestMain pattern: the test binary re-executes itself with
// helperEnv naming a helper, and TestMain runs that helper instead of the
// tests. Every test that calls wait4(-1) or becomes a subreaper does so in
// such a child, never in the test process, whose own children (other tests'
// helpers) must stay waitable by os/exec.
const helperEnv = "NAUGHT_REAPER_TEST_HELPER"

// helperCommands is filled in init (helper functions start other helpers,
// which would make a composite literal an initialization cycle) and never
// written afterwards.
var helperCommands map[string]func(args ...string) error

func init() {
	helperCommands = map[string]func(args ...string) error{
		"start-race":    helperStartRace,
		"orphans":       helperOrphans,
		"spawn-orphans": helperSpawnOrphans,
		"burst":         helperBurst,
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

// runHelperProcess runs a helper in its own process group to completion and
// returns its stdout. It fails the test if the helper fails or is not done
// within timeout (a hang guard, not a timing assertion). Whatever is left of
// the group is SIGKILLed at cleanup.
func runHelperProcess(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	cmd, err := helperCmd(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper %s: %v", name, err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		if err := unix.Kill(-pgid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
			t.Errorf("kill helper group %d: %v", pgid, err)
		}
	})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = unix.Kill(-pgid, unix.SIGKILL) // hang guard; Wait below reports it
		err = <-done
		t.Errorf("helper %s did not finish within %v", name, timeout)
	}
	if err != nil || t.Failed() {
		t.Fatalf("helper %s: %v\nstdout:\n%s\nstderr:\n%s", name, err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("helper %s stderr:\n%s", name, stderr.String())
	}
	return stdout.String()
}

// procState is one line of /proc/<pid>/stat, reduced to what tests need.
type procState struct {
	pid, ppid int
	state     byte
}

func readProcStat(pid int) (procState, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procState{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// "pid (comm) S ppid ...": comm may contain spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procState{}, fmt.Errorf("malformed stat of %d: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return procState{}, fmt.Errorf("malformed stat of %d: %q", pid, s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procState{}, fmt.Errorf("malformed ppid of %d: %w", pid, err)
	}
	return procState{pid: pid, ppid: ppid, state: f[0][0]}, nil
}

// childrenOf lists the processes whose parent is ppid, zombies included.
func childrenOf(ppid int) ([]procState, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var out []procState
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err != nil {
			continue // exited (and was reaped) while we listed
		}
		if st.ppid == ppid {
			out = append(out, st)
		}
	}
	return out, nil
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
