package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

const (
	fileFlags = os.O_WRONLY | os.O_APPEND | os.O_CREATE
	fileMode  = 0o644
)

// fileWriter is the writing side of a file sink. Only the sink's writer
// goroutine uses it, so it has no lock. Every write it receives is whole
// lines; it writes them into one file or, rotating between two lines,
// into two or more, never splitting a line.
type fileWriter struct {
	path    string // absolute
	maxSize int64  // 0: never rotate
	now     func() time.Time
	rep     *reporter
	mill    *mill // nil without rotation

	f    *os.File // nil when a failed rotation left none; the next write opens one
	size int64    // of f, as far as we wrote it
	last time.Time
}

// openFileWriter opens path for appending, creating it if need be.
func openFileWriter(path string, o *options, rep *reporter, m *mill) (*fileWriter, error) {
	f, err := os.OpenFile(path, fileFlags, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	w := &fileWriter{path: path, maxSize: o.maxSize, now: o.now, rep: rep, mill: m, f: f}
	if fi, err := f.Stat(); err == nil { // a failed Stat only delays the first rotation
		w.size = fi.Size()
	}
	return w, nil
}

// write writes p, whole lines, rotating before a line that would take the
// file past maxSize. A line longer than maxSize goes alone into a fresh
// file. Failures are reported; what failed to be written is lost.
func (w *fileWriter) write(p []byte) {
	for len(p) > 0 {
		n := len(p)
		if w.maxSize > 0 && w.size+int64(n) > w.maxSize {
			n = 0
			if room := w.maxSize - w.size; room > 0 {
				n = bytes.LastIndexByte(p[:min(room, int64(len(p)))], '\n') + 1
			}
			if n == 0 { // not even the first line fits
				if w.size > 0 && w.rotate() {
					continue
				}
				// Alone into a fresh file, or past maxSize into a file
				// that failed to rotate.
				n = lineEnd(p)
			}
		}
		w.writeChunk(p[:n])
		p = p[n:]
	}
}

// lineEnd is the length of p's first line with its newline.
func lineEnd(p []byte) int {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return i + 1
	}
	return len(p)
}

func (w *fileWriter) writeChunk(p []byte) {
	if w.f == nil {
		f, err := os.OpenFile(w.path, fileFlags, fileMode)
		if err != nil {
			w.rep.writeFailed(int64(len(p)), int64(bytes.Count(p, []byte{'\n'})), fmt.Errorf("open log file: %w", err))
			return
		}
		w.f, w.size = f, 0
		if fi, err := f.Stat(); err == nil {
			w.size = fi.Size()
		}
	}
	n, err := w.f.Write(p)
	if err == nil {
		w.size += int64(n)
		return
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // the report names the file already
	}
	if n > 0 {
		// Take back the part of a line a short write left (a full
		// disk), so the file still ends with a whole line.
		if terr := w.f.Truncate(w.size); terr != nil {
			w.size += int64(n)
			err = errors.Join(err, fmt.Errorf("truncate a partly written line: %w", terr))
		}
	}
	w.rep.writeFailed(int64(len(p)), int64(bytes.Count(p, []byte{'\n'})), err)
}

// rotate renames the file with a timestamp, opens a fresh one in its
// place and has the mill compress the rotated one. On failure it reports
// and keeps writing where it was.
func (w *fileWriter) rotate() bool {
	// While mill.mu is held, a rotated name may still be taken back: the
	// mill lists the directory only under it.
	w.mill.mu.Lock()
	defer w.mill.mu.Unlock()
	fi, err := w.f.Stat()
	if err != nil {
		w.rep.failed("unable to rotate "+w.path, err)
		return false
	}
	backup := w.backupName()
	if err := os.Rename(w.path, backup); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.rep.failed("unable to rotate "+w.path, err)
			return false
		}
		// Someone moved the file away without telling us (Reopen):
		// what we wrote is theirs; just start a fresh file.
		backup = ""
	}
	f, err := os.OpenFile(w.path, fileFlags, fi.Mode().Perm())
	if err != nil {
		if backup != "" {
			if uerr := os.Rename(backup, w.path); uerr != nil {
				// The file is now a rotated file like any other: stop
				// writing into it, so the mill may compress it. The
				// next write tries to open a fresh file.
				err = errors.Join(err, uerr)
				w.closeFile()
				w.rep.failed("unable to rotate "+w.path, err)
				w.mill.kick()
				return true
			}
		}
		w.rep.failed("unable to rotate "+w.path, err)
		return false
	}
	copyOwner(f, fi)
	w.closeFile()
	w.f, w.size = f, 0
	w.mill.kick()
	return true
}

// copyOwner gives f the permissions and owner of the file it replaces,
// which the umask or our own user may not give. Best effort: the file is
// usable either way.
func copyOwner(f *os.File, fi fs.FileInfo) {
	_ = f.Chmod(fi.Mode().Perm()) // best effort, see above
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
		_ = f.Chown(int(st.Uid), int(st.Gid)) // best effort: only root may
	}
}

// backupName is the name of the next rotated file: name-<UTC time>.ext,
// in lumberjack's format, with a millisecond added as often as needed to
// make it later than the last one and new. (lumberjack's own Rotate reuses
// a name when two rotations fall in the same millisecond, and the second
// rename then replaces the first file.) Called with mill.mu held.
func (w *fileWriter) backupName() string {
	t := w.now().UTC().Truncate(time.Millisecond)
	if !t.After(w.last) {
		t = w.last.Add(time.Millisecond)
	}
	for {
		name := w.mill.backupPath(t)
		if !exists(name) && !exists(name+compressSuffix) {
			w.last = t
			return name
		}
		t = t.Add(time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// reopen writes to f from now on (an external logrotate moved the file).
func (w *fileWriter) reopen(f *os.File) {
	w.closeFile()
	w.f, w.size = f, 0
	if fi, err := f.Stat(); err == nil {
		w.size = fi.Size()
	}
}

func (w *fileWriter) closeFile() {
	if w.f == nil {
		return
	}
	if err := w.f.Close(); err != nil {
		w.rep.failed("unable to close "+w.path, err)
	}
	w.f, w.size = nil, 0
}

// absPath resolves path now, so that a later chdir changes nothing.
func absPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("log file %s: %w", path, err)
	}
	return abs, nil
}
