package logsink

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeTimers is a clock that moves only when the test says.
type fakeTimers struct {
	mu      sync.Mutex
	now     time.Time
	pending []*fakeTimer
}

type fakeTimer struct {
	ft      *fakeTimers
	at      time.Time
	f       func()
	stopped bool
}

func (ft *fakeTimers) Now() time.Time {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.now
}

func (ft *fakeTimers) AfterFunc(d time.Duration, f func()) stopper {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	t := &fakeTimer{ft: ft, at: ft.now.Add(d), f: f}
	ft.pending = append(ft.pending, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.ft.mu.Lock()
	defer t.ft.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

func (ft *fakeTimers) armed() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := 0
	for _, t := range ft.pending {
		if !t.stopped {
			n++
		}
	}
	return n
}

// advance moves the clock by d and runs the timers then due.
func (ft *fakeTimers) advance(d time.Duration) {
	ft.mu.Lock()
	ft.now = ft.now.Add(d)
	var due []func()
	ft.pending = slices.DeleteFunc(ft.pending, func(t *fakeTimer) bool {
		if t.stopped || t.at.After(ft.now) {
			return t.stopped
		}
		t.stopped = true
		due = append(due, t.f)
		return true
	})
	ft.mu.Unlock()
	for _, f := range due {
		f()
	}
}

func newTestReporter(out func(string)) (*reporter, *fakeTimers) {
	ft := &fakeTimers{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	o := defaultOptions()
	Report(out)(&o)
	withTimers(ft.Now, ft.AfterFunc)(&o)
	return newReporter("/x/stdout.log", &o), ft
}

func TestReportsAtMostOnceASecond(t *testing.T) {
	var rep reports
	r, ft := newTestReporter(rep.add)
	expect := func(want ...string) {
		t.Helper()
		if got := rep.all(); !slices.Equal(got, want) {
			t.Fatalf("reports\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		rep.lines = nil
	}

	r.dropped("worker 1", 100, 2) // the first: at once
	expect("dropped 100 bytes (2 lines) of worker 1 output to /x/stdout.log: log writer too slow")

	r.dropped("worker 1", 50, 1)
	r.dropped("worker 2", 10, 1)
	r.dropped("worker 1", 50, 1)
	expect()
	if n := ft.armed(); n != 1 {
		t.Fatalf("%d reports scheduled, want 1", n)
	}
	ft.advance(999 * time.Millisecond)
	expect()
	ft.advance(time.Millisecond)
	expect(
		"dropped 100 bytes (2 lines) of worker 1 output to /x/stdout.log: log writer too slow",
		"dropped 10 bytes (1 lines) of worker 2 output to /x/stdout.log: log writer too slow",
	)

	ft.advance(200 * time.Millisecond)
	r.writeFailed(300, 3, syscall.ENOSPC)
	r.writeFailed(100, 1, syscall.ENOSPC)
	r.failed("unable to rotate /x/stdout.log", syscall.EACCES)
	expect()
	err := r.close() // reports what is left at once
	expect(
		"unable to rotate /x/stdout.log: permission denied",
		"unable to write /x/stdout.log: no space left on device (2 times, 400 bytes (4 lines) lost)",
	)
	if n := ft.armed(); n != 0 {
		t.Errorf("%d reports still scheduled after close", n)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "2 writes to log file /x/stdout.log failed, 400 bytes (4 lines) lost") {
		t.Errorf("close: %v", err)
	}

	r.dropped(naughtSource, 20, 1) // after close: at once
	expect("dropped 20 bytes (1 lines) of naught output to /x/stdout.log: log writer too slow")
}

func TestWithoutReportCloseTellsAll(t *testing.T) {
	r, _ := newTestReporter(nil)
	r.dropped("worker 1", 100, 2)
	r.failed("unable to compress /x/stdout-1.log", syscall.ENOSPC)
	r.writeFailed(300, 3, syscall.EIO)
	err := r.close()
	if err == nil {
		t.Fatal("close: no error")
	}
	for _, want := range []string{
		"dropped 100 bytes (2 lines) of worker 1 output",
		"unable to compress /x/stdout-1.log: no space left on device",
		"1 writes to log file /x/stdout.log failed, 300 bytes (3 lines) lost, the last with: input/output error",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("close: %v\nwant it to say %q", err, want)
		}
	}
	if strings.Count(err.Error(), "300 bytes") != 1 {
		t.Errorf("close tells of the failed write twice: %v", err)
	}
}
