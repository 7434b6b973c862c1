package logsink

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// reportEvery is the least time between two reports of one sink
	// about drops and failures; what happens meanwhile is added up.
	reportEvery = time.Second
	// maxKept bounds the reports kept for Close when there is no Report
	// function.
	maxKept = 20
)

// naughtSource names naught's own lines (WriteLine) in drop reports.
const naughtSource = "naught"

// reporter adds up what a file sink drops and what fails, and reports it
// at most once per reportEvery, and at close. It never calls out with its
// lock held, so out may write into the very sink it reports on.
type reporter struct {
	path      string
	out       func(string) // nil: keep the lines for Close
	now       func() time.Time
	afterFunc func(time.Duration, func()) stopper

	mu     sync.Mutex
	drops  map[string]*tally // by source: "worker 3", naughtSource
	fails  map[string]*tally // by what failed: "unable to write /x/stdout.log"
	last   time.Time         // of the last report
	timer  stopper           // a report is due; nil if none is
	closed bool
	kept   []string // lines for Close, when out is nil
	more   int      // lines beyond maxKept

	// Totals since the start.
	droppedBytes, droppedLines int64
	writeFails                 int
	lostBytes, lostLines       int64
	lastWriteErr               error
}

type tally struct {
	count        int
	bytes, lines int64
	err          error // the last one
}

func newReporter(path string, o *options) *reporter {
	return &reporter{
		path: path, out: o.report, now: o.reportNow, afterFunc: o.afterFunc,
		drops: make(map[string]*tally), fails: make(map[string]*tally),
	}
}

func add(m map[string]*tally, key string, bytes, lines int64, err error) {
	t := m[key]
	if t == nil {
		t = &tally{}
		m[key] = t
	}
	t.count++
	t.bytes += bytes
	t.lines += lines
	t.err = err
}

// dropped counts p, whole lines from source that did not fit the buffer.
func (r *reporter) dropped(source string, bytes, lines int64) {
	r.mu.Lock()
	add(r.drops, source, bytes, lines, nil)
	r.droppedBytes += bytes
	r.droppedLines += lines
	r.mu.Unlock()
	r.flush(false)
}

// writeFailed counts a failed write of bytes (lines lines), lost.
func (r *reporter) writeFailed(bytes, lines int64, err error) {
	r.mu.Lock()
	add(r.fails, "unable to write "+r.path, bytes, lines, err)
	r.writeFails++
	r.lostBytes += bytes
	r.lostLines += lines
	r.lastWriteErr = err
	r.mu.Unlock()
	r.flush(false)
}

// failed counts a failure that loses nothing; what says what failed.
func (r *reporter) failed(what string, err error) {
	r.mu.Lock()
	add(r.fails, what, 0, 0, err)
	r.mu.Unlock()
	r.flush(false)
}

// flush reports what was added up, unless the last report is less than
// reportEvery old and force is false; a report is then scheduled.
func (r *reporter) flush(force bool) {
	r.mu.Lock()
	if len(r.drops) == 0 && len(r.fails) == 0 {
		r.mu.Unlock()
		return
	}
	now := r.now()
	if !force && !r.closed { // after close, no report is scheduled: report at once
		if wait := r.last.Add(reportEvery).Sub(now); wait > 0 {
			if r.timer == nil {
				r.timer = r.afterFunc(wait, r.due)
			}
			r.mu.Unlock()
			return
		}
	}
	lines := r.lines()
	r.last = now
	r.mu.Unlock()
	for _, l := range lines {
		r.emit(l.text, l.keep)
	}
}

// due is the scheduled report.
func (r *reporter) due() {
	r.mu.Lock()
	r.timer = nil
	r.mu.Unlock()
	r.flush(false)
}

type reportLine struct {
	text string
	keep bool // for Close, when there is no out
}

// lines formats what was added up and clears it. Called with mu held.
func (r *reporter) lines() []reportLine {
	var lines []reportLine
	for _, src := range slices.Sorted(maps.Keys(r.drops)) {
		t := r.drops[src]
		lines = append(lines, reportLine{text: fmt.Sprintf("dropped %d bytes (%d lines) of %s output to %s: log writer too slow",
			t.bytes, t.lines, src, r.path), keep: true})
	}
	for _, what := range slices.Sorted(maps.Keys(r.fails)) {
		t := r.fails[what]
		var extra []string
		if t.count > 1 {
			extra = append(extra, fmt.Sprintf("%d times", t.count))
		}
		if t.bytes > 0 {
			extra = append(extra, fmt.Sprintf("%d bytes (%d lines) lost", t.bytes, t.lines))
		}
		text := fmt.Sprintf("%s: %v", what, t.err)
		if len(extra) > 0 {
			text += " (" + strings.Join(extra, ", ") + ")"
		}
		// Failed writes are summed up by Close anyway.
		lines = append(lines, reportLine{text: text, keep: t.bytes == 0})
	}
	clear(r.drops)
	clear(r.fails)
	return lines
}

// emit reports line now. Without out, it keeps line for Close if keep.
func (r *reporter) emit(line string, keep bool) {
	if r.out != nil {
		r.out(line)
		return
	}
	if !keep {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.kept) < maxKept {
		r.kept = append(r.kept, line)
	} else {
		r.more++
	}
}

// close reports what is left and returns what Close must: the failed
// writes, and without out the lines kept for it.
func (r *reporter) close() error {
	r.mu.Lock()
	r.closed = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.mu.Unlock()
	r.flush(true)

	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	if r.writeFails > 0 {
		errs = append(errs, fmt.Errorf("%d writes to log file %s failed, %d bytes (%d lines) lost, the last with: %w",
			r.writeFails, r.path, r.lostBytes, r.lostLines, r.lastWriteErr))
	}
	for _, l := range r.kept {
		errs = append(errs, errors.New(l))
	}
	if r.more > 0 {
		errs = append(errs, fmt.Errorf("%d more reports about log file %s", r.more, r.path))
	}
	return errors.Join(errs...)
}
