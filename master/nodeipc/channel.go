package nodeipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"naught/master/listeners"
)

const (
	// maxHandleRetransmissions is how often a NACKed handle is resent (P6).
	maxHandleRetransmissions = 3
	// defaultMaxLine bounds a single incoming line; longer lines are
	// discarded up to the next newline so a peer cannot grow memory forever.
	defaultMaxLine = 16 << 20
	// maxPendingFDs bounds received fds not yet claimed by a NODE_HANDLE line.
	maxPendingFDs = 16
	readBufSize   = 64 << 10
	// oobFDs is how many fds one read can carry before MSG_CTRUNC.
	oobFDs = 16
	// maxBatch is the soft cap on bytes coalesced into one write.
	maxBatch = 64 << 10
)

// ErrClosed is returned by Send and Disconnect once the channel is closed,
// the peer went away, or a write failed.
var ErrClosed = errors.New("nodeipc: channel closed")

const (
	lineACK  = `{"cmd":"NODE_HANDLE_ACK"}` + "\n"
	lineNACK = `{"cmd":"NODE_HANDLE_NACK"}` + "\n"
)

// Options configures a Channel.
type Options struct {
	// OnMessage receives every user (non-internal) message, in arrival order,
	// as raw JSON (e.g. `"online"`). A message that arrived wrapped in
	// NODE_HANDLE is ACKed, its fd closed, and the inner message delivered
	// here if it is a user message. It runs on the reader goroutine: it may
	// call Send, Disconnect and Close, but should not block for long.
	OnMessage func(msg json.RawMessage)
	// OnClose is called exactly once, after the last OnMessage, when the
	// channel hits EOF or a read error (nil on clean EOF and after Close).
	OnClose func(err error)
	// Listeners, when non-nil, makes this channel a cluster primary:
	// queryServer is answered from it. Without it queryServer gets EINVAL.
	Listeners *listeners.Registry
	// Logf receives diagnostics (protocol errors, ignored acts); may be nil.
	// It runs on the channel's goroutines and must not call Close.
	Logf func(format string, args ...any)

	maxLine int // tests only; 0 = defaultMaxLine
}

// outMsg is one queued write: complete lines, plus an fd the channel owns
// (closed on ACK, after the last retransmission, or when the queue is dropped).
type outMsg struct {
	line   []byte
	fd     int  // -1: none
	bypass bool // NODE_HANDLE_ACK/NACK: never waits behind a pending handle
	resent int
}

// Channel is the parent end of one Node IPC channel.
type Channel struct {
	conn *net.UnixConn
	opts Options
	done chan struct{}

	// Writer state, guarded by mu; the writer goroutine and Flush wait on cond.
	mu       sync.Mutex
	cond     *sync.Cond
	q        []*outMsg
	inflight *outMsg // handle message written, awaiting ACK
	toClose  []int   // fds the writer goroutine must close (it alone closes queued fds)
	closed   bool
	writing  bool  // a batch taken from q is being written
	cause    error // why writes stopped, if not Close/EOF
	seq      int64 // primary cluster seq counter for this channel
	writerWG sync.WaitGroup

	// clusterMu orders queryServer replies against Disconnect.
	clusterMu    sync.Mutex
	disconnected bool

	exitedAfterDisconnect atomic.Bool
	localClose            atomic.Bool
	closeConnOnce         sync.Once
	closeConnErr          error

	pendingFDs []int // reader goroutine only
}

// Socketpair returns a connected AF_UNIX SOCK_STREAM pair, both CLOEXEC:
// parentEnd for Open, childEnd for exec.Cmd.ExtraFiles (the caller closes
// childEnd right after Start, P2).
func Socketpair() (parentEnd, childEnd *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("nodeipc: socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "nodeipc-parent"), os.NewFile(uintptr(fds[1]), "nodeipc-child"), nil
}

// Open takes ownership of parentEnd (it is closed, also on error) and starts
// the reader and writer goroutines.
func Open(parentEnd *os.File, opts Options) (*Channel, error) {
	fc, err := net.FileConn(parentEnd)
	if cerr := parentEnd.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if fc != nil {
			_ = fc.Close()
		}
		return nil, fmt.Errorf("nodeipc: open channel: %w", err)
	}
	conn, ok := fc.(*net.UnixConn)
	if !ok {
		_ = fc.Close()
		return nil, fmt.Errorf("nodeipc: open channel: %T is not a unix socket", fc)
	}
	if opts.maxLine <= 0 {
		opts.maxLine = defaultMaxLine
	}
	c := &Channel{conn: conn, opts: opts, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	c.writerWG.Add(1)
	go c.writeLoop()
	go c.readLoop()
	return c, nil
}

// Send writes one user message (json.Marshal(v) + "\n"), after every message
// already queued and behind an un-ACKed handle. It never blocks: nil means
// queued, not delivered (the queue is unbounded). It returns an error wrapping
// ErrClosed once the channel is closed or the peer is gone, and refuses values
// that do not marshal and objects whose "cmd" would make Node treat them as
// internal (P16).
func (c *Channel) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("nodeipc: send: %w", err)
	}
	if bytes.IndexByte(b, '\n') >= 0 { // json.Marshal compacts; never expected
		return fmt.Errorf("nodeipc: send: marshalled message contains a newline")
	}
	if len(b) > 0 && b[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil {
			if cmd, ok := internalCmd(m); ok {
				return fmt.Errorf("nodeipc: send: user message with internal cmd %q would not reach the worker's 'message' event", cmd)
			}
		}
	}
	return c.enqueue(&outMsg{line: append(b, '\n'), fd: -1})
}

// Disconnect sends the cluster disconnect act (after anything already
// queued). From then on queryServer from this worker is ignored. The worker
// closes its servers, drains, and closes the channel (EOF). Idempotent.
func (c *Channel) Disconnect() error {
	c.clusterMu.Lock()
	defer c.clusterMu.Unlock()
	if c.disconnected {
		return nil
	}
	err := c.enqueueCluster(func(seq int64) any {
		return struct {
			Cmd string `json:"cmd"`
			Act string `json:"act"`
			Seq int64  `json:"seq"`
		}{"NODE_CLUSTER", "disconnect", seq}
	}, -1)
	if err != nil {
		return fmt.Errorf("nodeipc: disconnect: %w", err)
	}
	c.disconnected = true
	c.exitedAfterDisconnect.Store(true)
	return nil
}

// ExitedAfterDisconnect reports whether the worker's exit is planned: true
// once Disconnect was called or the worker sent the exitedAfterDisconnect act
// (cluster.worker.disconnect/kill), like Node's worker.exitedAfterDisconnect.
func (c *Channel) ExitedAfterDisconnect() bool { return c.exitedAfterDisconnect.Load() }

// Done is closed after OnClose has returned and both goroutines have exited.
func (c *Channel) Done() <-chan struct{} { return c.done }

// Flush waits until every message queued so far has been written (and a
// handle in flight acknowledged), or the channel is closed, but at most
// timeout. Call it before Close when the last messages matter.
func (c *Channel) Flush(timeout time.Duration) error {
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		c.mu.Lock()
		defer c.mu.Unlock()
		for !c.closed && (len(c.q) > 0 || c.inflight != nil || c.writing) {
			c.cond.Wait()
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-flushed:
		return nil
	case <-t.C:
		// The waiting goroutine ends with the channel's Close.
		return fmt.Errorf("nodeipc: flush: messages still queued after %v", timeout)
	}
}

// Close closes the channel; the worker sees EOF (and, unless Disconnect was
// sent first, exits at once, P12). Queued messages are dropped. Idempotent;
// it waits for the writer goroutine, not for OnClose (see Done).
func (c *Channel) Close() error {
	c.localClose.Store(true)
	c.markClosed(nil)
	err := c.closeConn()
	c.writerWG.Wait()
	return err
}

func (c *Channel) closeConn() error {
	first := false
	c.closeConnOnce.Do(func() {
		first = true
		c.closeConnErr = c.conn.Close()
	})
	if !first || c.closeConnErr == nil {
		return nil
	}
	return fmt.Errorf("nodeipc: close: %w", c.closeConnErr)
}

func (c *Channel) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// ---- writer ----

func (c *Channel) enqueue(m *outMsg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.enqueueLocked(m)
}

func (c *Channel) enqueueLocked(m *outMsg) error {
	if c.closed {
		if m.fd >= 0 {
			_ = unix.Close(m.fd) // never queued, so not the writer's
		}
		if c.cause != nil {
			return fmt.Errorf("%w: %w", ErrClosed, c.cause)
		}
		return ErrClosed
	}
	c.q = append(c.q, m)
	c.cond.Broadcast()
	return nil
}

// enqueueCluster assigns the next primary seq and queues build(seq) with fd
// (owned by the channel from here on).
func (c *Channel) enqueueCluster(build func(seq int64) any, fd int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	seq := c.seq
	c.seq++
	b, err := json.Marshal(build(seq))
	if err != nil { // only fixed struct shapes and validated RawMessages
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return fmt.Errorf("nodeipc: marshal cluster message: %w", err)
	}
	return c.enqueueLocked(&outMsg{line: append(b, '\n'), fd: fd})
}

// markClosed stops the writer; it drops whatever is queued (P18).
func (c *Channel) markClosed(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.cause = cause
	}
	c.cond.Broadcast()
}

func (c *Channel) handleACK() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.logf("nodeipc: NODE_HANDLE_ACK with no handle pending; ignored")
		return
	}
	c.toClose = append(c.toClose, c.inflight.fd)
	c.inflight = nil
	c.cond.Broadcast()
}

func (c *Channel) handleNACK() {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.inflight
	if m == nil {
		c.logf("nodeipc: NODE_HANDLE_NACK with no handle pending; ignored")
		return
	}
	c.inflight = nil
	if m.resent >= maxHandleRetransmissions {
		c.logf("nodeipc: handle not received after %d retransmissions; dropped: %s", m.resent, bytes.TrimSpace(m.line))
		c.toClose = append(c.toClose, m.fd)
	} else {
		m.resent++
		c.q = append([]*outMsg{m}, c.q...)
	}
	c.cond.Broadcast()
}

// takeLocked picks the next batch: FIFO up to and including the first
// handle message when no handle is pending, otherwise only ACK/NACK lines.
func (c *Channel) takeLocked(buf []byte) (batch []byte, fd int) {
	fd = -1
	if c.inflight == nil {
		n := 0
		for n < len(c.q) && (len(buf) == 0 || len(buf)+len(c.q[n].line) <= maxBatch) {
			m := c.q[n]
			buf = append(buf, m.line...)
			n++
			if m.fd >= 0 {
				c.inflight, fd = m, m.fd
				break
			}
		}
		c.q = append(c.q[:0], c.q[n:]...)
		return buf, fd
	}
	rest := c.q[:0]
	for _, m := range c.q {
		if m.bypass && (len(buf) == 0 || len(buf)+len(m.line) <= maxBatch) {
			buf = append(buf, m.line...)
		} else {
			rest = append(rest, m)
		}
	}
	clear(c.q[len(rest):])
	c.q = rest
	return buf, fd
}

// dropLocked releases everything queued (P18). Writer goroutine only.
func (c *Channel) dropLocked() {
	if c.inflight != nil {
		c.toClose = append(c.toClose, c.inflight.fd)
		c.inflight = nil
	}
	for _, m := range c.q {
		if m.fd >= 0 {
			c.toClose = append(c.toClose, m.fd)
		}
	}
	c.q = nil
	c.closeFDsLocked()
}

func (c *Channel) closeFDsLocked() {
	for _, fd := range c.toClose {
		_ = unix.Close(fd) // our dup of a shared socket; nothing to report
	}
	c.toClose = c.toClose[:0]
}

func (c *Channel) writeLoop() {
	defer c.writerWG.Done()
	var buf []byte
	for {
		c.mu.Lock()
		var batch []byte
		fd := -1
		for {
			c.closeFDsLocked()
			if c.closed {
				c.dropLocked()
				c.mu.Unlock()
				return
			}
			if batch, fd = c.takeLocked(buf[:0]); len(batch) > 0 {
				break
			}
			c.cond.Wait()
		}
		c.writing = true
		c.mu.Unlock()

		err := c.write(batch, fd)
		c.mu.Lock()
		c.writing = false
		c.cond.Broadcast()
		c.mu.Unlock()
		buf = batch
		if err != nil {
			if !c.localClose.Load() {
				c.logf("nodeipc: write: %v", err)
			}
			c.markClosed(fmt.Errorf("nodeipc: write: %w", err))
		}
	}
}

// write sends batch in one sendmsg, with fd as SCM_RIGHTS if fd >= 0 (P5);
// after a partial write the remainder goes out without the fd.
func (c *Channel) write(batch []byte, fd int) error {
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	n, _, err := c.conn.WriteMsgUnix(batch, oob, nil)
	if err == nil && n < len(batch) {
		_, err = c.conn.Write(batch[n:])
	}
	return err
}

// ---- reader ----

func (c *Channel) readLoop() {
	err := c.read()
	c.markClosed(nil)
	for _, fd := range c.pendingFDs {
		_ = unix.Close(fd) // a worker's fd no NODE_HANDLE line claimed
	}
	c.pendingFDs = nil
	_ = c.closeConn() // nothing to report to anyone: the channel is over
	c.writerWG.Wait()
	if c.opts.OnClose != nil {
		c.opts.OnClose(err)
	}
	close(c.done)
}

func (c *Channel) read() error {
	buf := make([]byte, readBufSize)
	oob := make([]byte, unix.CmsgSpace(oobFDs*4))
	var acc []byte    // incomplete line so far
	skipping := false // discarding an over-long line up to its newline
	for {
		n, oobn, flags, _, err := c.conn.ReadMsgUnix(buf, oob)
		n, oobn = max(n, 0), max(oobn, 0) // -1 on some errors
		if oobn > 0 {
			c.takeFDs(oob[:oobn])
		}
		if flags&unix.MSG_CTRUNC != 0 {
			c.logf("nodeipc: control message truncated; fds were lost")
		}
		data := buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				if !skipping {
					acc = append(acc, data...)
					if len(acc) > c.opts.maxLine {
						c.logf("nodeipc: line longer than %d bytes; discarded", c.opts.maxLine)
						acc, skipping = nil, true
					}
				}
				break
			}
			switch {
			case skipping:
				skipping = false
			case len(acc)+i > c.opts.maxLine:
				c.logf("nodeipc: line longer than %d bytes; discarded", c.opts.maxLine)
				acc = acc[:0]
			case len(acc) > 0:
				acc = append(acc, data[:i]...)
				c.handleLine(acc)
				acc = acc[:0]
				if cap(acc) > readBufSize {
					acc = nil
				}
			default:
				c.handleLine(data[:i])
			}
			data = data[i+1:]
		}
		switch {
		case errors.Is(err, io.EOF), err == nil && n == 0: // older Go reported EOF as 0, nil
			if len(acc) > 0 {
				c.logf("nodeipc: %d bytes without a final newline at EOF; discarded", len(acc))
			}
			return nil
		case err != nil:
			if c.localClose.Load() && errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("nodeipc: read: %w", err)
		}
	}
}

func (c *Channel) takeFDs(oob []byte) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		c.logf("nodeipc: bad control message: %v", err)
		return
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue // not SCM_RIGHTS
		}
		c.pendingFDs = append(c.pendingFDs, fds...)
	}
	for len(c.pendingFDs) > maxPendingFDs {
		c.logf("nodeipc: too many fds without NODE_HANDLE; closing one")
		_ = unix.Close(c.pendingFDs[0])
		c.pendingFDs = c.pendingFDs[1:]
	}
}

func (c *Channel) popPendingFD() int {
	if len(c.pendingFDs) == 0 {
		return -1
	}
	fd := c.pendingFDs[0]
	c.pendingFDs = c.pendingFDs[1:]
	return fd
}

// handleLine parses one line; line is only valid during the call.
func (c *Channel) handleLine(line []byte) {
	line = bytes.Trim(line, " \t\r\n")
	if len(line) == 0 {
		c.logf("nodeipc: empty line; skipped")
		return
	}
	if !json.Valid(line) {
		c.logf("nodeipc: invalid JSON line; skipped: %q", truncate(line, 200))
		return
	}
	c.dispatch(bytes.Clone(line), false)
}

// dispatch routes one parsed message; nested is true for the msg of a
// NODE_HANDLE envelope.
func (c *Channel) dispatch(raw json.RawMessage, nested bool) {
	if raw[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) == nil {
			if cmd, ok := internalCmd(m); ok {
				c.handleInternal(cmd, m, nested)
				return
			}
		}
	}
	if c.opts.OnMessage != nil {
		c.opts.OnMessage(raw)
	}
}

func (c *Channel) handleInternal(cmd string, m map[string]json.RawMessage, nested bool) {
	if nested && (cmd == "NODE_HANDLE" || cmd == "NODE_HANDLE_ACK" || cmd == "NODE_HANDLE_NACK") {
		c.logf("nodeipc: %s inside a NODE_HANDLE envelope; ignored", cmd)
		return
	}
	switch cmd {
	case "NODE_HANDLE":
		fd := c.popPendingFD()
		if fd < 0 {
			c.logf("nodeipc: NODE_HANDLE without an fd; NACKed")
			_ = c.enqueue(&outMsg{line: []byte(lineNACK), fd: -1, bypass: true}) // fails only when closed
			return
		}
		_ = c.enqueue(&outMsg{line: []byte(lineACK), fd: -1, bypass: true}) // fails only when closed
		_ = unix.Close(fd)                                                  // naught has no use for a worker's handle
		if inner, ok := m["msg"]; ok {
			c.dispatch(inner, true)
		}
	case "NODE_HANDLE_ACK":
		c.handleACK()
	case "NODE_HANDLE_NACK":
		c.handleNACK()
	case "NODE_CLUSTER":
		c.handleCluster(m)
	default:
		c.logf("nodeipc: internal message %s ignored", cmd)
	}
}

// internalCmd reports Node's isInternal: an object whose cmd is a string
// longer than 5 characters starting with "NODE_" (§1.4).
func internalCmd(m map[string]json.RawMessage) (string, bool) {
	raw, ok := m["cmd"]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var cmd string
	if json.Unmarshal(raw, &cmd) != nil {
		return "", false
	}
	return cmd, len(cmd) > 5 && cmd[:5] == "NODE_"
}

func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[:n]
}
