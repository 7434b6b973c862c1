package master

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrBootFailed is returned by Run when a first worker died before every
// first worker was online: the original's "crashed without booting".
var ErrBootFailed = errors.New("the server crashed without booting")

// Backoff limits how fast a crashing worker slot is restarted.
type Backoff struct {
	// First is the delay before the second restart in a row of one slot
	// (the first restart is immediate); it doubles with every further crash.
	First time.Duration
	// Max caps the delay.
	Max time.Duration
	// StableAfter is how long a worker must have been up for its death
	// not to count as part of a crash loop.
	StableAfter time.Duration
}

// DefaultBackoff is the restart policy naught uses unless told otherwise.
func DefaultBackoff() Backoff {
	return Backoff{First: 100 * time.Millisecond, Max: 10 * time.Second, StableAfter: 10 * time.Second}
}

// delay is the wait before restarting a slot after its crashes-th crash in a row.
func (b Backoff) delay(crashes int) time.Duration {
	if crashes <= 1 {
		return 0
	}
	d := b.First
	for i := 2; i < crashes && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Config is what a Master is built from.
type Config struct {
	// WorkerCount is how many workers to boot (at least 1).
	WorkerCount int
	// Env is the environment of the start, given to every worker.
	Env []string
	// Dir is the workers' working directory.
	Dir     string
	Spawner Spawner
	// Clock defaults to SystemClock.
	Clock Clock
	// Emit receives every event, on the loop goroutine; it must not block.
	Emit func(Event)
	// Logf receives free-text lines for the naught log (crash loops,
	// protocol trouble); it must not block. May be nil.
	Logf    func(format string, args ...any)
	Backoff Backoff
}

// DeployRequest is a deploy as the CLI, the control socket or SIGHUP asks for it.
type DeployRequest struct {
	// WorkerCount is the new generation's size; 0 keeps the current one.
	WorkerCount int
	// Env is merged over the current environment.
	Env map[string]string
	// Dir is the new generation's working directory; "" keeps the current one.
	Dir string
	// Timeout aborts the deploy when it runs longer; 0 means none.
	Timeout time.Duration
}

// generation is one release of the code: the settings its workers share.
type generation struct {
	id    int
	count int
	env   []string
	dir   string
}

type worker struct {
	id      int
	number  int
	gen     *generation
	state   workerState
	proc    Process
	started time.Time
	// exitEvent is emitted when a dying worker exits.
	exitEvent EventName
}

type slot struct{ gen, number int }

// pendingRestart is a crashed worker's slot waiting for its backoff.
type pendingRestart struct {
	slot
	gen   *generation
	at    time.Time
	token uint64
}

// Master is the worker pool. Build it with New, run its loop with Run, and
// drive it with the request methods, which are safe from any goroutine.
type Master struct {
	cfg   Config
	inbox chan input
	done  chan struct{}

	// Everything below is owned by the loop goroutine.
	phase    phase
	workers  []*worker // in spawn order
	current  *generation
	next     *generation // the generation a deploy brings, while it runs
	nextID   int
	nextGen  int
	crashes  map[slot]int
	restarts []*pendingRestart
	timers   map[uint64]timer
	token    uint64
	// deployTimer and shutdownTimer are tokens in timers, 0 when unset.
	deployTimer, shutdownTimer uint64
	shutdownDeadline           time.Time
	finished                   bool
	result                     error
}

type timer struct {
	stop   func() bool
	action func()
}

// New checks cfg and builds a Master; nothing starts before Run.
func New(cfg Config) (*Master, error) {
	if cfg.WorkerCount < 1 {
		return nil, fmt.Errorf("worker count must be at least 1, got %d", cfg.WorkerCount)
	}
	if cfg.Spawner == nil || cfg.Emit == nil {
		return nil, errors.New("master config needs a Spawner and an Emit function")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff()
	}
	if cfg.Backoff.First <= 0 || cfg.Backoff.Max < cfg.Backoff.First {
		return nil, fmt.Errorf("invalid restart backoff %+v", cfg.Backoff)
	}
	m := &Master{
		cfg:     cfg,
		inbox:   make(chan input, 1024),
		done:    make(chan struct{}),
		crashes: make(map[slot]int),
		timers:  make(map[uint64]timer),
	}
	m.current = m.newGeneration(cfg.WorkerCount, slices.Clone(cfg.Env), cfg.Dir)
	return m, nil
}

// Run boots the workers and handles inputs until the pool has shut down
// (nil), the first workers failed to boot (ErrBootFailed) or ctx is done
// (every worker is killed, ctx.Err()).
func (m *Master) Run(ctx context.Context) error {
	defer close(m.done)
	m.boot()
	for !m.finished {
		select {
		case in := <-m.inbox:
			m.handle(in)
		case <-ctx.Done():
			for _, w := range m.workers {
				m.kill(w)
			}
			return ctx.Err()
		}
	}
	for _, t := range m.timers {
		t.stop()
	}
	return m.result
}

// Deploy starts a deploy (or answers why it cannot).
func (m *Master) Deploy(req DeployRequest) { m.send(deployInput{req}) }

// DeployAbort aborts the running deploy.
func (m *Master) DeployAbort() { m.send(abortInput{}) }

// Shutdown stops every worker gracefully; after timeout (0: never) the
// stragglers are killed.
func (m *Master) Shutdown(timeout time.Duration) { m.send(shutdownInput{timeout}) }

// Status emits a Status event.
func (m *Master) Status() { m.send(statusInput{}) }

// Unrecognized reports a control request naught does not know.
func (m *Master) Unrecognized() { m.send(unrecognizedInput{}) }

// Forward sends sig to every worker's process group.
func (m *Master) Forward(sig syscall.Signal) { m.send(signalInput{sig}) }

// Sync returns once every input sent before it has been handled, or the
// loop has ended. Tests use it instead of sleeping.
func (m *Master) Sync() {
	done := make(chan struct{})
	m.send(syncInput{done})
	select {
	case <-done:
	case <-m.done:
	}
}

// Done is closed when Run has returned.
func (m *Master) Done() <-chan struct{} { return m.done }

func (m *Master) send(in input) {
	select {
	case m.inbox <- in:
	case <-m.done:
	}
}

// reporter is the Reporter of one worker: it turns its reports into inputs.
type reporter struct {
	m  *Master
	id int
}

func (r reporter) Message(msg WorkerMessage) { r.m.send(messageInput{r.id, msg}) }
func (r reporter) Exited(desc string)        { r.m.send(exitInput{r.id, desc}) }

// input is the sealed set of things the loop handles.
type input interface{ isInput() }

type (
	deployInput       struct{ req DeployRequest }
	abortInput        struct{}
	shutdownInput     struct{ timeout time.Duration }
	statusInput       struct{}
	unrecognizedInput struct{}
	signalInput       struct{ sig syscall.Signal }
	messageInput      struct {
		id  int
		msg WorkerMessage
	}
	exitInput struct {
		id   int
		desc string
	}
	timerInput struct{ token uint64 }
	syncInput  struct{ done chan struct{} }
)

func (deployInput) isInput()       {}
func (abortInput) isInput()        {}
func (shutdownInput) isInput()     {}
func (statusInput) isInput()       {}
func (unrecognizedInput) isInput() {}
func (signalInput) isInput()       {}
func (messageInput) isInput()      {}
func (exitInput) isInput()         {}
func (timerInput) isInput()        {}
func (syncInput) isInput()         {}

func (m *Master) handle(in input) {
	switch in := in.(type) {
	case deployInput:
		m.deploy(in.req)
	case abortInput:
		m.abort()
	case shutdownInput:
		m.shutdown(in.timeout)
	case statusInput:
		m.emitStatus()
	case unrecognizedInput:
		m.emit(EventUnrecognizedMessage)
	case signalInput:
		for _, w := range m.workers {
			if err := w.proc.Signal(in.sig); err != nil {
				m.cfg.Logf("unable to forward %v to worker %d (pid %d): %v", in.sig, w.number, w.proc.Pid(), err)
			}
		}
	case messageInput:
		if w := m.find(in.id); w != nil {
			switch in.msg {
			case MessageOnline:
				m.online(w)
			case MessageOffline:
				m.offline(w)
			}
		}
	case exitInput:
		if w := m.find(in.id); w != nil {
			m.exited(w, in.desc)
		}
	case timerInput:
		if t, ok := m.timers[in.token]; ok {
			delete(m.timers, in.token)
			t.action()
		}
	case syncInput:
		close(in.done)
	}
}

// --- boot ---

func (m *Master) boot() {
	m.phase = phaseBoot
	for n := range m.current.count {
		if _, err := m.spawn(n, m.current); err != nil {
			m.failBoot()
			return
		}
	}
	m.emit(EventBootup)
}

func (m *Master) failBoot() {
	m.phase = phaseBootFailed
	m.dropRestarts(func(*pendingRestart) bool { return true })
	for _, w := range m.workers {
		if w.state != stateDying {
			m.destroy(w, EventDestroyNew, EventNewDestroyed)
		}
	}
	m.checkPhaseDone()
}

// --- worker messages ---

func (m *Master) online(w *worker) {
	if w.state != stateBooting {
		return // a second "online", or one from a worker already told to go
	}
	switch {
	case m.phase == phaseBoot:
		m.setState(w, stateOnline)
		m.emit(EventWorkerOnline)
		if !m.any(func(w *worker) bool { return w.state == stateBooting }) {
			m.phase = phaseSteady
			m.emit(EventReady)
		}
	case w.gen == m.next:
		m.setState(w, stateNewOnline)
		m.emit(EventNewOnline)
		if m.phase == phaseDeployNew && !m.any(func(x *worker) bool { return x.gen == m.next && x.state == stateBooting }) {
			m.shutdownOld()
		}
	default: // a replacement of the serving generation
		m.setState(w, stateOnline)
		m.emit(EventWorkerOnline)
	}
}

func (m *Master) offline(w *worker) {
	if w.state == stateDying || m.phase == phaseShutdown || m.phase == phaseBootFailed {
		return
	}
	m.setState(w, stateDying)
	w.exitEvent = EventOldExit
	if err := w.proc.StopAccepting(); err != nil {
		m.cfg.Logf("worker %d (pid %d) went offline; unable to stop its listeners: %v", w.number, w.proc.Pid(), err)
	}
	m.emit(EventWorkerOffline)
	m.replace(w.number, w.gen)
}

// --- exits ---

func (m *Master) exited(w *worker, desc string) {
	m.workers = slices.DeleteFunc(m.workers, func(x *worker) bool { return x == w })
	if w.state == stateDying {
		m.emit(w.exitEvent)
		m.checkPhaseDone()
		return
	}
	m.cfg.Logf("worker %d (pid %d) died: %s", w.number, w.proc.Pid(), desc)
	switch {
	case m.phase == phaseBoot:
		if w.state == stateBooting {
			m.emit(EventNewDeath)
		} else {
			m.emit(EventWorkerDeath)
		}
		m.failBoot()
	case m.phase == phaseDeployNew && w.gen == m.next:
		m.emit(EventNewDeath)
		m.failDeploy()
	default:
		m.emit(EventWorkerDeath)
		m.resuscitate(w)
	}
}

// checkPhaseDone ends the phase that was waiting for exits, once they all came.
func (m *Master) checkPhaseDone() {
	switch m.phase {
	case phaseDeployOld:
		if !m.any(func(w *worker) bool { return w.gen != m.next }) {
			m.finishDeploy()
		}
	case phaseAbortingNew:
		if !m.any(func(w *worker) bool { return w.gen == m.next }) {
			m.finishAbort()
		}
	case phaseShutdown, phaseBootFailed:
		if len(m.workers) == 0 {
			m.emit(EventShutdown)
			m.finished = true
			if m.phase == phaseBootFailed {
				m.result = ErrBootFailed
			}
		}
	}
}

// --- resuscitation ---

func (m *Master) resuscitate(w *worker) {
	key := slot{w.gen.id, w.number}
	if m.cfg.Clock.Now().Sub(w.started) >= m.cfg.Backoff.StableAfter {
		m.crashes[key] = 0
	}
	m.crashes[key]++
	if d := m.cfg.Backoff.delay(m.crashes[key]); d > 0 {
		m.scheduleRestart(key, w.gen, d)
		return
	}
	m.replace(w.number, w.gen)
}

// replace spawns a worker in slot number of gen; when that fails, the slot
// is treated as crashed again and retried after its backoff.
func (m *Master) replace(number int, gen *generation) {
	if _, err := m.spawn(number, gen); err != nil {
		key := slot{gen.id, number}
		m.crashes[key]++
		m.scheduleRestart(key, gen, max(m.cfg.Backoff.delay(m.crashes[key]), m.cfg.Backoff.First))
	}
}

func (m *Master) scheduleRestart(key slot, gen *generation, d time.Duration) {
	m.cfg.Logf("worker %d crashed %d times in a row; restarting it in %s", key.number, m.crashes[key], d)
	r := &pendingRestart{slot: key, gen: gen, at: m.cfg.Clock.Now().Add(d)}
	r.token = m.startTimer(d, func() {
		m.restarts = slices.DeleteFunc(m.restarts, func(x *pendingRestart) bool { return x == r })
		m.replace(r.number, r.gen)
	})
	m.restarts = append(m.restarts, r)
}

func (m *Master) dropRestarts(drop func(*pendingRestart) bool) {
	m.restarts = slices.DeleteFunc(m.restarts, func(r *pendingRestart) bool {
		if drop(r) {
			m.stopTimer(r.token)
			return true
		}
		return false
	})
}

// --- deploy ---

func (m *Master) deploy(req DeployRequest) {
	switch m.phase {
	case phaseShutdown, phaseBootFailed:
		m.emit(EventErrorShuttingDown)
		return
	case phaseSteady:
	default:
		m.emit(EventErrorDeployInProgress)
		return
	}
	count := req.WorkerCount
	if count <= 0 {
		count = m.current.count
	}
	dir := req.Dir
	if dir == "" {
		dir = m.current.dir
	}
	m.next = m.newGeneration(count, mergeEnv(m.current.env, req.Env), dir)
	m.phase = phaseDeployNew
	if req.Timeout > 0 {
		m.deployTimer = m.startTimer(req.Timeout, m.deployTimedOut)
	}
	for n := range count {
		if _, err := m.spawn(n, m.next); err != nil {
			m.failDeploy()
			return
		}
		m.emit(EventSpawnNew)
	}
}

func (m *Master) deployTimedOut() {
	m.deployTimer = 0
	m.emit(EventTimeout)
	m.abort()
}

// shutdownOld starts a deploy's second phase: every worker of the old
// generations is asked to shut down.
func (m *Master) shutdownOld() {
	m.phase = phaseDeployOld
	m.dropRestarts(func(r *pendingRestart) bool { return r.gen != m.next })
	for _, w := range m.workers {
		if w.gen != m.next && w.state != stateDying {
			m.retire(w)
		}
	}
	m.checkPhaseDone()
}

func (m *Master) finishDeploy() {
	m.stopTimer(m.deployTimer)
	m.deployTimer = 0
	for _, w := range m.workers {
		if w.state == stateNewOnline {
			m.setState(w, stateOnline)
		}
	}
	m.current, m.next = m.next, nil
	for key := range m.crashes {
		if key.gen != m.current.id {
			delete(m.crashes, key)
		}
	}
	m.phase = phaseSteady
	m.emit(EventReady)
}

// failDeploy destroys the new generation; the old one keeps serving.
func (m *Master) failDeploy() {
	m.phase = phaseAbortingNew
	m.dropRestarts(func(r *pendingRestart) bool { return r.gen == m.next })
	for _, w := range m.workers {
		if w.gen == m.next && w.state != stateDying {
			m.destroy(w, EventDestroyNew, EventNewDestroyed)
		}
	}
	m.checkPhaseDone()
}

func (m *Master) finishAbort() {
	m.stopTimer(m.deployTimer)
	m.deployTimer = 0
	for key := range m.crashes {
		if key.gen == m.next.id {
			delete(m.crashes, key)
		}
	}
	m.next = nil
	m.phase = phaseSteady
	m.emit(EventDeployFailed)
	m.emit(EventReady)
}

func (m *Master) abort() {
	switch m.phase {
	case phaseDeployNew:
		m.failDeploy()
	case phaseDeployOld:
		for _, w := range m.workers {
			if w.gen != m.next {
				m.destroy(w, EventDestroyOld, w.exitEvent)
			}
		}
	case phaseAbortingNew:
		// Already aborting: the Ready that ends it is on its way.
	default:
		m.emit(EventErrorNoDeployInProgress)
	}
}

// --- shutdown ---

func (m *Master) shutdown(timeout time.Duration) {
	if m.phase == phaseShutdown || m.phase == phaseBootFailed {
		m.emit(EventAlreadyShuttingDown)
		if timeout > 0 && m.phase == phaseShutdown {
			m.armShutdownTimer(timeout)
		}
		return
	}
	m.stopTimer(m.deployTimer)
	m.deployTimer = 0
	m.dropRestarts(func(*pendingRestart) bool { return true })
	m.phase = phaseShutdown
	for _, w := range m.workers {
		if w.state != stateDying {
			m.retire(w)
		}
	}
	if timeout > 0 {
		m.armShutdownTimer(timeout)
	}
	m.checkPhaseDone()
}

// armShutdownTimer sets the kill deadline, keeping an earlier one.
func (m *Master) armShutdownTimer(timeout time.Duration) {
	deadline := m.cfg.Clock.Now().Add(timeout)
	if m.shutdownTimer != 0 && !deadline.Before(m.shutdownDeadline) {
		return
	}
	m.stopTimer(m.shutdownTimer)
	m.shutdownDeadline = deadline
	m.shutdownTimer = m.startTimer(timeout, func() {
		m.shutdownTimer = 0
		m.emit(EventTimeout)
		for _, w := range m.workers {
			m.destroy(w, EventDestroyOld, w.exitEvent)
		}
	})
}

// --- worker actions ---

func (m *Master) newGeneration(count int, env []string, dir string) *generation {
	m.nextGen++
	return &generation{id: m.nextGen, count: count, env: env, dir: dir}
}

func (m *Master) spawn(number int, gen *generation) (*worker, error) {
	m.nextID++
	w := &worker{id: m.nextID, number: number, gen: gen, state: stateBooting, started: m.cfg.Clock.Now()}
	spec := WorkerSpec{ID: w.id, Number: number, Env: withWorkerNumber(gen.env, number), Dir: gen.dir}
	proc, err := m.cfg.Spawner.Spawn(spec, reporter{m, w.id})
	if err != nil {
		err = fmt.Errorf("unable to start worker %d: %w", number, err)
		m.cfg.Emit(Event{Name: EventError, Counts: m.counts(), WaitingFor: m.phase.waitingFor(), Message: err.Error()})
		return nil, err
	}
	w.proc = proc
	m.workers = append(m.workers, w)
	return w, nil
}

// retire asks w to shut down gracefully.
func (m *Master) retire(w *worker) {
	m.setState(w, stateDying)
	w.exitEvent = EventOldExit
	if err := w.proc.Shutdown(); err != nil {
		m.cfg.Logf("unable to ask worker %d (pid %d) to shut down: %v", w.number, w.proc.Pid(), err)
	}
	m.emit(EventShutdownOld)
}

// destroy kills w, announcing it with announce; onExit is emitted when it is gone.
func (m *Master) destroy(w *worker, announce, onExit EventName) {
	if w.state != stateDying {
		m.setState(w, stateDying)
	}
	w.exitEvent = onExit
	m.kill(w)
	m.emit(announce)
}

func (m *Master) kill(w *worker) {
	if err := w.proc.Kill(); err != nil {
		m.cfg.Logf("unable to kill worker %d (pid %d): %v", w.number, w.proc.Pid(), err)
	}
}

func (m *Master) setState(w *worker, to workerState) {
	if err := checkTransition(w.state, to); err != nil {
		m.cfg.Logf("internal error: worker %d (pid %d): %v", w.number, w.proc.Pid(), err)
		return
	}
	w.state = to
}

// --- timers ---

func (m *Master) startTimer(d time.Duration, action func()) uint64 {
	m.token++
	token := m.token
	stop := m.cfg.Clock.AfterFunc(d, func() { m.send(timerInput{token}) })
	m.timers[token] = timer{stop: stop, action: action}
	return token
}

func (m *Master) stopTimer(token uint64) {
	if t, ok := m.timers[token]; ok {
		t.stop()
		delete(m.timers, token)
	}
}

// --- queries ---

func (m *Master) find(id int) *worker {
	for _, w := range m.workers {
		if w.id == id {
			return w
		}
	}
	return nil
}

func (m *Master) any(pred func(*worker) bool) bool {
	return slices.ContainsFunc(m.workers, pred)
}

func (m *Master) counts() Counts {
	var c Counts
	for _, w := range m.workers {
		switch w.state {
		case stateBooting:
			c.Booting++
		case stateOnline:
			c.Online++
		case stateDying:
			c.Dying++
		case stateNewOnline:
			c.NewOnline++
		}
	}
	return c
}

func (m *Master) emit(name EventName) {
	m.cfg.Emit(Event{Name: name, Counts: m.counts(), WaitingFor: m.phase.waitingFor()})
}

func (m *Master) emitStatus() {
	infos := make([]WorkerInfo, 0, len(m.workers)+len(m.restarts))
	for _, w := range m.workers {
		infos = append(infos, WorkerInfo{Number: w.number, Pid: w.proc.Pid(), State: w.state.String(), Crashes: m.crashes[slot{w.gen.id, w.number}]})
	}
	now := m.cfg.Clock.Now()
	for _, r := range m.restarts {
		infos = append(infos, WorkerInfo{Number: r.number, State: "restarting", Crashes: m.crashes[r.slot], RestartIn: r.at.Sub(now).Seconds()})
	}
	m.cfg.Emit(Event{Name: EventStatus, Counts: m.counts(), WaitingFor: m.phase.waitingFor(), Workers: infos})
}

// --- environment ---

// mergeEnv returns env with the variables of override set, keeping env's
// order and appending new names sorted, so the result is deterministic.
func mergeEnv(env []string, override map[string]string) []string {
	out := make([]string, 0, len(env)+len(override))
	seen := make(map[string]bool, len(override))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if v, ok := override[name]; ok {
			if !seen[name] {
				out = append(out, name+"="+v)
				seen[name] = true
			}
			continue
		}
		out = append(out, kv)
	}
	names := make([]string, 0, len(override))
	for name := range override {
		if !seen[name] {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, name+"="+override[name])
	}
	return out
}

// withWorkerNumber returns env with NAUGHT_WORKER set to number.
func withWorkerNumber(env []string, number int) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "NAUGHT_WORKER=") })
	return append(out, "NAUGHT_WORKER="+strconv.Itoa(number))
}
