package e2e

// Helpers of the CLI tests (cli_*_test.go). Every name starts with "cli" so
// that they cannot collide with the helpers of other test files.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The original CLI's exact words (SPEC Appendix A), written out again here
// on purpose: the tests must not share the product's constants.
const (
	cliMsgNotRunning   = "server not running\n"
	cliMsgCrashed      = "The server crashed without booting. Check stderr.log.\n"
	cliMsgWaiting      = "Waiting for shutdown already in progress.\nIf it hangs, Ctrl+C this command and try it again with --timeout 1\n"
	cliMsgDone         = "done\n"
	cliMsgInProgress   = "Deploy already in progress. Press Ctrl+C to abort.\n"
	cliMsgDeployFailed = "Deploy failed. Check stderr.log and usage of 'online' and 'shutdown' events.\n"
	cliMsgNeverBooted  = "Bootup never succeeded. Check stderr.log and usage of 'online' and 'shutdown' events.\n"
	cliMsgAborting     = "aborting deploy\n"
	cliMsgAborted      = "deploy aborted\n"
	cliMsgNoDeploy     = "no deploy in progress\n"
)

// cliEv is an event line as the CLI prints it and naught logs it.
func cliEv(name string, booting, online, dying, newOnline int) string {
	return fmt.Sprintf("%s. booting: %d, online: %d, dying: %d, new_online: %d\n", name, booting, online, dying, newOnline)
}

// cliWorkersOnline is start's and status's result line.
func cliWorkersOnline(n int) string { return fmt.Sprintf("workers online: %d\n", n) }

// cliExpect fails the test unless r has exactly this exit code and output.
func cliExpect(t *testing.T, what string, r result, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || r.stdout != stdout || r.stderr != stderr {
		t.Fatalf("%s:\ngot  %s\nwant exit %d\nstdout: %q\nstderr: %q", what, r, code, stdout, stderr)
	}
}

// cliStartEnv is s.start with extra environment for the daemon (and so for
// the workers). The daemon is stopped at cleanup.
func cliStartEnv(s *sandbox, env []string, args ...string) result {
	s.t.Helper()
	r := s.runEnv(env, append([]string{"start"}, args...)...)
	if r.code != 0 {
		s.t.Fatalf("naught start failed:\n%s", r)
	}
	s.t.Cleanup(func() { s.run("stop", "--timeout", "5") })
	return r
}

// cliRunIn runs naught to completion with dir as its working directory.
func cliRunIn(s *sandbox, dir string, env []string, args ...string) result {
	s.t.Helper()
	return s.runIn(dir, env, args...)
}

// cliBg starts naught args in the background (a deploy that will hang, a
// stop that waits...). At cleanup it is killed if still running.
func cliBg(s *sandbox, env []string, args ...string) *running {
	s.t.Helper()
	c := s.cmd(env, args...)
	r := &running{cmd: c, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = r.stdout, r.stderr
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { r.err = c.Wait(); close(r.done) }()
	s.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = c.Process.Kill()
			<-r.done
		}
		if s.t.Failed() {
			s.t.Logf("background naught %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	})
	return r
}

// cliFinish waits for a background naught and returns what it did.
func cliFinish(t *testing.T, r *running) result {
	t.Helper()
	code := r.wait(t)
	return result{code: code, stdout: r.stdout.String(), stderr: r.stderr.String()}
}

// cliPoll polls cond until it holds or the deadline passes; on failure it
// reports describe(), the last thing seen.
func cliPoll(t *testing.T, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen:\n%s", what, describe())
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// cliWaitStatus polls `naught status [args]` until its stdout is want.
func cliWaitStatus(s *sandbox, want string, args ...string) {
	s.t.Helper()
	var last result
	cliPoll(s.t, fmt.Sprintf("status %q", want), func() bool {
		last = s.run(append([]string{"status"}, args...)...)
		return last.code == 0 && last.stdout == want
	}, func() string { return last.String() })
}

// cliWaitGone waits until path does not exist.
func cliWaitGone(t *testing.T, path string) {
	t.Helper()
	cliPoll(t, path+" to be removed", func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, os.ErrNotExist)
	}, func() string { return "it still exists" })
}

// cliWaitNoProcess waits until no process of the sandbox is left.
func cliWaitNoProcess(s *sandbox) {
	s.t.Helper()
	cliPoll(s.t, "every process of the test to exit", func() bool { return len(s.markedPids()) == 0 },
		func() string { return fmt.Sprint(s.markedPids()) })
}

var cliListeningRe = regexp.MustCompile(`worker (\d+) pid (\d+) listening`)

// cliWorkerPids returns the pids the workers printed in out (stdout.log).
func cliWorkerPids(out string) map[int]bool {
	pids := map[int]bool{}
	for _, m := range cliListeningRe.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[2])
		pids[pid] = true
	}
	return pids
}

// cliWaitWorkerPids waits until stdout.log names n worker pids not in
// exclude, and returns them.
func cliWaitWorkerPids(s *sandbox, name string, n int, exclude map[int]bool) map[int]bool {
	s.t.Helper()
	var fresh map[int]bool
	cliPoll(s.t, fmt.Sprintf("%d new workers in %s", n, name), func() bool {
		fresh = map[int]bool{}
		for pid := range cliWorkerPids(s.read(name)) {
			if !exclude[pid] {
				fresh[pid] = true
			}
		}
		return len(fresh) >= n
	}, func() string { return s.read(name) })
	return fresh
}

var cliServedRe = regexp.MustCompile(`pid=(\d+)`)

// cliServedPid asks the server which worker answers.
func cliServedPid(s *sandbox) int {
	s.t.Helper()
	body := s.mustGet("/")
	m := cliServedRe.FindStringSubmatch(body)
	if m == nil {
		s.t.Fatalf("GET / answered %q", body)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// cliAlive reports whether pid exists and is not a zombie.
func cliAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// cliStatFields returns the fields of /proc/<pid>/stat after the command
// name: state, ppid, pgrp, session, ...
func cliStatFields(t *testing.T, pid string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(string(b), ')')
	return strings.Fields(string(b[i+1:]))
}

// cliReadPidFile reads a pid-file.
func cliReadPidFile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid-file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid-file holds %q", b)
	}
	return pid
}

// cliStaleSocket leaves a unix socket file at path that nobody listens on.
func cliStaleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// cliRaw is a raw connection to the control socket, speaking the wire
// format by hand: "<decimal length>\n<json>" both ways.
type cliRaw struct {
	t  *testing.T
	c  *net.UnixConn
	br *bufio.Reader
}

func cliDialRaw(t *testing.T, path string) *cliRaw {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &cliRaw{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *cliRaw) write(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// send frames js as a request.
func (r *cliRaw) send(js string) { r.t.Helper(); r.write(fmt.Sprintf("%d\n%s", len(js), js)) }

// read reads one framed message.
func (r *cliRaw) read() (map[string]json.RawMessage, []byte, error) {
	if err := r.c.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		return nil, nil, err
	}
	line, err := r.br.ReadString('\n')
	if err != nil {
		return nil, nil, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
	if err != nil {
		return nil, nil, fmt.Errorf("bad length line %q", line)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		return nil, nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, body, fmt.Errorf("bad JSON %q: %w", body, err)
	}
	return m, body, nil
}

// next reads messages until the event named name and returns it.
func (r *cliRaw) next(name string) map[string]json.RawMessage {
	r.t.Helper()
	var seen []string
	for {
		m, body, err := r.read()
		if err != nil {
			r.t.Fatalf("waiting for %s (seen %v): %v", name, seen, err)
		}
		if string(m["event"]) == strconv.Quote(name) {
			return m
		}
		seen = append(seen, string(body))
	}
}

// expectClosed reads until the daemon closes the connection; a timeout
// fails the test.
func (r *cliRaw) expectClosed(what string) {
	r.t.Helper()
	for {
		_, _, err := r.read()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatalf("%s: the daemon did not close the connection", what)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.ErrUnexpectedEOF) {
			r.t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
}

// cliCount reads the count object of an event.
func cliCount(t *testing.T, m map[string]json.RawMessage) map[string]int {
	t.Helper()
	var c map[string]int
	if err := json.Unmarshal(m["count"], &c); err != nil {
		t.Fatalf("count %s: %v", m["count"], err)
	}
	return c
}

// cliEnvOf asks a worker for its environment.
func cliEnvOf(s *sandbox) map[string]string {
	s.t.Helper()
	var env map[string]string
	body := s.mustGet("/env")
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		s.t.Fatalf("GET /env: %q: %v", body, err)
	}
	return env
}

// cliCounts is a counts line, as status prints it after "booting",
// "deploy in progress" or "shutting down".
func cliCounts(booting, online, dying, newOnline int) string {
	return fmt.Sprintf("booting: %d, online: %d, dying: %d, new_online: %d\n", booting, online, dying, newOnline)
}

var cliEventLineRe = regexp.MustCompile(`^[A-Za-z]+\. (booting: \d+, online: \d+, dying: \d+, new_online: \d+|Unknown)$`)

// cliLogEvents returns the event lines of the log file name (naught also
// logs other lines there, such as why a worker died).
func cliLogEvents(s *sandbox, name string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s.read(name), "\n") {
		if cliEventLineRe.MatchString(strings.TrimSuffix(line, "\n")) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// cliWaitLog waits until cond holds for the content of the file name (the
// logs are written in the background: what a command saw may reach them
// a moment later). With events, cond sees only the event lines.
func cliWaitLog(s *sandbox, name, what string, events bool, cond func(string) bool) {
	s.t.Helper()
	read := func() string {
		if events {
			return cliLogEvents(s, name)
		}
		return s.read(name)
	}
	cliPoll(s.t, name+" "+what, func() bool { return cond(read()) }, func() string { return s.read(name) })
}
