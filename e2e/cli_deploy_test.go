package e2e

// End-to-end tests of `naught deploy` and `naught deploy-abort` (SPEC §3,
// Appendix A). cli-worker.js lets a test hold new workers in "booting"
// (GATE) or crash one of them (CRASH_WORKER).

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// cliOpenGate lets the workers waiting on gate boot.
func cliOpenGate(t *testing.T, gate string) {
	t.Helper()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A deploy prints SpawnNew, NewOnline, ShutdownOld, OldExit per worker,
// then "done" (Ready not printed), exit 0; the new workers serve.
func TestCLIDeploy(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("--worker-count", "2", "server.js")
	old := cliWaitWorkerPids(s, "stdout.log", 2, nil)

	want := cliEv("SpawnNew", 1, 2, 0, 0) + cliEv("SpawnNew", 2, 2, 0, 0) +
		cliEv("NewOnline", 1, 2, 0, 1) + cliEv("NewOnline", 0, 2, 0, 2) +
		cliEv("ShutdownOld", 0, 1, 1, 2) + cliEv("ShutdownOld", 0, 0, 2, 2) +
		cliEv("OldExit", 0, 0, 1, 2) + cliEv("OldExit", 0, 0, 0, 2) + cliMsgDone
	cliExpect(t, "deploy", s.run("deploy"), 0, "", want)
	cliWaitLog(s, "naught.log", "to end with the deploy's events and Ready", true, func(log string) bool {
		return strings.HasSuffix(log, strings.TrimSuffix(want, cliMsgDone)+cliEv("Ready", 0, 2, 0, 0))
	})
	fresh := cliWaitWorkerPids(s, "stdout.log", 2, old)
	for range 6 {
		if pid := cliServedPid(s); !fresh[pid] {
			t.Fatalf("after the deploy pid %d answers; new workers are %v, old were %v", pid, fresh, old)
		}
	}
	for pid := range old {
		if cliAlive(pid) {
			t.Errorf("old worker %d survives the deploy", pid)
		}
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(2), "")
}

// deploy options: --worker-count N, --override-env true (merged over the
// original) / false (kept), --cwd (only when given, relative to the
// deploy's cwd); environment values that are not ASCII travel intact.
func TestCLIDeployOptions(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	for _, d := range []string{"rel1", "rel2", "elsewhere"} {
		if err := os.Mkdir(s.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cliStartEnv(s, []string{"ONLY_AT_START=kept", "VERSION=1"}, "server.js")

	const unicode = "ünï-✓-😀"
	r := s.runEnv([]string{"VERSION=" + unicode}, "deploy", "--worker-count", "2")
	if r.code != 0 || !strings.HasSuffix(r.stderr, cliMsgDone) {
		t.Fatalf("deploy --worker-count 2:\n%s", r)
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(2), "")
	env := cliEnvOf(s)
	if env["VERSION"] != unicode || env["ONLY_AT_START"] != "kept" {
		t.Errorf("--override-env true: VERSION=%q (want %q), ONLY_AT_START=%q (want kept)", env["VERSION"], unicode, env["ONLY_AT_START"])
	}

	r = s.runEnv([]string{"VERSION=3"}, "deploy", "--override-env", "false")
	if r.code != 0 {
		t.Fatalf("deploy --override-env false:\n%s", r)
	}
	cliExpect(t, "status (count kept)", s.run("status"), 0, cliWorkersOnline(2), "")
	if env := cliEnvOf(s); env["VERSION"] != unicode {
		t.Errorf("--override-env false: VERSION=%q, want the previous %q", env["VERSION"], unicode)
	}

	// --cwd relative to the deploy command's cwd (here: elsewhere).
	r = cliRunIn(s, s.path("elsewhere"), nil, "deploy", "--cwd", "../rel1", s.path("naught.ipc"))
	if r.code != 0 {
		t.Fatalf("deploy --cwd ../rel1:\n%s", r)
	}
	if cwd := s.mustGet("/cwd"); cwd != s.path("rel1") {
		t.Errorf("after deploy --cwd ../rel1 from elsewhere/, workers' cwd %q, want %q", cwd, s.path("rel1"))
	}
	if r := s.run("deploy"); r.code != 0 {
		t.Fatalf("deploy:\n%s", r)
	}
	if cwd := s.mustGet("/cwd"); cwd != s.path("rel1") {
		t.Errorf("a deploy without --cwd changed the workers' cwd to %q", cwd)
	}
	if r := s.run("deploy", "--cwd", s.path("rel2"), "--worker-count", "1"); r.code != 0 {
		t.Fatalf("deploy --cwd <abs>:\n%s", r)
	}
	if cwd := s.mustGet("/cwd"); cwd != s.path("rel2") {
		t.Errorf("workers' cwd %q, want %q", cwd, s.path("rel2"))
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
}

// A new worker dies before online → NewDeath, DestroyNew / NewDestroyed for
// the others, "Deploy failed..." on stdout, exit 1; the old ones serve on.
func TestCLIDeployFailed(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	s.start("--worker-count", "2", "cli-worker.js")
	old := cliWaitWorkerPids(s, "stdout.log", 2, nil)

	// New worker 1 crashes; new worker 0 waits at a gate that never opens.
	r := s.runEnv([]string{"CRASH_WORKER=1", "GATE=" + s.path("never")}, "deploy")
	want := cliEv("SpawnNew", 1, 2, 0, 0) + cliEv("SpawnNew", 2, 2, 0, 0) + cliEv("NewDeath", 1, 2, 0, 0) +
		cliEv("DestroyNew", 0, 2, 1, 0) + cliEv("NewDestroyed", 0, 2, 0, 0)
	cliExpect(t, "failing deploy", r, 1, cliMsgDeployFailed, want)
	cliWaitLog(s, "naught.log", "to end with the deploy's events, DeployFailed and Ready", true, func(log string) bool {
		return strings.HasSuffix(log, want+cliEv("DeployFailed", 0, 2, 0, 0)+cliEv("Ready", 0, 2, 0, 0))
	})
	cliWaitLog(s, "stderr.log", "to get the new worker's stderr", false, func(log string) bool {
		return strings.Contains(log, "worker 1 crashing at boot")
	})
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(2), "")
	for range 4 {
		if pid := cliServedPid(s); !old[pid] {
			t.Fatalf("pid %d answers; the old workers %v must keep serving", pid, old)
		}
	}
}

// --timeout: a deploy that does not finish in time is aborted (Timeout,
// then the abort's events), "Deploy failed", exit 1.
func TestCLIDeployTimeout(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	s.start("cli-worker.js")
	r := s.runEnv([]string{"GATE=" + s.path("never")}, "deploy", "--timeout", "0.3")
	want := cliEv("SpawnNew", 1, 1, 0, 0) + cliEv("Timeout", 1, 1, 0, 0) + cliEv("DestroyNew", 0, 1, 1, 0) +
		cliEv("NewDestroyed", 0, 1, 0, 0)
	cliExpect(t, "deploy --timeout 0.3", r, 1, cliMsgDeployFailed, want)
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
}

// deploy-abort while the new workers boot: DestroyNew, NewDestroyed,
// DeployFailed, "deploy aborted", exit 0; the deploy itself fails. Status
// during the deploy says so. Nothing to abort → exit 1.
func TestCLIDeployAbortNew(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	s.start("cli-worker.js")
	old := cliServedPid(s)

	dep := cliBg(s, []string{"GATE=" + s.path("never")}, "deploy")
	cliWaitStatus(s, "deploy in progress\n"+cliCounts(1, 1, 0, 0))
	cliExpect(t, "deploy-abort", s.run("deploy-abort"), 0, "",
		cliEv("DestroyNew", 0, 1, 1, 0)+cliEv("NewDestroyed", 0, 1, 0, 0)+cliEv("DeployFailed", 0, 1, 0, 0)+cliMsgAborted)
	cliExpect(t, "the aborted deploy", cliFinish(t, dep), 1, cliMsgDeployFailed,
		cliEv("SpawnNew", 1, 1, 0, 0)+cliEv("DestroyNew", 0, 1, 1, 0)+cliEv("NewDestroyed", 0, 1, 0, 0))
	cliExpect(t, "deploy-abort with no deploy", s.run("deploy-abort"), 1, "", cliMsgNoDeploy)
	if pid := cliServedPid(s); pid != old {
		t.Errorf("pid %d answers, want the old worker %d", pid, old)
	}
}

// deploy-abort while the old workers die (they ignore 'shutdown'): they
// are killed (DestroyOld, OldExit), "deploy aborted"; the deploy is done.
func TestCLIDeployAbortOld(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	cliStartEnv(s, []string{"LINGER=1"}, "server.js")
	old := cliServedPid(s)

	dep := cliBg(s, []string{"LINGER=0"}, "deploy")
	cliWaitStatus(s, "deploy in progress\n"+cliCounts(0, 0, 1, 1))
	cliExpect(t, "deploy-abort", s.run("deploy-abort"), 0, "",
		cliEv("DestroyOld", 0, 0, 1, 1)+cliEv("OldExit", 0, 0, 0, 1)+cliMsgAborted)
	cliExpect(t, "the deploy", cliFinish(t, dep), 0, "",
		cliEv("SpawnNew", 1, 1, 0, 0)+cliEv("NewOnline", 0, 1, 0, 1)+cliEv("ShutdownOld", 0, 0, 1, 1)+
			cliEv("DestroyOld", 0, 0, 1, 1)+cliEv("OldExit", 0, 0, 0, 1)+cliMsgDone)
	if cliAlive(old) {
		t.Errorf("old worker %d survives", old)
	}
	if pid := cliServedPid(s); pid == old {
		t.Errorf("the old worker %d still answers", pid)
	}
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
}

// A deploy while a deploy runs: "Deploy already in progress...", and that
// command relays the running deploy's events until its end ("done").
func TestCLIDeployInProgress(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	s.start("cli-worker.js")
	gate := s.path("gate")

	first := cliBg(s, []string{"GATE=" + gate}, "deploy")
	cliWaitStatus(s, "deploy in progress\n"+cliCounts(1, 1, 0, 0))
	second := cliBg(s, nil, "deploy")
	second.waitOutput(t, second.stderr, cliMsgInProgress)
	cliOpenGate(t, gate)

	rest := cliEv("NewOnline", 0, 1, 0, 1) + cliEv("ShutdownOld", 0, 0, 1, 1) + cliEv("OldExit", 0, 0, 0, 1) + cliMsgDone
	cliExpect(t, "first deploy", cliFinish(t, first), 0, "", cliEv("SpawnNew", 1, 1, 0, 0)+rest)
	cliExpect(t, "second deploy", cliFinish(t, second), 0, "", cliMsgInProgress+rest)
	cliWaitLog(s, "naught.log", "to log ErrorDeployInProgress", true, func(log string) bool {
		return strings.Contains(log, cliEv("ErrorDeployInProgress", 1, 1, 0, 0))
	})
}

// During the boot: status says "booting", a deploy is refused as "in
// progress" and relays the boot until Ready ("done").
func TestCLIDeployDuringBoot(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	gate := s.path("gate")
	fg := s.foreground([]string{"GATE=" + gate}, "cli-worker.js")
	cliWaitStatus(s, "booting\n"+cliCounts(1, 0, 0, 0))
	dep := cliBg(s, nil, "deploy")
	dep.waitOutput(t, dep.stderr, cliMsgInProgress)
	cliOpenGate(t, gate)
	cliExpect(t, "deploy during the boot", cliFinish(t, dep), 0, "", cliMsgInProgress+cliEv("WorkerOnline", 0, 1, 0, 0)+cliMsgDone)
	fg.waitOutput(t, fg.stdout, cliWorkersOnline(1))
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
}

// Appendix A: a deploy on a server that never booted → "Bootup never
// succeeded...", exit 1; the foreground naught says the server crashed.
func TestCLIDeployBootupNeverSucceeded(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	gate := s.path("gate")
	fg := s.foreground([]string{"GATE=" + gate, "CRASH_AT_BOOT=1"}, "cli-worker.js")
	cliWaitStatus(s, "booting\n"+cliCounts(1, 0, 0, 0))
	dep := cliBg(s, nil, "deploy")
	dep.waitOutput(t, dep.stderr, cliMsgInProgress)
	cliOpenGate(t, gate)
	cliExpect(t, "deploy on a server that never booted", cliFinish(t, dep), 1, "",
		cliMsgInProgress+cliEv("NewDeath", 0, 0, 0, 0)+cliMsgNeverBooted)
	if code := fg.wait(t); code != 1 || !strings.HasSuffix(fg.stderr.String(), cliMsgCrashed) {
		t.Errorf("foreground naught: exit %d, stderr %q", code, fg.stderr.String())
	}
}

// Ctrl+C on a running deploy: "aborting deploy", the abort's events
// (DeployFailed printed, no "Deploy failed" text), exit 1 after Ready.
func TestCLIDeployCtrlC(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.script("cli-worker.js")
	s.start("cli-worker.js")
	old := cliServedPid(s)
	dep := cliBg(s, []string{"GATE=" + s.path("never")}, "deploy")
	spawned := cliEv("SpawnNew", 1, 1, 0, 0)
	dep.waitOutput(t, dep.stderr, spawned)
	if err := dep.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cliExpect(t, "interrupted deploy", cliFinish(t, dep), 1, "",
		spawned+cliMsgAborting+cliEv("DestroyNew", 0, 1, 1, 0)+cliEv("NewDestroyed", 0, 1, 0, 0)+cliEv("DeployFailed", 0, 1, 0, 0))
	cliExpect(t, "status", s.run("status"), 0, cliWorkersOnline(1), "")
	if pid := cliServedPid(s); pid != old {
		t.Errorf("pid %d answers, want the old worker %d", pid, old)
	}
}

// While a stop runs: status "shutting down", deploy → ErrorShuttingDown
// (exit 1), a second stop waits ("Waiting for shutdown...") and its
// shorter timeout (NAUGHT_TIMEOUT) becomes the kill deadline: Timeout,
// DestroyOld, OldExit; both stops exit 0.
func TestCLIStopWhileStopping(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	cliStartEnv(s, []string{"LINGER=1"}, "--worker-count", "2", "server.js")

	first := cliBg(s, nil, "stop", "--timeout", "1000")
	retire := cliEv("ShutdownOld", 0, 1, 1, 0) + cliEv("ShutdownOld", 0, 0, 2, 0)
	first.waitOutput(t, first.stderr, retire)
	cliExpect(t, "status while stopping", s.run("status"), 0, "shutting down\n"+cliCounts(0, 0, 2, 0), "")
	cliExpect(t, "deploy while stopping", s.run("deploy"), 1, "", cliEv("ErrorShuttingDown", 0, 0, 2, 0))
	cliExpect(t, "deploy-abort while stopping", s.run("deploy-abort"), 1, "", cliMsgNoDeploy)

	kill := cliEv("Timeout", 0, 0, 2, 0) + cliEv("DestroyOld", 0, 0, 2, 0) + cliEv("DestroyOld", 0, 0, 2, 0) +
		cliEv("OldExit", 0, 0, 1, 0) + cliEv("OldExit", 0, 0, 0, 0)
	cliExpect(t, "second stop (NAUGHT_TIMEOUT=0.3)", s.runEnv([]string{"NAUGHT_TIMEOUT=0.3"}, "stop"), 0, "", cliMsgWaiting+kill)
	cliExpect(t, "first stop", cliFinish(t, first), 0, "", retire+kill)
	cliWaitGone(t, s.path("naught.ipc"))
	cliWaitGone(t, s.path("naught.pid"))
	cliWaitNoProcess(s)
}

// stop --timeout with workers that ignore 'shutdown': Timeout, DestroyOld,
// OldExit, exit 0.
func TestCLIStopTimeout(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	cliStartEnv(s, []string{"LINGER=1"}, "server.js")
	cliExpect(t, "stop --timeout 0.2", s.run("stop", "--timeout", "0.2"), 0, "",
		cliEv("ShutdownOld", 0, 0, 1, 0)+cliEv("Timeout", 0, 0, 1, 0)+cliEv("DestroyOld", 0, 0, 1, 0)+cliEv("OldExit", 0, 0, 0, 0))
	cliWaitGone(t, s.path("naught.ipc"))
	cliWaitNoProcess(s)
}
