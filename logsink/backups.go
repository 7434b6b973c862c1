package logsink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	// backupTimeFormat and compressSuffix are how lumberjack names rotated
	// files: stdout.log becomes stdout-2006-01-02T15-04-05.000.log, then
	// ….log.gz (the constants are not exported by lumberjack).
	backupTimeFormat = "2006-01-02T15-04-05.000"
	compressSuffix   = ".gz"

	// compressReportAfter is how long a rotated file may stay
	// uncompressed before a rotation reports it: lumberjack's mill does
	// not report its failures, so a file it leaves behind is all we see.
	compressReportAfter = time.Minute
	// pollEvery is how often Close looks at the directory while it waits
	// for the compressions.
	pollEvery = 5 * time.Millisecond
	// stallTimeout is how long Close waits for the compressions while
	// the directory shows no progress: a rotated file that stays, with a
	// .gz that does not grow, is most likely one whose compression failed.
	// (gzip writes out a block at least every few MiB of input, and the
	// mill reads tens of MiB a second.)
	stallTimeout = time.Second
)

// backups watches a log's rotated files, which lumberjack's mill
// compresses (and prunes) on a goroutine of its own that neither reports
// errors nor can be waited for. Only the directory tells whether a
// compression is done: lumberjack deletes a rotated file once its .gz is
// complete, and a rotated file that stays is one the mill has not
// compressed, yet or at all.
type backups struct {
	dir, prefix, ext string        // path = dir/prefix+ext
	reportAfter      time.Duration // compressReportAfter; a seam for tests

	// Owned by the writer goroutine, then by Close once it is done.
	seen     map[string]time.Time // uncompressed rotated files → when first seen so
	reported map[string]bool      // those reported as not compressed
}

func newBackups(path string) *backups {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	return &backups{
		dir: filepath.Dir(path), prefix: base[:len(base)-len(ext)], ext: ext,
		reportAfter: compressReportAfter,
		seen:        make(map[string]time.Time), reported: make(map[string]bool),
	}
}

// name is the rotated name lumberjack gives the file at UTC millisecond
// ms.
func (b *backups) name(ms int64) string {
	return filepath.Join(b.dir, b.prefix+"-"+time.UnixMilli(ms).UTC().Format(backupTimeFormat)+b.ext)
}

// taken reports whether a rotated file, compressed or not, has the name
// lumberjack would give a file rotated at ms.
func (b *backups) taken(ms int64) bool {
	name := b.name(ms)
	return exists(name) || exists(name+compressSuffix)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// isPlain reports whether name is an uncompressed rotated file of this
// log, by the rule lumberjack's mill uses to pick what it compresses.
func (b *backups) isPlain(name string) bool {
	ts, ok := strings.CutPrefix(name, b.prefix+"-")
	if !ok {
		return false
	}
	ts, ok = strings.CutSuffix(ts, b.ext)
	if !ok {
		return false
	}
	_, err := time.Parse(backupTimeFormat, ts)
	return err == nil
}

// scan lists the rotated files not compressed yet, sorted, and keeps
// track of when each was first seen.
func (b *backups) scan(now time.Time) ([]string, error) {
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, err
	}
	var plain []string
	for _, e := range entries {
		if e.Type().IsRegular() && b.isPlain(e.Name()) {
			plain = append(plain, filepath.Join(b.dir, e.Name()))
		}
	}
	for name := range b.seen {
		if _, ok := slices.BinarySearch(plain, name); !ok {
			delete(b.seen, name) // compressed, or pruned
			delete(b.reported, name)
		}
	}
	for _, name := range plain {
		if _, ok := b.seen[name]; !ok {
			b.seen[name] = now
		}
	}
	return plain, nil
}

// check reports, once each, the rotated files that have stayed
// uncompressed for reportAfter. The writer calls it after each
// rotation.
func (b *backups) check(rep *reporter) {
	now := time.Now()
	plain, err := b.scan(now)
	if err != nil {
		rep.failed("unable to list rotated logs in "+b.dir, err)
		return
	}
	for _, name := range plain {
		if age := now.Sub(b.seen[name]); age >= b.reportAfter && !b.reported[name] {
			b.reported[name] = true
			rep.failed("unable to compress "+name,
				fmt.Errorf("still not compressed %v after its rotation (lumberjack's mill does not say why)", age.Round(time.Second)))
		}
	}
}

// await waits until no rotated file is left uncompressed, and reports
// those that are when it gives up: after timeout, or once the mill has
// shown no progress (no rotated file gone, no .gz grown) for
// stallTimeout, since a compression that failed looks like one that has
// not begun. Close calls it once the writer is done, so that no rotation
// adds to them: every file it waits for was there when lumberjack's mill
// was last woken (by a rotation, or by the open, for what earlier runs
// left).
func (b *backups) await(rep *reporter, timeout time.Duration) {
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var (
		progress   string // the rotated files left, and the size of their .gz
		progressAt = start
	)
	for {
		now := time.Now()
		plain, err := b.scan(now)
		if err != nil {
			rep.failed("unable to list rotated logs in "+b.dir, err)
			return
		}
		if len(plain) == 0 {
			return
		}
		if p := gzSizes(plain); p != progress {
			progress, progressAt = p, now
		}
		if now.After(deadline) || now.Sub(progressAt) >= stallTimeout {
			for _, name := range plain {
				if !b.reported[name] {
					b.reported[name] = true
					rep.failed("unable to compress "+name,
						fmt.Errorf("still not compressed %v after the log was closed (lumberjack's mill does not say why); the next run tries again",
							now.Sub(start).Round(time.Millisecond)))
				}
			}
			return
		}
		<-tick.C
	}
}

// gzSizes describes the .gz of each of plain, as far as it is written.
func gzSizes(plain []string) string {
	var sb strings.Builder
	for _, name := range plain {
		size := int64(-1)
		if fi, err := os.Lstat(name + compressSuffix); err == nil {
			size = fi.Size()
		}
		fmt.Fprintf(&sb, "%s %d\n", name, size)
	}
	return sb.String()
}
