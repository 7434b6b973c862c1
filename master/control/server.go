package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// maxPathLen is the longest path that fits in sockaddr_un.sun_path
	// (108 bytes on Linux) with its terminating NUL.
	maxPathLen = 107
	// defaultQueueLen is how many events may wait for a client that does
	// not read before it is disconnected. Events come at human pace (a
	// few per worker state change), so a healthy client never gets close.
	defaultQueueLen = 256
	// flushTimeout bounds how long Close waits for queued events to reach
	// slow clients.
	flushTimeout = time.Second
	// probeTimeout bounds the connect that tells a live socket from a
	// stale one.
	probeTimeout = time.Second
)

// ServerOptions configure [Listen].
type ServerOptions struct {
	// Path is the socket file (the ipc-file). At most 107 bytes.
	Path string
	// Mode is the permission of the socket file; 0 means 0600 (owner
	// only). Connecting requires write permission on it.
	Mode os.FileMode
	// Group, unless -1, is the gid the socket file is given (for a sidecar
	// running as another user). Note that 0 means root's group: set -1 to
	// leave the group alone.
	Group int
	// OnRequest is called for each request, from the goroutine serving
	// that connection, in the order the connection sent them. It must not
	// block long (the daemon forwards the request to its event loop), and
	// it must return for Close to return.
	OnRequest func(req Request)
	// Logf receives what the server has to report, such as malformed client
	// input and disconnected clients. Nil discards it. It is never called
	// with the server's lock held, so it may call Broadcast.
	Logf func(format string, args ...any)
}

// Server is the daemon's end of the control socket.
type Server struct {
	opts     ServerOptions
	ln       *net.UnixListener
	self     fs.FileInfo // the socket file we bound, to unlink only that
	queueLen int

	closing    chan struct{} // closed when the connections are closed
	acceptDone chan struct{}
	wg         sync.WaitGroup // connection goroutines

	mu     sync.Mutex
	conns  map[*conn]struct{}
	nextID uint64
	// stopping is set when CloseWith starts; closed once the connections
	// are being closed (Broadcast then does nothing).
	stopping, closed bool
}

// Listen creates the socket file at opts.Path and starts accepting clients.
//
// An existing path is handled without ever following a symlink: a symlink
// is refused ([ErrSymlink]), so is anything that is not a socket
// ([ErrNotSocket]); a socket on which a daemon answers is refused
// ([ErrInUse]); a socket on which connect is refused (a previous daemon
// died without unlinking it) is removed and replaced. Any other outcome of
// that probe is an error, never a removal. These checks are not what keeps
// a symlink swapped in afterwards from being followed: bind(2) itself fails
// with EADDRINUSE on any existing file, symlinks included.
//
// The file is bound owner-only (see bindOwnerOnly), then chowned to
// opts.Group if it is not -1, and only then chmodded to opts.Mode if that is
// not 0600, so it never has a looser mode with the wrong group.
//
// Accepted race: between the probe of a stale socket and its removal,
// another daemon starting on the same path at the same instant could bind
// it, and we would remove its file. Two daemons racing on one ipc-file is an
// operator error; closing this window would need a lock file beside the
// socket, which the original naught does not have either.
//
// A client that shuts down only its writing side after its requests (as
// `nc -N` does) keeps receiving events; one that closes its end is
// forgotten as soon as the server reads the end of its input.
func Listen(opts ServerOptions) (*Server, error) {
	return listen(opts, defaultQueueLen)
}

func listen(opts ServerOptions, queueLen int) (*Server, error) {
	path := opts.Path
	if path == "" {
		return nil, errors.New("control socket: empty path")
	}
	if len(path) > maxPathLen {
		return nil, fmt.Errorf("control socket %q is %d bytes long, the limit is %d: %w",
			path, len(path), maxPathLen, ErrPathTooLong)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := bindOwnerOnly(path)
	if err != nil {
		return nil, err
	}
	self, err := os.Lstat(path)
	if err != nil {
		err = fmt.Errorf("control socket: %w", err)
	} else {
		err = setPermissions(path, opts)
	}
	if err != nil {
		if self != nil {
			_ = removeIfSame(path, self) // best effort: the error below matters
		}
		_ = ln.Close()
		return nil, err
	}
	s := &Server{
		opts:       opts,
		ln:         ln,
		self:       self,
		queueLen:   queueLen,
		closing:    make(chan struct{}),
		acceptDone: make(chan struct{}),
		conns:      make(map[*conn]struct{}),
	}
	go s.acceptLoop()
	return s, nil
}

// removeStale makes way for the socket at path, or explains why it must not.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("control socket %s: %w", path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("control socket %s: refusing to follow or replace it: %w", path, ErrSymlink)
	case fi.Mode()&fs.ModeSocket == 0:
		return fmt.Errorf("control socket %s: refusing to replace it (mode %s): %w", path, fi.Mode(), ErrNotSocket)
	}
	d := net.Dialer{Timeout: probeTimeout}
	c, err := d.Dial("unix", path)
	switch {
	case err == nil:
		_ = c.Close() // only probing
		return fmt.Errorf("control socket %s: %w", path, ErrInUse)
	case errors.Is(err, syscall.EAGAIN):
		// Linux: the listener's backlog is full, so there is a listener.
		return fmt.Errorf("control socket %s: %w (its backlog is full)", path, ErrInUse)
	case !errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("control socket %s: cannot tell whether a daemon listens on it: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	return nil
}

// bindOwnerOnly creates the socket file at path with mode 0600 from the
// start, so there is no window in which another user could connect.
//
// Linux gives a bound socket file the mode 0777 &^ umask, and the umask is
// process-wide, so it is set to 0177 around the bind(2) call alone and
// restored right after. This window is accepted because it is harmless:
// it spans one system call; it can only make a file created concurrently
// by another goroutine more restrictive (0600 at most), never less; and
// naught calls Listen once, at daemon start-up, before it spawns workers —
// the one real hazard is a child forked during the window inheriting the
// umask, so callers must not start processes concurrently with Listen.
// (The alternative, binding in a private directory and renaming, needs
// renameat2(RENAME_NOREPLACE), which not every filesystem supports.)
func bindOwnerOnly(path string) (*net.UnixListener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: socket: %w", err)
	}
	old := unix.Umask(0o177)
	err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
	unix.Umask(old)
	if err != nil {
		_ = unix.Close(fd) // nothing was created
		if errors.Is(err, unix.EADDRINUSE) {
			// Someone created the path since we checked it.
			return nil, fmt.Errorf("control socket %s: bind: %w: %w", path, ErrInUse, err)
		}
		return nil, fmt.Errorf("control socket %s: bind: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		_ = f.Close()
		_ = os.Remove(path) // ours: bound just above
		return nil, fmt.Errorf("control socket %s: listen: %w", path, err)
	}
	l, err := net.FileListener(f) // dups fd
	_ = f.Close()                 // the listener holds its own descriptor
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return l.(*net.UnixListener), nil
}

// setPermissions applies opts.Group, then opts.Mode, to the socket file.
func setPermissions(path string, opts ServerOptions) error {
	if opts.Group >= 0 {
		// Lchown: never follow a symlink, even one swapped in since bind.
		if err := unix.Lchown(path, -1, opts.Group); err != nil {
			return fmt.Errorf("control socket %s: chown to group %d: %w", path, opts.Group, err)
		}
	}
	mode := opts.Mode.Perm()
	if mode == 0 || mode == 0o600 {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("control socket %s: chmod %#o: %w", path, mode, err)
	}
	return nil
}

// removeIfSame removes path if it is still the file described by self.
// (A later daemon may have replaced a socket we thought ours.)
func removeIfSame(path string, self fs.FileInfo) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if !os.SameFile(fi, self) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove control socket: %w", err)
	}
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

func (s *Server) acceptLoop() {
	defer close(s.acceptDone)
	var backoff time.Duration
	for {
		nc, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Typically EMFILE: keep serving the clients we have and
			// retry, rate-limited, until Close.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logf("control: accept: %v; retrying in %v", err, backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
				continue
			case <-s.closing:
				t.Stop()
				return
			}
		}
		backoff = 0
		s.serve(nc)
	}
}

// conn is one connected client.
type conn struct {
	nc   *net.UnixConn
	name string        // for logs: "client N (pid P, uid U)"
	out  chan []byte   // framed events; closed by Close to flush and finish
	quit chan struct{} // closed by kill
	once sync.Once
}

// kill closes the connection, which also unblocks its reader and writer.
func (c *conn) kill() {
	c.once.Do(func() {
		close(c.quit)
		_ = c.nc.Close() // nothing to do about a failed close
	})
}

func (s *Server) serve(nc *net.UnixConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close() // raced with Close
		return
	}
	s.nextID++
	c := &conn{
		nc:   nc,
		name: peerName(nc, s.nextID),
		out:  make(chan []byte, s.queueLen),
		quit: make(chan struct{}),
	}
	s.conns[c] = struct{}{}
	s.wg.Add(2)
	s.mu.Unlock()
	go s.readLoop(c)
	go s.writeLoop(c)
}

func peerName(nc *net.UnixConn, id uint64) string {
	name := fmt.Sprintf("client %d", id)
	raw, err := nc.SyscallConn()
	if err != nil {
		return name
	}
	var cred *unix.Ucred
	cerr := raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cerr != nil || err != nil {
		return name // the credentials only decorate log lines
	}
	return fmt.Sprintf("%s (pid %d, uid %d)", name, cred.Pid, cred.Uid)
}

// drop forgets c and closes its connection.
func (s *Server) drop(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.kill()
}

func (s *Server) readLoop(c *conn) {
	defer s.wg.Done()
	br := bufio.NewReader(c.nc)
	for {
		var req Request
		err := ReadMessage(br, &req)
		if err == nil {
			if s.opts.OnRequest != nil {
				s.opts.OnRequest(req)
			}
			continue
		}
		if errors.Is(err, io.EOF) { // a clean end between messages
			// The client sent all it had at a message boundary. If it
			// only shut down its writing side (`nc -N`), keep sending
			// it events; if it is gone, forget it now rather than at
			// the next failed write.
			if peerGone(c.nc) {
				s.drop(c)
			}
			return
		}
		select {
		case <-c.quit:
			// We closed the connection ourselves.
		default:
			s.logf("control: %s: closing connection: %v", c.name, err)
			s.drop(c)
		}
		return
	}
}

// peerGone reports whether the peer of nc has closed its end entirely (as
// opposed to shutting down its writing side only): Linux then reports
// POLLHUP on our end.
func peerGone(nc *net.UnixConn) bool {
	raw, err := nc.SyscallConn()
	if err != nil {
		return true
	}
	var revents int16
	cerr := raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds, 0); err == nil {
			revents = fds[0].Revents
		}
	})
	return cerr != nil || revents&(unix.POLLHUP|unix.POLLERR) != 0
}

func (s *Server) writeLoop(c *conn) {
	defer s.wg.Done()
	for {
		select {
		case msg, ok := <-c.out:
			if !ok {
				// Close: everything queued has been written.
				c.kill()
				return
			}
			if _, err := c.nc.Write(msg); err != nil {
				select {
				case <-c.quit:
				default:
					if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
						s.logf("control: %s: closing connection: %v", c.name, err)
					}
				}
				s.drop(c)
				return
			}
		case <-c.quit:
			return
		}
	}
}

// Broadcast sends ev to every connected client. It never blocks: the event
// is queued for each client's own writer, and a client whose queue is full
// (it has stopped reading) is disconnected. After Close it does nothing.
func (s *Server) Broadcast(ev Event) {
	msg, err := encode(ev)
	if err != nil {
		s.logf("control: cannot broadcast %s event: %v", ev.Event, err)
		return
	}
	var slow []*conn
	s.mu.Lock()
	for c := range s.conns {
		select {
		case c.out <- msg:
		default:
			delete(s.conns, c)
			slow = append(slow, c)
		}
	}
	s.mu.Unlock()
	for _, c := range slow {
		c.kill()
		s.logf("control: %s: disconnected: %d events queued unread", c.name, s.queueLen)
	}
}

// Close stops accepting clients, unlinks the socket file if it is still
// the one Listen created, gives each client up to a second to receive
// the events already queued for it, closes every connection and waits for
// the server's goroutines to end. Calling it again does nothing.
func (s *Server) Close() error { return s.CloseWith(nil) }

// CloseWith is Close with a farewell: it first unlinks the socket file and
// stops accepting, and only then broadcasts last (if not nil) and flushes
// it. A client that reads last — `naught stop` reading Shutdown — can
// therefore start a new daemon on the same path at once.
func (s *Server) CloseWith(last *Event) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	s.mu.Unlock()

	// Unlink before closing the listener: once the path is gone, a new
	// daemon can bind a fresh socket there without racing our unlink.
	err := removeIfSame(s.opts.Path, s.self)
	if cerr := s.ln.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("control socket %s: close: %w", s.opts.Path, cerr)
	}
	<-s.acceptDone
	if last != nil {
		s.Broadcast(*last)
	}

	s.mu.Lock()
	s.closed = true
	close(s.closing)
	deadline := time.Now().Add(flushTimeout)
	for c := range s.conns {
		// A failed SetWriteDeadline means the connection is closed,
		// so its writer cannot block either.
		_ = c.nc.SetWriteDeadline(deadline)
		close(c.out)
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	return err
}
