package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests; nothing should take long.
const waitTimeout = 10 * time.Second

// socketPath returns a short socket path in a fresh directory removed at
// the end of the test. t.TempDir() paths contain the test name and can
// exceed the 107-byte sun_path limit.
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nctl")
	if err == nil && len(dir)+len("/ctl.sock") > maxPathLen {
		_ = os.RemoveAll(dir)
		dir, err = os.MkdirTemp("/tmp", "nctl")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Error(err)
		}
	})
	return filepath.Join(dir, "ctl.sock")
}

// recorder collects what a server reports through Logf and OnRequest.
type recorder struct {
	logs chan string
	reqs chan Request
}

func newRecorder() *recorder {
	return &recorder{logs: make(chan string, 1000), reqs: make(chan Request, 1000)}
}

func (r *recorder) options(path string) ServerOptions {
	return ServerOptions{
		Path:      path,
		Group:     -1,
		OnRequest: func(req Request) { r.reqs <- req },
		Logf: func(format string, args ...any) {
			select {
			case r.logs <- fmt.Sprintf(format, args...):
			default: // a test that floods logs does not read them all
			}
		},
	}
}

// waitLog waits for a log line containing substr.
func (r *recorder) waitLog(t *testing.T, substr string) string {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case line := <-r.logs:
			if strings.Contains(line, substr) {
				return line
			}
		case <-timeout:
			t.Fatalf("no log line containing %q", substr)
		}
	}
}

func (r *recorder) nextRequest(t *testing.T) Request {
	t.Helper()
	select {
	case req := <-r.reqs:
		return req
	case <-time.After(waitTimeout):
		t.Fatal("no request arrived")
		return Request{}
	}
}

func startServer(t *testing.T, opts ServerOptions) *Server {
	t.Helper()
	return startServerQueue(t, opts, defaultQueueLen)
}

func startServerQueue(t *testing.T, opts ServerOptions, queueLen int) *Server {
	t.Helper()
	s, err := listen(opts, queueLen)
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

func (s *Server) numClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// waitClients waits until the server has registered exactly n clients, so
// that a Broadcast reaches every client dialled so far.
func waitClients(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for s.numClients() != n {
		if time.Now().After(deadline) {
			t.Fatalf("server has %d clients, want %d", s.numClients(), n)
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // may already be closed by the test
	if err := c.nc.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

func next(t *testing.T, c *Client) Event {
	t.Helper()
	ev, err := c.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

// rawConn is a client that speaks bytes, not messages.
func rawConn(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	nc, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if err := nc.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	return nc
}

// staleSocket leaves a socket file at path with no listener behind it, as a
// daemon killed with SIGKILL does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSocketIsOwnerOnly(t *testing.T) {
	path := socketPath(t)
	startServer(t, newRecorder().options(path))
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("type %v, want a socket", fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %#o, want 0600", perm)
	}
}

func TestSocketModeAndGroup(t *testing.T) {
	path := socketPath(t)
	opts := newRecorder().options(path)
	opts.Mode = 0o660
	opts.Group = os.Getgid()
	startServer(t, opts)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o660 {
		t.Errorf("mode %#o, want 0660", perm)
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; int(gid) != os.Getgid() {
		t.Errorf("gid %d, want %d", gid, os.Getgid())
	}
	dial(t, path) // still usable
}

func TestListenRefusesSymlink(t *testing.T) {
	path := socketPath(t)
	target := filepath.Join(filepath.Dir(path), "target")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(newRecorder().options(path))
	if !errors.Is(err, ErrSymlink) {
		t.Fatalf("got %v, want ErrSymlink", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the symlink's target was created: %v", err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != fs.ModeSymlink {
		t.Errorf("the symlink was touched: %v, %v", fi, err)
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := socketPath(t)
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Listen(newRecorder().options(path))
	if !errors.Is(err, ErrNotSocket) {
		t.Fatalf("got %v, want ErrNotSocket", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
		t.Errorf("the file was touched: %q, %v", b, err)
	}

	dir := filepath.Join(filepath.Dir(path), "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(newRecorder().options(dir)); !errors.Is(err, ErrNotSocket) {
		t.Fatalf("directory: got %v, want ErrNotSocket", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := socketPath(t)
	staleSocket(t, path)
	if _, err := Dial(path); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("stale socket: Dial got %v, want ErrNoAnswer", err)
	}
	s := startServer(t, newRecorder().options(path))
	c := dial(t, path)
	waitClients(t, s, 1)
	s.Broadcast(Event{Event: EventIpcListening})
	if ev := next(t, c); ev.Event != EventIpcListening {
		t.Errorf("got %+v", ev)
	}
}

func TestListenLiveSocketInUse(t *testing.T) {
	path := socketPath(t)
	r := newRecorder()
	s := startServer(t, r.options(path))
	_, err := Listen(newRecorder().options(path))
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("got %v, want ErrInUse", err)
	}
	// The first server is untouched. (Its clients may still include the
	// probe connection, so wait for our request rather than a count.)
	c := dial(t, path)
	if err := c.Send(Request{Action: ActionStatus}); err != nil {
		t.Fatal(err)
	}
	r.nextRequest(t)
	s.Broadcast(Event{Event: EventReady})
	if ev := next(t, c); ev.Event != EventReady {
		t.Errorf("got %+v", ev)
	}
}

func TestListenPathTooLong(t *testing.T) {
	path := "/tmp/" + strings.Repeat("x", maxPathLen)
	if _, err := Listen(newRecorder().options(path)); !errors.Is(err, ErrPathTooLong) {
		t.Fatalf("got %v, want ErrPathTooLong", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("something was created at %s", path)
	}
}

func TestBroadcastToThreeClients(t *testing.T) {
	path := socketPath(t)
	s := startServer(t, newRecorder().options(path))
	clients := []*Client{dial(t, path), dial(t, path), dial(t, path)}
	waitClients(t, s, 3)
	names := []string{EventBootup, EventWorkerOnline, EventReady}
	for i, name := range names {
		s.Broadcast(Event{Event: name, Count: &Counts{Online: i}})
	}
	for ci, c := range clients {
		for i, name := range names {
			ev := next(t, c)
			if ev.Event != name || ev.Count == nil || ev.Count.Online != i {
				t.Errorf("client %d, event %d: got %+v, want %s with online %d", ci, i, ev, name, i)
			}
		}
	}
}

func TestRequestRoundTrip(t *testing.T) {
	path := socketPath(t)
	var s *Server
	opts := newRecorder().options(path)
	opts.OnRequest = func(req Request) {
		// Broadcast never blocks, so it may be called from here.
		s.Broadcast(Event{Event: EventStatus, Count: &Counts{Online: req.NewWorkerCount}})
	}
	s = startServer(t, opts)
	c := dial(t, path)
	if err := c.Send(Request{Action: ActionStatus, NewWorkerCount: 7}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, c); ev.Event != EventStatus || ev.Count.Online != 7 {
		t.Errorf("got %+v", ev)
	}
}

func TestRequestsArriveInOrder(t *testing.T) {
	path := socketPath(t)
	r := newRecorder()
	startServer(t, r.options(path))
	c := dial(t, path)
	const n = 300
	for i := range n {
		req := Request{Action: ActionDeploy, NewWorkerCount: i, Environment: map[string]string{"I": fmt.Sprint(i)}}
		if err := c.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		req := r.nextRequest(t)
		if req.Action != ActionDeploy || req.NewWorkerCount != i || req.Environment["I"] != fmt.Sprint(i) {
			t.Fatalf("request %d: got %+v", i, req)
		}
	}
}

func TestMalformedInputClosesOnlyThatClient(t *testing.T) {
	for _, m := range malformed {
		t.Run(m.name, func(t *testing.T) {
			path := socketPath(t)
			r := newRecorder()
			s := startServer(t, r.options(path))
			good := dial(t, path)
			bad := rawConn(t, path)
			waitClients(t, s, 2)

			if _, err := bad.Write([]byte(m.input)); err != nil {
				t.Fatal(err)
			}
			// Truncated input is only truncated once the client stops
			// sending.
			if err := bad.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			line := r.waitLog(t, "closing connection")
			if !strings.Contains(line, m.want.Error()) {
				t.Errorf("log line %q does not give the reason %q", line, m.want)
			}
			// The server closed the offender: it reads EOF (or a reset,
			// when its input was left unread).
			if n, err := io.Copy(io.Discard, bad); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("offender: read %d bytes, then %v", n, err)
			}
			waitClients(t, s, 1)

			s.Broadcast(Event{Event: EventReady})
			if ev := next(t, good); ev.Event != EventReady {
				t.Errorf("good client got %+v", ev)
			}
			if err := good.Send(Request{Action: ActionStatus}); err != nil {
				t.Fatal(err)
			}
			if req := r.nextRequest(t); req.Action != ActionStatus {
				t.Errorf("got %+v", req)
			}
		})
	}
}

func TestHalfClosedClientStillGetsEvents(t *testing.T) {
	path := socketPath(t)
	r := newRecorder()
	s := startServer(t, r.options(path))
	nc := rawConn(t, path)
	if err := WriteMessage(nc, Request{Action: ActionStatus}); err != nil {
		t.Fatal(err)
	}
	if err := nc.CloseWrite(); err != nil { // like `nc -N`
		t.Fatal(err)
	}
	if req := r.nextRequest(t); req.Action != ActionStatus {
		t.Fatalf("got %+v", req)
	}
	waitClients(t, s, 1)
	s.Broadcast(Event{Event: EventStatus})
	c := &Client{nc: nc, br: bufio.NewReader(nc)}
	if ev := next(t, c); ev.Event != EventStatus {
		t.Errorf("got %+v", ev)
	}
}

func TestSlowClientDoesNotBlockBroadcast(t *testing.T) {
	path := socketPath(t)
	r := newRecorder()
	s := startServerQueue(t, r.options(path), 4)
	slow := rawConn(t, path) // never reads
	waitClients(t, s, 1)

	// Far more than the socket buffer and the queue can hold.
	big := Event{Event: EventStatus, Message: strings.Repeat("x", 16<<10)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			s.Broadcast(big)
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Broadcast blocked on a client that does not read")
	}
	r.waitLog(t, "disconnected")
	waitClients(t, s, 0)
	if _, err := io.Copy(io.Discard, slow); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("slow client: %v, want EOF", err)
	}

	// The server still serves new clients.
	c := dial(t, path)
	waitClients(t, s, 1)
	s.Broadcast(Event{Event: EventReady})
	if ev := next(t, c); ev.Event != EventReady {
		t.Errorf("got %+v", ev)
	}
}

func TestCloseFlushesAndUnlinks(t *testing.T) {
	path := socketPath(t)
	s, err := Listen(newRecorder().options(path))
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := dial(t, path), dial(t, path)
	waitClients(t, s, 2)
	names := []string{EventShutdownOld, EventOldExit, EventShutdown}
	for _, name := range names {
		s.Broadcast(Event{Event: name})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
	for _, c := range []*Client{c1, c2} {
		for _, name := range names {
			if ev := next(t, c); ev.Event != name {
				t.Errorf("got %+v, want %s", ev, name)
			}
		}
		if _, err := c.Next(); err != io.EOF {
			t.Errorf("after the last event: %v, want io.EOF", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s.Broadcast(Event{Event: EventReady}) // does nothing, does not panic
	if _, err := Dial(path); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Dial after Close: %v, want ErrNotRunning", err)
	}
}

func TestCloseLeavesAnotherFileAlone(t *testing.T) {
	path := socketPath(t)
	s, err := Listen(newRecorder().options(path))
	if err != nil {
		t.Fatal(err)
	}
	// Someone replaced our socket (say, a second daemon after
	// --remove-old-ipc). Close must not remove theirs.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, newRecorder().options(path))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, path)
	waitClients(t, s2, 1)
	s2.Broadcast(Event{Event: EventReady})
	if ev := next(t, c); ev.Event != EventReady {
		t.Errorf("got %+v", ev)
	}
}

func TestDialErrors(t *testing.T) {
	path := socketPath(t)
	if _, err := Dial(path); !errors.Is(err, ErrNotRunning) || errors.Is(err, ErrNoAnswer) {
		t.Errorf("missing path: %v, want ErrNotRunning", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(path); !errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrNotRunning) {
		t.Errorf("regular file: %v, want ErrNoAnswer", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, path)
	if _, err := Dial(path); !errors.Is(err, ErrNoAnswer) {
		t.Errorf("stale socket: %v, want ErrNoAnswer", err)
	}
}

// TestConcurrentUse is for the race detector: clients come and go and
// send requests while events are broadcast and the server closes.
func TestConcurrentUse(t *testing.T) {
	path := socketPath(t)
	var requests atomic.Int64
	opts := newRecorder().options(path)
	opts.OnRequest = func(Request) { requests.Add(1) }
	s, err := Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := Dial(path)
				if err != nil {
					return // the server closed
				}
				_ = c.Send(Request{Action: ActionStatus})
				_, _ = c.Next()
				_ = c.Close()
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.Broadcast(Event{Event: EventStatus, Count: &Counts{}})
			}
		}
	})
	deadline := time.Now().Add(waitTimeout)
	for requests.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	close(stop)
	wg.Wait()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
}

func TestClosedClientIsForgotten(t *testing.T) {
	path := socketPath(t)
	s := startServer(t, newRecorder().options(path))
	c := dial(t, path)
	waitClients(t, s, 1)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitClients(t, s, 0) // without waiting for a broadcast to fail
}
