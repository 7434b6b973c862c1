package workerproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	pid1 "naught/init"
	"naught/logsink"
	"naught/master"
	"naught/master/listeners"
	"naught/master/nodeipc"
	"naught/reaper"
)

// exitGrace bounds how long a reaped worker's exit report waits for its
// channel to close and its output to drain (a grandchild may hold them open).
const exitGrace = 2 * time.Second

// Config is what every worker of a daemon shares.
type Config struct {
	// Program is the script or executable, as an absolute path.
	Program string
	// Args follow the program on the worker's command line.
	Args []string
	// NodeArgs go between node and the script.
	NodeArgs []string
	// Node is the node binary; "" means "node" looked up on the worker's PATH.
	Node string
	// ShutdownSignal is sent to a non-Node worker's process group with the
	// "shutdown" message; 0 sends none.
	ShutdownSignal syscall.Signal

	Listeners      *listeners.Registry
	Reaper         *reaper.Reaper
	Thread         *pid1.ThreadSpawner
	Stdout, Stderr logsink.Sink
	Logf           func(format string, args ...any)
}

// Spawner starts workers as Config says.
type Spawner struct{ cfg Config }

// New returns a Spawner.
func New(cfg Config) *Spawner {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Spawner{cfg: cfg}
}

// IsNodeScript tells whether program runs under node as a cluster worker.
func IsNodeScript(program string) bool {
	switch filepath.Ext(program) {
	case ".js", ".mjs", ".cjs":
		return true
	}
	return false
}

// Spawn starts one worker.
func (s *Spawner) Spawn(spec master.WorkerSpec, report master.Reporter) (master.Process, error) {
	isNode := IsNodeScript(s.cfg.Program)
	argv, err := s.argv(spec, isNode)
	if err != nil {
		return nil, err
	}
	parentEnd, childEnd, err := nodeipc.Socketpair()
	if err != nil {
		return nil, fmt.Errorf("unable to create the worker's channel: %w", err)
	}
	defer childEnd.Close()
	name := "worker " + strconv.Itoa(spec.Number)
	stdout, stdoutStarted, stdoutDone, err := s.cfg.Stdout.Attach(name)
	if err != nil {
		parentEnd.Close()
		return nil, fmt.Errorf("unable to attach stdout: %w", err)
	}
	stderr, stderrStarted, stderrDone, err := s.cfg.Stderr.Attach(name)
	if err != nil {
		parentEnd.Close()
		stdoutStarted()
		return nil, fmt.Errorf("unable to attach stderr: %w", err)
	}
	cmd := &exec.Cmd{
		Path:       argv[0],
		Args:       argv,
		Env:        workerEnv(spec, isNode),
		Dir:        spec.Dir,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{childEnd},
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	var (
		pid    int
		exited <-chan reaper.Exit
	)
	s.cfg.Thread.Do(func() {
		pid, exited, err = s.cfg.Reaper.Start(func() (int, error) {
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			return cmd.Process.Pid, nil
		})
	})
	// The child has its copies now (or never will): drop ours, so EOF on
	// the channel and the pipes means the worker is gone (NODE-IPC P2).
	stdoutStarted()
	stderrStarted()
	if err != nil {
		parentEnd.Close()
		return nil, fmt.Errorf("unable to start %s: %w", argv[0], err)
	}
	// The reaper owns the exit status; os/exec must not wait for it.
	_ = cmd.Process.Release()

	p := &process{pid: pid, isNode: isNode, shutdownSignal: s.cfg.ShutdownSignal, report: report, closed: make(chan struct{})}
	opts := nodeipc.Options{
		OnMessage: p.onMessage,
		OnClose:   func(error) { close(p.closed) },
		Logf: func(format string, args ...any) {
			s.cfg.Logf("%s (pid %d): %s", name, pid, fmt.Sprintf(format, args...))
		},
	}
	if isNode {
		opts.Listeners = s.cfg.Listeners
	}
	ch, err := nodeipc.Open(parentEnd, opts)
	if err != nil {
		// The worker runs but cannot be spoken to: kill it; its exit is still reported.
		s.cfg.Logf("%s (pid %d): unable to open its channel, killing it: %v", name, pid, err)
		_ = unix.Kill(-pid, unix.SIGKILL)
		close(p.closed)
	}
	p.ch = ch
	go p.awaitExit(exited, stdoutDone, stderrDone)
	return p, nil
}

func (s *Spawner) argv(spec master.WorkerSpec, isNode bool) ([]string, error) {
	if !isNode {
		return append([]string{s.cfg.Program}, s.cfg.Args...), nil
	}
	node := s.cfg.Node
	if node == "" {
		node = "node"
	}
	path, err := lookPath(node, spec.Env)
	if err != nil {
		return nil, err
	}
	argv := append([]string{path}, s.cfg.NodeArgs...)
	argv = append(argv, s.cfg.Program)
	return append(argv, s.cfg.Args...), nil
}

// lookPath finds name on the PATH of env (the worker's environment, not
// naught's own).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		candidate := filepath.Join(dir, name)
		if fi, err := os.Stat(candidate); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%s not found on the workers' PATH %q: %w", name, path, exec.ErrNotFound)
}

// channelVars are set by naught for each worker; inherited values are dropped.
var channelVars = []string{"NODE_CHANNEL_FD", "NODE_CHANNEL_SERIALIZATION_MODE", "NODE_UNIQUE_ID"}

func workerEnv(spec master.WorkerSpec, isNode bool) []string {
	env := slices.DeleteFunc(slices.Clone(spec.Env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(channelVars, name)
	})
	env = append(env, "NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json")
	if isNode {
		env = append(env, "NODE_UNIQUE_ID="+strconv.Itoa(spec.ID))
	}
	return env
}

// process is a started worker.
type process struct {
	pid            int
	isNode         bool
	shutdownSignal syscall.Signal
	ch             *nodeipc.Channel
	report         master.Reporter
	closed         chan struct{} // the channel reached EOF

	mu     sync.Mutex
	reaped bool // no more signals to this pid
	gone   bool // Exited reported: no more messages
}

func (p *process) Pid() int { return p.pid }

func (p *process) onMessage(raw json.RawMessage) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return // not one of naught's strings: the worker's own business
	}
	var msg master.WorkerMessage
	switch s {
	case "online":
		msg = master.MessageOnline
	case "offline":
		msg = master.MessageOffline
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.gone {
		p.report.Message(msg)
	}
}

func (p *process) awaitExit(exited <-chan reaper.Exit, drained ...<-chan struct{}) {
	exit := <-exited
	p.mu.Lock()
	p.reaped = true
	p.mu.Unlock()
	grace := time.NewTimer(exitGrace)
	defer grace.Stop()
	for _, c := range append([]<-chan struct{}{p.closed}, drained...) {
		select {
		case <-c:
		case <-grace.C:
		}
	}
	if p.ch != nil {
		_ = p.ch.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	p.report.Exited(exit.String())
}

func (p *process) Shutdown() error {
	var errs []error
	if p.ch != nil {
		errs = append(errs, p.ch.Send("shutdown"))
		if p.isNode {
			errs = append(errs, p.ch.Disconnect())
		}
	}
	if !p.isNode && p.shutdownSignal != 0 {
		errs = append(errs, p.Signal(p.shutdownSignal))
	}
	return errors.Join(errs...)
}

func (p *process) StopAccepting() error {
	if p.isNode && p.ch != nil {
		return p.ch.Disconnect()
	}
	return nil
}

func (p *process) Kill() error { return p.Signal(syscall.SIGKILL) }

// Signal sends sig to the worker's process group, and to the worker itself
// in case it left the group.
func (p *process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return nil
	}
	err := unix.Kill(-p.pid, sig)
	if errors.Is(err, unix.ESRCH) {
		err = nil
	}
	if err2 := unix.Kill(p.pid, sig); err2 != nil && !errors.Is(err2, unix.ESRCH) && err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("signal %v to pid %d: %w", sig, p.pid, err)
	}
	return nil
}
