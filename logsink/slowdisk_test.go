package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stuckDisk makes path a FIFO that nobody reads until the test calls
// unblock: a log file whose writes block once the FIFO's buffer (64 KiB on
// Linux) is full, the way a hung disk does. content returns what has been
// read so far; read waits for the sink to close its end and returns
// everything.
func stuckDisk(t *testing.T, path string) (unblock func(), content func() string, read func() string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("no FIFO to stand for a stuck disk: %v", err)
	}
	// Non-blocking, so opening does not wait for a writer. The os package
	// polls it, so reads still wait.
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	var (
		once sync.Once
		mu   sync.Mutex
		got  bytes.Buffer
		eof  = make(chan struct{})
	)
	unblock = func() {
		once.Do(func() {
			go func() {
				defer close(eof)
				buf := make([]byte, 64<<10)
				for {
					n, err := r.Read(buf)
					mu.Lock()
					got.Write(buf[:n])
					mu.Unlock()
					if err != nil { // EOF once the sink closes its end
						return
					}
				}
			}()
		})
	}
	content = func() string {
		mu.Lock()
		defer mu.Unlock()
		return got.String()
	}
	read = func() string {
		t.Helper()
		unblock()
		wait(t, eof, "the end of the stuck disk's content")
		return content()
	}
	return unblock, content, read
}

// waitUntil polls cond until it holds, failing the test at a deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

// waitExit waits for cmd, failing the test if it does not exit.
func waitExit(t *testing.T, cmd *exec.Cmd, what string) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("%s did not exit: blocked writing its output?", what)
	}
}

func TestStuckDiskNeverBlocksWorkers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	unblock, _, read := stuckDisk(t, path)
	var rep reports
	s, err := Open(path, nil, BufferSize(256<<10), Report(rep.add))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }() // on failure; a second Close is a no-op
	const (
		count  = 3000
		length = 100 // 3 × 300 KB, far more than the FIFO and the buffer hold
	)
	ids := []string{"a", "b", "c"}
	lengths := map[string]int{}
	var dones []<-chan struct{}
	var cmds []*exec.Cmd
	for _, id := range ids {
		lengths[id] = length
		cmd := helperCommand(t, "lines", id, strconv.Itoa(count), strconv.Itoa(length))
		dones = append(dones, start(t, s, "worker "+id, cmd))
		cmds = append(cmds, cmd)
	}
	// Nothing reads the "disk", and yet every worker writes all its
	// lines and exits.
	for i, cmd := range cmds {
		waitExit(t, cmd, "worker "+ids[i])
	}
	waitUntil(t, "a report of dropped output", func() bool { return len(rep.all()) > 0 })
	for i, done := range dones {
		// The writer is stuck on the FIFO with earlier lines, so the
		// worker's output is read but not yet written.
		if isClosed(done) {
			t.Errorf("worker %s's done closed while its output is not written", ids[i])
		}
	}
	unblock()
	for i, done := range dones {
		wait(t, done, "worker "+ids[i]+"'s output")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := checkLines(t, strings.Split(strings.TrimSuffix(read(), "\n"), "\n"), lengths)
	dropped := rep.dropped(t)
	for _, id := range ids {
		if got[id]+dropped["worker "+id] != count {
			t.Errorf("worker %s: %d lines written and %d reported dropped, want %d in all", id, got[id], dropped["worker "+id], count)
		}
	}
}

// The event log reports its own drops into itself: a full buffer must not
// make it wait for itself.
func TestEventLogReportsIntoItself(t *testing.T) {
	path := filepath.Join(t.TempDir(), "naught.log")
	unblock, content, read := stuckDisk(t, path)
	var log Sink
	log, err := Open(path, nil, BufferSize(4096), Report(func(line string) { log.WriteLine(line) }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	const (
		writers = 4
		count   = 2000
		length  = 100
	)
	var wg sync.WaitGroup
	for w := range writers {
		id := string(rune('a' + w))
		wg.Go(func() {
			for i := range count {
				log.WriteLine(workerLine(id, i, length))
			}
		})
	}
	wg.Wait() // WriteLine never waited for the stuck disk
	unblock()
	// The reports that did not fit were dropped and counted in turn; one
	// gets in once there is room again (at most a second later).
	waitUntil(t, "a report in the log", func() bool { return strings.Contains(content(), "\ndropped ") })
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	var payload, reported []string
	for _, line := range strings.Split(strings.TrimSuffix(read(), "\n"), "\n") {
		if strings.HasPrefix(line, "dropped ") {
			reported = append(reported, line)
		} else {
			payload = append(payload, line)
		}
	}
	if len(reported) == 0 {
		t.Fatal("no report of the drops in the log")
	}
	for _, r := range reported {
		if !dropReport.MatchString(r) || !strings.Contains(r, " of naught output to "+path) {
			t.Errorf("report %q", r)
		}
	}
	lengths := map[string]int{}
	for w := range writers {
		lengths[string(rune('a'+w))] = length
	}
	got, _ := checkLines(t, payload, lengths)
	total := 0
	for _, n := range got {
		total += n
	}
	if total == 0 || total == writers*count {
		t.Errorf("%d of %d lines written: nothing dropped?", total, writers*count)
	}
}

// tinyDisk mounts a 64 KiB tmpfs in a temporary directory, or skips.
func tinyDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v; TestStuckDiskNeverBlocksWorkers covers a slow disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func TestFullDisk(t *testing.T) {
	dir := tinyDisk(t)
	path := filepath.Join(dir, "stdout.log")
	var rep reports
	s, err := Open(path, nil, MaxSize(8<<10), Report(rep.add))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	const (
		count  = 2000
		length = 100 // 2 × 200 KB on a 64 KiB disk
	)
	ids := []string{"a", "b"}
	lengths := map[string]int{}
	var dones []<-chan struct{}
	var cmds []*exec.Cmd
	for _, id := range ids {
		lengths[id] = length
		cmd := helperCommand(t, "lines", id, strconv.Itoa(count), strconv.Itoa(length))
		dones = append(dones, start(t, s, "worker "+id, cmd))
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		waitExit(t, cmd, "worker "+ids[i])
		wait(t, dones[i], "worker "+ids[i]+"'s output")
	}
	err = s.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Close: %v, want the failed writes with ENOSPC", err)
	}
	if !strings.Contains(strings.Join(rep.all(), "\n"), "unable to write "+path+": ") {
		t.Errorf("no report of the failed writes in %q", rep.all())
	}

	// Every line is in the log once, whole, or counted as dropped or lost.
	var all []string
	for _, f := range readLogAllowing(t, path, "compress") {
		all = append(all, f.lines...)
	}
	got, _ := checkLines(t, all, lengths)
	fs := s.(*fileSink).rep
	accounted := int(fs.droppedLines + fs.lostLines)
	for _, id := range ids {
		accounted += got[id]
	}
	if accounted != len(ids)*count {
		t.Errorf("%d lines in the log, %d dropped, %d lost: %d in all, want %d",
			got["a"]+got["b"], fs.droppedLines, fs.lostLines, accounted, len(ids)*count)
	}
	if fs.lostLines == 0 {
		t.Error("no line lost on a full disk?")
	}
}

// readLogAllowing is readLog for a log whose rotated files may have been
// left uncompressed.
func readLogAllowing(t *testing.T, path, why string) []logFile {
	t.Helper()
	files := readLog(t, path)
	for _, f := range files {
		if f.name != filepath.Base(path) && !strings.HasSuffix(f.name, ".gz") {
			t.Logf("%s left uncompressed (%s)", f.name, why)
		}
	}
	return files
}

// A write cut short (here by RLIMIT_FSIZE, as by a full disk) is taken
// back to the last whole line, and the next line goes right after it:
// also in the fresh file of a rotation, which lumberjack opens without
// O_APPEND, so that its offset stays past the cut.
func TestShortWriteIsCutBack(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	const limit = 250
	if old.Cur < 1<<20 { // RLIM_INFINITY is the largest uint64
		t.Skipf("RLIMIT_FSIZE is %d already", old.Cur)
	}
	path := filepath.Join(t.TempDir(), "stdout.log")
	var rep reports
	failed := make(chan struct{}, 1)
	s, err := Open(path, nil, MaxSize(300), Report(func(line string) {
		rep.add(line)
		if strings.HasPrefix(line, "unable to write ") {
			select {
			case failed <- struct{}{}:
			default:
			}
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	// The limit applies to every file of the process (SIGXFSZ is ignored
	// by the Go runtime): no other test runs meanwhile.
	lim := old
	lim.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	restore := sync.OnceFunc(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Error(err)
		}
	})
	defer restore()
	lengths := map[string]int{"a": 119, "b": 119, "s": 49, "u": 10}
	line := func(id string) string { return workerLine(id, 0, lengths[id]) }
	// Queued at once, so that the writer most likely writes b and s to
	// the fresh file in the millisecond of the rotation, before it has
	// lumberjack reopen it for appending.
	for _, id := range []string{"a", "a", "b", "b", "s"} {
		s.WriteLine(line(id)) // a a | rotation | b b s: 240 + 50 bytes, cut at 250
	}
	wait(t, failed, "the report of the failed write")
	restore()
	s.WriteLine(line("u")) // 11 bytes after the 240 of b b
	err = s.Close()
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("Close: %v, want the failed write with EFBIG", err)
	}
	var got []string
	for _, f := range readLog(t, path) {
		got = append(got, fmt.Sprintf("%q", f.lines))
	}
	want := []string{
		fmt.Sprintf("%q", []string{line("a"), line("a")}),
		fmt.Sprintf("%q", []string{line("b"), line("b"), line("u")}),
	}
	if !slices.Equal(got, want) {
		t.Errorf("files hold\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	fs := s.(*fileSink).rep
	if fs.lostLines != 1 || fs.lostBytes != 50 {
		t.Errorf("%d bytes (%d lines) reported lost, want s's 50 bytes (1 line)", fs.lostBytes, fs.lostLines)
	}
}
