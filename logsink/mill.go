package logsink

import (
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// backupTimeFormat and compressSuffix name rotated files the way
	// lumberjack does: stdout.log becomes
	// stdout-2006-01-02T15-04-05.000.log, then ….log.gz.
	backupTimeFormat = "2006-01-02T15-04-05.000"
	compressSuffix   = ".gz"
)

// mill compresses the rotated files of one log and deletes those beyond
// maxFiles, on one goroutine woken by a coalescing channel (lumberjack's
// mill), and reports what fails instead of dropping it.
type mill struct {
	// mu is held by a rotation while the name it gave a file may still be
	// taken back, and by the mill while it lists the directory, so the
	// mill only ever sees files that nobody writes any more.
	mu sync.Mutex

	dir, prefix, ext string // path = dir/prefix+ext
	maxFiles         int
	rep              *reporter

	kickC chan struct{} // capacity 1
	stop  chan struct{}
	done  chan struct{}

	reported map[string]string // what failed → its last error reported; owned by run
}

func newMill(path string, maxFiles int, rep *reporter) *mill {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	return &mill{
		dir: filepath.Dir(path), prefix: base[:len(base)-len(ext)], ext: ext,
		maxFiles: maxFiles, rep: rep,
		kickC: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		reported: make(map[string]string),
	}
}

// backupPath is the rotated name of the file at time t.
func (m *mill) backupPath(t time.Time) string {
	return filepath.Join(m.dir, m.prefix+"-"+t.UTC().Format(backupTimeFormat)+m.ext)
}

// kick asks for a pass; kicks coalesce.
func (m *mill) kick() {
	select {
	case m.kickC <- struct{}{}:
	default: // a pass is pending already, and will see the new file
	}
}

func (m *mill) run() {
	defer close(m.done)
	for {
		select { // a pending kick first, even when stopping
		case <-m.kickC:
			m.pass()
			continue
		default:
		}
		select {
		case <-m.kickC:
			m.pass()
		case <-m.stop:
			return
		}
	}
}

// close finishes a pending pass and stops, waiting at most timeout.
func (m *mill) close(timeout time.Duration) error {
	close(m.stop)
	select {
	case <-m.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("compression of rotated logs of %s still running after %v; left in the background",
			filepath.Join(m.dir, m.prefix+m.ext), timeout)
	}
}

// backup is one rotated file, compressed or not (or both, when a
// compression was cut short).
type backup struct {
	stem       string // dir/prefix-time.ext
	t          time.Time
	plain, gzd bool
}

// list returns the rotated files, oldest first.
func (m *mill) list() ([]*backup, error) {
	m.mu.Lock()
	entries, err := os.ReadDir(m.dir)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	byStem := map[string]*backup{}
	var all []*backup
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		gzd := strings.HasSuffix(name, compressSuffix)
		stem := strings.TrimSuffix(name, compressSuffix)
		t, ok := m.parse(stem)
		if !ok {
			continue
		}
		b := byStem[stem]
		if b == nil {
			b = &backup{stem: filepath.Join(m.dir, stem), t: t}
			byStem[stem] = b
			all = append(all, b)
		}
		if gzd {
			b.gzd = true
		} else {
			b.plain = true
		}
	}
	slices.SortFunc(all, func(a, b *backup) int {
		return cmp.Or(a.t.Compare(b.t), cmp.Compare(a.stem, b.stem))
	})
	return all, nil
}

// parse returns the time in name if name is prefix-<time>ext.
func (m *mill) parse(name string) (time.Time, bool) {
	ts, ok := strings.CutPrefix(name, m.prefix+"-")
	if !ok {
		return time.Time{}, false
	}
	ts, ok = strings.CutSuffix(ts, m.ext)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(backupTimeFormat, ts)
	return t, err == nil
}

// pass deletes the rotated files beyond maxFiles, then compresses the
// others.
func (m *mill) pass() {
	all, err := m.list()
	if m.check("unable to list rotated logs in "+m.dir, err) {
		return
	}
	if m.maxFiles > 0 && len(all) > m.maxFiles {
		for _, b := range all[:len(all)-m.maxFiles] {
			for _, name := range b.names() {
				err := os.Remove(name)
				if errors.Is(err, fs.ErrNotExist) {
					err = nil
				}
				m.check("unable to delete old log "+name, err)
			}
		}
		all = all[len(all)-m.maxFiles:]
	}
	for _, b := range all {
		if b.plain {
			m.check("unable to compress "+b.stem, compress(b.stem))
		}
	}
}

func (b *backup) names() []string {
	var names []string
	if b.plain {
		names = append(names, b.stem)
	}
	if b.gzd {
		names = append(names, b.stem+compressSuffix)
	}
	return names
}

// check reports err about what, once until what succeeds again, and
// returns whether err is not nil.
func (m *mill) check(what string, err error) bool {
	if err == nil {
		delete(m.reported, what)
		return false
	}
	if msg := err.Error(); m.reported[what] != msg {
		m.reported[what] = msg
		m.rep.emit(what+": "+msg, true)
	}
	return true
}

// compress writes src.gz, and deletes src once every write and close of
// src.gz succeeded. On failure it deletes src.gz, so that a partial .gz
// never passes for a rotated log; a later pass tries again.
func compress(src string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close() // read only: nothing to lose
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	dst := src + compressSuffix
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = out.Close()    // already failed; may be closed already
			_ = os.Remove(dst) // best effort; a later pass truncates it anyway
		}
	}()
	copyOwner(out, fi)
	gz := gzip.NewWriter(out)
	if _, err := io.Copy(gz, in); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	// On disk before the only other copy goes.
	if err := out.Sync(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Remove(src)
}
