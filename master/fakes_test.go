package master

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeClock is a manual Clock: timers fire only when a test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves time forward and fires the timers that are due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if !t.stopped && !t.at.After(c.now) {
			due = append(due, t)
			return true
		}
		return t.stopped
	})
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.f()
	}
}

// pending is how many live timers there are.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// fakeProc is a worker that the test drives by hand.
type fakeProc struct {
	spec   WorkerSpec
	report Reporter
	pid    int
	mu     sync.Mutex
	calls  []string
}

func (p *fakeProc) Pid() int { return p.pid }
func (p *fakeProc) record(c string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, c)
	return nil
}
func (p *fakeProc) Shutdown() error                 { return p.record("shutdown") }
func (p *fakeProc) StopAccepting() error            { return p.record("stop-accepting") }
func (p *fakeProc) Kill() error                     { return p.record("kill") }
func (p *fakeProc) Signal(sig syscall.Signal) error { return p.record("signal " + sig.String()) }
func (p *fakeProc) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

type fakeSpawner struct {
	mu    sync.Mutex
	procs []*fakeProc
	// fail makes the spawn with this index (0-based) fail.
	fail map[int]bool
	n    int
}

func (s *fakeSpawner) Spawn(spec WorkerSpec, report Reporter) (Process, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.n
	s.n++
	if s.fail[i] {
		return nil, errors.New("exec: no such file")
	}
	p := &fakeProc{spec: spec, report: report, pid: 1000 + i}
	s.procs = append(s.procs, p)
	return p, nil
}

// harness runs a Master with fakes and records its events.
type harness struct {
	t       *testing.T
	m       *Master
	clock   *fakeClock
	spawner *fakeSpawner
	mu      sync.Mutex
	events  []Event
	logs    []string
	seen    int
	result  chan error
}

func newHarness(t *testing.T, count int, opts ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(), spawner: &fakeSpawner{fail: map[int]bool{}}, result: make(chan error, 1)}
	cfg := Config{
		WorkerCount: count,
		Env:         []string{"PATH=/bin", "A=1"},
		Dir:         "/srv/app",
		Spawner:     h.spawner,
		Clock:       h.clock,
		Emit: func(e Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e)
		},
		Logf: func(format string, args ...any) {
			line := fmt.Sprintf(format, args...)
			if strings.HasPrefix(line, "internal error") {
				t.Errorf("master logged: %s", line)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.logs = append(h.logs, line)
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.result <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-m.Done()
	})
	return h
}

// proc returns the i-th spawned worker (0-based, in spawn order).
func (h *harness) proc(i int) *fakeProc {
	h.t.Helper()
	h.m.Sync()
	h.spawner.mu.Lock()
	defer h.spawner.mu.Unlock()
	if i >= len(h.spawner.procs) {
		h.t.Fatalf("only %d workers spawned, wanted #%d", len(h.spawner.procs), i)
	}
	return h.spawner.procs[i]
}

// advance moves the fake clock once the loop has handled everything sent
// so far (so the timers it set are registered), then waits for the inputs
// the fired timers sent.
func (h *harness) advance(d time.Duration) {
	h.m.Sync()
	h.clock.Advance(d)
	h.m.Sync()
}

func (h *harness) spawned() int {
	h.m.Sync()
	h.spawner.mu.Lock()
	defer h.spawner.mu.Unlock()
	return len(h.spawner.procs)
}

func (h *harness) online(i ...int) {
	for _, i := range i {
		h.proc(i).report.Message(MessageOnline)
	}
}
func (h *harness) offline(i int) { h.proc(i).report.Message(MessageOffline) }
func (h *harness) exit(i ...int) {
	for _, i := range i {
		h.proc(i).report.Exited("exit status 1")
	}
}

// next returns the log lines of the events emitted since the last call.
func (h *harness) next() []string {
	h.m.Sync()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events[h.seen:] {
		out = append(out, e.LogLine())
	}
	h.seen = len(h.events)
	return out
}

func (h *harness) lastEvent() Event {
	h.m.Sync()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events[len(h.events)-1]
}

// expect asserts the events since the last call, written compactly as
// "Name B O D N" (the four counts).
func (h *harness) expect(want ...string) {
	h.t.Helper()
	got := h.next()
	var wantLines []string
	for _, w := range want {
		var name string
		var b, o, d, n int
		if _, err := fmt.Sscanf(w, "%s %d %d %d %d", &name, &b, &o, &d, &n); err != nil {
			h.t.Fatalf("bad expectation %q: %v", w, err)
		}
		wantLines = append(wantLines, Event{Name: EventName(name), Counts: Counts{b, o, d, n}}.LogLine())
	}
	if !slices.Equal(got, wantLines) {
		h.t.Fatalf("events:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(wantLines, "\n      "))
	}
}

func (h *harness) waitResult() error {
	h.t.Helper()
	select {
	case err := <-h.result:
		return err
	case <-time.After(5 * time.Second):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// booted starts count workers and brings them all online.
func booted(t *testing.T, count int, opts ...func(*Config)) *harness {
	h := newHarness(t, count, opts...)
	for i := range count {
		h.online(i)
	}
	h.next()
	return h
}
