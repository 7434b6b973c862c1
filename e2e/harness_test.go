package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// naughtBin is the binary under test, built once by TestMain.
var naughtBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "naught-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	naughtBin = filepath.Join(dir, "naught")
	build := exec.Command("go", "build", "-o", naughtBin, "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building naught:", err)
		os.Exit(2)
	}
	code := m.Run()
	dockerCleanup()
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor is the deadline for anything a test waits on.
const waitFor = 30 * time.Second

// sandbox is one test's world: a short temporary folder (unix socket paths
// are limited to 107 bytes), a free port, an environment, and the cleanup
// that kills every process the test started.
type sandbox struct {
	t    *testing.T
	dir  string
	port int
	mark string
	env  []string
}

var markSeq atomic.Int64

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir, err := os.MkdirTemp("", "ne2e")
	if err != nil {
		t.Fatal(err)
	}
	s := &sandbox{t: t, dir: dir, port: freePort(t)}
	s.mark = fmt.Sprintf("%d-%d-%d", os.Getpid(), markSeq.Add(1), time.Now().UnixNano())
	s.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"PORT=" + strconv.Itoa(s.port),
		"NAUGHT_E2E_MARK=" + s.mark,
	}
	t.Cleanup(func() {
		s.killMarked()
		if t.Failed() {
			s.dumpLogs()
		}
		os.RemoveAll(dir)
	})
	return s
}

// path is a file in the sandbox.
func (s *sandbox) path(name string) string { return filepath.Join(s.dir, name) }

// script copies a testdata script into the sandbox and returns its path.
func (s *sandbox) script(name string) string {
	s.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		s.t.Fatal(err)
	}
	p := s.path(name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *sandbox) read(name string) string {
	b, _ := os.ReadFile(s.path(name))
	return string(b)
}

func (s *sandbox) dumpLogs() {
	for _, name := range []string{"naught.log", "stdout.log", "stderr.log"} {
		if b, err := os.ReadFile(s.path(name)); err == nil {
			s.t.Logf("--- %s ---\n%s", name, b)
		}
	}
}

// markedPids lists the processes whose environment carries this sandbox's mark.
func (s *sandbox) markedPids() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	needle := []byte("NAUGHT_E2E_MARK=" + s.mark + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && bytes.Contains(append(b, 0), needle) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killMarked SIGKILLs every process of this sandbox and waits until they
// are gone (reaped by whoever their parent is).
func (s *sandbox) killMarked() {
	deadline := time.Now().Add(waitFor)
	for {
		pids := s.markedPids()
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("processes of this test survive SIGKILL: %v", pids)
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(10 * time.Millisecond) // polling for the kernel to finish them
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// result is a finished CLI command.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// cmd prepares naught with args in the sandbox, with extra environment.
func (s *sandbox) cmd(extraEnv []string, args ...string) *exec.Cmd {
	c := exec.Command(naughtBin, args...)
	c.Dir = s.dir
	c.Env = append(append([]string{}, s.env...), extraEnv...)
	return c
}

// run runs naught with args to completion (bounded by waitFor).
func (s *sandbox) run(args ...string) result { return s.runEnv(nil, args...) }

func (s *sandbox) runEnv(extraEnv []string, args ...string) result {
	s.t.Helper()
	return s.runIn(s.dir, extraEnv, args...)
}

// runIn runs naught to completion with dir as its working directory.
func (s *sandbox) runIn(dir string, extraEnv []string, args ...string) result {
	s.t.Helper()
	c := s.cmd(extraEnv, args...)
	c.Dir = dir
	return runBounded(s.t, c, waitFor)
}

// runBounded runs c to completion and returns its exit code and output; it
// kills c and fails the test if c has not finished within timeout.
func runBounded(t *testing.T, c *exec.Cmd, timeout time.Duration) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = c.Process.Kill()
		<-done
		t.Fatalf("%s did not finish in %s\nstdout: %s\nstderr: %s", strings.Join(c.Args, " "), timeout, stdout.String(), stderr.String())
	}
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// start runs `naught start` in daemon mode with the sandbox's logs and
// fails the test unless it succeeds. The daemon is stopped at cleanup.
func (s *sandbox) start(args ...string) result {
	s.t.Helper()
	r := s.run(append([]string{"start"}, args...)...)
	if r.code != 0 {
		s.t.Fatalf("naught start failed:\n%s", r)
	}
	s.t.Cleanup(func() { s.run("stop", "--timeout", "5") })
	return r
}

// lockedBuffer collects a running process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is a naught process running in the foreground.
type running struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	err            error
}

// foreground starts `naught start --daemon-mode false args...`.
func (s *sandbox) foreground(extraEnv []string, args ...string) *running {
	s.t.Helper()
	c := s.cmd(extraEnv, append([]string{"start", "--daemon-mode", "false"}, args...)...)
	r := &running{cmd: c, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = r.stdout, r.stderr
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() { r.err = c.Wait(); close(r.done) }()
	s.t.Cleanup(func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(waitFor):
			_ = c.Process.Kill()
			<-r.done
		}
		if s.t.Failed() {
			s.t.Logf("foreground naught stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
	return r
}

// wait waits for the foreground naught to exit and returns its exit code.
func (r *running) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(waitFor):
		t.Fatalf("naught did not exit\nstderr: %s", r.stderr)
	}
	var exitErr *exec.ExitError
	if errors.As(r.err, &exitErr) {
		return exitErr.ExitCode()
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return 0
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOutput waits until the running naught's stream contains substr.
func (r *running) waitOutput(t *testing.T, stream *lockedBuffer, substr string) {
	t.Helper()
	eventually(t, fmt.Sprintf("output %q (have %q)", substr, stream.String()), func() bool {
		return strings.Contains(stream.String(), substr)
	})
}

// client makes a fresh connection for every request, as a load balancer
// health check or a new visitor would.
func newClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

// get fetches path from the sandbox's port.
func (s *sandbox) get(path string) (string, error) {
	resp, err := newClient().Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (s *sandbox) mustGet(path string) string {
	s.t.Helper()
	body, err := s.get(path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return body
}

// load sends requests on fresh connections from a few goroutines until
// stopped (or a bound on count and time is hit) and counts the failures.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ok     atomic.Int64
	mu     sync.Mutex
	errs   []error
}

func (s *sandbox) startLoad(clients int) *load {
	return startLoad(s.t, fmt.Sprintf("http://127.0.0.1:%d/", s.port), clients)
}

// startLoad sends requests to url from clients goroutines; the load stops
// at t's cleanup if not before.
func startLoad(t *testing.T, url string, clients int) *load {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	l := &load{cancel: cancel}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := newClient()
			for i := 0; i < 1_000_000 && ctx.Err() == nil; i++ {
				resp, err := c.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

// stop ends the load and returns the successes and failures.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) failures() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}
