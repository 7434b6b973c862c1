package logsink

import (
	"fmt"
	"time"
)

// DefaultBufferSize is how many bytes of output a file sink holds for a
// slow disk before it drops lines, unless [BufferSize] says otherwise.
const DefaultBufferSize = 1 << 20

// Option configures a file sink. Passthrough ("-") and discard
// ("/dev/null") ignore options, but Open still checks them.
type Option func(*options)

type options struct {
	maxSize  int64
	maxFiles int
	bufSize  int
	report   func(line string)

	// Seams for tests: the clock and timers that space reports. (The
	// clock that names rotated files is lumberjack's: time.Now.)
	reportNow func() time.Time
	afterFunc func(time.Duration, func()) stopper
}

// stopper is what time.AfterFunc returns.
type stopper interface{ Stop() bool }

func defaultOptions() options {
	return options{
		bufSize:   DefaultBufferSize,
		reportNow: time.Now,
		afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
	}
}

func (o *options) check() error {
	if o.maxSize < 0 {
		return fmt.Errorf("invalid max log size %d", o.maxSize)
	}
	if o.maxFiles < 0 {
		return fmt.Errorf("invalid max log files %d", o.maxFiles)
	}
	if o.bufSize <= 0 {
		return fmt.Errorf("invalid log buffer size %d", o.bufSize)
	}
	return nil
}

// MaxSize rotates a log file before a write would take it past bytes: the
// file is renamed name-<UTC time>.ext (for example
// stdout-2006-01-02T15-04-05.000.log), gzipped in the background into
// name-<time>.ext.gz, and a fresh file is opened, all by lumberjack (see
// the package documentation). Lines are never split:
// a line that does not fit goes into the fresh file, and a single line
// longer than bytes goes alone into a file of its own. 0, the default,
// never rotates.
func MaxSize(bytes int64) Option { return func(o *options) { o.maxSize = bytes } }

// MaxFiles keeps the n newest rotated files of a log and deletes older
// ones (the file being written is not counted), rotated by this run or an
// earlier one; lumberjack deletes them in the background after a
// rotation. 0, the default, keeps them all, as the original naught does.
// It applies only with [MaxSize].
func MaxFiles(n int) Option { return func(o *options) { o.maxFiles = n } }

// BufferSize bounds the output a file sink holds while the disk is slow:
// the workers' pipes are always read, and a line that would take the
// buffer past bytes is dropped whole, counted and reported (see [Report]).
// The writer writes the previous buffer's worth meanwhile, so a sink holds
// at most twice bytes. The default is [DefaultBufferSize]; a line longer
// than the buffer is always dropped.
func BufferSize(bytes int) Option { return func(o *options) { o.bufSize = bytes } }

// Report sends what a file sink has to say about itself to f, one line at
// a time without a newline: output dropped because the disk was too slow
// (at most one report a second, and at Close), failed writes, rotations
// and compressions. f may be called from any goroutine, concurrently, and
// must not block; the sink holds no lock while calling it.
//
// f may write into the sink being opened (the event log reports into
// itself): it is first called after Open has returned and the sink has
// been used, and a report that does not fit in the buffer is counted as
// dropped like any other line, so a full buffer cannot make a sink wait
// for itself.
//
// Without Report, those lines are returned by Close instead.
func Report(f func(line string)) Option { return func(o *options) { o.report = f } }

// withTimers spaces reports with afterFunc instead of time.AfterFunc, and
// reads the time from now.
func withTimers(now func() time.Time, afterFunc func(time.Duration, func()) stopper) Option {
	return func(o *options) { o.reportNow, o.afterFunc = now, afterFunc }
}
