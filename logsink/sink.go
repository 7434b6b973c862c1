package logsink

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrClosed is returned by Attach after Close.
var ErrClosed = errors.New("log sink closed")

// Sink is one log destination: naught's own event log, or the workers'
// stdout, or their stderr. Its methods may be called from any goroutine.
type Sink interface {
	// WriteLine writes one line of naught's own; a newline is added if
	// line lacks one. It never waits for the disk: a file sink queues the
	// line (several lines, if line holds newlines, are kept or dropped
	// together) in the same buffer as the workers' output. It does not
	// return errors: a file sink reports them (see [Report]) and Close
	// returns the failed writes. After Close it does nothing.
	WriteLine(line string)

	// Attach gives a worker its descriptor for this stream. childFile goes
	// into the worker's exec.Cmd (Stdout or Stderr); the caller calls
	// afterStart right after cmd.Start — whether or not Start succeeded —
	// to release naught's copy (it never closes naught's own stream).
	// done is closed once everything the worker (and any descendant that
	// inherited the descriptor) wrote has reached the destination: when
	// the pipe is drained to EOF and what was read has been written (or
	// dropped, or has failed), or at once for passthrough and discard.
	// name identifies the worker in error reports.
	Attach(name string) (childFile *os.File, afterStart func(), done <-chan struct{}, err error)

	// Reopen reopens the file at its path, for an external logrotate that
	// renamed it (SIGUSR1): lines written before go to the old file, lines
	// written after to the new one. If the path cannot be opened, the old
	// file stays in use. It is a no-op for passthrough and discard.
	Reopen() error

	// Close waits (at most a few seconds) for attached pipes to drain,
	// reports what was dropped, writes what is buffered, closes the
	// destination, then waits (at most a few seconds more) until the
	// rotated files are compressed, reporting those that are not. It
	// never closes naught's own stream. Its error tells of lost output
	// (failed writes, pipes still open) and of a step that did not finish
	// in time; without [Report], it also carries what would have been
	// reported.
	Close() error
}

// Open resolves dest the way naught's --log, --stdout and --stderr options
// do:
//
//   - "-": passthrough to std. Workers inherit std itself (Attach returns
//     std; nothing is copied) and WriteLine writes to std.
//   - "/dev/null": discard. Attach returns a fresh descriptor on /dev/null
//     and naught reads nothing; WriteLine does nothing.
//   - anything else: a file opened with O_APPEND|O_CREATE (mode 0644; its
//     directory must exist). Workers get the write end of a close-on-exec
//     pipe that a goroutine drains, in whole lines, into a bounded buffer
//     that one writer goroutine writes to the file; see [MaxSize],
//     [MaxFiles], [BufferSize] and [Report]. A relative path is resolved
//     now, against the current directory, so Reopen and rotation use the
//     same path even if the process changes directory.
//
// The options apply to files only, but Open rejects invalid ones whatever
// dest is.
func Open(dest string, std *os.File, opts ...Option) (Sink, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("log destination %q: %w", dest, err)
	}
	switch dest {
	case "":
		return nil, errors.New("log destination: empty path")
	case "-":
		if std == nil {
			return nil, errors.New("log destination \"-\": no stream to pass through to")
		}
		return &passthrough{std: std, done: closedChan()}, nil
	case os.DevNull:
		return discard{done: closedChan()}, nil
	default:
		return openFileSink(dest, o)
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// withNewline returns line as bytes ending in exactly the newline it had,
// or one added.
func withNewline(line string) []byte {
	b := make([]byte, 0, len(line)+1)
	b = append(b, line...)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

// passthrough is "-": the workers inherit std.
type passthrough struct {
	mu   sync.Mutex // one WriteLine at a time, so naught's lines stay whole
	std  *os.File
	done chan struct{}
}

func (p *passthrough) WriteLine(line string) {
	b := withNewline(line)
	p.mu.Lock()
	defer p.mu.Unlock()
	// Deliberately ignored: std is naught's own stdout or stderr; if it
	// fails there is nowhere left to report it.
	_, _ = p.std.Write(b)
}

func (p *passthrough) Attach(string) (*os.File, func(), <-chan struct{}, error) {
	return p.std, func() {}, p.done, nil
}

func (p *passthrough) Reopen() error { return nil }
func (p *passthrough) Close() error  { return nil }

// discard is "/dev/null".
type discard struct{ done chan struct{} }

func (discard) WriteLine(string) {}

func (d discard) Attach(name string) (*os.File, func(), <-chan struct{}, error) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attach %s: %w", name, err)
	}
	return f, func() { _ = f.Close() }, d.done, nil // closing /dev/null cannot lose data
}

func (discard) Reopen() error { return nil }
func (discard) Close() error  { return nil }
