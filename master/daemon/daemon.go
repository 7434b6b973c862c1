package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	pid1 "naught/init"
	"naught/logsink"
	"naught/master"
	"naught/master/control"
	"naught/master/listeners"
	"naught/master/workerproc"
	"naught/reaper"
	"naught/signals"
)

// Config is everything a daemon needs, with every path already absolute.
// The CLI builds it; in daemon mode it travels to the detached process as
// JSON.
type Config struct {
	Program     string   `json:"program"`
	Args        []string `json:"args"`
	NodeArgs    []string `json:"nodeArgs"`
	WorkerCount int      `json:"workerCount"`
	IPCFile     string   `json:"ipcFile"`
	// IPCMode is the control socket's permission bits (0 = 0600); IPCGroup
	// its group (-1 = leave).
	IPCMode  uint32 `json:"ipcMode"`
	IPCGroup int    `json:"ipcGroup"`
	PidFile  string `json:"pidFile"` // "" = none
	Log      string `json:"log"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	// MaxLogSize is the size in bytes at which a log file rotates;
	// MaxLogFiles is how many rotated files of each log are kept (0 = all).
	MaxLogSize  int64    `json:"maxLogSize"`
	MaxLogFiles int      `json:"maxLogFiles"`
	Cwd         string   `json:"cwd"`
	Env         []string `json:"env"`
	// StopTimeout bounds a stop that a signal asked for: the stragglers are
	// then killed (0 = wait for ever).
	StopTimeout time.Duration `json:"stopTimeout"`
	// Backoff is the crash-loop restart policy (zero = the default).
	Backoff master.Backoff `json:"backoff"`
}

// ErrLogsIncomplete is in Run's error when the workers stopped but the logs
// could not all be written or compressed when they were closed (a full or
// hung disk): the stop itself went as asked, the logs say what is missing.
var ErrLogsIncomplete = errors.New("the logs are incomplete")

// Run runs a daemon until its workers have shut down. Every event goes to
// announce too, if not nil (the CLI that started it). It returns
// master.ErrBootFailed when the first workers died before they were online.
func Run(ctx context.Context, cfg Config, announce func(control.Event)) (err error) {
	if err := makeDirs(cfg); err != nil {
		return err
	}
	// The sinks report trouble (dropped output, rotation errors) in the
	// naught log, which is the first sink opened.
	reports := &reportTo{}
	sinkOpts := []logsink.Option{logsink.MaxSize(cfg.MaxLogSize), logsink.MaxFiles(cfg.MaxLogFiles), logsink.Report(reports.line)}
	sinks := sinkSet{opts: sinkOpts}
	defer func() {
		if cerr := sinks.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%w: %w", ErrLogsIncomplete, cerr))
		}
	}()
	log, err := sinks.open(cfg.Log, os.Stderr)
	if err != nil {
		return fmt.Errorf("unable to open the log %s: %w", cfg.Log, err)
	}
	reports.set(log)
	stdout, err := sinks.open(cfg.Stdout, os.Stdout)
	if err != nil {
		return fmt.Errorf("unable to open the workers' stdout log %s: %w", cfg.Stdout, err)
	}
	stderr, err := sinks.open(cfg.Stderr, os.Stderr)
	if err != nil {
		return fmt.Errorf("unable to open the workers' stderr log %s: %w", cfg.Stderr, err)
	}
	logf := func(format string, args ...any) { log.WriteLine(fmt.Sprintf(format, args...)) }

	if _, err := pid1.Setup(); err != nil {
		return err
	}
	parent, err := OpenParentChannel()
	if err != nil {
		logf("unable to open the channel to naught's Node.js parent: %v", err)
	}
	if parent != nil {
		defer parent.Close()
	}

	registry := listeners.NewRegistry()
	defer closeAll(&err, registry)
	thread := pid1.NewThreadSpawner()
	defer thread.Close()
	reap := reaper.New()

	var server *control.Server
	emit := func(ev control.Event) {
		line := ev.String()
		if ev.Message != "" {
			line += "\n" + ev.Message
		}
		log.WriteLine(line)
		switch {
		case ev.Event == control.EventShutdown:
			// Every worker is gone. Free the ports, the pid-file and the
			// ipc-file before anyone hears it, so that `naught stop &&
			// naught start` cannot race this daemon for them.
			if err := registry.Close(); err != nil {
				logf("unable to close the listening sockets: %v", err)
			}
			removePidFile(cfg.PidFile, logf)
			if server != nil {
				if err := server.CloseWith(&ev); err != nil {
					logf("unable to close the control socket: %v", err)
				}
			}
		case server != nil:
			server.Broadcast(ev)
		}
		if parent != nil {
			parent.Send(ev)
		}
		if announce != nil {
			announce(ev)
		}
	}

	m, err := master.New(master.Config{
		WorkerCount: cfg.WorkerCount,
		Env:         cfg.Env,
		Dir:         cfg.Cwd,
		Spawner: workerproc.New(workerproc.Config{
			Program:        cfg.Program,
			Args:           cfg.Args,
			NodeArgs:       cfg.NodeArgs,
			ShutdownSignal: syscall.SIGTERM,
			Listeners:      registry,
			Reaper:         reap,
			Thread:         thread,
			Stdout:         stdout,
			Stderr:         stderr,
			Logf:           logf,
		}),
		Emit:    func(e master.Event) { emit(ToWire(e)) },
		Logf:    logf,
		Backoff: cfg.Backoff,
	})
	if err != nil {
		return err
	}

	loopCtx, stopLoops := context.WithCancel(ctx)
	defer stopLoops()
	sigDone := make(chan error, 1)
	sigReady := make(chan struct{})
	sigLoop := &signals.Loop{
		Ready:   func() { close(sigReady) },
		Handler: signalHandler{m: m, stopTimeout: cfg.StopTimeout, sinks: sinks.order, logf: logf},
		Reap:    reap.Reap,
		Logf:    logf,
	}
	go func() { sigDone <- sigLoop.Run(loopCtx) }()
	defer func() { stopLoops(); <-sigDone }()
	// Until the loop subscribes, SIGTERM would kill naught outright.
	<-sigReady

	server, err = control.Listen(control.ServerOptions{
		Path:      cfg.IPCFile,
		Mode:      os.FileMode(cfg.IPCMode),
		Group:     cfg.IPCGroup,
		OnRequest: func(req control.Request) { dispatch(m, cfg.Cwd, req) },
		Logf:      logf,
	})
	if err != nil {
		return fmt.Errorf("unable to listen on the ipc-file: %w", err)
	}
	defer closeAll(&err, server)
	emit(control.Event{Event: control.EventIpcListening, Count: &control.Counts{}})

	if cfg.PidFile != "" {
		if err := writePidFile(cfg.PidFile); err != nil {
			return err
		}
		defer removePidFile(cfg.PidFile, logf)
	}
	return m.Run(ctx)
}

// ToWire converts a master event to the control protocol's form.
func ToWire(e master.Event) control.Event {
	ev := control.Event{
		Event:   string(e.Name),
		Count:   &control.Counts{Booting: e.Counts.Booting, Online: e.Counts.Online, Dying: e.Counts.Dying, NewOnline: e.Counts.NewOnline},
		Message: e.Message,
	}
	if e.WaitingFor != master.WaitingForNothing {
		w := string(e.WaitingFor)
		ev.WaitingFor = &w
	}
	for _, w := range e.Workers {
		ev.Workers = append(ev.Workers, control.WorkerStatus{Number: w.Number, Pid: w.Pid, State: w.State, Restarts: w.Crashes, NextRestartSeconds: w.RestartIn})
	}
	return ev
}

// dispatch turns a control request into a call on the master.
func dispatch(m *master.Master, cwd string, req control.Request) {
	var timeout time.Duration
	if req.Timeout != nil && *req.Timeout > 0 {
		timeout = time.Duration(*req.Timeout * float64(time.Second))
	}
	switch req.Action {
	case control.ActionStatus:
		m.Status()
	case control.ActionDeploy:
		dir := req.Cwd
		if dir != "" && !filepath.IsAbs(dir) {
			dir = filepath.Join(cwd, dir)
		}
		m.Deploy(master.DeployRequest{WorkerCount: req.NewWorkerCount, Env: req.Environment, Dir: dir, Timeout: timeout})
	case control.ActionDeployAbort:
		m.DeployAbort()
	case control.ActionShutdown:
		m.Shutdown(timeout)
	default:
		m.Unrecognized()
	}
}

type signalHandler struct {
	m           *master.Master
	stopTimeout time.Duration
	sinks       []logsink.Sink
	logf        func(format string, args ...any)
}

func (h signalHandler) Deploy() { h.m.Deploy(master.DeployRequest{}) }
func (h signalHandler) Stop()   { h.m.Shutdown(h.stopTimeout) }
func (h signalHandler) ReopenLogs() {
	for _, s := range h.sinks {
		if err := s.Reopen(); err != nil {
			h.logf("unable to reopen a log: %v", err)
		}
	}
}
func (h signalHandler) Forward(sig os.Signal) {
	if s, ok := sig.(syscall.Signal); ok {
		h.m.Forward(s)
	}
}

// makeDirs creates the folders of the files the daemon will create.
func makeDirs(cfg Config) error {
	for _, p := range []string{cfg.IPCFile, cfg.PidFile, cfg.Log, cfg.Stdout, cfg.Stderr} {
		if p == "" || p == "-" || p == "/dev/null" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("unable to create the folder of %s: %w", p, err)
		}
	}
	return nil
}

func writePidFile(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("unable to write the pid-file: %w", err)
	}
	return nil
}

// removePidFile removes path if it still names this process.
func removePidFile(path string, logf func(string, ...any)) {
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		return
	}
	if err := os.Remove(path); err != nil {
		logf("unable to remove the pid-file: %v", err)
	}
}

// reportTo forwards the sinks' reports to the naught log once it is open.
type reportTo struct {
	mu   sync.Mutex
	sink logsink.Sink
}

func (r *reportTo) set(s logsink.Sink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sink = s
}

func (r *reportTo) line(l string) {
	r.mu.Lock()
	s := r.sink
	r.mu.Unlock()
	if s != nil {
		s.WriteLine(l)
	}
}

// sinkSet opens each destination once: when two of --log, --stdout and
// --stderr name the same file they share one sink, since two rotating
// writers on one file would rename it under each other. "-" is naught's
// own stream, so it is one destination per stream.
type sinkSet struct {
	opts  []logsink.Option
	byKey map[string]logsink.Sink
	order []logsink.Sink
}

func (s *sinkSet) open(dest string, std *os.File) (logsink.Sink, error) {
	key := dest
	if dest == "-" {
		key += std.Name()
	}
	if sink, ok := s.byKey[key]; ok {
		return sink, nil
	}
	sink, err := logsink.Open(dest, std, s.opts...)
	if err != nil {
		return nil, err
	}
	if s.byKey == nil {
		s.byKey = map[string]logsink.Sink{}
	}
	s.byKey[key] = sink
	s.order = append(s.order, sink)
	return sink, nil
}

// close closes the sinks: the workers' sinks together (each may wait up to
// a few seconds for its compressions, and a stop budget inside a container's
// grace period cannot afford them one after another), then the first
// opened, naught's log, which their Close reports into.
func (s *sinkSet) close() error {
	if len(s.order) == 0 {
		return nil
	}
	errs := make([]error, len(s.order))
	var wg sync.WaitGroup
	for i, sink := range s.order[1:] {
		wg.Go(func() { errs[i+1] = sink.Close() })
	}
	wg.Wait()
	errs[0] = s.order[0].Close()
	return errors.Join(errs...)
}

type closer interface{ Close() error }

// closeAll closes c, joining its error into *err.
func closeAll(err *error, c closer) {
	if cerr := c.Close(); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}
