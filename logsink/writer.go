package logsink

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// lineWriter is the writing side of a file sink. Each Write receives one
// or more whole lines and must write them in one piece, into one file, so
// that concurrent writers never interleave within a line; it is safe for
// concurrent use. Size rotation replaces appendFile with an implementation
// that rotates between two Writes.
type lineWriter interface {
	io.Writer
	// Reopen reopens the file at its path (after an external rename).
	Reopen() error
	io.Closer
}

// appendFile is a lineWriter on one file opened with O_APPEND.
type appendFile struct {
	path string // absolute

	mu sync.Mutex
	f  *os.File // nil once closed
}

const fileFlags = os.O_WRONLY | os.O_APPEND | os.O_CREATE

func openAppendFile(path string) (*appendFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	f, err := os.OpenFile(abs, fileFlags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return &appendFile{path: abs, f: f}, nil
}

func (a *appendFile) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return 0, fmt.Errorf("write log file %s: %w", a.path, os.ErrClosed)
	}
	n, err := a.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("write log file: %w", err)
	}
	return n, nil
}

// Reopen opens the path afresh and only then swaps the files, so a failed
// reopen leaves the old file in use.
func (a *appendFile) Reopen() error {
	f, err := os.OpenFile(a.path, fileFlags, 0o644)
	if err != nil {
		return fmt.Errorf("reopen log file: %w", err)
	}
	a.mu.Lock()
	old := a.f
	if old != nil {
		a.f = f
	}
	a.mu.Unlock()
	if old == nil {
		_ = f.Close() // closed meanwhile; f was never written
		return fmt.Errorf("reopen log file %s: %w", a.path, os.ErrClosed)
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("close rotated log file: %w", err)
	}
	return nil
}

func (a *appendFile) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	if err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}
