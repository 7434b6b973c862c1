package e2e

// naught as a container's init in the real Docker engine (issue 3, SPEC §2
// and §8): ENTRYPOINT with two workers, `docker kill -s HUP` deploying under
// load, `docker exec … naught status|deploy`, a sidecar deploying through
// the shared volume (the shipped compose file), `docker stop` draining, and
// a worker's 1,000 orphans reaped. The images come from
// docker_harness_test.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proc is one process in the container, as its /proc tells.
type proc struct {
	Pid   int    `json:"pid"`
	Ppid  int    `json:"ppid"`
	State string `json:"state"`
	Comm  string `json:"comm"`
}

// procsScript lists /proc as JSON. It runs with the image's node through
// docker exec (the image has no ps), so it sees the container's pid
// namespace, whatever namespace the engine and this test live in.
const procsScript = `
const fs = require('fs');
const out = [];
for (const d of fs.readdirSync('/proc')) {
  if (!/^\d+$/.test(d)) continue;
  try {
    const st = fs.readFileSync('/proc/' + d + '/stat', 'utf8');
    const i = st.lastIndexOf(')');
    const f = st.slice(i + 2).split(' ');
    out.push({pid: +d, comm: st.slice(st.indexOf('(') + 1, i), state: f[0], ppid: +f[1]});
  } catch (e) {}
}
console.log(JSON.stringify(out));`

// procs lists the container's processes (the lister itself has ppid 0: its
// parent is outside the container).
func (c *container) procs() []proc {
	c.t.Helper()
	r := c.exec("node", "-e", procsScript)
	if r.code != 0 {
		c.t.Fatalf("listing the container's processes:\n%s", r)
	}
	var ps []proc
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil {
		c.t.Fatalf("listing the container's processes: %v\n%s", err, r.stdout)
	}
	return ps
}

// workerPids are the node processes naught (PID 1) runs.
func (c *container) workerPids() map[int]bool {
	c.t.Helper()
	pids := map[int]bool{}
	for _, p := range c.procs() {
		if p.Ppid == 1 && p.Comm == "node" {
			pids[p.Pid] = true
		}
	}
	return pids
}

var servedPidRe = regexp.MustCompile(`pid[ =](\d+)`)

// servedPid asks url which worker answers.
func servedPid(t *testing.T, url string) int {
	t.Helper()
	resp, err := newClient().Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, b, err)
	}
	m := servedPidRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("GET %s: no pid in %q", url, b)
	}
	pid, _ := strconv.Atoi(string(m[1]))
	return pid
}

// naught is the container's ENTRYPOINT and PID 1, its two workers serve,
// and `docker exec <ctr> naught status` / `naught deploy` work through the
// control socket the image's NAUGHT_IPC_FILE names.
func TestDockerEntrypointAndExec(t *testing.T) {
	t.Parallel()
	w := needDocker(t)
	c := w.start(t, nil, w.example)
	c.waitLog("Ready.", 1)

	ps := c.procs()
	for _, p := range ps {
		if p.Pid == 1 && p.Comm != "naught" {
			t.Errorf("PID 1 is %q, want naught", p.Comm)
		}
	}
	old := c.workerPids()
	if len(old) != 2 {
		t.Fatalf("workers %v, want 2 node children of naught: %+v", old, ps)
	}
	url := c.url(8000)
	if pid := servedPid(t, url); !old[pid] {
		t.Errorf("pid %d answered, want one of the workers %v", pid, old)
	}

	cliExpect(t, "docker exec naught status", c.exec("naught", "status"), 0, cliWorkersOnline(2), "")
	deploy := c.exec("naught", "deploy")
	if deploy.code != 0 || !strings.HasSuffix(deploy.stderr, cliEv("OldExit", 0, 0, 0, 2)+"done\n") {
		t.Fatalf("docker exec naught deploy:\n%s", deploy)
	}
	fresh := c.workerPids()
	if len(fresh) != 2 {
		t.Fatalf("after the deploy, workers %v, want 2", fresh)
	}
	for pid := range fresh {
		if old[pid] {
			t.Errorf("worker %d survived the deploy", pid)
		}
	}
	if pid := servedPid(t, url); !fresh[pid] {
		t.Errorf("after the deploy pid %d answered, want one of %v", pid, fresh)
	}
}

// `docker kill -s HUP` deploys, three times in a row, while a load client
// that opens a new connection for every request sees no failure.
func TestDockerHUPDeploysUnderLoad(t *testing.T) {
	t.Parallel()
	w := needDocker(t)
	c := w.start(t, nil, w.example)
	c.waitLog("Ready.", 1)
	url := c.url(8000)
	old := c.workerPids()

	l := startLoad(t, url, 4)
	for i := 1; i <= 3; i++ {
		before := l.ok.Load()
		if r := dockerRun(t, "kill", "-s", "HUP", c.id); r.code != 0 {
			t.Fatalf("docker kill -s HUP:\n%s", r)
		}
		c.waitLog("Ready.", 1+i)
		// The load went on through this deploy.
		eventually(t, "requests after the deploy", func() bool { return l.ok.Load() > before })
	}
	l.stop()
	if errs := l.failures(); len(errs) > 0 {
		t.Errorf("%d of %d requests failed through 3 HUP deploys; first: %v", len(errs), int64(len(errs))+l.ok.Load(), errs[0])
	}
	t.Logf("%d requests through 3 HUP deploys, 0 failed", l.ok.Load())
	if n := strings.Count(c.logs(), "SpawnNew."); n != 6 {
		t.Errorf("%d SpawnNew events, want 2 for each of 3 deploys", n)
	}
	for pid := range c.workerPids() {
		if old[pid] {
			t.Errorf("worker %d survived 3 deploys", pid)
		}
	}
}

// The shipped compose file: the app runs, and its deploy sidecar — another
// container that shares only the volume holding the control socket —
// deploys through it.
func TestDockerComposeSidecarDeploys(t *testing.T) {
	t.Parallel()
	w := needDocker(t)
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("docker-compose is not installed, and CI must run this test")
		}
		t.Skip("docker-compose is not installed: skipping the compose sidecar test (CI runs it)")
	}
	port := freePort(t)
	project := fmt.Sprintf("naughte2e%s%d", w.runID, port)
	compose := func(args ...string) result {
		t.Helper()
		c := exec.Command("docker-compose", append([]string{"-p", project, "-f", filepath.Join("..", "docker", "compose.yaml")}, args...)...)
		c.Env = append(os.Environ(), "NAUGHT_EXAMPLE_IMAGE="+w.example, fmt.Sprintf("NAUGHT_EXAMPLE_PORT=127.0.0.1:%d", port))
		return runBounded(t, c, 2*time.Minute)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("compose logs:\n%s", compose("logs", "--no-color"))
		}
		if r := compose("down", "-v", "--remove-orphans", "-t", "10"); r.code != 0 {
			t.Errorf("docker-compose down:\n%s", r)
		}
	})
	if r := compose("up", "-d", "--no-build", "app"); r.code != 0 {
		t.Fatalf("docker-compose up:\n%s", r)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var first int
	eventually(t, "the compose app serving on "+url, func() bool {
		resp, err := newClient().Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m := servedPidRe.FindSubmatch(b); m != nil {
				first, _ = strconv.Atoi(string(m[1]))
				return true
			}
		}
		return false
	})

	deploy := compose("run", "--rm", "-T", "deploy")
	if deploy.code != 0 || !strings.Contains(deploy.stderr, cliEv("OldExit", 0, 0, 0, 2)+"done\n") {
		t.Fatalf("the deploy sidecar:\n%s", deploy)
	}
	if pid := servedPid(t, url); pid == first {
		t.Errorf("pid %d still answers after the sidecar's deploy", pid)
	}
	logs := compose("logs", "--no-color", "app")
	if !strings.Contains(logs.stdout, "Ready. booting: 0, online: 2, dying: 0, new_online: 0") || strings.Count(logs.stdout, "SpawnNew.") != 2 {
		t.Errorf("the app's log must show the sidecar's deploy:\n%s", logs.stdout)
	}
}

// `docker stop` drains: a request in flight is answered, every worker shuts
// down gracefully (no Timeout, no kill), and the container exits 0. The time
// it took is reported, not asserted.
func TestDockerStopDrains(t *testing.T) {
	t.Parallel()
	w := needDocker(t)
	c := w.start(t, []string{"-e", "SLOW_MS=1500", "-e", "LOG_REQUESTS=1", "-e", "PORT=8000"}, w.example, "/e2e/server.js")
	c.waitLog("Ready.", 1)
	url := c.url(8000)

	type answer struct {
		body string
		err  error
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, err := newClient().Get(url + "slow")
		if err != nil {
			inFlight <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inFlight <- answer{string(b), err}
	}()
	c.waitLog("got /slow", 1)

	began := time.Now()
	if r := dockerRun(t, "stop", "-t", "10", c.id); r.code != 0 {
		t.Fatalf("docker stop:\n%s", r)
	}
	took := time.Since(began)
	a := <-inFlight
	if a.err != nil || !strings.Contains(a.body, "pid=") {
		t.Errorf("the request in flight during docker stop: %q, %v", a.body, a.err)
	}
	if code := c.inspect("{{.State.ExitCode}}"); code != "0" {
		t.Errorf("container exit code %s, want 0", code)
	}
	logs := c.logs()
	if strings.Count(logs, "OldExit.") != 2 || !strings.Contains(logs, cliEv("Shutdown", 0, 0, 0, 0)) || strings.Contains(logs, "Timeout.") {
		t.Errorf("docker stop must drain both workers gracefully:\n%s", logs)
	}
	t.Logf("docker stop took %s with a request of 1.5 s in flight (grace period 10 s)", took.Round(time.Millisecond))
}

// A worker that ignores 'shutdown' cannot make `docker stop` end in a
// SIGKILL: naught's default stop budget as PID 1 (8 s) kills it, and naught
// exits 0 inside docker's grace period of 10 s. Were it late, docker would
// SIGKILL naught and the exit code would be 137.
func TestDockerStopKillsStragglersInTime(t *testing.T) {
	t.Parallel()
	w := needDocker(t)
	c := w.start(t, []string{"-e", "LINGER=1", "-e", "PORT=8000", "-e", "NAUGHT_WORKER_COUNT=1"}, w.example, "/e2e/server.js")
	c.waitLog("Ready.", 1)
	began := time.Now()
	if r := dockerRun(t, "stop", "-t", "10", c.id); r.code != 0 {
		t.Fatalf("docker stop:\n%s", r)
	}
	took := time.Since(began)
	if code := c.inspect("{{.State.ExitCode}}"); code != "0" {
		t.Errorf("container exit code %s, want 0 (naught's stop budget must end before docker's)", code)
	}
	if logs := c.logs(); !strings.Contains(logs, cliEv("Timeout", 0, 0, 1, 0)+cliEv("DestroyOld", 0, 0, 1, 0)) {
		t.Errorf("the straggler must be killed after the stop budget:\n%s", logs)
	}
	t.Logf("docker stop took %s with a worker that ignores 'shutdown' (budget 8 s, grace period 10 s)", took.Round(time.Millisecond))
}

// A worker that leaves 1,000 orphans behind leaves no zombie: naught, PID 1,
// reaps them.
func TestDockerOrphansReaped(t *testing.T) {
	t.Parallel()
	w := needDocker(t)
	c := w.start(t, []string{"-e", "NAUGHT_WORKER_COUNT=1", "-e", "ORPHANS=1000", "-e", "PORT=8000"}, w.example, "/e2e/docker-orphans.js")
	c.waitLog("orphans: forked 1000 of 1000", 1)
	c.waitLog("Ready.", 1)
	deadline := time.Now().Add(waitFor)
	for {
		var zombies, orphans []proc
		for _, p := range c.procs() {
			if p.State == "Z" {
				zombies = append(zombies, p)
			}
			if p.Comm == "orphans" {
				orphans = append(orphans, p)
			}
		}
		if len(zombies) == 0 && len(orphans) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d zombies, %d orphans left (first: %+v)", waitFor, len(zombies), len(orphans), append(zombies, orphans...)[0])
		}
		time.Sleep(100 * time.Millisecond) // polling the container's /proc
	}
	if pid := servedPid(t, c.url(8000)); !c.workerPids()[pid] {
		t.Errorf("pid %d answered, want the worker", pid)
	}
}

// The shipped manifests give naught's stop budget room inside the grace
// period the orchestrator allows: Kubernetes' terminationGracePeriodSeconds
// and compose's stop_grace_period are at least 2 s above the budget (the
// NAUGHT_STOP_TIMEOUT the manifest sets, else the PID 1 default that
// `naught help start` states). No engine needed.
func TestDockerManifestsFitTheStopBudget(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	help := s.run("help", "start")
	m := regexp.MustCompile(`--stop-timeout none \((\d+) as PID 1\)`).FindStringSubmatch(help.stdout + help.stderr)
	if m == nil {
		t.Fatalf("naught help start does not state --stop-timeout's PID 1 default:\n%s", help)
	}
	budget, _ := strconv.Atoi(m[1])

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "docker", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	number := func(doc, what, pattern string) int {
		m := regexp.MustCompile(pattern).FindStringSubmatch(doc)
		if m == nil {
			t.Fatalf("no %s in the manifest (%s)", what, pattern)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	k8s := read("kubernetes.yaml")
	k8sBudget := budget
	if regexp.MustCompile(`NAUGHT_STOP_TIMEOUT`).MatchString(k8s) {
		k8sBudget = number(k8s, "NAUGHT_STOP_TIMEOUT", `name: NAUGHT_STOP_TIMEOUT, value: "(\d+)"`)
	}
	if grace := number(k8s, "terminationGracePeriodSeconds", `terminationGracePeriodSeconds: (\d+)`); grace < k8sBudget+2 {
		t.Errorf("kubernetes.yaml: terminationGracePeriodSeconds %d leaves no room after a stop budget of %d s", grace, k8sBudget)
	}
	if grace := number(read("compose.yaml"), "stop_grace_period", `stop_grace_period: (\d+)s`); grace < budget+2 {
		t.Errorf("compose.yaml: stop_grace_period %ds leaves no room after a stop budget of %d s", grace, budget)
	}
}
