package e2e

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkDaemonForwardHop measures SPEC §8's forwarding through the real
// binary: from kill(naught, SIGUSR2) to the kernel handing the signal to a
// worker, through naught's signal loop and the master's goroutine. The worker
// is ../signals/testdata/sigwait.c (built with gcc): it says online on the
// naught channel, takes SIGUSR2 with sigwait and prints a CLOCK_MONOTONIC
// stamp, which reaches the benchmark through naught's passed-through stdout
// after the fact. Reports the median and the 90th percentile.
//
//	go test -run '^$' -bench DaemonForwardHop -benchtime 2000x -count 5 ./e2e
func BenchmarkDaemonForwardHop(b *testing.B) {
	dir := b.TempDir()
	worker := filepath.Join(dir, "sigwait")
	if out, err := exec.Command("gcc", "-O2", "-o", worker, filepath.Join("..", "signals", "testdata", "sigwait.c")).CombinedOutput(); err != nil {
		b.Skipf("gcc cannot build the sigwait worker: %v\n%s", err, out)
	}
	naught := exec.Command(naughtBin, "start", "--daemon-mode", "false", "--log", "/dev/null", "--stdout", "-", "--stderr", "-",
		"--ipc-file", filepath.Join(dir, "naught.ipc"), "--pid-file", "/dev/null", worker)
	naught.Dir = dir
	stderr := &lockedBuffer{}
	naught.Stderr = stderr
	out, err := naught.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := naught.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = naught.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- naught.Wait() }()
		select {
		case <-done:
		case <-time.After(waitFor):
			_ = naught.Process.Kill()
			<-done
		}
		if b.Failed() {
			b.Logf("naught's stderr:\n%s", stderr)
		}
	})
	lines := bufio.NewScanner(out)
	next := func() string {
		if !lines.Scan() {
			b.Fatalf("naught's stdout ended: %v", lines.Err())
		}
		return lines.Text()
	}
	for l := next(); l != "workers online: 1"; l = next() {
		if l != "ready" {
			b.Fatalf("unexpected output %q before the worker was online", l)
		}
	}

	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		var t0 unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &t0); err != nil {
			b.Fatal(err)
		}
		if err := unix.Kill(naught.Process.Pid, unix.SIGUSR2); err != nil {
			b.Fatal(err)
		}
		t1, err := strconv.ParseInt(strings.TrimSpace(next()), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Duration(t1-t0.Nano()))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "µs-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds())/1e3, "µs-p90")
}
