package control

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"
)

// dialTimeout bounds Dial. Connecting to a unix socket does not wait on a
// network; this only guards against the unexpected.
const dialTimeout = 5 * time.Second

// Client is the CLI's end of the control socket. Send may be called
// concurrently with Next; Next must not be called concurrently with itself.
type Client struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
}

// Dial connects to the daemon's control socket at path. Failures that the
// CLI reports in its own words are distinguishable with errors.Is:
// [ErrNotRunning] when path does not exist, [ErrNoAnswer] when it exists but
// connecting is refused (a stale socket, or a file that is not a socket).
// Other failures, such as a permission error, are returned wrapped.
func Dial(path string) (*Client, error) {
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.Dial("unix", path)
	switch {
	case err == nil:
		return &Client{nc: nc, br: bufio.NewReader(nc)}, nil
	case errors.Is(err, syscall.ENOENT):
		return nil, fmt.Errorf("connect to %s: %w: %w", path, ErrNotRunning, err)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ENOTSOCK):
		return nil, fmt.Errorf("connect to %s: %w: %w", path, ErrNoAnswer, err)
	default:
		return nil, fmt.Errorf("connect to %s: %w", path, err)
	}
}

// Send sends one request to the daemon.
func (c *Client) Send(req Request) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := WriteMessage(c.nc, req); err != nil {
		return fmt.Errorf("send %s: %w", req.Action, err)
	}
	return nil
}

// Next returns the next event from the daemon. It returns io.EOF itself
// when the daemon closed the connection between events; other errors
// (including a connection cut inside a message) are wrapped.
func (c *Client) Next() (Event, error) {
	var ev Event
	if err := ReadMessage(c.br, &ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// Close closes the connection; a Next blocked in another goroutine returns
// an error.
func (c *Client) Close() error {
	if err := c.nc.Close(); err != nil {
		return fmt.Errorf("close control connection: %w", err)
	}
	return nil
}
