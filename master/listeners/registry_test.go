package listeners_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"naught/master/listeners"
)

func newRegistry(t *testing.T) *listeners.Registry {
	t.Helper()
	r := listeners.NewRegistry()
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func ptr(s string) *string { return &s }

// boundPort returns the TCP port fd is bound to (via getsockname, never Fd()).
func boundPort(t *testing.T, fd int) int {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sa.Port
	case *unix.SockaddrInet6:
		return sa.Port
	}
	t.Fatalf("unexpected sockaddr %T", sa)
	return 0
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// dial connects to addr; the connection completes from the listen backlog,
// nobody accepts it.
func dial(network, addr string) error {
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func TestNoHostIsDualStack(t *testing.T) {
	r := newRegistry(t)
	fd, err := r.Listen(listeners.Query{Port: 0, AddressType: 4})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	port := strconv.Itoa(boundPort(t, fd))
	if err := dial("tcp", "127.0.0.1:"+port); err != nil {
		t.Errorf("dial 127.0.0.1: %v", err)
	}
	if got := r.Addrs(); !slices.Equal(got, []string{"[::]:" + port}) && !slices.Equal(got, []string{"0.0.0.0:" + port}) {
		t.Errorf("Addrs = %q", got)
	}
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback; ::1 part skipped")
	}
	if got := r.Addrs(); !slices.Equal(got, []string{"[::]:" + port}) {
		t.Errorf("Addrs = %q, want [::]:%s", got, port)
	}
	if err := dial("tcp", "[::1]:"+port); err != nil {
		t.Errorf("dial ::1: %v", err)
	}
}

func TestIPv6AnyDualStackAndIPv6Only(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	r := newRegistry(t)
	dual, err := r.Listen(listeners.Query{Address: ptr("::"), AddressType: 6})
	if err != nil {
		t.Fatalf("Listen dual: %v", err)
	}
	port := strconv.Itoa(boundPort(t, dual))
	for _, a := range []string{"127.0.0.1:" + port, "[::1]:" + port} {
		if err := dial("tcp", a); err != nil {
			t.Errorf("dual-stack: dial %s: %v", a, err)
		}
	}

	only, err := r.Listen(listeners.Query{Address: ptr("::"), AddressType: 6, Flags: listeners.FlagIPv6Only})
	if err != nil {
		t.Fatalf("Listen v6only: %v", err)
	}
	port = strconv.Itoa(boundPort(t, only))
	if err := dial("tcp", "[::1]:"+port); err != nil {
		t.Errorf("ipv6Only: dial ::1: %v", err)
	}
	if err := dial("tcp", "127.0.0.1:"+port); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("ipv6Only: dial 127.0.0.1 = %v, want ECONNREFUSED", err)
	}
}

func TestExplicitIPv4(t *testing.T) {
	r := newRegistry(t)
	fd, err := r.Listen(listeners.Query{Address: ptr("127.0.0.1"), AddressType: 4})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	port := strconv.Itoa(boundPort(t, fd))
	if err := dial("tcp4", "127.0.0.1:"+port); err != nil {
		t.Errorf("dial: %v", err)
	}
	if got := r.Addrs(); !slices.Equal(got, []string{"127.0.0.1:" + port}) {
		t.Errorf("Addrs = %q", got)
	}
}

func TestPortZeroShared(t *testing.T) {
	r := newRegistry(t)
	q := listeners.Query{Port: 0, AddressType: 4}
	fd1, err := r.Listen(q)
	if err != nil {
		t.Fatal(err)
	}
	fd2, err := r.Listen(q) // e.g. the next worker, or the next generation
	if err != nil {
		t.Fatal(err)
	}
	if fd1 != fd2 {
		t.Errorf("same query gave fds %d and %d", fd1, fd2)
	}
	q.Index = 1 // a second listen(0) in the same worker is another socket
	fd3, err := r.Listen(q)
	if err != nil {
		t.Fatal(err)
	}
	if fd3 == fd1 || boundPort(t, fd3) == boundPort(t, fd1) {
		t.Errorf("index 1 shares socket/port with index 0")
	}
	if n := len(r.Addrs()); n != 2 {
		t.Errorf("Addrs has %d entries, want 2", n)
	}
}

func TestConcurrentListenBindsOnce(t *testing.T) {
	r := newRegistry(t)
	const n = 16
	fds := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fds[i], errs[i] = r.Listen(listeners.Query{Address: ptr("127.0.0.1"), AddressType: 4}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || fds[i] != fds[0] {
			t.Fatalf("query %d: fd %d err %v; want fd %d", i, fds[i], errs[i], fds[0])
		}
	}
}

func TestAddrInUseNotCached(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	r := newRegistry(t)

	for _, q := range []listeners.Query{
		{Address: ptr("127.0.0.1"), Port: port, AddressType: 4},
		{Port: port, AddressType: 4}, // [::] and the 0.0.0.0 fallback both collide
	} {
		_, err := r.Listen(q)
		var errno syscall.Errno
		if !errors.As(err, &errno) || errno != syscall.EADDRINUSE {
			t.Errorf("Listen(%+v) = %v, want EADDRINUSE", q, err)
		}
	}
	if n := len(r.Addrs()); n != 0 {
		t.Errorf("failed binds left %d sockets", n)
	}

	if err := taken.Close(); err != nil {
		t.Fatal(err)
	}
	fd, err := r.Listen(listeners.Query{Address: ptr("127.0.0.1"), Port: port, AddressType: 4})
	if err != nil {
		t.Fatalf("retry after the port was freed: %v", err)
	}
	if got := boundPort(t, fd); got != port {
		t.Errorf("bound port %d, want %d", got, port)
	}
}

func shortTempDir(t *testing.T) string {
	t.Helper()
	// sockaddr_un paths are limited to 108 bytes; t.TempDir can be long.
	dir, err := os.MkdirTemp("", "nl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func TestUnixSocket(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "s.sock")
	r := listeners.NewRegistry()
	t.Cleanup(func() { _ = r.Close() })

	q := listeners.Query{Address: &path, Port: -1, AddressType: -1}
	fd, err := r.Listen(q)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if again, err := r.Listen(q); err != nil || again != fd {
		t.Errorf("second Listen = %d, %v; want %d", again, err, fd)
	}
	if err := dial("unix", path); err != nil {
		t.Errorf("dial: %v", err)
	}
	if got := r.Addrs(); !slices.Equal(got, []string{path}) {
		t.Errorf("Addrs = %q", got)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("path after Close: %v, want not exist", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = r.Listen(q)
	if !errors.Is(err, listeners.ErrClosed) || !errors.Is(err, syscall.EBADF) {
		t.Errorf("Listen after Close = %v", err)
	}
}

func TestUnixStalePath(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "stale.sock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t)
	_, err := r.Listen(listeners.Query{Address: &path, Port: -1, AddressType: -1})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Listen on stale path = %v, want EADDRINUSE", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("stale path was touched: %v", err)
	}
}

func TestSocketFlags(t *testing.T) {
	r := newRegistry(t)
	path := filepath.Join(shortTempDir(t), "f.sock")
	for _, q := range []listeners.Query{
		{AddressType: 4},
		{Address: ptr("127.0.0.1"), AddressType: 4},
		{Address: &path, Port: -1, AddressType: -1},
	} {
		fd, err := r.Listen(q)
		if err != nil {
			t.Fatalf("Listen(%+v): %v", q, err)
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fl&unix.O_NONBLOCK == 0 {
			t.Errorf("%+v: fd is blocking", q)
		}
		fdfl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if fdfl&unix.FD_CLOEXEC == 0 {
			t.Errorf("%+v: fd is not close-on-exec", q)
		}
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
			t.Errorf("%+v: SO_ACCEPTCONN = %d, %v; want listening", q, v, err)
		}
	}
}

func TestInvalidQueries(t *testing.T) {
	r := newRegistry(t)
	for name, q := range map[string]listeners.Query{
		"fd":              {Port: 0, AddressType: 4, HasFD: true},
		"udp4":            {AddressType: 0},
		"type 5":          {AddressType: 5},
		"bad ip":          {Address: ptr("not-an-ip"), AddressType: 4},
		"v6 as v4":        {Address: ptr("::1"), AddressType: 4},
		"v4 as v6":        {Address: ptr("127.0.0.1"), AddressType: 6},
		"port range":      {AddressType: 4, Port: 70000},
		"negative port":   {AddressType: 4, Port: -1},
		"unix no path":    {Port: -1, AddressType: -1},
		"unix with port":  {Address: ptr("/tmp/x"), Port: 80, AddressType: -1},
		"unknown v6 zone": {Address: ptr("fe80::1%no-such-if0"), AddressType: 6},
	} {
		_, err := r.Listen(q)
		var errno syscall.Errno
		if !errors.As(err, &errno) || errno != syscall.EINVAL {
			t.Errorf("%s: Listen = %v, want EINVAL", name, err)
		}
	}
	if n := len(r.Addrs()); n != 0 {
		t.Errorf("invalid queries bound %d sockets", n)
	}
}

func TestAcquireDupAndData(t *testing.T) {
	r := newRegistry(t)
	q := listeners.Query{Address: ptr("127.0.0.1"), AddressType: 4}
	fd, echo, err := r.Acquire(q, []byte("null"))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if string(echo) != "null" {
		t.Errorf("first echo = %s", echo)
	}
	shared, err := r.Listen(q)
	if err != nil {
		t.Fatal(err)
	}
	if fd == shared || boundPort(t, fd) != boundPort(t, shared) {
		t.Errorf("Acquire fd %d is not a dup of %d", fd, shared)
	}

	// null is falsy: the first truthy data wins and is echoed to everyone.
	first := `{"ticketKeys":"aa"}`
	for i, in := range []string{first, `{"ticketKeys":"bb"}`, "null"} {
		fd, echo, err := r.Acquire(q, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		_ = unix.Close(fd)
		if string(echo) != first {
			t.Errorf("query %d: echo = %s, want %s", i, echo, first)
		}
	}
	_, echo, err = r.Acquire(listeners.Query{AddressType: 9}, []byte(`{"x":1}`))
	if err == nil || string(echo) != `{"x":1}` {
		t.Errorf("failed Acquire: echo %s, err %v", echo, err)
	}
}
