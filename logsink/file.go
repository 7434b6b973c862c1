package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
	// abandonTimeout bounds how long Close then waits for drainers stuck
	// in a write (a hung disk) before closing the file under them.
	abandonTimeout = time.Second
)

// fileSink writes to a file: naught's own lines directly, the workers'
// output through one drained pipe per attached worker.
type fileSink struct {
	w            lineWriter
	drainTimeout time.Duration

	mu     sync.Mutex
	closed bool
	pipes  map[*os.File]struct{} // read ends being drained
	wg     sync.WaitGroup        // drainers

	failMu   sync.Mutex
	failures int
	lastFail error
}

func openFileSink(path string) (*fileSink, error) {
	w, err := openAppendFile(path)
	if err != nil {
		return nil, err
	}
	return newFileSink(w), nil
}

func newFileSink(w lineWriter) *fileSink {
	return &fileSink{w: w, drainTimeout: drainTimeout, pipes: make(map[*os.File]struct{})}
}

// fail records a failed write. Log writes have nowhere to report to; Close
// reports the count and the last error.
func (s *fileSink) fail(err error) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failures++
	s.lastFail = err
}

func (s *fileSink) write(p []byte) {
	if _, err := s.w.Write(p); err != nil {
		s.fail(err)
	}
}

func (s *fileSink) WriteLine(line string) {
	s.write(withNewline(line))
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

// drain copies r to the file in whole lines until EOF (or until Close
// closes r), then closes done.
func (s *fileSink) drain(name string, r *os.File, done chan<- struct{}) {
	defer s.wg.Done()
	defer close(done)
	defer func() {
		s.mu.Lock()
		delete(s.pipes, r)
		s.mu.Unlock()
		_ = r.Close() // read end; may already be closed by Close
	}()
	buf := make([]byte, maxLine+1) // +1: room for a newline after a full buffer
	n := 0
	for {
		m, err := r.Read(buf[n:maxLine])
		n += m
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			s.write(buf[:i+1]) // every complete line read so far, in one Write
			n = copy(buf, buf[i+1:n])
		} else if n == maxLine {
			buf[n] = '\n'
			s.write(buf[:n+1])
			n = 0
		}
		if err != nil {
			if n > 0 { // a last line without its newline
				buf[n] = '\n'
				s.write(buf[:n+1])
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				s.fail(fmt.Errorf("read output of %s: %w", name, err))
			}
			return
		}
	}
}

func (s *fileSink) Reopen() error { return s.w.Reopen() }

func (s *fileSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	var errs []error
	drained := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(drained)
	}()
	timer := time.NewTimer(s.drainTimeout)
	select {
	case <-drained:
		timer.Stop()
	case <-timer.C:
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
		select {
		case <-drained:
		case <-time.After(abandonTimeout):
			errs = append(errs, errors.New("a log write did not finish; closing the file anyway"))
		}
	}
	if err := s.w.Close(); err != nil {
		errs = append(errs, err)
	}
	s.failMu.Lock()
	if s.failures > 0 {
		errs = append(errs, fmt.Errorf("%d log writes failed, the last with: %w", s.failures, s.lastFail))
	}
	s.failMu.Unlock()
	return errors.Join(errs...)
}
