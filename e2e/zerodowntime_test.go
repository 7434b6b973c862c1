package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// Zero downtime (SPEC §1): no connection is refused or dropped while naught
// deploys, while a worker crashes and is restarted, and while old workers
// finish their requests. The load makes a fresh connection per request.

// zdCheckLoad stops the load and fails on any failed request.
func zdCheckLoad(t *testing.T, l *load, what string) int64 {
	t.Helper()
	l.stop()
	ok := l.ok.Load()
	if errs := l.failures(); len(errs) > 0 {
		t.Errorf("%s: %d of %d requests failed; first: %v", what, len(errs), int64(len(errs))+ok, errs[0])
	}
	if ok == 0 {
		t.Errorf("%s: no request succeeded", what)
	}
	t.Logf("%s: %d requests, %d failed", what, ok+int64(len(l.failures())), len(l.failures()))
	return ok
}

// Five consecutive deploys under load: not one request fails, and after
// each deploy the new code serves.
func TestZeroDowntimeAcrossDeploys(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v0")
	s.start("--worker-count", "2", s.script("server.js"))

	l := s.startLoad(4)
	for i := 1; i <= 5; i++ {
		version := fmt.Sprintf("v%d", i)
		poolDeploy(t, s, []string{"VERSION=" + version})
		if h := poolHelloFrom(t, s); h.version != version {
			t.Fatalf("after deploy %d, served %+v", i, h)
		}
	}
	zdCheckLoad(t, l, "5 deploys")
	poolWaitEvent(t, s, "Ready", 6)
	if n := poolCount(s, "ShutdownOld"); n != 10 {
		t.Errorf("%d ShutdownOld for 5 deploys of 2 workers", n)
	}
}

// A single worker crashing again and again under load: while no worker
// exists (the restart backoff), connections wait in the listening socket's
// backlog and the replacement serves them; none is refused.
//
// The worker's /crash stops accepting and exits 3 once its accepted
// requests are answered: a crash that itself loses nothing, so any
// failure is naught's.
func TestZeroDowntimeThroughCrashes(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.start("--worker-count", "1", s.script("pool-app.js"))

	l := s.startLoad(4)
	const crashes = 5
	pids := map[int]bool{}
	for i := 1; i <= crashes; i++ {
		if body := s.mustGet("/crash"); body != "bye" {
			t.Fatalf("GET /crash = %q", body)
		}
		poolWaitEvent(t, s, "WorkerOnline", i+1)
		pids[poolHelloFrom(t, s).pid] = true
	}
	zdCheckLoad(t, l, fmt.Sprintf("%d crashes", crashes))
	if n := poolCount(s, "WorkerDeath"); n != crashes {
		t.Errorf("%d WorkerDeath, want %d", n, crashes)
	}
	// The later restarts were delayed: there were moments without any worker.
	if log := s.read("naught.log"); !strings.Contains(log, "worker 0 crashed 4 times in a row; restarting it in") {
		t.Errorf("no restart backoff in naught.log: the test did not cover a time without workers\n%s", log)
	}
	if len(pids) != crashes {
		t.Errorf("served by %d distinct replacements, want %d", len(pids), crashes)
	}
}

// Requests in flight when a deploy starts complete with 200, answered by
// the old workers, which finish them after being told to shut down; new
// connections meanwhile go to the new workers.
func TestZeroDowntimeRequestsInFlightComplete(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1", "POOL_DIR="+s.dir)
	s.start("--worker-count", "2", s.script("pool-app.js"))
	old := poolWaitWorkers(t, s, 2)

	held := poolHold(t, s, 6)
	deploy := poolBackground(s, []string{"VERSION=v2"}, "deploy")
	poolWaitEvent(t, s, "ShutdownOld", 2)
	for _, pid := range held.pids {
		if !poolAlive(pid) {
			t.Fatalf("old worker %d exited with a request in flight", pid)
		}
	}
	// New connections are served by the new generation meanwhile.
	if h := poolHelloFrom(t, s); h.version != "v2" {
		t.Errorf("during the old workers' drain, served %+v", h)
	}
	answers := held.release(t)
	for _, a := range answers {
		if _, isOld := old[a.pid]; !isOld || a.version != "v1" {
			t.Errorf("request in flight answered by %+v, want an old worker", a)
		}
	}
	poolExpect(t, "deploy", deploy.wait(t), 0, "", "done\n")
	poolWaitEvent(t, s, "OldExit", 2)
	t.Logf("%d requests in flight across the deploy, all answered", len(answers))
}

// Slow requests (500 ms each) under continuous load across a deploy: those
// in flight in the old workers when they are told to shut down finish.
func TestZeroDowntimeSlowRequestsAcrossADeploy(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1", "SLOW_MS=500")
	s.start("--worker-count", "2", s.script("server.js"))

	l := s.startLoad(4)
	// Let requests be in flight in the old generation before deploying.
	eventually(t, "slow requests served", func() bool { return l.ok.Load() >= 4 })
	poolDeploy(t, s, []string{"VERSION=v2", "SLOW_MS=0"})
	if h := poolHelloFrom(t, s); h.version != "v2" {
		t.Errorf("served %+v after the deploy", h)
	}
	zdCheckLoad(t, l, "a deploy with slow requests")
}
