package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	// maxLine is the longest line written whole. A longer line is cut
	// into pieces of maxLine bytes, each written as a line of its own
	// (with a newline added), so a worker that never writes a newline
	// cannot make naught buffer without bound.
	maxLine = 64 << 10
	// drainTimeout bounds how long Close waits for attached pipes to
	// reach EOF before it closes their read ends.
	drainTimeout = 5 * time.Second
	// abandonTimeout bounds how long Close then waits for the drainers
	// to notice.
	abandonTimeout = time.Second
	// flushTimeout bounds how long Close waits for the writer to write
	// what is queued, and then for lumberjack's mill to compress the
	// rotated files.
	flushTimeout = 5 * time.Second
)

// fileSink writes to a file: naught's own lines and, through one drained
// pipe per attached worker, the workers' output. Both go through one
// bounded queue to one writer goroutine, which alone touches the file.
type fileSink struct {
	path         string
	q            *queue
	w            *fileWriter // owned by the writer goroutine, then by Close
	rep          *reporter
	writerDone   chan struct{}
	drainTimeout time.Duration
	flushTimeout time.Duration

	mu     sync.Mutex
	closed bool
	pipes  map[*os.File]struct{} // read ends being drained
	wg     sync.WaitGroup        // drainers
}

func openFileSink(path string, o options) (*fileSink, error) {
	abs, err := absPath(path)
	if err != nil {
		return nil, err
	}
	rep := newReporter(abs, &o)
	w, err := openFileWriter(abs, &o, rep)
	if err != nil {
		return nil, err
	}
	s := &fileSink{
		path: abs, q: newQueue(o.bufSize), w: w, rep: rep,
		writerDone: make(chan struct{}), drainTimeout: drainTimeout, flushTimeout: flushTimeout,
		pipes: make(map[*os.File]struct{}),
	}
	go s.writeLoop()
	return s, nil
}

// writeLoop is the writer goroutine: it writes whatever is queued, in
// order, until the queue is closed, then closes the file.
func (s *fileSink) writeLoop() {
	defer close(s.writerDone)
	var (
		batch []byte
		marks []mark
		last  bool
	)
	for !last {
		batch, marks, last = s.q.take(batch[:0], marks[:0])
		off := 0
		for i, m := range marks {
			s.w.write(batch[off:m.at])
			off = m.at
			if m.reopen != nil {
				s.w.reopen(m.reopen)
			}
			if m.done != nil {
				close(m.done)
			}
			marks[i] = mark{}
		}
		s.w.write(batch[off:])
	}
	s.w.closeFile()
}

// dropped counts the whole lines p of source that the queue refused.
func (s *fileSink) dropped(source string, p []byte) {
	s.rep.dropped(source, int64(len(p)), int64(bytes.Count(p, []byte{'\n'})))
}

func (s *fileSink) WriteLine(line string) {
	size, kept, closed := s.q.pushLine(line)
	if !kept && !closed {
		lines := strings.Count(line, "\n")
		if !strings.HasSuffix(line, "\n") {
			lines++
		}
		s.rep.dropped(naughtSource, int64(size), int64(lines))
	}
}

func (s *fileSink) Attach(name string) (*os.File, func(), <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, nil, fmt.Errorf("attach %s: %w", name, ErrClosed)
	}
	r, w, err := os.Pipe() // both ends close-on-exec; exec.Cmd dup2s w into the child
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attach %s: %w", name, err)
	}
	s.pipes[r] = struct{}{}
	s.wg.Add(1)
	done := make(chan struct{})
	go s.drain(name, r, done)
	var once sync.Once
	afterStart := func() {
		// Our copy of the write end must go for the pipe to reach EOF
		// when the worker exits. A close error on a pipe loses nothing.
		once.Do(func() { _ = w.Close() })
	}
	return w, afterStart, done, nil
}

// drain queues what it reads from r in whole lines until EOF (or until
// Close closes r), then has done closed once it is all written. It never
// waits for the disk: what does not fit in the queue is dropped.
func (s *fileSink) drain(name string, r *os.File, done chan struct{}) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.pipes, r)
		s.mu.Unlock()
		_ = r.Close() // read end; may already be closed by Close
		if !s.q.mark(mark{done: done}) {
			close(done) // the queue is closed: nothing more will be written
		}
	}()
	buf := make([]byte, maxLine+1) // +1: room for a newline after a full buffer
	n := 0
	push := func(p []byte) {
		kept, closed := s.q.push(p)
		if kept < len(p) && !closed {
			s.dropped(name, p[kept:])
		}
	}
	for {
		m, err := r.Read(buf[n:maxLine])
		n += m
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			push(buf[:i+1]) // every complete line read so far
			n = copy(buf, buf[i+1:n])
		} else if n == maxLine {
			buf[n] = '\n'
			push(buf[:n+1])
			n = 0
		}
		if err != nil {
			if n > 0 { // a last line without its newline
				buf[n] = '\n'
				push(buf[:n+1])
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				s.rep.failed("unable to read the output of "+name, err)
			}
			return
		}
	}
}

// Reopen opens the file at its path now, so that a failure leaves the old
// file in use; the writer switches to it after the lines queued so far.
func (s *fileSink) Reopen() error {
	f, err := os.OpenFile(s.path, fileFlags, fileMode)
	if err != nil {
		return fmt.Errorf("reopen log file: %w", err)
	}
	if !s.q.mark(mark{reopen: f}) {
		_ = f.Close() // never written
		return fmt.Errorf("reopen log file %s: %w", s.path, ErrClosed)
	}
	return nil
}

func (s *fileSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	var errs []error
	if !waitFor(&s.wg, s.drainTimeout) {
		// Some worker, or a descendant holding its descriptor, still
		// has a pipe open. Stop reading: what it writes from now on
		// gets EPIPE.
		s.mu.Lock()
		n := len(s.pipes)
		for r := range s.pipes {
			_ = r.Close() // unblocks its drainer
		}
		s.mu.Unlock()
		errs = append(errs, fmt.Errorf("%d worker pipes still open after %v; stopped reading them", n, s.drainTimeout))
		if !waitFor(&s.wg, abandonTimeout) {
			errs = append(errs, errors.New("a worker pipe's reader did not stop"))
		}
	}
	// Drops are reported while the sink can still take the report (the
	// event log reports into itself).
	s.rep.flush(true)
	s.q.close()
	select {
	case <-s.writerDone:
		// The writer is done with s.w. Wait for lumberjack's mill,
		// which cannot be stopped nor waited for otherwise.
		if s.w.maxSize > 0 {
			s.w.backups.await(s.rep, s.flushTimeout)
		}
	case <-time.After(s.flushTimeout):
		errs = append(errs, fmt.Errorf("log file %s: a write did not finish within %v; left in the background", s.path, s.flushTimeout))
	}
	if err := s.rep.close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waitFor waits for wg at most timeout, and reports whether it is done.
func waitFor(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
