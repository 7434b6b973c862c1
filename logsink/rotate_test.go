package logsink

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// reports collects what a sink reports.
type reports struct {
	mu    sync.Mutex
	lines []string
}

func (r *reports) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}

func (r *reports) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

var dropReport = regexp.MustCompile(`^dropped (\d+) bytes \((\d+) lines\) of (.+) output to (.+): log writer too slow$`)

// dropped sums the dropped lines reported, by source.
func (r *reports) dropped(t *testing.T) map[string]int {
	t.Helper()
	sum := map[string]int{}
	for _, l := range r.all() {
		m := dropReport.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("unexpected report %q", l)
			continue
		}
		n, _ := strconv.Atoi(m[2])
		sum[m[3]] += n
	}
	return sum
}

// logFile is one file of a rotated log, as read back.
type logFile struct {
	name  string
	lines []string
	size  int // uncompressed
}

// readLog returns the files of the log at path, the rotated ones first in
// the order of their names (their timestamps), the file itself last.
// Rotated files are decompressed; every file must end with a newline, and
// nothing else may be in the directory.
func readLog(t *testing.T, path string) []logFile {
	t.Helper()
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	pattern := regexp.MustCompile(`^` + regexp.QuoteMeta(strings.TrimSuffix(base, ext)) +
		`-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}` + regexp.QuoteMeta(ext) + `(\.gz)?$`)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != base && !pattern.MatchString(e.Name()) {
			t.Errorf("unexpected file %s", e.Name())
			continue
		}
		names = append(names, e.Name())
	}
	slices.SortFunc(names, func(a, b string) int {
		if a == base || b == base {
			return boolCmp(a == base, b == base)
		}
		return strings.Compare(a, b)
	})
	var files []logFile
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s does not end in a newline", name)
		}
		f := logFile{name: name, size: len(b)}
		if len(b) > 0 {
			f.lines = strings.Split(string(b[:len(b)-1]), "\n")
		}
		files = append(files, f)
	}
	return files
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}

// checkLines checks that lines are whole lines "ID SEQ …" of the given
// lengths (by ID), each worker's in order, none twice, and returns how many
// each ID has and the ones missing.
func checkLines(t *testing.T, lines []string, length map[string]int) (count map[string]int, missing map[string]int) {
	t.Helper()
	next := map[string]int{}
	count = map[string]int{}
	missing = map[string]int{}
	for i, line := range lines {
		id, rest, _ := strings.Cut(line, " ")
		seqStr, _, _ := strings.Cut(rest, " ")
		seq, err := strconv.Atoi(seqStr)
		if err != nil || length[id] == 0 || line != workerLine(id, seq, length[id]) {
			t.Fatalf("line %d is mangled: %.80q", i, line)
		}
		if seq < next[id] {
			t.Fatalf("line %d: %s's line %d again or out of order, after its line %d", i, id, seq, next[id]-1)
		}
		missing[id] += seq - next[id]
		next[id] = seq + 1
		count[id]++
	}
	return count, missing
}

func TestRotationKeepsEveryLineOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	var rep reports
	const (
		maxSize = 300
		count   = 400
		length  = 40
		own     = 300 // naught's lines
	)
	s, err := Open(path, nil, MaxSize(maxSize), Report(rep.add))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"a", "b", "c", "d"}
	lengths := map[string]int{"n": 30}
	var dones []<-chan struct{}
	var cmds []*exec.Cmd
	for _, id := range ids {
		lengths[id] = length
		cmd := helperCommand(t, "lines", id, strconv.Itoa(count), strconv.Itoa(length))
		dones = append(dones, start(t, s, "worker "+id, cmd))
		cmds = append(cmds, cmd)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range own {
			s.WriteLine(workerLine("n", i, lengths["n"]))
		}
	})
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %s: %v", ids[i], err)
		}
		wait(t, dones[i], "worker "+ids[i]+"'s output")
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := rep.all(); len(r) > 0 {
		t.Errorf("reports: %q", r)
	}

	files := readLog(t, path)
	if len(files) < 51 {
		t.Fatalf("%d files, want at least 50 rotations", len(files))
	}
	var all []string
	for _, f := range files {
		if f.name != filepath.Base(path) && !strings.HasSuffix(f.name, ".gz") {
			t.Errorf("%s not compressed after Close", f.name)
		}
		if f.size > maxSize {
			t.Errorf("%s: %d bytes, more than %d", f.name, f.size, maxSize)
		}
		all = append(all, f.lines...)
	}
	got, missing := checkLines(t, all, lengths)
	for _, id := range append(ids, "n") {
		want := count
		if id == "n" {
			want = own
		}
		if got[id] != want || missing[id] != 0 {
			t.Errorf("%s: %d lines (%d missing), want %d", id, got[id], missing[id], want)
		}
	}
}

// lumberjack names a rotated file by the millisecond, and renames over a
// file of the same name: rotations faster than one a millisecond would
// lose files, unless the writer waits for a new name.
func TestRotationsFasterThanAMillisecondKeepEveryLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	var rep reports
	const (
		count  = 300
		length = 12 // with its newline, one line a file
	)
	s, err := Open(path, nil, MaxSize(length+1), Report(rep.add))
	if err != nil {
		t.Fatal(err)
	}
	for i := range count { // queued at once: the writer rotates as fast as it can
		s.WriteLine(workerLine("n", i, length))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := rep.all(); len(r) > 0 {
		t.Errorf("reports: %q", r)
	}
	files := readLog(t, path)
	var all []string
	for _, f := range files {
		all = append(all, f.lines...)
	}
	got, missing := checkLines(t, all, map[string]int{"n": length})
	if got["n"] != count || missing["n"] != 0 || len(files) != count {
		t.Errorf("%d lines (%d missing) in %d files, want %d in %d", got["n"], missing["n"], len(files), count, count)
	}
}

func TestRotationNeverSplitsALine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "naught.log")
	s, err := Open(path, nil, MaxSize(100))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 250)
	for _, l := range []string{"short 1", long, strings.Repeat("y", 90), "short 2", "short 3"} {
		s.WriteLine(l)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, f := range readLog(t, path) {
		got = append(got, f.lines)
	}
	want := [][]string{{"short 1"}, {long}, {strings.Repeat("y", 90), "short 2"}, {"short 3"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("files hold %.200q,\nwant %.200q", got, want)
	}
}

func TestRotatedNamesAreNewAndInOrder(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stdout.log")
	// Rotated files of an earlier run (whose clock was ahead), under the
	// names lumberjack's clock, which is time.Now, gives next.
	const taken = 6
	first := time.Now().UnixMilli()
	stem := func(ms int64) string {
		return filepath.Join(dir, "stdout-"+time.UnixMilli(ms).UTC().Format(backupTimeFormat)+".log")
	}
	var want []string
	for i := range int64(taken) {
		content := fmt.Sprintf("old %d", i)
		if i%2 == 0 {
			writeGzip(t, stem(first+i)+".gz", content+"\n")
		} else if err := os.WriteFile(stem(first+i), []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		want = append(want, filepath.Base(stem(first+i))+".gz: "+content)
	}
	s, err := Open(path, nil, MaxSize(10))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.WriteLine(fmt.Sprintf("line %d", i)) // 7 bytes: one per file
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range readLog(t, path) {
		got = append(got, f.name+": "+strings.Join(f.lines, ","))
	}
	// readLog sorts the rotated files by name: the new ones come after
	// the old ones, in the order they were written, and no old one was
	// renamed over.
	if len(got) != taken+5 || !slices.Equal(got[:taken], want) {
		t.Fatalf("got\n%s\nwant first\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, g := range got[taken : taken+4] {
		if !strings.HasSuffix(g, fmt.Sprintf(".log.gz: line %d", i)) {
			t.Errorf("rotated file %d: %s, want line %d", i, g, i)
		}
	}
	if g := got[taken+4]; g != "stdout.log: line 4" {
		t.Errorf("the log: %s, want line 4", g)
	}
}

func writeGzip(t *testing.T, path, content string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMaxFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stdout.log")
	writeGzip(t, filepath.Join(dir, "stdout-2000-01-01T00-00-00.000.log.gz"), "from long ago\n")
	s, err := Open(path, nil, MaxSize(50), MaxFiles(3))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 20 {
		line := workerLine("n", i, 20) // two lines a file
		lines = append(lines, line)
		s.WriteLine(line)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := readLog(t, path)
	if len(files) != 4 {
		t.Fatalf("%d files, want 3 rotated ones and the log", len(files))
	}
	var got []string
	for _, f := range files {
		got = append(got, f.lines...)
	}
	if want := lines[len(lines)-len(got):]; !slices.Equal(got, want) {
		t.Errorf("kept %q, want the last lines %q", got, want)
	}
}

func TestRotationKeepsTheFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil, MaxSize(10))
	if err != nil {
		t.Fatal(err)
	}
	s.WriteLine("line 1")
	s.WriteLine("line 2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := readLog(t, path)
	if len(files) != 2 {
		t.Fatalf("%d files, want 2", len(files))
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(filepath.Dir(path), f.name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o640 {
			t.Errorf("%s: mode %#o, want 0640", f.name, perm)
		}
	}
}

func TestLeftoversAreCompressed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stdout.log")
	// An earlier run rotated one file and was cut short compressing it.
	left := filepath.Join(dir, "stdout-2001-02-03T04-05-06.789.log")
	if err := os.WriteFile(left, []byte("left over\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(left+".gz", []byte("\x1f\x8b partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil, MaxSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	s.WriteLine("new")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range readLog(t, path) {
		got = append(got, f.name+": "+strings.Join(f.lines, ","))
	}
	want := []string{filepath.Base(left) + ".gz: left over", "stdout.log: new"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCompressionFailureIsReported(t *testing.T) {
	setup := func(t *testing.T) (path, left string) {
		dir := t.TempDir()
		path = filepath.Join(dir, "stdout.log")
		left = filepath.Join(dir, "stdout-2001-02-03T04-05-06.789.log")
		if err := os.WriteFile(left, []byte("left over\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Where the .gz should go, a directory: the compression fails.
		if err := os.Mkdir(left+".gz", 0o755); err != nil {
			t.Fatal(err)
		}
		return path, left
	}
	// lumberjack's mill does not report a failure: Close tells it from a
	// compression not begun only when it gives up waiting, after a second
	// without progress (the Stall subtest) or its flushTimeout. Shorten
	// the latter.
	shortWait := func(s Sink) { s.(*fileSink).flushTimeout = 300 * time.Millisecond }
	check := func(t *testing.T, report, left string) {
		if !strings.Contains(report, "unable to compress "+left) {
			t.Errorf("report %q, want one about compressing %s", report, left)
		}
		if b, err := os.ReadFile(left); string(b) != "left over\n" {
			t.Errorf("the rotated file is now %q (%v)", b, err)
		}
	}
	t.Run("Report", func(t *testing.T) {
		path, left := setup(t)
		var rep reports
		s, err := Open(path, nil, MaxSize(1000), Report(rep.add))
		if err != nil {
			t.Fatal(err)
		}
		shortWait(s)
		s.WriteLine("new")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, strings.Join(rep.all(), "\n"), left)
	})
	t.Run("Rotation", func(t *testing.T) {
		// Before Close: a rotation notices the file left uncompressed
		// (after a minute, made 0 here).
		path, left := setup(t)
		var rep reports
		s, err := Open(path, nil, MaxSize(10), Report(rep.add))
		if err != nil {
			t.Fatal(err)
		}
		shortWait(s)
		s.(*fileSink).w.backups.reportAfter = 0 // before the first line: the queue orders it
		s.WriteLine("line 1")
		s.WriteLine("line 2") // rotates
		waitUntil(t, "a report", func() bool { return strings.Contains(strings.Join(rep.all(), "\n"), "unable to compress "+left) })
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, strings.Join(rep.all(), "\n"), left)
	})
	t.Run("Stall", func(t *testing.T) {
		// Close gives up once the directory shows no progress, long
		// before its flushTimeout.
		path, left := setup(t)
		var rep reports
		s, err := Open(path, nil, MaxSize(1000), Report(rep.add))
		if err != nil {
			t.Fatal(err)
		}
		s.WriteLine("new")
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d >= flushTimeout-time.Second {
			t.Errorf("Close took %v, want about %v", d, stallTimeout)
		}
		check(t, strings.Join(rep.all(), "\n"), left)
	})
	t.Run("Close", func(t *testing.T) {
		path, left := setup(t)
		s, err := Open(path, nil, MaxSize(1000))
		if err != nil {
			t.Fatal(err)
		}
		shortWait(s)
		s.WriteLine("new")
		err = s.Close()
		if err == nil {
			t.Fatal("Close: no error")
		}
		check(t, err.Error(), left)
	})
}

func TestReopenThenRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stdout.log")
	s, err := Open(path, nil, MaxSize(20))
	if err != nil {
		t.Fatal(err)
	}
	s.WriteLine("before 1")                            // 9 bytes
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("someone's\n"), 0o644); err != nil { // 10 bytes
		t.Fatal(err)
	}
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.WriteLine("after 1") // 8 bytes: fits with what is there
	s.WriteLine("after 2") // rotates first
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path + ".1"); string(b) != "before 1\n" {
		t.Errorf("renamed file: %q", b)
	}
	if err := os.Remove(path + ".1"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range readLog(t, path) {
		got = append(got, strings.Join(f.lines, ","))
	}
	if want := []string{"someone's,after 1", "after 2"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestInvalidOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	for _, opt := range []Option{MaxSize(-1), MaxFiles(-1), BufferSize(0)} {
		for _, dest := range []string{path, "-", os.DevNull} {
			if s, err := Open(dest, os.Stdout, opt); err == nil {
				_ = s.Close()
				t.Errorf("Open(%q) with an invalid option: no error", dest)
			}
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the file anyway: %v", err)
	}
}

// Example_rotation shows a log rotating every three lines.
func Example_rotation() {
	dir, err := os.MkdirTemp("", "logsink")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	sink, err := Open(filepath.Join(dir, "naught.log"), os.Stderr,
		MaxSize(64), // bytes
		MaxFiles(0), // keep all
		Report(func(line string) { fmt.Println("report:", line) }))
	if err != nil {
		panic(err)
	}
	for i := range 10 {
		sink.WriteLine(fmt.Sprintf("event %02d, 20 bytes.", i)) // with its newline
	}
	if err := sink.Close(); err != nil { // waits for the compression too
		panic(err)
	}
	timestamp := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}`)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Println(timestamp.ReplaceAllString(e.Name(), "<UTC time>"))
	}
	// Output:
	// naught-<UTC time>.log.gz
	// naught-<UTC time>.log.gz
	// naught-<UTC time>.log.gz
	// naught.log
}
