package logsink

import (
	"bytes"
	"os"
	"strings"
	"sync"
)

// queue holds whole lines between their producers (the drainers and
// WriteLine), which never wait for the disk, and the one writer goroutine,
// which alone touches the file. What would take the queue past limit is
// refused, whole lines at a time; the caller counts it as dropped.
//
// The writer takes everything queued at once and writes it while the
// queue fills again (double buffering), so a sink holds at most twice
// limit, and a writer that keeps up always has its next batch ready.
type queue struct {
	mu     sync.Mutex
	buf    []byte // whole lines not yet taken by the writer
	marks  []mark // in the order of their at
	limit  int
	closed bool
	wake   chan struct{} // capacity 1: something was queued, or closed
}

// mark is an event placed between two lines of the queue.
type mark struct {
	at     int           // offset in buf: applies after buf[:at]
	reopen *os.File      // from here on, write to this file
	done   chan struct{} // close once buf[:at] has been written
}

func newQueue(limit int) *queue {
	return &queue{limit: limit, wake: make(chan struct{}, 1)}
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// room is what may still be queued. Called with mu held.
func (q *queue) room() int { return q.limit - len(q.buf) }

// push queues the longest prefix of p, which is whole lines, that fits,
// and returns its length. closed reports that the queue refused p because
// it is closed.
func (q *queue) push(p []byte) (kept int, closed bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, true
	}
	kept = len(p)
	if room := q.room(); kept > room {
		kept = 0
		if room > 0 {
			kept = bytes.LastIndexByte(p[:room], '\n') + 1
		}
	}
	q.buf = append(q.buf, p[:kept]...)
	q.mu.Unlock()
	if kept > 0 {
		q.signal()
	}
	return kept, false
}

// pushLine queues line, with a newline added if it lacks one, whole or
// not at all. It returns the size of line with its newline.
func (q *queue) pushLine(line string) (size int, kept, closed bool) {
	size = len(line)
	nl := !strings.HasSuffix(line, "\n")
	if nl {
		size++
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return size, false, true
	}
	if size > q.room() {
		q.mu.Unlock()
		return size, false, false
	}
	q.buf = append(q.buf, line...)
	if nl {
		q.buf = append(q.buf, '\n')
	}
	q.mu.Unlock()
	q.signal()
	return size, true, false
}

// mark places m after everything queued so far. Marks are not counted
// against the limit. It returns false if the queue is closed.
func (q *queue) mark(m mark) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	m.at = len(q.buf)
	q.marks = append(q.marks, m)
	q.mu.Unlock()
	q.signal()
	return true
}

// take waits until something is queued or the queue is closed, then takes
// everything queued, handing over buf and marks (emptied) for reuse. last
// reports that the queue is closed and nothing can follow what it returns.
func (q *queue) take(buf []byte, marks []mark) (_ []byte, _ []mark, last bool) {
	for {
		q.mu.Lock()
		if len(q.buf) > 0 || len(q.marks) > 0 || q.closed {
			b, m := q.buf, q.marks
			q.buf, q.marks = buf, marks
			last = q.closed
			q.mu.Unlock()
			return b, m, last
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// close refuses everything from now on; take returns what is left with
// last set.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}
