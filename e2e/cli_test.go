package e2e

// End-to-end tests of naught's command line (SPEC §2, §3, Appendix A):
// the commands, their options, their exact words and exit codes.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// §3: `naught help [cmd]`, `naught version`, unknown commands.
func TestCLIHelpAndVersion(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)

	helps := map[string][]string{
		"start": {"naught start [options] ", "--worker-count 1\n", "--ipc-file naught.ipc\n", "--log naught.log\n",
			"--stdout stdout.log\n", "--stderr stderr.log\n", "--max-log-size 10485760\n", "--cwd .\n",
			"--daemon-mode true\n", "--node-args ''\n", "--pid-file naught.pid\n", "--remove-old-ipc false\n"},
		"stop":         {"naught stop [options] [ipc-file]", "--timeout none\n"},
		"status":       {"naught status [ipc-file]"},
		"deploy":       {"naught deploy [options] [ipc-file]", "--worker-count 0\n", "--override-env true\n", "--timeout none\n", "--cwd "},
		"deploy-abort": {"naught deploy-abort [ipc-file]"},
		"version":      {"naught version"},
		"help":         {"naught help [cmd]"},
	}
	for cmd, want := range helps {
		r := s.run("help", cmd)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("naught help %s:\n%s", cmd, r)
		}
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("naught help %s: stdout lacks %q:\n%s", cmd, w, r.stdout)
			}
		}
	}

	r := s.run("help")
	if r.code != 0 {
		t.Errorf("naught help:\n%s", r)
	}
	for _, cmd := range []string{"start", "stop", "status", "deploy", "deploy-abort", "version", "help"} {
		if !strings.Contains(r.stdout, "naught "+cmd+" ") && !strings.Contains(r.stdout, "naught "+cmd+"\n") {
			t.Errorf("naught help does not list %s:\n%s", cmd, r.stdout)
		}
	}

	r = s.run("version")
	if r.code != 0 || r.stderr != "" || !regexp.MustCompile(`^[^\s]+\n$`).MatchString(r.stdout) {
		t.Errorf("naught version must print the version alone:\n%s", r)
	}

	for _, args := range [][]string{{"bogus"}, {"help", "bogus"}} {
		if r := s.run(args...); r.code == 0 {
			t.Errorf("naught %s must fail:\n%s", strings.Join(args, " "), r)
		}
	}
}

// §3: unknown option, missing value, invalid value or missing script →
// that command's help on stderr, exit non-zero, and nothing started.
func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	cases := []struct {
		args     []string
		synopsis string
	}{
		{[]string{"start"}, "naught start [options]"},
		{[]string{"start", "--bogus", "server.js"}, "naught start [options]"},
		{[]string{"start", "--worker-count"}, "naught start [options]"},
		{[]string{"start", "--worker-count", "server.js"}, "naught start [options]"},
		{[]string{"start", "--worker-count", "many", "server.js"}, "naught start [options]"},
		{[]string{"start", "--daemon-mode", "maybe", "server.js"}, "naught start [options]"},
		{[]string{"start", "--remove-old-ipc"}, "naught start [options]"},
		{[]string{"stop", "--bogus"}, "naught stop [options] [ipc-file]"},
		{[]string{"stop", "--timeout"}, "naught stop [options] [ipc-file]"},
		{[]string{"stop", "--timeout", "soon"}, "naught stop [options] [ipc-file]"},
		{[]string{"status", "--bogus"}, "naught status [ipc-file]"},
		{[]string{"status", "a.ipc", "b.ipc"}, "naught status [ipc-file]"},
		{[]string{"deploy", "--bogus"}, "naught deploy [options] [ipc-file]"},
		{[]string{"deploy", "--worker-count"}, "naught deploy [options] [ipc-file]"},
		{[]string{"deploy", "--override-env", "perhaps"}, "naught deploy [options] [ipc-file]"},
		{[]string{"deploy", "--timeout", "-1"}, "naught deploy [options] [ipc-file]"},
		{[]string{"deploy-abort", "--bogus"}, "naught deploy-abort [ipc-file]"},
	}
	for _, c := range cases {
		r := s.run(c.args...)
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, c.synopsis) {
			t.Errorf("naught %s: want the help (%q) on stderr and a failure, got\n%s", strings.Join(c.args, " "), c.synopsis, r)
		}
	}
	for _, name := range []string{"naught.ipc", "naught.pid", "naught.log"} {
		if _, err := os.Lstat(s.path(name)); err == nil {
			t.Errorf("a usage error created %s", name)
		}
	}
}

// Appendix A: no daemon on that ipc-file → "server not running", exit 0
// for stop and 1 for the others.
func TestCLINoServer(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	cliExpect(t, "status", s.run("status"), 1, "", cliMsgNotRunning)
	cliExpect(t, "stop", s.run("stop"), 0, "", cliMsgNotRunning)
	cliExpect(t, "stop --timeout 1", s.run("stop", "--timeout", "1"), 0, "", cliMsgNotRunning)
	cliExpect(t, "deploy", s.run("deploy"), 1, "", cliMsgNotRunning)
	cliExpect(t, "deploy-abort", s.run("deploy-abort"), 1, "", cliMsgNotRunning)
	cliExpect(t, "status other.ipc", s.run("status", "other.ipc"), 1, "", cliMsgNotRunning)
}

// §2 and Appendix A: start in daemon mode prints every event from Bootup
// on (not IpcListening, not Ready) and "workers online: N"; status; stop
// prints its events and removes the ipc-file and pid-file; the default
// files land in the caller's cwd.
func TestCLIStartStatusStop(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	r := s.start("--worker-count", "2", "server.js")
	boot := cliEv("Bootup", 2, 0, 0, 0) + cliEv("WorkerOnline", 1, 1, 0, 0) + cliEv("WorkerOnline", 0, 2, 0, 0)
	cliExpect(t, "start", r, 0, cliWorkersOnline(2), boot)

	cliWaitLog(s, "naught.log", "to start with IpcListening, the boot's events and Ready", true, func(log string) bool {
		return strings.HasPrefix(log, cliEv("IpcListening", 0, 0, 0, 0)+boot+cliEv("Ready", 0, 2, 0, 0))
	})
	fi, err := os.Lstat(s.path("naught.ipc"))
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("naught.ipc must be a socket with mode 0600: %v %v", fi, err)
	}
	daemonPid := cliReadPidFile(t, s.path("naught.pid"))
	if !cliAlive(daemonPid) {
		t.Errorf("the pid-file names %d, which is not running", daemonPid)
	}
	pids := cliWaitWorkerPids(s, "stdout.log", 2, nil)
	if _, err := os.Stat(s.path("stderr.log")); err != nil {
		t.Errorf("stderr.log: %v", err)
	}

	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(2), "")

	stop := cliEv("ShutdownOld", 0, 1, 1, 0) + cliEv("ShutdownOld", 0, 0, 2, 0) + cliEv("OldExit", 0, 0, 1, 0) + cliEv("OldExit", 0, 0, 0, 0)
	cliExpect(t, "stop", s.run("stop"), 0, "", stop)
	for pid := range pids {
		if cliAlive(pid) {
			t.Errorf("worker %d survives the stop", pid)
		}
	}
	cliWaitGone(t, s.path("naught.ipc"))
	cliWaitGone(t, s.path("naught.pid"))
	cliPoll(t, "the daemon to exit", func() bool { return !cliAlive(daemonPid) }, func() string { return "alive" })
	cliWaitLog(s, "naught.log", "to end with the stop's events and Shutdown", true, func(log string) bool {
		return strings.HasSuffix(log, stop+cliEv("Shutdown", 0, 0, 0, 0))
	})
	cliExpect(t, "status after stop", s.run("status"), 1, "", cliMsgNotRunning)
	cliExpect(t, "stop after stop", s.run("stop"), 0, "", cliMsgNotRunning)
}

// `naught stop && naught start` is how operators restart: the second
// start must find the place free.
func TestCLIStopThenStart(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("server.js")
	for i := range 3 {
		if r := s.run("stop"); r.code != 0 {
			t.Fatalf("stop %d:\n%s", i, r)
		}
		cliExpect(t, fmt.Sprintf("start right after stop %d", i), s.run("start", "server.js"), 0, cliWorkersOnline(1),
			cliEv("Bootup", 1, 0, 0, 0)+cliEv("WorkerOnline", 0, 1, 0, 0))
	}
}

// §2: the daemon runs in a new session with its stdio on /dev/null, and
// the pid-file holds its pid.
func TestCLIDaemonDetached(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("server.js")
	pid := strconv.Itoa(cliReadPidFile(t, s.path("naught.pid")))
	own := cliStatFields(t, "self")
	daemon := cliStatFields(t, pid)
	if daemon[3] == own[3] {
		t.Errorf("the daemon shares the test's session %s", own[3])
	}
	if daemon[3] != pid {
		t.Errorf("the daemon (pid %s) must lead its own session, its session is %s", pid, daemon[3])
	}
	for fd := range 3 {
		target, err := os.Readlink(fmt.Sprintf("/proc/%s/fd/%d", pid, fd))
		if err != nil || target != "/dev/null" {
			t.Errorf("daemon fd %d is %q (%v), want /dev/null", fd, target, err)
		}
	}
	// The workers are the daemon's.
	pids := cliWaitWorkerPids(s, "stdout.log", 1, nil)
	for w := range pids {
		if ppid := cliStatFields(t, strconv.Itoa(w))[1]; ppid != pid {
			t.Errorf("worker %d has parent %s, want the daemon %s", w, ppid, pid)
		}
	}
}

// Appendix A: start while a server runs on that ipc-file prints its
// status on stdout and exits 1.
func TestCLIStartAlreadyRunning(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("--worker-count", "2", "server.js")
	cliExpect(t, "second start", s.run("start", "server.js"), 1, cliWorkersOnline(2), "")
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(2), "")
}

// Appendix A: the first workers die before online → the events, then "The
// server crashed without booting", exit 1, and nothing left behind.
func TestCLIStartCrashAtBoot(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	r := s.runEnv([]string{"CRASH_AT_BOOT=1"}, "start", "--worker-count", "2", "server.js")
	want := cliEv("Bootup", 2, 0, 0, 0) + cliEv("NewDeath", 1, 0, 0, 0) + cliEv("DestroyNew", 0, 0, 1, 0) +
		cliEv("NewDestroyed", 0, 0, 0, 0) + cliMsgCrashed
	cliExpect(t, "start", r, 1, "", want)
	cliWaitGone(t, s.path("naught.ipc"))
	cliWaitGone(t, s.path("naught.pid"))
	cliWaitNoProcess(s)
	// The worker that crashes first is in stderr.log; the other may be
	// destroyed before it says anything.
	cliWaitLog(s, "stderr.log", "to get the workers' stderr", false, func(log string) bool {
		return strings.Contains(log, "crashing at boot")
	})
	cliExpect(t, "status", s.run("status"), 1, "", cliMsgNotRunning)
}

// The same in the foreground: naught exits 1 with the same words.
func TestCLIForegroundCrashAtBoot(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	fg := s.foreground([]string{"CRASH_AT_BOOT=1"}, "--stderr", "-", "server.js")
	if code := fg.wait(t); code != 1 {
		t.Errorf("foreground naught exit %d, want 1", code)
	}
	stderr := fg.stderr.String()
	if !strings.HasSuffix(stderr, cliMsgCrashed) || !strings.Contains(stderr, "worker 0 crashing at boot\n") ||
		!strings.Contains(stderr, cliEv("NewDeath", 0, 0, 0, 0)) {
		t.Errorf("stderr must show the worker's own stderr (--stderr -), NewDeath and end with %q:\n%s", cliMsgCrashed, stderr)
	}
	if _, err := os.Stat(s.path("stderr.log")); err == nil {
		t.Error("--stderr - created stderr.log")
	}
	cliWaitNoProcess(s)
}

// A program that cannot be started: the Error event with its reason,
// then the crash message, exit 1.
func TestCLIStartProgramMissing(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	r := s.run("start", "not-there")
	if r.code != 1 || !strings.Contains(r.stderr, "Error. ") || !strings.Contains(r.stderr, s.path("not-there")) {
		t.Errorf("start of a missing program must fail with an Error event naming it:\n%s", r)
	}
	cliWaitGone(t, s.path("naught.ipc"))
	cliWaitNoProcess(s)
}

// Appendix A: the daemon cannot start (the ipc-file's folder cannot be
// created) → "unable to start daemon: <reason>", exit 1, in both modes.
func TestCLIUnableToStartDaemon(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	if err := os.WriteFile(s.path("file"), []byte("a regular file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"true", "false"} {
		r := s.run("start", "--daemon-mode", mode, "--ipc-file", "file/sub/naught.ipc", "server.js")
		if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "unable to start daemon: ") ||
			strings.Count(r.stderr, "\n") != 1 || len(r.stderr) <= len("unable to start daemon: \n") {
			t.Errorf("--daemon-mode %s: want `unable to start daemon: <reason>`, exit 1:\n%s", mode, r)
		}
	}
	cliWaitNoProcess(s)
	if b, _ := os.ReadFile(s.path("file")); string(b) != "a regular file\n" {
		t.Errorf("the file was changed: %q", b)
	}
}

// Appendix A: an ipc-file nobody answers on; --remove-old-ipc true removes
// it and starts normally.
func TestCLIStaleIPCFile(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	ipc := s.path("naught.ipc")
	cliStaleSocket(t, ipc)

	cliExpect(t, "start on a stale ipc-file", s.run("start", "server.js"), 1, "",
		"unable to connect to ipc-file `"+ipc+"`\n\n1. the ipc file specified is invalid, or\n2. the daemon process died unexpectedly\n")
	if _, err := os.Lstat(ipc); err != nil {
		t.Fatalf("the stale ipc-file must be left alone without --remove-old-ipc: %v", err)
	}
	cliExpect(t, "status on a stale ipc-file", s.run("status"), 1, "", cliMsgNotRunning)

	r := s.run("start", "--remove-old-ipc", "true", "server.js")
	s.t.Cleanup(func() { s.run("stop", "--timeout", "5") })
	cliExpect(t, "start --remove-old-ipc true", r, 0, cliWorkersOnline(1),
		"unable to connect to ipc-file `"+ipc+"`\n\nremoving the ipc-file and attempting to continue\n"+
			cliEv("Bootup", 1, 0, 0, 0)+cliEv("WorkerOnline", 0, 1, 0, 0))
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
}

// §6: only a socket that provably has no listener is replaced: a regular
// file or a symlink in the ipc-file's place is never removed or followed.
func TestCLIIPCFileNotASocket(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	precious := s.path("precious")
	if err := os.WriteFile(precious, []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"start", "--ipc-file", "precious", "server.js"},
		{"start", "--ipc-file", "precious", "--remove-old-ipc", "true", "server.js"},
	} {
		r := s.run(args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, precious) {
			t.Errorf("naught %s: want a failure naming %s:\n%s", strings.Join(args, " "), precious, r)
		}
		if b, err := os.ReadFile(precious); err != nil || string(b) != "data\n" {
			t.Fatalf("naught %s destroyed a regular file: %q %v", strings.Join(args, " "), b, err)
		}
	}

	// A symlink to where a socket would go: not followed.
	if err := os.Symlink(s.path("elsewhere.sock"), s.path("link.ipc")); err != nil {
		t.Fatal(err)
	}
	r := s.run("start", "--ipc-file", "link.ipc", "server.js")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "unable to start daemon: ") {
		t.Errorf("start on a symlinked ipc-file must fail with `unable to start daemon`:\n%s", r)
	}
	if _, err := os.Lstat(s.path("elsewhere.sock")); err == nil {
		t.Error("the symlink was followed: elsewhere.sock exists")
	}
	if fi, err := os.Lstat(s.path("link.ipc")); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Errorf("the symlink must be left alone: %v %v", fi, err)
	}
	cliWaitNoProcess(s)
}

// §3: option parsing stops at the script; the rest is the worker's argv,
// even what looks like naught's options.
func TestCLIScriptArgs(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	r := s.start("server.js", "--custom1", "aoeu", "herp derp", "--worker-count", "3", "--daemon-mode", "false")
	if r.stdout != cliWorkersOnline(1) {
		t.Errorf("options after the script must not reach naught:\n%s", r)
	}
	var argv []string
	body := s.mustGet("/argv")
	if err := json.Unmarshal([]byte(body), &argv); err != nil {
		t.Fatalf("GET /argv: %q: %v", body, err)
	}
	want := []string{"--custom1", "aoeu", "herp derp", "--worker-count", "3", "--daemon-mode", "false"}
	if fmt.Sprint(argv) != fmt.Sprint(want) || len(argv) != len(want) {
		t.Errorf("worker argv %q, want %q", argv, want)
	}
}

// §3: --node-args, split on spaces, reach node before the script.
func TestCLINodeArgs(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	out := s.path("execargv.json")
	cliStartEnv(s, []string{"EXECARGV_OUT=" + out}, "--node-args", "--max-old-space-size=100 --no-warnings", "cli-worker.js")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["--max-old-space-size=100","--no-warnings"]` {
		t.Errorf("worker's process.execArgv = %s", b)
	}
}

// §3: --worker-count auto = the number of CPUs, for start and deploy.
func TestCLIWorkerCountAuto(t *testing.T) {
	t.Parallel()
	n := runtime.NumCPU()
	if n > 8 {
		t.Skipf("%d CPUs: too many workers for this test", n)
	}
	s := newSandbox(t)
	s.script("server.js")
	r := s.start("--worker-count", "auto", "server.js")
	if r.stdout != cliWorkersOnline(n) {
		t.Errorf("start --worker-count auto on %d CPUs:\n%s", n, r)
	}
	if r := s.run("deploy", "--worker-count", "1"); r.code != 0 {
		t.Fatalf("deploy --worker-count 1:\n%s", r)
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
	if r := s.run("deploy", "--worker-count", "auto"); r.code != 0 {
		t.Fatalf("deploy --worker-count auto:\n%s", r)
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(n), "")
}

// §2, §3: every option reads NAUGHT_<OPTION>; an explicit option wins;
// NAUGHT_IPC_FILE is also the default ipc-file of the other commands.
func TestCLIEnvOptions(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	env := []string{
		"NAUGHT_WORKER_COUNT=2", "NAUGHT_IPC_FILE=ctl/x.ipc", "NAUGHT_LOG=events.log",
		"NAUGHT_STDOUT=out.log", "NAUGHT_STDERR=err.log", "NAUGHT_PID_FILE=x.pid", "NAUGHT_IPC_MODE=0660",
	}
	r := s.runEnv(env, "start", "server.js")
	s.t.Cleanup(func() { s.runEnv(env, "stop", "--timeout", "5") })
	cliExpect(t, "start with NAUGHT_* options", r, 0, cliWorkersOnline(2),
		cliEv("Bootup", 2, 0, 0, 0)+cliEv("WorkerOnline", 1, 1, 0, 0)+cliEv("WorkerOnline", 0, 2, 0, 0))
	if fi, err := os.Lstat(s.path("ctl/x.ipc")); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("NAUGHT_IPC_FILE / NAUGHT_IPC_MODE: ctl/x.ipc %v %v", fi, err)
	}
	cliWaitLog(s, "events.log", "(NAUGHT_LOG) to get the events", true, func(log string) bool { return strings.Contains(log, "Ready.") })
	cliWaitWorkerPids(s, "out.log", 2, nil)
	if _, err := os.Stat(s.path("err.log")); err != nil {
		t.Errorf("NAUGHT_STDERR: %v", err)
	}
	cliReadPidFile(t, s.path("x.pid"))
	for _, name := range []string{"naught.ipc", "naught.log", "stdout.log", "stderr.log", "naught.pid"} {
		if _, err := os.Lstat(s.path(name)); err == nil {
			t.Errorf("%s exists although NAUGHT_* named another file", name)
		}
	}

	// The other commands find the daemon through NAUGHT_IPC_FILE.
	cliExpect(t, "status with NAUGHT_IPC_FILE", s.runEnv(env, "status"), 0, cliWorkersOnline(2), "")
	cliExpect(t, "status without it", s.run("status"), 1, "", cliMsgNotRunning)
	cliExpect(t, "deploy-abort with NAUGHT_IPC_FILE", s.runEnv(env, "deploy-abort"), 1, "", cliMsgNoDeploy)
	if r := s.runEnv(env, "deploy"); r.code != 0 || !strings.HasSuffix(r.stderr, cliMsgDone) {
		t.Errorf("deploy with NAUGHT_IPC_FILE:\n%s", r)
	}
	// NAUGHT_WORKER_COUNT applies to deploy too; an explicit option wins.
	if r := s.runEnv([]string{"NAUGHT_IPC_FILE=ctl/x.ipc", "NAUGHT_WORKER_COUNT=1"}, "deploy"); r.code != 0 {
		t.Errorf("deploy with NAUGHT_WORKER_COUNT=1:\n%s", r)
	}
	cliExpect(t, "status", s.runEnv(env, "status"), 0, cliWorkersOnline(1), "")
	if r := s.runEnv([]string{"NAUGHT_IPC_FILE=ctl/x.ipc", "NAUGHT_WORKER_COUNT=1"}, "deploy", "--worker-count", "2"); r.code != 0 {
		t.Errorf("deploy --worker-count 2:\n%s", r)
	}
	cliExpect(t, "status", s.runEnv(env, "status"), 0, cliWorkersOnline(2), "")
	if r := s.runEnv(env, "stop"); r.code != 0 || !strings.Contains(r.stderr, "OldExit.") {
		t.Errorf("stop with NAUGHT_IPC_FILE:\n%s", r)
	}
	cliWaitGone(t, s.path("ctl/x.ipc"))

	// Explicit options win over the environment.
	r = s.runEnv(env, "start", "--worker-count", "1", "--ipc-file", "y.ipc", "--log", "y.log", "server.js")
	s.t.Cleanup(func() { s.run("stop", "--timeout", "5", "y.ipc") })
	cliExpect(t, "start with options and NAUGHT_*", r, 0, cliWorkersOnline(1), cliEv("Bootup", 1, 0, 0, 0)+cliEv("WorkerOnline", 0, 1, 0, 0))
	if _, err := os.Lstat(s.path("ctl/x.ipc")); err == nil {
		t.Error("--ipc-file y.ipc lost to NAUGHT_IPC_FILE")
	}
	cliWaitLog(s, "y.log", "(--log y.log rather than NAUGHT_LOG) to get the events", true, func(log string) bool { return strings.Contains(log, "Ready.") })
	if r := s.run("stop", "y.ipc"); r.code != 0 {
		t.Fatalf("stop y.ipc:\n%s", r)
	}
	cliWaitGone(t, s.path("y.ipc"))

	// An invalid value in the environment is an error, not a silent default.
	r = s.runEnv([]string{"NAUGHT_WORKER_COUNT=lots"}, "start", "server.js")
	if r.code == 0 || !strings.Contains(r.stderr, "NAUGHT_WORKER_COUNT") {
		t.Errorf("NAUGHT_WORKER_COUNT=lots must be refused:\n%s", r)
	}

	// NAUGHT_DAEMON_MODE=false: start stays in the foreground.
	fg := cliBg(s, []string{"NAUGHT_DAEMON_MODE=false"}, "start", "server.js")
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(1))
	select {
	case <-fg.done:
		t.Fatalf("NAUGHT_DAEMON_MODE=false: start returned:\n%s", cliFinish(t, fg))
	default:
	}
	if pid := cliReadPidFile(t, s.path("naught.pid")); pid != fg.cmd.Process.Pid {
		t.Errorf("pid-file holds %d, want the foreground naught %d", pid, fg.cmd.Process.Pid)
	}
	_ = fg.cmd.Process.Signal(syscall.SIGTERM)
	if code := fg.wait(t); code != 0 {
		t.Errorf("foreground naught exit %d after SIGTERM", code)
	}
}

// §2: path options are resolved against the cwd of `naught start`, the
// script against --cwd (the workers' cwd); folders are created; the other
// commands take the ipc-file as their argument.
func TestCLIPathsRelativeToCaller(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	if err := os.Mkdir(s.path("app"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "server.js"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path("app/server.js"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	r := s.run("start", "--cwd", "app", "--ipc-file", "run/n.ipc", "--pid-file", "run/n.pid",
		"--log", "logs/n.log", "--stdout", "logs/out.log", "--stderr", "logs/err.log", "server.js")
	s.t.Cleanup(func() { s.run("stop", "--timeout", "5", "run/n.ipc") })
	cliExpect(t, "start", r, 0, cliWorkersOnline(1), cliEv("Bootup", 1, 0, 0, 0)+cliEv("WorkerOnline", 0, 1, 0, 0))
	for _, name := range []string{"run/n.ipc", "run/n.pid", "logs/n.log", "logs/out.log", "logs/err.log"} {
		if _, err := os.Lstat(s.path(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if cwd := s.mustGet("/cwd"); cwd != s.path("app") {
		t.Errorf("workers' cwd %q, want %q", cwd, s.path("app"))
	}
	cliExpect(t, "status run/n.ipc", s.run("status", "run/n.ipc"), 0, cliWorkersOnline(1), "")
	cliExpect(t, "deploy-abort run/n.ipc", s.run("deploy-abort", "run/n.ipc"), 1, "", cliMsgNoDeploy)
	if r := s.run("deploy", "run/n.ipc"); r.code != 0 || !strings.HasSuffix(r.stderr, cliMsgDone) {
		t.Errorf("deploy run/n.ipc:\n%s", r)
	}
	// From another folder, with an absolute path.
	if r := cliRunIn(s, "/", nil, "status", s.path("run/n.ipc")); r.stdout != cliWorkersOnline(1) {
		t.Errorf("status <absolute path> from /:\n%s", r)
	}
	if r := s.run("stop", "--timeout", "5", "run/n.ipc"); r.code != 0 || !strings.Contains(r.stderr, "OldExit.") {
		t.Errorf("stop run/n.ipc:\n%s", r)
	}
	cliWaitGone(t, s.path("run/n.ipc"))
	cliWaitGone(t, s.path("run/n.pid"))
}

// §2 / §6: --ipc-mode and --ipc-group set the socket's permissions.
func TestCLIIPCModeGroup(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	gid := os.Getgid()
	if os.Geteuid() == 0 {
		gid = 4242 // root may give the socket any group
	}
	s.start("--ipc-mode", "0660", "--ipc-group", strconv.Itoa(gid), "server.js")
	fi, err := os.Lstat(s.path("naught.ipc"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("naught.ipc mode %v, want a socket with 0660", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Gid) != gid {
		t.Errorf("naught.ipc group %d, want %d", st.Gid, gid)
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
}
