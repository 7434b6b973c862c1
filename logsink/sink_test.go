package logsink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const waitTimeout = 10 * time.Second

func openSink(t *testing.T, dest string, std *os.File, opts ...Option) Sink {
	t.Helper()
	s, err := Open(dest, std, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// start attaches cmd's stdout to s, starts it and releases naught's copy
// of the descriptor, as the daemon does. It returns the done channel.
func start(t *testing.T, s Sink, name string, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	f, afterStart, done, err := s.Attach(name)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = f
	err = cmd.Start()
	afterStart()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Wait() }) // most tests have waited already
	return done
}

func wait(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestFileAppendsToExistingContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "naught.log")
	if err := os.WriteFile(path, []byte("old line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.WriteLine("Bootup. booting: 2, online: 0, dying: 0, new_online: 0")
	s.WriteLine("Ready. booting: 0, online: 2, dying: 0, new_online: 0\n")
	s.WriteLine("")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "old line\n" +
		"Bootup. booting: 2, online: 0, dying: 0, new_online: 0\n" +
		"Ready. booting: 0, online: 2, dying: 0, new_online: 0\n" +
		"\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestNewFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	openSink(t, path, nil)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// 0644 less the umask, which may only remove bits.
	if perm := fi.Mode().Perm(); perm&^0o644 != 0 || perm&0o600 != 0o600 {
		t.Errorf("mode %#o, want 0644 less the umask", perm)
	}
}

func TestConcurrentWorkersNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	const (
		count  = 500
		length = 10000 // more than PIPE_BUF and than one pipe read
	)
	// A buffer for all of it: this test is not about a slow disk. (Close
	// would return unreported drops.)
	s := openSink(t, path, nil, BufferSize(4*count*(length+1)))
	ids := []string{"a", "b", "c"}
	var dones []<-chan struct{}
	var cmds []*exec.Cmd
	for _, id := range ids {
		cmd := helperCommand(t, "lines", id, strconv.Itoa(count), strconv.Itoa(length))
		dones = append(dones, start(t, s, "worker "+id, cmd))
		cmds = append(cmds, cmd)
	}
	// naught's own lines, written meanwhile.
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range count {
			s.WriteLine(workerLine("n", i, 100))
		}
	})
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %s: %v", ids[i], err)
		}
		wait(t, dones[i], "worker "+ids[i]+"'s output")
	}
	wg.Wait()

	next := map[string]int{}
	for i, line := range readLines(t, path) {
		id, rest, _ := strings.Cut(line, " ")
		seqStr, _, _ := strings.Cut(rest, " ")
		seq, err := strconv.Atoi(seqStr)
		if err != nil {
			t.Fatalf("line %d is mangled: %.80q…", i, line)
		}
		wantLen := length
		if id == "n" {
			wantLen = 100
		}
		if want := workerLine(id, seq, wantLen); line != want {
			t.Fatalf("line %d is mangled: %.80q…", i, line)
		}
		if seq != next[id] {
			t.Fatalf("line %d: %s's line %d, want its line %d", i, id, seq, next[id])
		}
		next[id]++
	}
	for _, id := range append(ids, "n") {
		if next[id] != count {
			t.Errorf("%s: %d lines, want %d", id, next[id], count)
		}
	}
}

func TestPartialLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	s := openSink(t, path, nil)
	cmd := helperCommand(t, "print", "a\nb")
	done := start(t, s, "worker 0", cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "the drain")
	if b, _ := os.ReadFile(path); string(b) != "a\nb\n" {
		t.Errorf("got %q, want %q", b, "a\nb\n")
	}
}

func TestOverlongLineIsCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	s := openSink(t, path, nil)
	long := strings.Repeat("y", maxLine+10)
	cmd := helperCommand(t, "print", long+"\nshort\n")
	done := start(t, s, "worker 0", cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "the drain")
	lines := readLines(t, path)
	want := []string{long[:maxLine], long[maxLine:], "short"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d", len(lines), len(want))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %d bytes, want %d", i, len(lines[i]), len(want[i]))
		}
	}
}

func TestDoneClosesAfterWriterExits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	s := openSink(t, path, nil)
	cmd := helperCommand(t, "wait")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := start(t, s, "worker 0", cmd)

	// The worker's first line arrives while it still runs.
	deadline := time.Now().Add(waitTimeout)
	for {
		if b, _ := os.ReadFile(path); string(b) == "hello\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker's first line never reached the file")
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	if isClosed(done) {
		t.Fatal("done closed while the worker still runs")
	}
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "done after the worker exited")
	if b, _ := os.ReadFile(path); string(b) != "hello\nbye\n" {
		t.Errorf("got %q", b)
	}
}

func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	const count = 2000
	cmd := helperCommand(t, "lines", "w", strconv.Itoa(count), "200")
	done := start(t, s, "worker 0", cmd)
	// Close at once: the worker is probably still writing.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !isClosed(done) {
		t.Error("done still open after Close")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, path); len(lines) != count {
		t.Errorf("got %d lines, want %d", len(lines), count)
	}
	if _, _, _, err := s.Attach("late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseIsBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout.log")
	s, err := openFileSink(path, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	s.drainTimeout = 50 * time.Millisecond
	// A "worker" whose descriptor stays open: afterStart is not called
	// and the test holds the write end.
	w, afterStart, done, err := s.Attach("stuck")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(afterStart)
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "still open") {
			t.Errorf("Close: %v, want a report of the open pipe", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
	if !isClosed(done) {
		t.Error("done still open after Close")
	}
	if b, _ := os.ReadFile(path); string(b) != "partial\n" {
		t.Errorf("got %q, want what was read before Close", b)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "naught.log")
	s := openSink(t, path, nil)
	s.WriteLine("one")
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	s.WriteLine("two") // still into the renamed file
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	s.WriteLine("three")
	cmd := helperCommand(t, "print", "four\n")
	done := start(t, s, "worker 0", cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "the drain")
	if b, _ := os.ReadFile(path + ".1"); string(b) != "one\ntwo\n" {
		t.Errorf("rotated file: %q", b)
	}
	if b, _ := os.ReadFile(path); string(b) != "three\nfour\n" {
		t.Errorf("new file: %q", b)
	}
}

func TestReopenRelativePathAfterChdir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := openSink(t, "naught.log", nil)
	if err := os.Rename("naught.log", "naught.log.1"); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "naught.log")); err != nil {
		t.Errorf("not reopened where it was opened: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	if _, err := Open(filepath.Join(missing, "naught.log"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open created the directory")
	}
	if _, err := Open(t.TempDir(), nil); err == nil {
		t.Error("a directory: no error")
	}
	if _, err := Open("", os.Stderr); err == nil {
		t.Error("empty path: no error")
	}
	if _, err := Open("-", nil); err == nil {
		t.Error("\"-\" without a stream: no error")
	}
}

func TestPassthroughInheritsStd(t *testing.T) {
	stdPath := filepath.Join(t.TempDir(), "std")
	std, err := os.Create(stdPath)
	if err != nil {
		t.Fatal(err)
	}
	defer std.Close()
	// File options change nothing here.
	s := openSink(t, "-", std, MaxSize(1), BufferSize(1), Report(func(l string) { t.Errorf("report %q", l) }))
	s.WriteLine("Bootup. Unknown")

	f, afterStart, done, err := s.Attach("worker 0")
	if err != nil {
		t.Fatal(err)
	}
	if f != std {
		t.Fatalf("Attach returned %v, want naught's own stream itself", f)
	}
	if !isClosed(done) {
		t.Error("done not closed at once")
	}
	cmd := helperCommand(t, "print", "from the worker\n")
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	afterStart()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	s.WriteLine("Ready. Unknown")
	if err := s.Reopen(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	// Neither afterStart nor Close closed naught's stream.
	if _, err := std.WriteString("still open\n"); err != nil {
		t.Errorf("std was closed: %v", err)
	}
	b, _ := os.ReadFile(stdPath)
	if want := "Bootup. Unknown\nfrom the worker\nReady. Unknown\nstill open\n"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

func TestDevNull(t *testing.T) {
	s := openSink(t, os.DevNull, os.Stderr, MaxSize(1), BufferSize(1))
	s.WriteLine("goes nowhere")
	f, afterStart, done, err := s.Attach("worker 0")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	devnull, err := os.Stat(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi, devnull) {
		t.Errorf("Attach returned %s, not /dev/null", f.Name())
	}
	if !isClosed(done) {
		t.Error("done not closed at once")
	}
	cmd := helperCommand(t, "print", strings.Repeat("x", 100<<10))
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	afterStart()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("afterStart did not close the descriptor: %v", err)
	}
	if err := s.Reopen(); err != nil {
		t.Error(err)
	}
}

func Example() {
	dir, err := os.MkdirTemp("", "logsink")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "stdout.log")

	sink, err := Open(path, os.Stdout)
	if err != nil {
		panic(err)
	}
	sink.WriteLine("naught's own line")

	// A worker's stdout.
	childFile, afterStart, done, err := sink.Attach("worker 0")
	if err != nil {
		panic(err)
	}
	cmd := exec.Command("sh", "-c", "echo hello; printf 'no newline'")
	cmd.Stdout = childFile
	err = cmd.Start()
	afterStart() // whether or not Start succeeded
	if err != nil {
		panic(err)
	}
	_ = cmd.Wait()
	<-done // all of the worker's output is in the file

	if err := sink.Close(); err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(path)
	fmt.Print(string(b))
	// Output:
	// naught's own line
	// hello
	// no newline
}
