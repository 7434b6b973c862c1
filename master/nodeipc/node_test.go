package nodeipc_test

// Tests against the real node binary with testdata/worker.js.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"naught/master/listeners"
	"naught/master/nodeipc"
)

const waitTimeout = 10 * time.Second

func nodeBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not on PATH")
	}
	return p
}

// syncBuffer collects a child's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inbox records user messages and wakes waiters.
type inbox struct {
	mu     sync.Mutex
	msgs   []json.RawMessage
	notify chan struct{}
}

func newInbox() *inbox { return &inbox{notify: make(chan struct{}, 1)} }

func (b *inbox) add(m json.RawMessage) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// waitFor returns the first message (from the start) matching pred.
func (b *inbox) waitFor(t *testing.T, what string, pred func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		b.mu.Lock()
		for _, m := range b.msgs {
			if pred(m) {
				b.mu.Unlock()
				return m
			}
		}
		seen := make([]string, len(b.msgs))
		for i, m := range b.msgs {
			seen[i] = string(m)
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; messages so far: %s", what, strings.Join(seen, " "))
		}
	}
}

type event struct {
	Ev         string          `json:"ev"`
	Msg        json.RawMessage `json:"msg"`
	Code       string          `json:"code"`
	Errno      int             `json:"errno"`
	Syscall    string          `json:"syscall"`
	PID        int             `json:"pid"`
	TicketKeys string          `json:"ticketKeys"`
	Address    json.RawMessage `json:"address"` // {port,...} or a unix path
}

// port is the TCP port of a "listening" event.
func (e event) port() int {
	var a struct {
		Port int `json:"port"`
	}
	_ = json.Unmarshal(e.Address, &a) // 0 for a unix path
	return a.Port
}

type worker struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	ch     *nodeipc.Channel
	inbox  *inbox
	out    syncBuffer
	closed chan error // OnClose's argument
	exited chan struct{}
	err    error // cmd.Wait's result, valid after exited
}

// startWorker runs `node testdata/worker.js args...` as cluster worker id
// (a plain child when id is 0) with reg as its cluster primary.
func startWorker(t *testing.T, reg *listeners.Registry, id int, args ...string) *worker {
	t.Helper()
	node := nodeBinary(t)
	w := &worker{t: t, name: "worker " + strconv.Itoa(id) + " " + strings.Join(args, " "),
		inbox: newInbox(), closed: make(chan error, 1), exited: make(chan struct{})}
	parent, child, err := nodeipc.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	w.ch, err = nodeipc.Open(parent, nodeipc.Options{
		OnMessage: w.inbox.add,
		OnClose:   func(err error) { w.closed <- err },
		Listeners: reg,
		Logf:      func(f string, a ...any) { t.Logf(w.name+": "+f, a...) },
	})
	if err != nil {
		_ = child.Close()
		t.Fatal(err)
	}
	w.cmd = exec.Command(node, append([]string{"testdata/worker.js"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NODE_") {
			w.cmd.Env = append(w.cmd.Env, kv)
		}
	}
	w.cmd.Env = append(w.cmd.Env, "NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json")
	if id > 0 {
		w.cmd.Env = append(w.cmd.Env, "NODE_UNIQUE_ID="+strconv.Itoa(id))
	}
	w.cmd.ExtraFiles = []*os.File{child}
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	err = w.cmd.Start()
	_ = child.Close() // P2: only the child may hold it now
	if err != nil {
		_ = w.ch.Close()
		<-w.ch.Done()
		t.Fatal(err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-w.exited:
		default:
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
		_ = w.ch.Close()
		<-w.ch.Done()
		if t.Failed() {
			t.Logf("%s output:\n%s", w.name, w.out.String())
		}
	})
	return w
}

func (w *worker) waitMsg(want string) {
	w.t.Helper()
	w.inbox.waitFor(w.t, want, func(m json.RawMessage) bool { return string(m) == want })
}

func (w *worker) waitEvent(ev string) event {
	w.t.Helper()
	var e event
	w.inbox.waitFor(w.t, "event "+ev, func(m json.RawMessage) bool {
		return json.Unmarshal(m, &e) == nil && e.Ev == ev
	})
	return e
}

// waitExit waits for exit status 0 and OnClose(nil).
func (w *worker) waitExit() {
	w.t.Helper()
	select {
	case <-w.exited:
		if w.err != nil {
			w.t.Fatalf("%s: exit: %v", w.name, w.err)
		}
	case <-time.After(waitTimeout):
		w.t.Fatalf("%s did not exit", w.name)
	}
	select {
	case err := <-w.closed:
		if err != nil {
			w.t.Errorf("%s: OnClose(%v), want nil", w.name, err)
		}
	case <-time.After(waitTimeout):
		w.t.Fatalf("%s: OnClose not called", w.name)
	}
}

func newRegistry(t *testing.T) *listeners.Registry {
	r := listeners.NewRegistry()
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// freePort returns a TCP port that was free on all interfaces a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pidsServing GETs url until every pid in want has answered.
func pidsServing(t *testing.T, client *http.Client, url string, want ...int) {
	t.Helper()
	seen := map[int]int{}
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		pid, _ := strconv.Atoi(string(body))
		seen[pid]++
		all := true
		for _, p := range want {
			all = all && seen[p] > 0
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: answered by %v, want all of %v", url, seen, want)
		}
	}
}

func noKeepAlive() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestOnlineAndShutdown(t *testing.T) {
	t.Parallel()
	for name, id := range map[string]int{"cluster worker": 1, "plain child": 0} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := startWorker(t, nil, id, "echo")
			w.waitMsg(`"online"`)
			if err := w.ch.Send(map[string]any{"hello": []int{1, 2}}); err != nil {
				t.Fatal(err)
			}
			if e := w.waitEvent("echo"); string(e.Msg) != `{"hello":[1,2]}` {
				t.Errorf("echo = %s", e.Msg)
			}
			if err := w.ch.Send("shutdown"); err != nil {
				t.Fatal(err)
			}
			w.waitEvent("got")
			w.waitExit() // the worker calls process.disconnect()
			if err := w.ch.Send("late"); !errors.Is(err, nodeipc.ErrClosed) {
				t.Errorf("Send after EOF = %v, want ErrClosed", err)
			}
		})
	}
}

func TestTwoWorkersShareOnePort(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	port := freePort(t)
	args := "[" + strconv.Itoa(port) + "]"
	w1 := startWorker(t, reg, 1, "http", args)
	w2 := startWorker(t, reg, 2, "http", args)
	e1, e2 := w1.waitEvent("listening"), w2.waitEvent("listening")
	if e1.port() != port || e2.port() != port {
		t.Fatalf("listening on %d and %d, want %d", e1.port(), e2.port(), port)
	}
	if got := reg.Addrs(); len(got) != 1 {
		t.Errorf("registry has %q, want one socket", got)
	}
	pidsServing(t, noKeepAlive(), "http://127.0.0.1:"+strconv.Itoa(port)+"/", e1.PID, e2.PID)

	// Retire w1: w2 keeps serving on the socket naught keeps open.
	if err := w1.ch.Send("shutdown"); err != nil {
		t.Fatal(err)
	}
	if err := w1.ch.Disconnect(); err != nil {
		t.Fatal(err)
	}
	w1.waitExit()
	pidsServing(t, noKeepAlive(), "http://127.0.0.1:"+strconv.Itoa(port)+"/", e2.PID)
}

func TestListenZeroShared(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	w1 := startWorker(t, reg, 1, "http", "[0]")
	e1 := w1.waitEvent("listening")
	w2 := startWorker(t, reg, 2, "http", "[0]") // e.g. the next generation
	e2 := w2.waitEvent("listening")
	if e1.port() == 0 || e1.port() != e2.port() {
		t.Fatalf("listen(0) ports %d and %d, want one shared port", e1.port(), e2.port())
	}
	pidsServing(t, noKeepAlive(), "http://127.0.0.1:"+strconv.Itoa(e1.port())+"/", e1.PID, e2.PID)
}

func TestUnixSocketShared(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "nipc") // short: sockaddr_un paths are <= 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "http.sock")
	reg := newRegistry(t)
	arg, _ := json.Marshal([]string{path})
	w1 := startWorker(t, reg, 1, "http", string(arg))
	w2 := startWorker(t, reg, 2, "http", string(arg))
	e1, e2 := w1.waitEvent("listening"), w2.waitEvent("listening")
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
	pidsServing(t, client, "http://unix/", e1.PID, e2.PID)

	for _, w := range []*worker{w1, w2} {
		if err := w.ch.Disconnect(); err != nil {
			t.Fatal(err)
		}
		w.waitExit()
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("socket path gone while the registry is open: %v", err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket path after registry Close: %v", err)
	}
}

// writeCert writes a self-signed certificate and key for 127.0.0.1.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "naught test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TLS servers send data {ticketKeys} and crash on data:null (P8); echoing
// the first worker's data makes both share one set of ticket keys.
func TestHTTPSDataEchoed(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writeCert(t)
	reg := newRegistry(t)
	port := strconv.Itoa(freePort(t))
	w1 := startWorker(t, reg, 1, "https", certFile, keyFile, port)
	k1 := w1.waitEvent("tls")
	w2 := startWorker(t, reg, 2, "https", certFile, keyFile, port)
	k2 := w2.waitEvent("tls")
	if len(k1.TicketKeys) != 96 || k1.TicketKeys != k2.TicketKeys {
		t.Errorf("ticket keys differ: %q vs %q", k1.TicketKeys, k2.TicketKeys)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // self-signed test cert
	}}
	pidsServing(t, client, "https://127.0.0.1:"+port+"/", w1.waitEvent("listening").PID, w2.waitEvent("listening").PID)
}

func TestBindErrorsReachWorker(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	reg := newRegistry(t)
	for _, tc := range []struct {
		args  string
		code  string
		errno int
	}{
		{"[" + strconv.Itoa(taken.Addr().(*net.TCPAddr).Port) + "]", "EADDRINUSE", -98},
		{`[{"fd":99}]`, "EINVAL", -22},
	} {
		w := startWorker(t, reg, 1, "http", tc.args)
		e := w.waitEvent("error")
		if e.Code != tc.code || e.Errno != tc.errno || e.Syscall != "bind" {
			t.Errorf("listen(%s): error %+v, want %s %d bind", tc.args, e, tc.code, tc.errno)
		}
	}
}

func TestDisconnectIdleServerExits(t *testing.T) {
	t.Parallel()
	w := startWorker(t, newRegistry(t), 1, "http", "[0]")
	w.waitEvent("listening")
	if w.ch.ExitedAfterDisconnect() {
		t.Error("ExitedAfterDisconnect before Disconnect")
	}
	if err := w.ch.Disconnect(); err != nil {
		t.Fatal(err)
	}
	if err := w.ch.Disconnect(); err != nil { // idempotent
		t.Fatal(err)
	}
	w.waitExit()
	if !w.ch.ExitedAfterDisconnect() {
		t.Error("ExitedAfterDisconnect = false")
	}
}

// process.send(msg, server) from the worker must be ACKed, or everything
// the worker sends later is stuck (P6).
func TestWorkerSendsHandle(t *testing.T) {
	t.Parallel()
	w := startWorker(t, newRegistry(t), 1, "http", "[0]", "sendhandle")
	w.waitMsg(`"with-handle"`)
	w.waitMsg(`"after-handle"`)
	if err := w.ch.Disconnect(); err != nil {
		t.Fatal(err)
	}
	w.waitExit()
}

func TestWorkerSelfDisconnect(t *testing.T) {
	t.Parallel()
	w := startWorker(t, newRegistry(t), 1, "http", "[0]", "selfdisconnect")
	w.waitExit() // needs the exitedAfterDisconnect ack (P11)
	if !w.ch.ExitedAfterDisconnect() {
		t.Error("ExitedAfterDisconnect = false after cluster.worker.disconnect()")
	}
}
