package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

const (
	fileFlags = os.O_WRONLY | os.O_APPEND | os.O_CREATE
	fileMode  = 0o644

	// neverMiB is lumberjack's MaxSize (it counts MiB): 2 PiB, so that it
	// never rotates on its own. The writer counts bytes and calls Rotate.
	neverMiB = math.MaxInt32
	// nameWait bounds how long a rotation waits for lumberjack's clock to
	// reach a millisecond whose rotated name is free. Only a wall clock
	// stepped back into a stretch of earlier rotations, one a millisecond,
	// makes it wait more than a millisecond.
	nameWait = 20 * time.Millisecond
)

// errNoName is why a rotation did not happen.
var errNoName = fmt.Errorf("every rotated name for the next %v is taken (wall clock stepped back?); writing on past the size limit", nameWait)

// fileWriter is the writing side of a file sink: a lumberjack.Logger that
// only the sink's writer goroutine uses. Every write it receives is whole
// lines; it writes them into one file or, rotating between two lines,
// into two or more, never splitting a line.
//
// lumberjack opens the file, renames it on rotation, and compresses and
// prunes the rotated files. The writer decides when to rotate (it counts
// bytes, lumberjack MiB), makes sure lumberjack's rotated name is new,
// creates the file with our mode, cuts a failed write back to whole
// lines, and watches the compressions lumberjack does not report on.
type fileWriter struct {
	path    string // absolute
	maxSize int64  // 0: never rotate
	rep     *reporter
	lj      *lumberjack.Logger
	backups *backups // the rotated files' names, and with maxSize their compression

	open       bool        // lj has the file open, and size counts it
	size       int64       // of the file, as far as we wrote it
	fi         fs.FileInfo // the file lj has open, as it was at path
	appendLate bool        // lj's file is the fresh one of a rotation, not opened O_APPEND
	lastMs     int64       // UTC millisecond right after the last lumberjack call that may have rotated
}

// openFileWriter has lumberjack open the file at path now, creating it
// if need be, so that Open fails on a path that cannot be written to, and
// lines written before a Reopen go to the file that was there before.
func openFileWriter(path string, o *options, rep *reporter) (*fileWriter, error) {
	w := &fileWriter{path: path, maxSize: o.maxSize, rep: rep, lj: &lumberjack.Logger{
		Filename:  path,
		MaxSize:   neverMiB,
		LocalTime: false, // rotated names in UTC
	}}
	w.backups = newBackups(path)
	if o.maxSize > 0 {
		w.lj.MaxBackups = o.maxFiles // 0 keeps them all
		w.lj.Compress = true
	}
	if err := w.openFile(); err != nil {
		return nil, err
	}
	return w, nil
}

// createFile creates the file at path, mode 0644 less the umask, unless it
// exists. (lumberjack would create it 0600.)
func createFile(path string) error {
	f, err := os.OpenFile(path, fileFlags, fileMode)
	if err != nil {
		return err
	}
	return f.Close()
}

// openFile has lumberjack open the file at path for appending, creating it
// first, and counts what it holds. lumberjack also wakes its mill, which
// then compresses what earlier runs or rotations left (and prunes).
func (w *fileWriter) openFile() error {
	if err := createFile(w.path); err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	fi, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	// lumberjack rotates a file that it fails to open: make the name it
	// would give it new too.
	_ = w.newBackupName() // without one, open anyway: it all but never fails
	_, err = w.lj.Write(nil)
	w.lastMs = time.Now().UnixMilli()
	if err != nil {
		return err // lumberjack's own context
	}
	w.open, w.size, w.fi, w.appendLate = true, fi.Size(), fi, false
	return nil
}

// write writes p, whole lines, rotating before a line that would take the
// file past maxSize. A line longer than maxSize goes alone into a fresh
// file. Failures are reported; what failed to be written is lost.
func (w *fileWriter) write(p []byte) {
	for len(p) > 0 {
		if !w.open {
			if err := w.openFile(); err != nil {
				w.rep.writeFailed(int64(len(p)), int64(bytes.Count(p, []byte{'\n'})), err)
				return
			}
		}
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
	if w.appendLate && w.nameFree() {
		// Reopen the fresh file of a rotation for appending, now that
		// the open, were it to fail, would not make lumberjack rotate
		// the file under a name in use. (Until then we are its only
		// writer anyway.) Unless it was moved away meanwhile: that is
		// for Reopen.
		w.appendLate = false
		if fi, err := os.Stat(w.path); err == nil && os.SameFile(fi, w.fi) {
			w.closeFile()
		}
	}
	if !w.open { // a failed rotation closed it, or the line above
		if err := w.openFile(); err != nil {
			w.rep.writeFailed(int64(len(p)), int64(bytes.Count(p, []byte{'\n'})), err)
			return
		}
	}
	n, err := w.lj.Write(p)
	if err == nil {
		w.size += int64(n)
		return
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // the report names the file already
	}
	// A short write (a full disk): keep the whole lines it wrote, and
	// take back the part of a line after them, so that the file still
	// ends with a whole line.
	whole := bytes.LastIndexByte(p[:n], '\n') + 1
	w.size += int64(whole)
	p, n = p[whole:], n-whole
	if n > 0 {
		if terr := w.truncate(); terr != nil {
			w.size += int64(n)
			err = errors.Join(err, fmt.Errorf("truncate a partly written line: %w", terr))
		}
		// Unless lumberjack opened the file O_APPEND, its offset is now
		// past the end: reopen it on the next write.
		w.closeFile()
	}
	w.rep.writeFailed(int64(len(p)), int64(bytes.Count(p, []byte{'\n'})), err)
}

// truncate cuts the file back to size. lumberjack keeps its descriptor to
// itself, so it goes by path, after making sure that the path still
// names the file lumberjack writes.
func (w *fileWriter) truncate() error {
	fi, err := os.Stat(w.path)
	if err != nil {
		return err
	}
	if !os.SameFile(fi, w.fi) {
		return errors.New("the file was moved away")
	}
	return os.Truncate(w.path, w.size)
}

// rotate has lumberjack rename the file with a timestamp and open a fresh
// one in its place (its mill then compresses the rotated one). It reports
// whether the file was rotated; if not, it reports why, and writing goes
// on in the old file.
func (w *fileWriter) rotate() bool {
	fi, err := os.Stat(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Someone moved the file away without telling us (Reopen):
		// what we wrote is theirs; just start a fresh file.
		w.closeFile()
		return true
	}
	if err != nil {
		w.rep.failed("unable to rotate "+w.path, err)
		return false
	}
	if !w.newBackupName() {
		w.rep.failed("unable to rotate "+w.path, errNoName)
		return false
	}
	err = w.lj.Rotate()
	w.lastMs = time.Now().UnixMilli()
	cur, serr := os.Stat(w.path)
	rotated := serr == nil && !os.SameFile(cur, fi)
	switch {
	case err == nil:
		// lumberjack has the fresh file open for writing, but not
		// O_APPEND: writeChunk reopens it soon.
		w.open, w.size, w.fi, w.appendLate = true, 0, cur, true
	case rotated:
		// lumberjack renamed the file and created a fresh one, then
		// failed (to chown or to open it): the next write opens it.
		w.open = false
		w.rep.failed("after rotating "+w.path, err)
	default:
		w.open = false // lumberjack closed it; the next write reopens it
		w.rep.failed("unable to rotate "+w.path, err)
		return false
	}
	if rotated && cur.Mode().Perm() != fi.Mode().Perm() {
		// lumberjack gave the fresh file the old one's mode less the
		// umask (and its owner): restore the mode in full.
		_ = os.Chmod(w.path, fi.Mode().Perm()) // best effort: the file is usable either way
	}
	w.backups.check(w.rep)
	return true
}

// newBackupName waits until the name lumberjack gives a file it rotates
// now is new (see nameFree), at most nameWait: a millisecond unless the
// clock was stepped back. It reports whether it found a name.
func (w *fileWriter) newBackupName() bool {
	deadline := time.Now().Add(nameWait)
	for !w.nameFree() {
		now := time.Now()
		if now.After(deadline) {
			return false
		}
		// Not a synchronisation: lumberjack's clock must move on.
		time.Sleep(time.Until(time.UnixMilli(now.UnixMilli() + 1)))
	}
	return true
}

// nameFree reports whether the name lumberjack would give a file it
// rotated now is new. lumberjack names it by the UTC millisecond of the
// rotation, and renames over whatever has that name. So the clock must
// have left the millisecond of our last call that may have rotated, and
// neither this millisecond's name nor the next's may be taken, compressed
// or not (the next's in case lumberjack reads the clock a millisecond
// later).
func (w *fileWriter) nameFree() bool {
	ms := time.Now().UnixMilli()
	return ms != w.lastMs && !w.backups.taken(ms) && !w.backups.taken(ms+1)
}

// reopen has lumberjack reopen the file at its path from the next write
// on (an external logrotate moved the file). f is the file Reopen opened
// to check that the path can be opened; lumberjack opens its own.
func (w *fileWriter) reopen(f *os.File) {
	_ = f.Close() // never written
	w.closeFile()
}

func (w *fileWriter) closeFile() {
	if err := w.lj.Close(); err != nil {
		w.rep.failed("unable to close "+w.path, err)
	}
	w.open = false
}

// absPath resolves path now, so that a later chdir changes nothing.
func absPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("log file %s: %w", path, err)
	}
	return abs, nil
}
