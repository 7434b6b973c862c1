package listeners

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Backlog is the listen(2) backlog of every socket, as libuv/Node use.
const Backlog = 511

// FlagIPv6Only is UV_TCP_IPV6ONLY, the only Query.Flags bit naught honours.
const FlagIPv6Only = 1

// ErrClosed is returned (together with syscall.EBADF) by Listen after Close.
var ErrClosed = errors.New("listeners: registry closed")

// Query is what a worker's cluster queryServer asks for (NODE-IPC.md §2.3).
type Query struct {
	Address     *string // nil = no host given
	Port        int     // -1 for unix sockets
	AddressType int     // 4, 6, or -1 (unix); other values -> EINVAL
	Flags       int     // 1 = UV_TCP_IPV6ONLY
	Index       int
	HasFD       bool // listen({fd}) -> refuse with EINVAL
}

// key identifies one shared socket. Two queries with equal keys get the same
// socket, also across worker generations (index restarts at 0 per worker).
type key struct {
	hasAddr     bool
	addr        string
	port        int
	addressType int
	flags       int
	index       int
}

func (q Query) key() key {
	k := key{port: q.Port, addressType: q.AddressType, flags: q.Flags, index: q.Index}
	if q.Address != nil {
		k.hasAddr, k.addr = true, *q.Address
	}
	return k
}

type socket struct {
	fd   int
	desc string // for errors before the socket is bound
	// unix socket path bound by us, with its identity at bind time, so
	// Close only unlinks the file it created.
	path     string
	dev, ino uint64
	// data is the first truthy "data" any worker sent for this socket
	// (NODE-IPC P8); every reply echoes it.
	data []byte
}

// Registry holds the shared listening sockets. It is safe for concurrent
// use. The zero value is not usable; call NewRegistry.
type Registry struct {
	mu     sync.Mutex
	closed bool
	byKey  map[key]*socket
	order  []*socket // bind order, for Addrs
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byKey: make(map[key]*socket)}
}

// Listen returns the fd of the shared listening socket for q, binding it on
// first use. The fd stays owned by the registry: never close it, and never
// wrap it in an os.File whose Fd method would make it blocking. Errors wrap a
// syscall.Errno (use errors.As) so the caller can reply -errno to the worker.
// A failed bind is not cached. Port 0 binds once per (address, addressType,
// flags, index) and the same socket, hence the same port, is returned to
// every later query with that key.
func (r *Registry) Listen(q Query) (fd int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.lookupLocked(q)
	if err != nil {
		return -1, err
	}
	return s.fd, nil
}

// Acquire is Listen for a cluster reply. It returns a close-on-exec duplicate
// of the socket's fd that the caller owns (and must close), so the socket
// stays valid while the reply waits in a queue even if the registry is closed
// meanwhile. It also implements Node's per-handle data rule (NODE-IPC P8):
// the first truthy data any query supplied for this socket is remembered and
// returned as echo; until then echo is data itself. On error echo is data.
func (r *Registry) Acquire(q Query, data []byte) (fd int, echo []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.lookupLocked(q)
	if err != nil {
		return -1, data, err
	}
	if !jsTruthy(s.data) && jsTruthy(data) {
		s.data = bytes.Clone(data)
	}
	echo = s.data
	if echo == nil {
		echo = data
	}
	dup, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, data, fmt.Errorf("listeners: dup %s: %w", s.desc, err)
	}
	return dup, echo, nil
}

func (r *Registry) lookupLocked(q Query) (*socket, error) {
	if r.closed {
		return nil, fmt.Errorf("%w: %w", ErrClosed, syscall.EBADF)
	}
	k := q.key()
	if s, ok := r.byKey[k]; ok {
		return s, nil
	}
	s, err := bind(q)
	if err != nil {
		return nil, err
	}
	r.byKey[k] = s
	r.order = append(r.order, s)
	return s, nil
}

// Addrs describes every bound socket in bind order, e.g. "[::]:8080",
// "0.0.0.0:8080" or "/tmp/x.sock".
func (r *Registry) Addrs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.order))
	for _, s := range r.order {
		out = append(out, describe(s))
	}
	return out
}

// Close closes every socket and unlinks the unix socket paths the registry
// bound (only if the path still names the socket file it created). It is
// idempotent; fds previously returned by Listen become invalid.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for _, s := range r.order {
		if s.path != "" {
			var st unix.Stat_t
			if err := unix.Stat(s.path, &st); err == nil && st.Dev == s.dev && st.Ino == s.ino {
				if err := unix.Unlink(s.path); err != nil {
					errs = append(errs, fmt.Errorf("listeners: unlink %s: %w", s.path, err))
				}
			}
		}
		if err := unix.Close(s.fd); err != nil {
			errs = append(errs, fmt.Errorf("listeners: close %s: %w", s.desc, err))
		}
	}
	r.order, r.byKey = nil, nil
	return errors.Join(errs...)
}

// bind creates the socket for q following Node's createServerHandle rules
// (NODE-IPC §2.6).
func bind(q Query) (*socket, error) {
	if q.HasFD {
		return nil, fmt.Errorf("listeners: listen({fd}) is not supported: %w", syscall.EINVAL)
	}
	if q.AddressType == -1 {
		if q.Address == nil || *q.Address == "" || q.Port != -1 {
			return nil, fmt.Errorf("listeners: unix socket query needs a path and port -1: %w", syscall.EINVAL)
		}
		return bindUnix(*q.Address)
	}
	if q.AddressType != 4 && q.AddressType != 6 {
		return nil, fmt.Errorf("listeners: address type %d: %w", q.AddressType, syscall.EINVAL)
	}
	if q.Port < 0 || q.Port > 0xffff {
		return nil, fmt.Errorf("listeners: port %d: %w", q.Port, syscall.EINVAL)
	}
	v6only := 0
	if q.Flags&FlagIPv6Only != 0 {
		v6only = 1
	}
	if q.Address == nil || *q.Address == "" {
		// No host: dual-stack [::]:P, and on any failure 0.0.0.0:P.
		s, err6 := bindTCP(unix.AF_INET6, &unix.SockaddrInet6{Port: q.Port}, v6only, net.JoinHostPort("::", strconv.Itoa(q.Port)))
		if err6 == nil {
			return s, nil
		}
		s, err := bindTCP(unix.AF_INET, &unix.SockaddrInet4{Port: q.Port}, 0, net.JoinHostPort("0.0.0.0", strconv.Itoa(q.Port)))
		if err != nil {
			return nil, fmt.Errorf("%w (after %v)", err, err6)
		}
		return s, nil
	}
	addr := *q.Address
	desc := net.JoinHostPort(addr, strconv.Itoa(q.Port))
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("listeners: address %q: %w", addr, syscall.EINVAL)
	}
	if q.AddressType == 4 {
		if !ip.Is4() {
			return nil, fmt.Errorf("listeners: %q is not an IPv4 address: %w", addr, syscall.EINVAL)
		}
		return bindTCP(unix.AF_INET, &unix.SockaddrInet4{Port: q.Port, Addr: ip.As4()}, 0, desc)
	}
	if !ip.Is6() {
		return nil, fmt.Errorf("listeners: %q is not an IPv6 address: %w", addr, syscall.EINVAL)
	}
	sa := &unix.SockaddrInet6{Port: q.Port, Addr: ip.As16()}
	if zone := ip.Zone(); zone != "" {
		id, err := zoneID(zone)
		if err != nil {
			return nil, fmt.Errorf("listeners: address %q: %w", addr, err)
		}
		sa.ZoneId = id
	}
	return bindTCP(unix.AF_INET6, sa, v6only, desc)
}

func zoneID(zone string) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: %w", zone, syscall.EINVAL)
	}
	return uint32(ifi.Index), nil
}

func bindTCP(family int, sa unix.Sockaddr, v6only int, desc string) (s *socket, err error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listeners: socket for %s: %w", desc, err)
	}
	defer func() {
		if err != nil {
			_ = unix.Close(fd) // never handed out
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("listeners: SO_REUSEADDR on %s: %w", desc, err)
	}
	if family == unix.AF_INET6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return nil, fmt.Errorf("listeners: IPV6_V6ONLY on %s: %w", desc, err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("listeners: bind %s: %w", desc, err)
	}
	if err := unix.Listen(fd, Backlog); err != nil {
		return nil, fmt.Errorf("listeners: listen %s: %w", desc, err)
	}
	return &socket{fd: fd, desc: desc}, nil
}

func bindUnix(path string) (s *socket, err error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listeners: socket for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = unix.Close(fd) // never handed out
		}
	}()
	// A stale file at path gives EADDRINUSE; it is not ours to unlink.
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("listeners: bind %s: %w", path, err)
	}
	s = &socket{fd: fd, desc: path, path: path}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err == nil {
		s.dev, s.ino = st.Dev, st.Ino
	}
	if err := unix.Listen(fd, Backlog); err != nil {
		_ = unix.Unlink(path) // we just created it
		return nil, fmt.Errorf("listeners: listen %s: %w", path, err)
	}
	return s, nil
}

func describe(s *socket) string {
	sa, err := unix.Getsockname(s.fd)
	if err != nil {
		return s.desc
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(netip.AddrFrom4(sa.Addr).String(), strconv.Itoa(sa.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(netip.AddrFrom16(sa.Addr).String(), strconv.Itoa(sa.Port))
	case *unix.SockaddrUnix:
		return sa.Name
	}
	return s.desc
}

// jsTruthy reports whether the JSON value would be truthy in JavaScript
// (Node's primary keeps a handle's data with `if (!handle.data)`).
func jsTruthy(raw []byte) bool {
	v := strings.TrimSpace(string(raw))
	switch v {
	case "", "null", "false", `""`:
		return false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f != 0
	}
	return true
}
