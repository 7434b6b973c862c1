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
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The worker pool (SPEC §4), driven through the real binary and real node
// workers. Most facts are read from three places: naught.log (one line per
// event), /proc (which worker processes exist, their environment and
// process group) and the responses of the workers themselves.

// --- helpers (prefixed pool, the harness is someone else's) ---

// poolEvents returns the event names of naught.log in order, without the
// Status events that `naught status` calls add.
func poolEvents(s *sandbox) []string {
	var names []string
	for _, line := range strings.Split(s.read("naught.log"), "\n") {
		name, _, ok := strings.Cut(line, ". booting: ")
		if ok && !strings.Contains(name, " ") && name != "Status" {
			names = append(names, name)
		}
	}
	return names
}

// poolCount is how many times event is in naught.log.
func poolCount(s *sandbox, event string) int {
	n := 0
	for _, name := range poolEvents(s) {
		if name == event {
			n++
		}
	}
	return n
}

// poolWaitEvent waits until naught.log has event at least n times.
func poolWaitEvent(t *testing.T, s *sandbox, event string, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d× %s in naught.log", n, event), func() bool { return poolCount(s, event) >= n })
}

// poolWaitLog waits until naught.log contains substr.
func poolWaitLog(t *testing.T, s *sandbox, substr string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%q in naught.log", substr), func() bool { return strings.Contains(s.read("naught.log"), substr) })
}

// poolSince waits until naught.log has event k times and returns the index
// of the event after the k-th one: where the events of what follows start.
// (The log is written asynchronously: a CLI command may return before the
// log has its last events; every read of it must wait.)
func poolSince(t *testing.T, s *sandbox, event string, k int) int {
	t.Helper()
	poolWaitEvent(t, s, event, k)
	for i, name := range poolEvents(s) {
		if name == event {
			if k--; k == 0 {
				return i + 1
			}
		}
	}
	t.Fatalf("naught.log lost events:\n%s", s.read("naught.log"))
	return 0
}

// poolExpectEvents waits until naught.log has len(want) events from index
// from on, and checks that they are exactly want.
func poolExpectEvents(t *testing.T, s *sandbox, from int, want ...string) {
	t.Helper()
	var got []string
	deadline := time.Now().Add(waitFor)
	for {
		got = poolEvents(s)
		got = got[min(from, len(got)):]
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the log
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got  %v\n want %v", got, want)
	}
}

// poolLastLine is the last line of naught.log that starts with event.
func poolLastLine(s *sandbox, event string) string {
	lines := strings.Split(s.read("naught.log"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], event+". ") {
			return lines[i]
		}
	}
	return ""
}

// poolProc is a live worker process, as /proc shows it.
type poolProc struct {
	pid, number int
	env         map[string]string
}

// poolWorkers lists the live (not zombie) node processes of the sandbox by pid.
func poolWorkers(s *sandbox) map[int]poolProc {
	out := map[int]poolProc{}
	for _, pid := range s.markedPids() {
		argv := poolArgv(pid)
		if len(argv) == 0 || filepath.Base(argv[0]) != "node" || !poolAlive(pid) {
			continue
		}
		env := poolEnviron(pid)
		n, err := strconv.Atoi(env["NAUGHT_WORKER"])
		if err != nil {
			continue // gone meanwhile
		}
		out[pid] = poolProc{pid: pid, number: n, env: env}
	}
	return out
}

// poolWaitWorkers waits until exactly n workers run and returns them.
func poolWaitWorkers(t *testing.T, s *sandbox, n int) map[int]poolProc {
	t.Helper()
	var ws map[int]poolProc
	eventually(t, fmt.Sprintf("%d worker processes", n), func() bool {
		ws = poolWorkers(s)
		return len(ws) == n
	})
	return ws
}

// poolNumbers is the sorted NAUGHT_WORKER numbers of ws.
func poolNumbers(ws map[int]poolProc) []int {
	var ns []int
	for _, w := range ws {
		ns = append(ns, w.number)
	}
	slices.Sort(ns)
	return ns
}

func poolArgv(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func poolEnviron(pid int) map[string]string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// poolStat returns state, ppid and pgrp of pid from /proc/<pid>/stat.
func poolStat(pid int) (state string, ppid, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0], ppid, pgrp, true
}

// poolAlive tells whether pid exists and is not a zombie.
func poolAlive(pid int) bool {
	state, _, _, ok := poolStat(pid)
	return ok && state != "Z" && state != "X"
}

// poolSleeps lists the sandbox's `sleep 1000` processes (children of
// pool-child.js workers) with their parent pid.
func poolSleeps(s *sandbox) map[int]int {
	out := map[int]int{}
	for _, pid := range s.markedPids() {
		argv := poolArgv(pid)
		if len(argv) == 2 && filepath.Base(argv[0]) == "sleep" && argv[1] == "1000" && poolAlive(pid) {
			_, ppid, _, _ := poolStat(pid)
			out[pid] = ppid
		}
	}
	return out
}

var poolHelloRE = regexp.MustCompile(`^worker=(\d+) pid=(\d+) version=(.*)\n$`)

// poolHello is a parsed `worker=N pid=P version=V` answer.
type poolHello struct {
	number, pid int
	version     string
}

func poolParseHello(t *testing.T, body string) poolHello {
	t.Helper()
	m := poolHelloRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("unexpected answer %q", body)
	}
	n, _ := strconv.Atoi(m[1])
	pid, _ := strconv.Atoi(m[2])
	return poolHello{number: n, pid: pid, version: m[3]}
}

// poolHelloFrom GETs / and parses the answer.
func poolHelloFrom(t *testing.T, s *sandbox) poolHello {
	t.Helper()
	return poolParseHello(t, s.mustGet("/"))
}

// poolSeeAll GETs / until every pid of want has answered; it fails on an
// answer from any other pid.
func poolSeeAll(t *testing.T, want map[int]poolProc, get func() (string, error)) {
	t.Helper()
	seen := map[int]bool{}
	eventually(t, fmt.Sprintf("answers from every worker %v", poolPids(want)), func() bool {
		body, err := get()
		if err != nil {
			t.Fatalf("GET /: %v", err)
		}
		h := poolParseHello(t, body)
		w, ok := want[h.pid]
		if !ok {
			t.Fatalf("answer from pid %d, which is not one of the workers %v", h.pid, poolPids(want))
		}
		if w.number != h.number {
			t.Fatalf("pid %d answers as worker %d, its environment says %d", h.pid, h.number, w.number)
		}
		seen[h.pid] = true
		return len(seen) == len(want)
	})
}

func poolPids(ws map[int]poolProc) []int {
	var pids []int
	for pid := range ws {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// poolBg is a naught command running in the background.
type poolBg struct {
	stdout, stderr *lockedBuffer
	done           chan struct{}
	res            result
}

// poolBackground starts naught args with extra environment and returns at
// once; the process is killed at cleanup if it still runs.
func poolBackground(s *sandbox, env []string, args ...string) *poolBg {
	s.t.Helper()
	c := s.cmd(env, args...)
	b := &poolBg{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	c.Stdout, c.Stderr = b.stdout, b.stderr
	if err := c.Start(); err != nil {
		s.t.Fatal(err)
	}
	go func() {
		err := c.Wait()
		b.res = result{code: c.ProcessState.ExitCode(), stdout: b.stdout.String(), stderr: b.stderr.String()}
		if err != nil && b.res.code == 0 {
			b.res.code = -1
		}
		close(b.done)
	}()
	s.t.Cleanup(func() {
		_ = c.Process.Kill()
		<-b.done
	})
	return b
}

// wait waits for the background command to finish.
func (b *poolBg) wait(t *testing.T) result {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(waitFor):
		t.Fatalf("background naught did not finish\nstdout: %s\nstderr: %s", b.stdout, b.stderr)
	}
	return b.res
}

// poolExpect checks a CLI result's exit code and that its streams contain
// the given texts.
func poolExpect(t *testing.T, what string, r result, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stdout, stdout) || !strings.Contains(r.stderr, stderr) {
		t.Fatalf("%s: want exit %d, stdout with %q, stderr with %q; got\n%s", what, code, stdout, stderr, r)
	}
}

// poolDeploy runs a deploy that must succeed.
func poolDeploy(t *testing.T, s *sandbox, env []string, args ...string) result {
	t.Helper()
	r := s.runEnv(env, append([]string{"deploy"}, args...)...)
	if r.code != 0 || !strings.HasSuffix(r.stderr, "done\n") {
		t.Fatalf("deploy %v: want exit 0 and done; got\n%s", args, r)
	}
	return r
}

// poolHeld is a set of requests in flight: GET /hold requests the
// workers answer only once released.
type poolHeld struct {
	s       *sandbox
	pids    []int // the workers holding them
	results chan poolHeldResult
	left    int
}

type poolHeldResult struct {
	body string
	err  error
}

// poolHold starts n GET /hold requests and waits until the workers have
// them.
func poolHold(t *testing.T, s *sandbox, n int) *poolHeld {
	t.Helper()
	h := &poolHeld{s: s, results: make(chan poolHeldResult, n), left: n}
	for range n {
		go func() {
			body, err := s.get("/hold")
			h.results <- poolHeldResult{body, err}
		}()
	}
	t.Cleanup(func() {
		// Not released by the test: let them go (or the sandbox's kill cuts them).
		_ = os.WriteFile(s.path("release"), nil, 0o644)
		for ; h.left > 0; h.left-- {
			<-h.results
		}
	})
	eventually(t, fmt.Sprintf("%d held requests", n), func() bool {
		h.pids = nil
		for _, f := range strings.Fields(s.read("held")) {
			pid, _ := strconv.Atoi(f)
			h.pids = append(h.pids, pid)
		}
		return len(h.pids) >= n
	})
	return h
}

// release lets the held requests answer, checks they all succeed and
// returns their answers.
func (h *poolHeld) release(t *testing.T) []poolHello {
	t.Helper()
	if err := os.WriteFile(h.s.path("release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var answers []poolHello
	for ; h.left > 0; h.left-- {
		select {
		case r := <-h.results:
			if r.err != nil {
				t.Fatalf("a request in flight failed: %v", r.err)
			}
			answers = append(answers, poolParseHello(t, r.body))
		case <-time.After(waitFor):
			t.Fatal("held requests did not finish")
		}
	}
	return answers
}

// poolUnixGet fetches path over a fresh connection to the unix socket sock.
func poolUnixGet(sock, path string) (string, error) {
	c := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
		},
	}
	resp, err := c.Get("http://app" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// poolLives is the number of times pool-lives.js started.
func poolLives(s *sandbox) int { return len(strings.Fields(s.read("lives"))) / 2 }

// poolDaemonPid is the daemon's pid, from naught.pid.
func poolDaemonPid(t *testing.T, s *sandbox) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(s.read("naught.pid")))
	if err != nil || !poolAlive(pid) {
		t.Fatalf("naught.pid %q does not name a live daemon", s.read("naught.pid"))
	}
	return pid
}

func poolSameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// --- boot ---

// §4 Start/boot, worker numbers, process groups: N workers are spawned at
// once (Bootup counts them all booting), Ready comes when all are online,
// each worker gets NAUGHT_WORKER 0..N-1, the start's environment and cwd,
// and runs in its own process group.
func TestPoolBootSpawnsAllWorkersAtOnce(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	script := s.script("server.js")
	s.env = append(s.env, "POOL_FROM_START=yes")
	r := s.start("--worker-count", "3", script)
	if r.stdout != "workers online: 3\n" {
		t.Fatalf("start: %s", r)
	}
	poolExpectEvents(t, s, 0, "IpcListening", "Bootup", "WorkerOnline", "WorkerOnline", "WorkerOnline", "Ready")
	if line := poolLastLine(s, "Bootup"); line != "Bootup. booting: 3, online: 0, dying: 0, new_online: 0" {
		t.Errorf("Bootup line %q: every worker should be booting at once", line)
	}
	if line := poolLastLine(s, "Ready"); line != "Ready. booting: 0, online: 3, dying: 0, new_online: 0" {
		t.Errorf("Ready line %q", line)
	}
	ws := poolWaitWorkers(t, s, 3)
	if got := poolNumbers(ws); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("NAUGHT_WORKER numbers %v, want [0 1 2]", got)
	}
	for pid, w := range ws {
		if _, _, pgrp, _ := poolStat(pid); pgrp != pid {
			t.Errorf("worker %d (pid %d) is in process group %d, want its own", w.number, pid, pgrp)
		}
		if w.env["POOL_FROM_START"] != "yes" {
			t.Errorf("worker %d lacks the start's environment", w.number)
		}
	}
	poolSeeAll(t, ws, func() (string, error) { return s.get("/") })
	// What the worker itself sees, through HTTP.
	env := s.mustGet("/env")
	if !strings.Contains(env, `"POOL_FROM_START":"yes"`) || !regexp.MustCompile(`"NAUGHT_WORKER":"[012]"`).MatchString(env) {
		t.Errorf("GET /env = %s", env)
	}
	if cwd := s.mustGet("/cwd"); !poolSameDir(cwd, s.dir) {
		t.Errorf("worker cwd %q, want %q", cwd, s.dir)
	}
	if r := s.run("status"); r.code != 0 || r.stdout != "workers online: 3\n" {
		t.Errorf("status: %s", r)
	}
}

// §4 Start/boot: when one first worker dies before every worker is
// online, the boot fails: every other worker is destroyed, the daemon
// exits and cleans up.
func TestPoolBootFailsWhenAFirstWorkerDies(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.env = append(s.env, "POOL_CRASH_WORKER=1")
	r := s.run("start", "--worker-count", "3", s.script("pool-one-crash.js"))
	poolExpect(t, "start", r, 1, "", "The server crashed without booting. Check stderr.log.\n")
	got := poolEvents(s)
	eventually(t, "Shutdown in naught.log", func() bool {
		got = poolEvents(s)
		return slices.Contains(got, "Shutdown")
	})
	count := func(ev string) int {
		return len(slices.DeleteFunc(slices.Clone(got), func(x string) bool { return x != ev }))
	}
	if count("NewDeath") != 1 || count("DestroyNew") != 2 || count("NewDestroyed") != 2 ||
		slices.Contains(got, "Ready") || got[len(got)-1] != "Shutdown" {
		t.Errorf("events of a failed boot: %v", got)
	}
	eventually(t, "no worker left", func() bool { return len(poolWorkers(s)) == 0 })
	eventually(t, "the ipc-file removed", func() bool {
		_, err := os.Stat(s.path("naught.ipc"))
		return errors.Is(err, os.ErrNotExist)
	})
	if !strings.Contains(s.read("stderr.log"), "worker 1 crashing at boot") {
		t.Errorf("stderr.log lacks the worker's words:\n%s", s.read("stderr.log"))
	}
}

// --- sockets ---

// §7 Node part: both workers get the one TCP socket naught bound, and both
// accept on it.
func TestPoolWorkersShareOnePort(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.start("--worker-count", "2", s.script("server.js"))
	ws := poolWaitWorkers(t, s, 2)
	poolSeeAll(t, ws, func() (string, error) { return s.get("/") })
}

// §7 Node part: a unix socket path as the listen address is shared the
// same way, and survives a deploy (the new generation gets the same socket).
func TestPoolWorkersShareOneUnixSocket(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	sock := s.path("app.sock")
	s.env = append(s.env, "PORT="+sock, "VERSION=v1")
	s.start("--worker-count", "2", s.script("server.js"))
	get := func() (string, error) { return poolUnixGet(sock, "/") }
	poolSeeAll(t, poolWaitWorkers(t, s, 2), get)

	poolDeploy(t, s, []string{"VERSION=v2"})
	ws := poolWaitWorkers(t, s, 2)
	for _, w := range ws {
		if w.env["VERSION"] != "v2" {
			t.Fatalf("after the deploy, worker %d runs %s", w.pid, w.env["VERSION"])
		}
	}
	poolSeeAll(t, ws, get)
}

// --- deploy ---

// §4 Deploy: every new worker is online before any old one is asked to
// shut down; then the old ones exit and Ready ends it. New workers get the
// deploy's environment merged over the start's and keep the old numbers.
func TestPoolDeployReplacesEveryWorker(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1", "POOL_A=start", "POOL_B=start")
	s.start("--worker-count", "2", s.script("server.js"))
	old := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	r := poolDeploy(t, s, []string{"VERSION=v2", "POOL_A=deploy"})
	want := []string{"SpawnNew", "SpawnNew", "NewOnline", "NewOnline", "ShutdownOld", "ShutdownOld", "OldExit", "OldExit", "Ready"}
	poolExpectEvents(t, s, from, want...)
	for _, ev := range want[:len(want)-1] {
		if !strings.Contains(r.stderr, ev+". booting: ") {
			t.Errorf("deploy did not print %s:\n%s", ev, r.stderr)
		}
	}
	if line := poolLastLine(s, "ShutdownOld"); line != "ShutdownOld. booting: 0, online: 0, dying: 2, new_online: 2" {
		t.Errorf("last ShutdownOld %q", line)
	}
	if line := poolLastLine(s, "Ready"); line != "Ready. booting: 0, online: 2, dying: 0, new_online: 0" {
		t.Errorf("Ready %q", line)
	}
	for pid := range old {
		if poolAlive(pid) {
			t.Errorf("old worker %d still runs after the deploy", pid)
		}
	}
	ws := poolWaitWorkers(t, s, 2)
	if got := poolNumbers(ws); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("numbers after deploy %v", got)
	}
	for pid, w := range ws {
		if _, isOld := old[pid]; isOld {
			t.Errorf("pid %d survived the deploy", pid)
		}
		if w.env["VERSION"] != "v2" || w.env["POOL_A"] != "deploy" || w.env["POOL_B"] != "start" {
			t.Errorf("new worker %d env VERSION=%q POOL_A=%q POOL_B=%q, want v2, deploy, start (merged)", w.number, w.env["VERSION"], w.env["POOL_A"], w.env["POOL_B"])
		}
	}
	poolSeeAll(t, ws, func() (string, error) { return s.get("/") })
	if h := poolHelloFrom(t, s); h.version != "v2" {
		t.Errorf("served %+v after deploy", h)
	}
}

// §4 Deploy: with --override-env false the new workers keep the start's
// environment entirely.
func TestPoolDeployWithoutOverrideEnvKeepsTheStartEnvironment(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1")
	s.start(s.script("server.js"))
	old := poolHelloFrom(t, s)

	poolDeploy(t, s, []string{"VERSION=v2", "POOL_NEW=1"}, "--override-env", "false")
	h := poolHelloFrom(t, s)
	if h.pid == old.pid || h.version != "v1" {
		t.Fatalf("after deploy --override-env false: %+v (before: %+v), want a new pid serving v1", h, old)
	}
	if w := poolWaitWorkers(t, s, 1)[h.pid]; w.env["POOL_NEW"] != "" {
		t.Errorf("the deploy's environment reached the worker: POOL_NEW=%q", w.env["POOL_NEW"])
	}
}

// §4 Deploy: --cwd sets the new workers' cwd, --worker-count changes the
// count; a later deploy without options keeps both.
func TestPoolDeployChangesCwdAndWorkerCount(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	if err := os.Mkdir(s.path("next"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.start("--worker-count", "2", s.script("server.js"))

	from := poolSince(t, s, "Ready", 1)
	poolDeploy(t, s, nil, "--cwd", "next", "--worker-count", "3")
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "SpawnNew", "NewOnline", "NewOnline", "NewOnline",
		"ShutdownOld", "ShutdownOld", "OldExit", "OldExit", "Ready")
	ws := poolWaitWorkers(t, s, 3)
	if got := poolNumbers(ws); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("numbers %v, want [0 1 2]", got)
	}
	poolSeeAll(t, ws, func() (string, error) { return s.get("/") })
	if cwd := s.mustGet("/cwd"); !poolSameDir(cwd, s.path("next")) {
		t.Errorf("cwd %q after deploy --cwd next", cwd)
	}

	from = poolSince(t, s, "Ready", 2)
	poolDeploy(t, s, nil)
	// Three new workers: the count of the last deploy.
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "SpawnNew", "NewOnline", "NewOnline", "NewOnline",
		"ShutdownOld", "ShutdownOld", "ShutdownOld", "OldExit", "OldExit", "OldExit", "Ready")
	ws = poolWaitWorkers(t, s, 3)
	if got := poolNumbers(ws); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("numbers %v, want [0 1 2]", got)
	}
	if cwd := s.mustGet("/cwd"); !poolSameDir(cwd, s.path("next")) {
		t.Errorf("cwd %q after a deploy without --cwd, want next kept", cwd)
	}

	poolDeploy(t, s, nil, "--worker-count", "1")
	ws = poolWaitWorkers(t, s, 1)
	if got := poolNumbers(ws); !slices.Equal(got, []int{0}) {
		t.Errorf("numbers %v after --worker-count 1", got)
	}
}

// §4 Deploy: --timeout aborts a deploy whose new workers never come online;
// the old ones keep serving their version.
func TestPoolDeployTimeoutDestroysHangingNewWorkers(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1")
	s.start("--worker-count", "2", s.script("server.js"))
	old := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	r := s.runEnv([]string{"VERSION=v2", "NO_ONLINE=1"}, "deploy", "--timeout", "1")
	poolExpect(t, "deploy of workers that never come online", r, 1, "Deploy failed. ", "Timeout. ")
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "Timeout", "DestroyNew", "DestroyNew",
		"NewDestroyed", "NewDestroyed", "DeployFailed", "Ready")
	if ws := poolWorkers(s); !slices.Equal(poolPids(ws), poolPids(old)) {
		t.Errorf("workers after the failed deploy %v, want the old ones %v", poolPids(ws), poolPids(old))
	}
	poolSeeAll(t, old, func() (string, error) { return s.get("/") })
	if h := poolHelloFrom(t, s); h.version != "v1" {
		t.Errorf("served %+v after the failed deploy", h)
	}
}

// §4 Deploy: --timeout also ends a deploy whose old workers ignore
// 'shutdown': they are killed, and the deploy succeeds.
func TestPoolDeployTimeoutKillsLingeringOldWorkers(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1", "LINGER=1")
	s.start("--worker-count", "2", s.script("server.js"))
	old := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	r := poolDeploy(t, s, []string{"VERSION=v2", "LINGER=0"}, "--timeout", "1")
	if !strings.Contains(r.stderr, "DestroyOld. ") {
		t.Errorf("deploy did not print DestroyOld:\n%s", r)
	}
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "NewOnline", "NewOnline", "ShutdownOld", "ShutdownOld",
		"Timeout", "DestroyOld", "DestroyOld", "OldExit", "OldExit", "Ready")
	for pid := range old {
		if poolAlive(pid) {
			t.Errorf("lingering old worker %d still runs", pid)
		}
	}
	if h := poolHelloFrom(t, s); h.version != "v2" {
		t.Errorf("served %+v after the deploy", h)
	}
}

// §4 Deploy-abort while the new workers boot: they are destroyed, the old
// ones keep serving. Also §4 "deploy only from a steady state": a second
// deploy meanwhile is refused, and status says a deploy is in progress.
func TestPoolDeployAbortWhileNewWorkersBoot(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1")
	s.start("--worker-count", "2", s.script("server.js"))
	old := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	hanging := poolBackground(s, []string{"VERSION=v2", "NO_ONLINE=1"}, "deploy")
	poolWaitEvent(t, s, "SpawnNew", 2)
	eventually(t, "the new workers' processes", func() bool { return len(poolWorkers(s)) == 4 })

	// A second deploy is refused; like the original, its CLI then waits
	// for the running deploy's end.
	second := poolBackground(s, []string{"VERSION=v3"}, "deploy")
	poolWaitEvent(t, s, "ErrorDeployInProgress", 1)
	eventually(t, "the refusal on the second deploy's stderr", func() bool {
		return strings.Contains(second.stderr.String(), "Deploy already in progress. Press Ctrl+C to abort.\n")
	})
	if r := s.run("status"); r.code != 0 || !strings.HasPrefix(r.stdout, "deploy in progress\nbooting: 2, online: 2,") {
		t.Errorf("status during the deploy: %s", r)
	}
	if n := poolCount(s, "SpawnNew"); n != 2 {
		t.Errorf("%d SpawnNew: the refused deploy spawned workers", n)
	}

	r := s.run("deploy-abort")
	poolExpect(t, "deploy-abort", r, 0, "", "deploy aborted\n")
	poolExpect(t, "the aborted deploy", hanging.wait(t), 1, "Deploy failed. ", "DestroyNew. ")
	poolExpect(t, "the refused deploy", second.wait(t), 1, "Deploy failed. ", "Deploy already in progress.")
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "ErrorDeployInProgress", "DestroyNew", "DestroyNew",
		"NewDestroyed", "NewDestroyed", "DeployFailed", "Ready")
	if ws := poolWorkers(s); !slices.Equal(poolPids(ws), poolPids(old)) {
		t.Errorf("workers after the abort %v, want the old ones %v", poolPids(ws), poolPids(old))
	}
	poolSeeAll(t, old, func() (string, error) { return s.get("/") })

	poolExpect(t, "deploy-abort with no deploy", s.run("deploy-abort"), 1, "", "no deploy in progress\n")
}

// §4 Deploy-abort while the old workers are dying: they are killed, and the
// deploy ends with the new generation serving.
func TestPoolDeployAbortWhileOldWorkersDie(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1", "LINGER=1")
	s.start("--worker-count", "2", s.script("server.js"))
	old := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	deploy := poolBackground(s, []string{"VERSION=v2", "LINGER=0"}, "deploy")
	poolWaitEvent(t, s, "ShutdownOld", 2)
	for pid := range old {
		if !poolAlive(pid) {
			t.Fatalf("lingering old worker %d exited on 'shutdown'", pid)
		}
	}
	poolExpect(t, "deploy-abort", s.run("deploy-abort"), 0, "", "deploy aborted\n")
	poolExpect(t, "the deploy", deploy.wait(t), 0, "", "done\n")
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "NewOnline", "NewOnline", "ShutdownOld", "ShutdownOld",
		"DestroyOld", "DestroyOld", "OldExit", "OldExit", "Ready")
	for pid := range old {
		if poolAlive(pid) {
			t.Errorf("old worker %d survived the abort", pid)
		}
	}
	ws := poolWaitWorkers(t, s, 2)
	poolSeeAll(t, ws, func() (string, error) { return s.get("/") })
	if h := poolHelloFrom(t, s); h.version != "v2" {
		t.Errorf("served %+v", h)
	}
}

// §4 Deploy: a new worker that dies before it is online fails the deploy;
// every new worker is destroyed and the old ones keep serving.
func TestPoolDeployFailsWhenANewWorkerCrashesAtBoot(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "VERSION=v1")
	s.start("--worker-count", "2", s.script("server.js"))
	old := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	r := s.runEnv([]string{"VERSION=v2", "CRASH_AT_BOOT=1"}, "deploy")
	poolExpect(t, "deploy of crashing workers", r, 1, "Deploy failed. Check stderr.log and usage of 'online' and 'shutdown' events.\n", "NewDeath. ")
	// The first death fails the deploy and destroys the other new worker,
	// whatever it was about to do.
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "NewDeath", "DestroyNew", "NewDestroyed", "DeployFailed", "Ready")
	if ws := poolWorkers(s); !slices.Equal(poolPids(ws), poolPids(old)) {
		t.Errorf("workers after the failed deploy %v, want the old ones %v", poolPids(ws), poolPids(old))
	}
	poolSeeAll(t, old, func() (string, error) { return s.get("/") })
	if h := poolHelloFrom(t, s); h.version != "v1" {
		t.Errorf("served %+v", h)
	}
}

// --- resuscitation ---

// §4 Resuscitation: a worker that sends 'offline' becomes dying, a
// replacement with its number is spawned at once (it comes online while the
// offline one still finishes a request), and the offline one exits on its own.
func TestPoolOfflineWorkerIsReplacedAtOnce(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "POOL_DIR="+s.dir)
	s.start(s.script("pool-app.js"))
	first := poolWaitWorkers(t, s, 1)
	from := poolSince(t, s, "Ready", 1)

	held := poolHold(t, s, 1)
	if !slices.Equal(held.pids, poolPids(first)) {
		t.Fatalf("held by %v, want the only worker %v", held.pids, poolPids(first))
	}
	if body := s.mustGet("/offline"); body != "offline" {
		t.Fatalf("GET /offline = %q", body)
	}
	poolWaitEvent(t, s, "WorkerOnline", 2)
	poolExpectEvents(t, s, from, "WorkerOffline", "WorkerOnline")
	if line := poolLastLine(s, "WorkerOffline"); line != "WorkerOffline. booting: 0, online: 0, dying: 1, new_online: 0" {
		t.Errorf("WorkerOffline line %q", line)
	}
	// The replacement serves while the offline worker still holds its request.
	h := poolHelloFrom(t, s)
	if _, isFirst := first[h.pid]; isFirst || h.number != 0 {
		t.Fatalf("after offline, served by %+v; want a new worker 0", h)
	}
	if !poolAlive(held.pids[0]) {
		t.Fatalf("the offline worker exited before finishing its request")
	}

	held.release(t)
	poolWaitEvent(t, s, "OldExit", 1)
	poolExpectEvents(t, s, from, "WorkerOffline", "WorkerOnline", "OldExit")
	ws := poolWaitWorkers(t, s, 1)
	if _, ok := ws[h.pid]; !ok {
		t.Errorf("workers %v, want only the replacement %d", poolPids(ws), h.pid)
	}
}

// §4 Resuscitation: a second 'offline' from a dying worker is ignored: one
// WorkerOffline, one replacement.
func TestPoolSecondOfflineIsIgnored(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "POOL_DIR="+s.dir)
	s.start(s.script("pool-app.js"))
	from := poolSince(t, s, "Ready", 1)

	held := poolHold(t, s, 1)
	if body := s.mustGet("/offline-twice"); body != "offline" {
		t.Fatalf("GET /offline-twice = %q", body)
	}
	poolWaitEvent(t, s, "WorkerOnline", 2)
	// Both messages precede the worker's exit, so once OldExit is logged
	// both have been handled.
	held.release(t)
	poolWaitEvent(t, s, "OldExit", 1)
	poolExpectEvents(t, s, from, "WorkerOffline", "WorkerOnline", "OldExit")
	ws := poolWaitWorkers(t, s, 1)
	if got := poolNumbers(ws); !slices.Equal(got, []int{0}) {
		t.Errorf("numbers %v", got)
	}
	if log := s.read("naught.log"); strings.Contains(log, "invalid transition") {
		t.Errorf("naught.log reports an invalid transition:\n%s", log)
	}
}

// §4 Resuscitation: a worker that dies outside a deploy is replaced at once
// by a worker with the same number, and the death is logged.
func TestPoolCrashedWorkerIsReplaced(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.start("--worker-count", "2", s.script("server.js"))
	before := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	if body := s.mustGet("/crash"); body != "bye" {
		t.Fatalf("GET /crash = %q", body)
	}
	poolWaitEvent(t, s, "WorkerOnline", 3)
	poolExpectEvents(t, s, from, "WorkerDeath", "WorkerOnline")
	after := poolWaitWorkers(t, s, 2)
	var dead, born []poolProc
	for pid, w := range before {
		if _, ok := after[pid]; !ok {
			dead = append(dead, w)
		}
	}
	for pid, w := range after {
		if _, ok := before[pid]; !ok {
			born = append(born, w)
		}
	}
	if len(dead) != 1 || len(born) != 1 || dead[0].number != born[0].number {
		t.Fatalf("crash of one worker: dead %+v, born %+v; want one replacement with the same number", dead, born)
	}
	if want := fmt.Sprintf("worker %d (pid %d) died: exit status 3", dead[0].number, dead[0].pid); !strings.Contains(s.read("naught.log"), want) {
		t.Errorf("naught.log lacks %q", want)
	}
	if got := poolNumbers(after); !slices.Equal(got, []int{0, 1}) {
		t.Errorf("numbers %v", got)
	}
	poolSeeAll(t, after, func() (string, error) { return s.get("/") })
}

// §4 Resuscitation: a crash loop backs off exponentially (first restart at
// once, then 100ms, 200ms, 400ms, …), shows in the log and in status, and
// no worker starts but after a logged, delayed restart (no fork storm). A
// stop during a pending restart cancels it.
func TestPoolCrashLoopBacksOff(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.env = append(s.env, "POOL_LIVES="+s.path("lives"))
	s.start(s.script("pool-lives.js"))
	daemon := poolDaemonPid(t, s)

	s.mustGet("/crash") // life 1 exits; every later life crashes at boot
	poolWaitLog(t, s, "worker 0 crashed 5 times in a row; restarting it in 800ms\n")
	eventually(t, "a pending restart in naught status", func() bool {
		r := s.run("status")
		return r.code == 0 && regexp.MustCompile(`worker 0 crashed \d+ times in a row; restarting in \d+\.\ds\n`).MatchString(r.stderr)
	})
	poolExpect(t, "stop during a crash loop", s.run("stop"), 0, "", "")
	eventually(t, "the daemon to exit", func() bool { return !poolAlive(daemon) })
	if ws := poolWorkers(s); len(ws) != 0 {
		t.Errorf("workers %v after stop", poolPids(ws))
	}

	// The daemon is gone: the log and the lives are final.
	log, lives, deaths := s.read("naught.log"), poolLives(s), poolCount(s, "WorkerDeath")
	crashes := 1 // the first crash is not logged: its restart is immediate
	for k, d := range []string{2: "100ms", 3: "200ms", 4: "400ms", 5: "800ms", 6: "1.6s", 7: "3.2s", 8: "6.4s", 9: "10s", 10: "10s"} {
		if d == "" {
			continue
		}
		if strings.Contains(log, fmt.Sprintf("worker 0 crashed %d times in a row; restarting it in %s\n", k, d)) {
			crashes = max(crashes, k)
		} else if k <= 5 {
			t.Errorf("naught.log lacks crash %d's restart in %s", k, d)
		}
	}
	if strings.Contains(log, "worker 0 crashed 1 times") {
		t.Errorf("the first crash was delayed:\n%s", log)
	}
	// Each death is one logged crash, and each life but the first follows
	// one (the last life may have been booting when the stop came).
	if deaths != crashes || lives < deaths || lives > deaths+1 {
		t.Errorf("%d lives, %d deaths, %d logged crashes", lives, deaths, crashes)
	}
	t.Logf("%d lives, %d crashes", lives, crashes)
}

// §4 Resuscitation: the crash count resets once a worker stays up (10 s):
// its next crash restarts it at once.
func TestPoolCrashCountResetsAfterAStableRun(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.env = append(s.env, "POOL_LIVES="+s.path("lives"), "POOL_CRASH_LIVES=3")
	s.start(s.script("pool-lives.js"))

	s.mustGet("/crash") // lives 2 and 3 crash at boot, life 4 stays up
	poolWaitEvent(t, s, "WorkerOnline", 2)
	poolWaitLog(t, s, "worker 0 crashed 3 times in a row; restarting it in 200ms")
	if r := s.run("status"); !strings.Contains(r.stderr, "crashed 3 times in a row") {
		t.Errorf("status of a worker that crash-looped: %s", r)
	}
	// Not a synchronisation: the product's stability period (10 s) must
	// pass for the count to reset; nothing can be polled instead.
	time.Sleep(10*time.Second + 500*time.Millisecond)
	s.mustGet("/crash") // life 4 exits; life 5 stays up
	poolWaitEvent(t, s, "WorkerOnline", 3)
	if log := s.read("naught.log"); strings.Contains(log, "crashed 4 times") {
		t.Errorf("the crash after a stable run counted as the 4th in a row:\n%s", log)
	}
	if r := s.run("status"); r.stdout != "workers online: 1\n" || r.stderr != "" {
		t.Errorf("status after the reset: %s", r)
	}
}

// §4 Deploy + resuscitation: a deploy of fixed code ends a crash loop; the
// old generation's pending restart is dropped.
func TestPoolDeployEndsACrashLoop(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.env = append(s.env, "POOL_LIVES="+s.path("lives"), "VERSION=v1")
	s.start(s.script("pool-lives.js"))

	s.mustGet("/crash")
	poolWaitLog(t, s, "worker 0 crashed 3 times in a row")
	poolDeploy(t, s, []string{"POOL_STABLE=1", "VERSION=v2"})
	if h := poolHelloFrom(t, s); h.version != "v2" || h.number != 0 {
		t.Fatalf("served %+v after the deploy", h)
	}
	if r := s.run("status"); r.code != 0 || r.stdout != "workers online: 1\n" || r.stderr != "" {
		t.Errorf("status after the deploy (no pending restart expected): %s", r)
	}
	ws := poolWaitWorkers(t, s, 1)
	for _, w := range ws {
		if w.env["VERSION"] != "v2" {
			t.Errorf("worker %d runs %s", w.pid, w.env["VERSION"])
		}
	}
}

// --- stop ---

// §4 Stop: every worker is asked to shut down and waited for; then the
// daemon exits and removes its ipc-file and pid-file; no worker is left.
func TestPoolStopWaitsForEveryWorker(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.start("--worker-count", "2", s.script("server.js"))
	ws := poolWaitWorkers(t, s, 2)
	daemon := poolDaemonPid(t, s)
	from := poolSince(t, s, "Ready", 1)

	r := s.run("stop")
	poolExpect(t, "stop", r, 0, "", "OldExit. ")
	for pid := range ws {
		if poolAlive(pid) {
			t.Errorf("worker %d survived stop", pid)
		}
	}
	eventually(t, "the daemon to exit", func() bool { return !poolAlive(daemon) })
	// The daemon is gone: its log must be complete, without waiting.
	if got, want := poolEvents(s)[from:], []string{"ShutdownOld", "ShutdownOld", "OldExit", "OldExit", "Shutdown"}; !slices.Equal(got, want) {
		t.Errorf("events at exit %v, want %v", got, want)
	}
	for _, f := range []string{"naught.ipc", "naught.pid"} {
		if _, err := os.Stat(s.path(f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after stop: %v", f, err)
		}
	}
	if _, err := s.get("/"); err == nil {
		t.Errorf("the port still answers after stop")
	}
}

// §4 Stop with a timeout: workers that ignore 'shutdown' are killed
// (Timeout, DestroyOld). Also §4 "deploy only from a steady state": a
// deploy during the stop is refused.
func TestPoolStopTimeoutKillsStragglers(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.env = append(s.env, "LINGER=1")
	s.start("--worker-count", "2", s.script("server.js"))
	ws := poolWaitWorkers(t, s, 2)
	from := poolSince(t, s, "Ready", 1)

	stop := poolBackground(s, nil, "stop")
	poolWaitEvent(t, s, "ShutdownOld", 2)
	poolExpect(t, "deploy while stopping", s.run("deploy"), 1, "", "ErrorShuttingDown. ")
	r := s.run("stop", "--timeout", "0.5")
	poolExpect(t, "stop --timeout", r, 0, "", "DestroyOld. ")
	poolExpect(t, "the first stop", stop.wait(t), 0, "", "OldExit. ")
	poolExpectEvents(t, s, from, "ShutdownOld", "ShutdownOld", "ErrorShuttingDown", "AlreadyShuttingDown", "Timeout",
		"DestroyOld", "DestroyOld", "OldExit", "OldExit", "Shutdown")
	for pid := range ws {
		if poolAlive(pid) {
			t.Errorf("worker %d survived stop --timeout", pid)
		}
	}
}

// §4 Stop during a deploy: the workers of both generations are asked to
// shut down, and none is left.
func TestPoolStopDuringADeploy(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.start("--worker-count", "2", s.script("server.js"))
	from := poolSince(t, s, "Ready", 1)

	deploy := poolBackground(s, []string{"NO_ONLINE=1"}, "deploy")
	poolWaitEvent(t, s, "SpawnNew", 2)
	all := poolWaitWorkers(t, s, 4)
	poolExpect(t, "stop", s.run("stop"), 0, "", "")
	poolExpect(t, "the deploy stopped under it", deploy.wait(t), 1, "", "")
	poolExpectEvents(t, s, from, "SpawnNew", "SpawnNew", "ShutdownOld", "ShutdownOld", "ShutdownOld", "ShutdownOld",
		"OldExit", "OldExit", "OldExit", "OldExit", "Shutdown")
	for pid := range all {
		if poolAlive(pid) {
			t.Errorf("worker %d survived stop", pid)
		}
	}
}

// --- process hygiene ---

// §4 Process hygiene: killing a worker kills its process group, so a
// worker's own child goes with it — when a deploy-abort destroys new
// workers, and when stop --timeout kills lingering ones.
func TestPoolKillingAWorkerKillsItsGroup(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.env = append(s.env, "LINGER=1")
	s.start("--worker-count", "2", s.script("pool-child.js"))
	old := poolWaitWorkers(t, s, 2)
	var oldSleeps map[int]int
	eventually(t, "a sleep child of each worker", func() bool {
		oldSleeps = poolSleeps(s)
		return len(oldSleeps) == 2
	})
	for sleep, parent := range oldSleeps {
		_, _, pgrp, _ := poolStat(sleep)
		if _, ok := old[parent]; !ok || pgrp != parent {
			t.Fatalf("sleep %d: parent %d, group %d; want a worker, and its group", sleep, parent, pgrp)
		}
	}

	deploy := poolBackground(s, []string{"NO_ONLINE=1"}, "deploy")
	poolWaitEvent(t, s, "SpawnNew", 2)
	var newSleeps []int
	eventually(t, "a sleep child of each new worker", func() bool {
		newSleeps = nil
		for sleep, parent := range poolSleeps(s) {
			if _, isOld := old[parent]; !isOld {
				newSleeps = append(newSleeps, sleep)
			}
		}
		return len(newSleeps) == 2
	})
	poolExpect(t, "deploy-abort", s.run("deploy-abort"), 0, "", "deploy aborted\n")
	deploy.wait(t)
	eventually(t, "the destroyed workers' children to die", func() bool {
		return !slices.ContainsFunc(newSleeps, poolAlive)
	})
	for sleep := range oldSleeps {
		if !poolAlive(sleep) {
			t.Errorf("the abort killed sleep %d of an old worker", sleep)
		}
	}

	poolExpect(t, "stop --timeout", s.run("stop", "--timeout", "0.5"), 0, "", "DestroyOld. ")
	eventually(t, "the killed workers' children to die", func() bool {
		for sleep := range oldSleeps {
			if poolAlive(sleep) {
				return false
			}
		}
		return true
	})
}

// §4 Process hygiene: workers do not outlive a SIGKILLed daemon, even
// workers that would survive the loss of their channel.
func TestPoolWorkersDieWithTheDaemon(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.script("server.js")
	s.start("--worker-count", "2", s.script("pool-deaf.js"))
	// Workers of a later generation, spawned long after the daemon started.
	poolDeploy(t, s, []string{"VERSION=v2"})
	ws := poolWaitWorkers(t, s, 2)
	if err := syscall.Kill(poolDaemonPid(t, s), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, fmt.Sprintf("workers %v to die with the daemon", poolPids(ws)), func() bool {
		for pid := range ws {
			if poolAlive(pid) {
				return false
			}
		}
		return true
	})
}
