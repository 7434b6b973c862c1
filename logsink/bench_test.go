package logsink

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkThroughput compares the bytes per second that reach the file
// through a rotating file sink (pipe, drainer, bounded buffer of the
// default size, writer goroutine, rotation every 10 MiB, gzip in the
// background by lumberjack, the 3 newest rotated files kept) with a raw
// write of the same lines to a file, in the same write sizes: one write
// per line, and 64 KiB writes of whole lines. A third case, pipe, is the
// floor of any design that drains a worker's pipe: the same writes into a
// pipe, copied into the file by one goroutine. Time runs from the first
// write until the last byte is in the file. The ratio is sink ÷ raw
// written-MB/s for the same size:
//
//	go test -run '^$' -bench Throughput -benchtime 200x -count 10 ./logsink
//
// (200 iterations write 80 MB: few enough for the page cache to take
// them without writeback throttling, which otherwise dominates and makes
// both sides noisy.)
//
// The sink never makes its writer wait: what the disk cannot take beyond
// the buffer is dropped, and dropped-% says how much; written-MB/s counts
// only what reached the file.
func BenchmarkThroughput(b *testing.B) {
	lines := benchLines(4096)
	for _, size := range []struct {
		name  string
		chunk int
	}{{"line", 0}, {"64KiB", 64 << 10}} {
		writes := chunks(lines, size.chunk)
		b.Run("raw/"+size.name, func(b *testing.B) { benchRaw(b, writes) })
		b.Run("pipe/"+size.name, func(b *testing.B) { benchPipe(b, writes) })
		b.Run("sink/"+size.name, func(b *testing.B) { benchSink(b, writes) })
	}
}

// benchLines returns n log lines of about 100 bytes that look like an
// access log, so that gzip has a realistic amount of work.
func benchLines(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/", "/api/items", "/api/users/me", "/static/app.js", "/healthz"}
	lines := make([][]byte, n)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "2024-05-06T07:08:%02d.%03dZ GET %s/%d %d %dms ua=%08x req=%016x\n",
			r.IntN(60), r.IntN(1000), paths[r.IntN(len(paths))], r.IntN(100000),
			[]int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(2000), r.Uint32(), r.Uint64())
	}
	return lines
}

// chunks joins lines into writes of at most size bytes (0: one a line).
func chunks(lines [][]byte, size int) [][]byte {
	if size == 0 {
		return lines
	}
	var out [][]byte
	var cur []byte
	for _, l := range lines {
		if len(cur)+len(l) > size {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, l...)
	}
	return append(out, cur)
}

func total(writes [][]byte) int64 {
	var n int64
	for _, w := range writes {
		n += int64(len(w))
	}
	return n
}

func benchRaw(b *testing.B, writes [][]byte) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "stdout.log"), fileFlags, fileMode)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total(writes))
	b.ResetTimer()
	for range b.N {
		for _, p := range writes {
			if _, err := f.Write(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(total(writes)*int64(b.N))/1e6/b.Elapsed().Seconds(), "written-MB/s")
}

// benchPipe is the floor of any design that drains the workers' pipes:
// the same writes into a pipe, and one goroutine that copies what it
// reads into the file, 64 KiB at a time (by hand: io.Copy would splice).
func benchPipe(b *testing.B, writes [][]byte) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "stdout.log"), fileFlags, fileMode)
	if err != nil {
		b.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	copied := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := r.Read(buf)
			if _, werr := f.Write(buf[:n]); werr != nil {
				copied <- werr
				return
			}
			if err != nil {
				copied <- nil // EOF
				return
			}
		}
	}()
	b.SetBytes(total(writes))
	b.ResetTimer()
	for range b.N {
		for _, p := range writes {
			if _, err := w.Write(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := <-copied; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(total(writes)*int64(b.N))/1e6/b.Elapsed().Seconds(), "written-MB/s")
	_ = r.Close() // read end, at EOF
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchSink(b *testing.B, writes [][]byte) {
	s, err := Open(filepath.Join(b.TempDir(), "stdout.log"), nil, MaxSize(10<<20), MaxFiles(3), Report(func(string) {}))
	if err != nil {
		b.Fatal(err)
	}
	fs := s.(*fileSink)
	fs.flushTimeout = time.Hour // Close waits for the compression, untimed
	// The benchmark is the worker: it writes into the pipe itself.
	w, afterStart, done, err := s.Attach("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total(writes))
	b.ResetTimer()
	for range b.N {
		for _, p := range writes {
			if _, err := w.Write(p); err != nil {
				b.Fatal(err)
			}
		}
	}
	afterStart() // closes the write end: EOF for the drainer
	<-done       // everything is in the file
	b.StopTimer()
	fs.rep.mu.Lock()
	dropped := fs.rep.droppedBytes
	fs.rep.mu.Unlock()
	sent := total(writes) * int64(b.N)
	b.ReportMetric(float64(sent-dropped)/1e6/b.Elapsed().Seconds(), "written-MB/s")
	b.ReportMetric(100*float64(dropped)/float64(sent), "dropped-%")
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}
