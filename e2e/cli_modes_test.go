package e2e

// End-to-end tests of naught's modes and surfaces besides the commands'
// words: logs (SPEC §2, §3), the foreground and its signals, the control
// socket (§6), a Node.js parent (§5), and naught as PID 1 (§2).

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Log files are appended to: what was there survives a restart.
func TestCLILogsAppend(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	for name, content := range map[string]string{"naught.log": "old event\n", "stdout.log": "old out\n", "stderr.log": "old err\n"} {
		if err := os.WriteFile(s.path(name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if r := s.run("start", "server.js"); r.code != 0 {
			t.Fatalf("start:\n%s", r)
		}
		if r := s.run("stop"); r.code != 0 {
			t.Fatalf("stop:\n%s", r)
		}
		cliWaitGone(t, s.path("naught.ipc"))
	}
	cliWaitLog(s, "naught.log", "to keep its content and get both runs", false, func(log string) bool {
		return strings.HasPrefix(log, "old event\n"+cliEv("IpcListening", 0, 0, 0, 0)) && strings.Count(log, "IpcListening.") == 2 &&
			strings.Count(log, "Shutdown.") == 2
	})
	cliWaitWorkerPids(s, "stdout.log", 2, nil)
	if out := s.read("stdout.log"); !strings.HasPrefix(out, "old out\n") {
		t.Errorf("stdout.log lost its content:\n%s", out)
	}
	if errs := s.read("stderr.log"); errs != "old err\n" {
		t.Errorf("stderr.log lost its content or got some:\n%s", errs)
	}
}

// /dev/null disables a log: no file is created, /dev/null stays a device,
// and the CLI still prints the events.
func TestCLILogsDevNull(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	r := s.start("--log", "/dev/null", "--stdout", "/dev/null", "--stderr", "/dev/null", "server.js")
	cliExpect(t, "start", r, 0, cliWorkersOnline(1), cliEv("Bootup", 1, 0, 0, 0)+cliEv("WorkerOnline", 0, 1, 0, 0))
	if r := s.run("deploy"); r.code != 0 {
		t.Fatalf("deploy:\n%s", r)
	}
	if r := s.run("stop"); r.code != 0 {
		t.Fatalf("stop:\n%s", r)
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if e.Name() != "server.js" && e.Name() != "naught.ipc" && e.Name() != "naught.pid" {
			t.Errorf("unexpected file %s with every log on /dev/null", e.Name())
		}
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("/dev/null is no longer a device: %v %v", fi, err)
	}
}

// "-" passes a log through to naught's own stream (foreground): workers'
// console.log on naught's stdout, events on naught's stderr, once each.
func TestCLILogsPassthrough(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	fg := s.foreground(nil, "--log", "-", "--stdout", "-", "--stderr", "-", "server.js")
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(1))
	fg.waitOutput(t, fg.stdout, "worker 0 pid ")
	fg.waitOutput(t, fg.stderr, "Ready.")
	stderr := fg.stderr.String()
	for _, ev := range []string{"Bootup.", "WorkerOnline.", "Ready."} {
		if n := strings.Count(stderr, ev); n != 1 {
			t.Errorf("%s appears %d times on naught's stderr, want once:\n%s", ev, n, stderr)
		}
	}
	for _, name := range []string{"naught.log", "stdout.log", "stderr.log"} {
		if _, err := os.Stat(s.path(name)); err == nil {
			t.Errorf("%s was created although its log is -", name)
		}
	}
	_ = fg.cmd.Process.Signal(syscall.SIGTERM)
	if code := fg.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if !strings.Contains(fg.stderr.String(), "Shutdown.") {
		t.Errorf("the stop's events must reach naught's stderr:\n%s", fg.stderr)
	}
}

// --max-log-size: a log reaching it is rotated and compressed (.gz), and
// no event is lost or duplicated across the rotations.
func TestCLIMaxLogSize(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("--max-log-size", "300", "server.js")
	for range 2 {
		if r := s.run("deploy"); r.code != 0 {
			t.Fatalf("deploy:\n%s", r)
		}
	}
	// collect reads naught.log and its rotated files, compressed or not;
	// ok is false while a .gz is still being written.
	collect := func() (all string, gz, plain []string, ok bool) {
		all = s.read("naught.log")
		gz, _ = filepath.Glob(s.path("naught*.gz"))
		logs, _ := filepath.Glob(s.path("naught*.log"))
		for _, p := range logs {
			if p != s.path("naught.log") {
				plain = append(plain, p)
				b, _ := os.ReadFile(p)
				all += string(b)
			}
		}
		for _, p := range gz {
			b, err := cliGunzip(p)
			if err != nil {
				return all, gz, plain, false
			}
			all += b
		}
		return all, gz, plain, true
	}
	var all string
	var gz, plain []string
	describe := func() string {
		return fmt.Sprintf("rotated %v, compressed %v; naught.log:\n%s", plain, gz, s.read("naught.log"))
	}
	cliPoll(t, "the deploys' events in the logs", func() bool {
		var ok bool
		all, gz, plain, ok = collect()
		return ok && strings.Count(all, "Ready.") >= 3
	}, describe)
	if len(gz)+len(plain) == 0 {
		t.Fatalf("naught.log (%d bytes) was not rotated with --max-log-size 300", len(s.read("naught.log")))
	}
	cliPoll(t, "the rotated logs to be compressed", func() bool {
		var ok bool
		all, gz, plain, ok = collect()
		return ok && len(gz) > 0 && len(plain) == 0
	}, describe)
	if n, m := strings.Count(all, "IpcListening."), strings.Count(all, "Ready."); n != 1 || m != 3 {
		t.Errorf("across the rotated logs: %d IpcListening (want 1), %d Ready (want 3)", n, m)
	}
}

// --log, --stdout and --stderr on one file share one rotating sink: two
// would rename the file under each other and lose lines. Every event and
// every worker's line is found exactly once across the rotations.
func TestCLISharedLogFileRotates(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("--worker-count", "2", "--max-log-size", "300", "--log", "all.log", "--stdout", "all.log", "--stderr", "all.log", "server.js")
	for range 4 {
		if r := s.run("deploy"); r.code != 0 {
			t.Fatalf("deploy:\n%s", r)
		}
	}
	var all string
	var names []string
	cliPoll(t, "every event and line written, every rotated log compressed", func() bool {
		all, names = s.read("all.log"), nil
		plain, _ := filepath.Glob(s.path("all-*.log"))
		gz, _ := filepath.Glob(s.path("all-*.log.gz"))
		for _, p := range gz {
			b, err := cliGunzip(p)
			if err != nil {
				return false // still being written
			}
			all += b
			names = append(names, filepath.Base(p))
		}
		// The last deploy's Ready may still be on its way to the file.
		return len(plain) == 0 && len(gz) > 0 && strings.Count(all, "Ready.") >= 5 && strings.Count(all, " listening\n") >= 10
	}, func() string { return fmt.Sprintf("rotated: %v; all the logs:\n%s", names, all) })
	if n, m, l := strings.Count(all, "IpcListening."), strings.Count(all, "Ready."), strings.Count(all, " listening\n"); n != 1 || m != 5 || l != 10 {
		t.Errorf("across %d rotated files: %d IpcListening (want 1), %d Ready (want 5), %d worker lines (want 10):\n%s", len(names), n, m, l, all)
	}
}

// cliGunzip reads a gzip file.
func cliGunzip(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(zr)
	return string(b), err
}

// Foreground: events and "workers online", then it blocks; the pid-file
// holds its pid; SIGHUP deploys; SIGTERM stops gracefully, exit 0, workers
// gone, ipc-file and pid-file removed.
func TestCLIForegroundHUPAndTERM(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	fg := s.foreground(nil, "--worker-count", "2", "server.js")
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(2))
	if got, want := fg.stderr.String(), cliEv("Bootup", 2, 0, 0, 0)+cliEv("WorkerOnline", 1, 1, 0, 0)+cliEv("WorkerOnline", 0, 2, 0, 0); got != want {
		t.Errorf("foreground stderr %q, want %q", got, want)
	}
	if pid := cliReadPidFile(t, s.path("naught.pid")); pid != fg.cmd.Process.Pid {
		t.Errorf("pid-file holds %d, want %d", pid, fg.cmd.Process.Pid)
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(2), "")
	old := cliWaitWorkerPids(s, "stdout.log", 2, nil)

	if err := fg.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	cliPoll(t, "the SIGHUP deploy in naught.log", func() bool {
		log := cliLogEvents(s, "naught.log")
		i := strings.Index(log, "SpawnNew.")
		return i >= 0 && strings.HasSuffix(log[i:], cliEv("OldExit", 0, 0, 0, 2)+cliEv("Ready", 0, 2, 0, 0))
	}, func() string { return s.read("naught.log") })
	fresh := cliWaitWorkerPids(s, "stdout.log", 2, old)
	if pid := cliServedPid(s); !fresh[pid] {
		t.Errorf("after SIGHUP pid %d answers, want one of %v", pid, fresh)
	}

	if err := fg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := fg.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	for pid := range fresh {
		if cliAlive(pid) {
			t.Errorf("worker %d outlives naught", pid)
		}
	}
	for _, name := range []string{"naught.ipc", "naught.pid"} {
		if _, err := os.Lstat(s.path(name)); err == nil {
			t.Errorf("%s left behind", name)
		}
	}
	if log := cliLogEvents(s, "naught.log"); !strings.HasSuffix(log, cliEv("Shutdown", 0, 0, 0, 0)) {
		t.Errorf("naught.log must end with Shutdown:\n%s", log)
	}
}

// SIGINT stops the foreground naught gracefully too.
func TestCLIForegroundINT(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	fg := s.foreground(nil, "server.js")
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(1))
	pids := cliWaitWorkerPids(s, "stdout.log", 1, nil)
	if err := fg.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := fg.wait(t); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0", code)
	}
	for pid := range pids {
		if cliAlive(pid) {
			t.Errorf("worker %d outlives naught", pid)
		}
	}
	if log := cliLogEvents(s, "naught.log"); !strings.HasSuffix(log, cliEv("ShutdownOld", 0, 0, 1, 0)+cliEv("OldExit", 0, 0, 0, 0)+cliEv("Shutdown", 0, 0, 0, 0)) {
		t.Errorf("SIGINT must stop gracefully:\n%s", log)
	}
	if _, err := os.Lstat(s.path("naught.pid")); err == nil {
		t.Error("pid-file left behind")
	}
}

// §6: the ipc-file speaks "<len>\n<json>"; several clients at once each
// get every event; an unknown action → UnrecognizedMessage; malformed,
// oversized or truncated input closes only that connection, with an error
// in naught.log, and the daemon serves on.
func TestCLIControlSocket(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("server.js")
	ipc := s.path("naught.ipc")

	// Each client proves it is connected by getting its own Status.
	clients := make([]*cliRaw, 3)
	for i := range clients {
		clients[i] = cliDialRaw(t, ipc)
		clients[i].send(`{"action":"NaughtStatus"}`)
		st := clients[i].next("Status")
		if string(st["waitingFor"]) != "null" || cliCount(t, st)["online"] != 1 {
			t.Errorf("Status: %v", st)
		}
	}
	clients[0].send(`{"action":"NoSuchAction"}`)
	for _, c := range clients {
		c.next("UnrecognizedMessage")
	}
	clients[2].send(`{"action":"NaughtStatus"}`)
	for _, c := range clients {
		st := c.next("Status")
		if got := cliCount(t, st); len(got) != 4 || got["booting"] != 0 || got["online"] != 1 || got["dying"] != 0 || got["new_online"] != 0 {
			t.Errorf("Status count %v", got)
		}
	}

	logLines := func() int { return len(strings.Split(s.read("naught.log"), "\n")) }
	for _, bad := range []struct{ what, input string }{
		{"a length line that is not a number", "abc\n"},
		{"an oversized message", "99999999999\n{"},
		{"invalid JSON", "5\n{nope"},
		{"a truncated message", "100\n{\"action\""},
	} {
		before := logLines()
		c := cliDialRaw(t, ipc)
		c.write(bad.input)
		if bad.what == "a truncated message" {
			_ = c.c.CloseWrite()
		}
		c.expectClosed(bad.what)
		cliPoll(t, "an error line in naught.log for "+bad.what, func() bool {
			lines := strings.Split(s.read("naught.log"), "\n")
			for _, l := range lines[min(before, len(lines))-1:] {
				if l != "" && !cliEventLineRe.MatchString(l) {
					return true
				}
			}
			return false
		}, func() string { return s.read("naught.log") })
		// The others are unaffected.
		clients[1].send(`{"action":"NaughtStatus"}`)
		for _, c := range clients {
			c.next("Status")
		}
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")

	// A deploy as the original's client framed it; every client follows it.
	clients[0].send(`{"action":"NaughtDeploy","newWorkerCount":0,"environment":{"VERSION":"raw"},"timeout":null}`)
	for _, c := range clients {
		ready := c.next("Ready")
		if string(ready["waitingFor"]) != "null" || cliCount(t, ready)["online"] != 1 {
			t.Errorf("Ready after the deploy: %v", ready)
		}
	}
	if env := cliEnvOf(s); env["VERSION"] != "raw" {
		t.Errorf("deploy's environment not applied: VERSION=%q", env["VERSION"])
	}
	clients[1].send(`{"action":"NaughtDeployAbort"}`)
	for _, c := range clients {
		c.next("ErrorNoDeployInProgress")
	}
	clients[2].send(`{"action":"NaughtShutdown","timeout":null}`)
	for _, c := range clients {
		c.next("Shutdown")
		c.expectClosed("after Shutdown")
	}
	cliWaitGone(t, ipc)
}

// cliNodeParent runs cli-parent.js: naught started by a Node.js parent with
// an IPC channel. It returns what the parent saw.
func cliNodeParent(s *sandbox, env []string, args ...string) (code *int, messages []map[string]json.RawMessage) {
	s.t.Helper()
	s.script("cli-parent.js")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c := exec.CommandContext(ctx, "node", append([]string{s.path("cli-parent.js"), naughtBin}, args...)...)
	c.Dir = s.dir
	c.Env = append(append([]string{}, s.env...), env...)
	var stderr lockedBuffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		s.t.Fatalf("cli-parent.js: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var res struct {
		Code     *int                         `json:"code"`
		Messages []map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		s.t.Fatalf("cli-parent.js printed %q: %v", out, err)
	}
	return res.Code, res.Messages
}

// cliCheckParentMessages checks SPEC §5's shapes: {"event":"IpcListening"}
// first and alone, then events with exactly event, count and waitingFor.
func cliCheckParentMessages(t *testing.T, messages []map[string]json.RawMessage) {
	t.Helper()
	var names []string
	for _, m := range messages {
		var name string
		_ = json.Unmarshal(m["event"], &name)
		names = append(names, name)
	}
	if len(messages) == 0 || len(messages[0]) != 1 || string(messages[0]["event"]) != `"IpcListening"` {
		t.Fatalf("the first message must be {\"event\":\"IpcListening\"} alone; got %v", messages)
	}
	if i := slices.Index(names, "Ready"); i < 0 || !slices.Equal(names[1:i+1], []string{"Bootup", "WorkerOnline", "Ready"}) {
		t.Fatalf("events %v, want IpcListening, Bootup, WorkerOnline, Ready", names)
	}
	for i, m := range messages[1:] {
		if len(m) != 3 || m["event"] == nil || m["count"] == nil || m["waitingFor"] == nil {
			t.Errorf("message %d %v must have exactly event, count, waitingFor", i+1, m)
			continue
		}
		if c := cliCount(t, m); len(c) != 4 {
			t.Errorf("message %d count %v must have exactly booting, online, dying, new_online", i+1, c)
		}
	}
	ready := messages[slices.Index(names, "Ready")]
	if c := cliCount(t, ready); c["online"] != 1 || string(ready["waitingFor"]) != "null" {
		t.Errorf("Ready: %v", ready)
	}
}

// §5: naught in the foreground, started by a Node.js parent with an IPC
// channel, sends it every event.
func TestCLINodeParentForeground(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	code, messages := cliNodeParent(s, []string{"STOP_ON_READY=1"}, "start", "--daemon-mode", "false", "server.js")
	if code == nil || *code != 0 {
		t.Errorf("naught exit %v after SIGTERM, want 0", code)
	}
	cliCheckParentMessages(t, messages)
	if last := messages[len(messages)-1]; string(last["event"]) != `"Shutdown"` {
		t.Errorf("the last message must be the Shutdown of the stop; got %v", last)
	}
	cliWaitNoProcess(s)
}

// §5: `naught start` in daemon mode relays the boot's events to its
// Node.js parent.
func TestCLINodeParentDaemon(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	code, messages := cliNodeParent(s, nil, "start", "server.js")
	s.t.Cleanup(func() { s.run("stop", "--timeout", "5") })
	if code == nil || *code != 0 {
		t.Errorf("naught start exit %v, want 0", code)
	}
	cliCheckParentMessages(t, messages)
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
	// The daemon must not have inherited the parent's channel.
	pid := cliReadPidFile(t, s.path("naught.pid"))
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if strings.Contains(string(environ), "NODE_CHANNEL_FD=") {
		t.Error("the daemon inherited NODE_CHANNEL_FD")
	}
}

// cliUnshare runs naught as PID 1 of a new pid namespace.
func cliUnshare(t *testing.T, s *sandbox, args ...string) *running {
	t.Helper()
	if err := exec.Command("unshare", "--pid", "--fork", "--kill-child", "true").Run(); err != nil {
		t.Skipf("cannot create a pid namespace here (unshare --pid --fork --kill-child: %v)", err)
	}
	c := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child", naughtBin}, args...)...)
	c.Dir = s.dir
	c.Env = append([]string{}, s.env...)
	r := &running{cmd: c, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = r.stdout, r.stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = c.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = c.Process.Kill()
			<-r.done
		}
		if t.Failed() {
			t.Logf("naught as PID 1 stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})
	return r
}

// §2: as PID 1 (a container), start defaults to the foreground with every
// log passed through; `naught stop` (as `docker exec` would) ends it.
func TestCLIPID1Defaults(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	r := cliUnshare(t, s, "start", "server.js")
	r.waitOutput(t, r.stdout, cliWorkersOnline(1))
	r.waitOutput(t, r.stdout, "worker 0 pid ")
	r.waitOutput(t, r.stderr, "Ready.")
	if n := strings.Count(r.stderr.String(), "Bootup."); n != 1 {
		t.Errorf("Bootup appears %d times on stderr, want once", n)
	}
	select {
	case <-r.done:
		t.Fatal("naught as PID 1 did not stay in the foreground")
	default:
	}
	for _, name := range []string{"naught.log", "stdout.log", "stderr.log"} {
		if _, err := os.Stat(s.path(name)); err == nil {
			t.Errorf("%s created: as PID 1 the logs default to -", name)
		}
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
	if r := s.run("stop"); r.code != 0 {
		t.Fatalf("stop:\n%s", r)
	}
	if code := r.wait(t); code != 0 {
		t.Errorf("naught as PID 1 exit %d after stop", code)
	}
}

// §2: --daemon-mode true as PID 1 is an error with a clear message.
func TestCLIPID1DaemonModeRefused(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	r := cliUnshare(t, s, "start", "--daemon-mode", "true", "server.js")
	if code := r.wait(t); code == 0 {
		t.Errorf("--daemon-mode true as PID 1 must fail")
	}
	if !strings.Contains(r.stderr.String(), "daemon-mode") {
		t.Errorf("the message must name the option: %q", r.stderr)
	}
	if _, err := os.Lstat(s.path("naught.ipc")); err == nil {
		t.Error("a daemon was started")
	}
	cliWaitNoProcess(s)
}

// Issue 3: --stop-timeout bounds a stop that SIGTERM asked for: workers that
// ignore 'shutdown' are killed when it runs out, and naught exits 0.
func TestCLIStopTimeoutOnSignal(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	fg := s.foreground([]string{"LINGER=1"}, "--stop-timeout", "0.3", "server.js")
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(1))
	pids := cliWaitWorkerPids(s, "stdout.log", 1, nil)
	if err := fg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := fg.wait(t); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	want := cliEv("ShutdownOld", 0, 0, 1, 0) + cliEv("Timeout", 0, 0, 1, 0) + cliEv("DestroyOld", 0, 0, 1, 0) +
		cliEv("OldExit", 0, 0, 0, 0) + cliEv("Shutdown", 0, 0, 0, 0)
	if log := cliLogEvents(s, "naught.log"); !strings.HasSuffix(log, want) {
		t.Errorf("naught.log must end with the killed stop %q:\n%s", want, log)
	}
	for pid := range pids {
		if cliAlive(pid) {
			t.Errorf("worker %d outlives naught", pid)
		}
	}
}

// Issue 3: as PID 1 a signalled stop has a budget by default (8 s, inside
// docker stop's 10 s): a worker that ignores 'shutdown' is killed and naught
// exits 0. Without the default this test would wait for ever (and fail at
// its deadline).
func TestCLIPID1StopTimeoutDefault(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.env = append(s.env, "LINGER=1")
	r := cliUnshare(t, s, "start", "server.js")
	r.waitOutput(t, r.stdout, cliWorkersOnline(1))
	r.waitOutput(t, r.stdout, "worker 0 pid ")
	init := cliNamespaceInit(t, r)
	if err := syscall.Kill(init, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != 0 {
		t.Errorf("naught as PID 1 exit %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(r.stderr.String(), cliEv("Timeout", 0, 0, 1, 0)+cliEv("DestroyOld", 0, 0, 1, 0)) {
		t.Errorf("the stop must end by killing the straggler:\n%s", r.stderr)
	}
}

// cliNamespaceInit is the host pid of the naught that cliUnshare started:
// unshare's only child, PID 1 of the new namespace.
func cliNamespaceInit(t *testing.T, r *running) int {
	t.Helper()
	pid := r.cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatal(err)
	}
	children := strings.Fields(string(b))
	if len(children) != 1 {
		t.Fatalf("unshare (pid %d) has children %v, want naught alone", pid, children)
	}
	init, err := strconv.Atoi(children[0])
	if err != nil {
		t.Fatal(err)
	}
	return init
}

// A full disk under the workers' log: naught still stops when asked, and
// says that the logs are incomplete (exit 1) instead of "unable to start".
func TestCLIStopWithFullLogDisk(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	disk := s.path("disk")
	if err := os.Mkdir(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", disk).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", disk, err, out)
		}
	})
	spew := s.path("spew.js")
	if err := os.WriteFile(spew, []byte("for (let i = 0; i < 4000; i++) console.log(`line ${i} `.padEnd(99, 'x'));\nrequire('./server.js');\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fg := s.foreground(nil, "--stdout", filepath.Join(disk, "stdout.log"), "--max-log-size", "0", "spew.js")
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(1))
	cliWaitLog(s, "naught.log", "the report of the full disk", false, func(log string) bool {
		return strings.Contains(log, "stdout.log")
	})
	if err := fg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := fg.wait(t); code != 1 {
		t.Errorf("exit %d, want 1: the logs lost lines", code)
	}
	if !strings.Contains(fg.stderr.String(), "naught stopped, but the logs are incomplete: ") || strings.Contains(fg.stderr.String(), "unable to start daemon") {
		t.Errorf("a stop with lost log lines must say so, not that the start failed:\n%s", fg.stderr)
	}
	if !strings.HasSuffix(cliLogEvents(s, "naught.log"), cliEv("Shutdown", 0, 0, 0, 0)) {
		t.Errorf("naught.log must end with Shutdown:\n%s", s.read("naught.log"))
	}
}
