package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	pid1 "naught/init"
	"naught/master"
	"naught/master/control"
	"naught/master/daemon"
	"naught/master/nodeipc"
)

// startDefaults are start's options and defaults, in help order.
var startOrder = []string{"worker-count", "ipc-file", "log", "stdout", "stderr", "max-log-size", "max-log-files", "cwd", "daemon-mode", "node-args", "pid-file", "remove-old-ipc", "ipc-mode", "ipc-group", "stop-timeout"}

// containerStopTimeout is --stop-timeout's default as PID 1: it leaves
// naught two seconds of `docker stop`'s default ten to kill the stragglers,
// flush its logs and exit before the engine sends SIGKILL.
const containerStopTimeout = 8 * time.Second

// containerStopTimeoutSeconds is containerStopTimeout as start's help states
// it, so that the help (and the tests that read the default from it) cannot
// drift from the value used.
var containerStopTimeoutSeconds = strconv.FormatFloat(containerStopTimeout.Seconds(), 'f', -1, 64)

func startCommand() command {
	return command{
		name:     "start",
		synopsis: "naught start [options] <script|program> [script-options]",
		help: `    Starts the script (a .js, .mjs or .cjs file runs as a Node.js cluster
    worker: node [node-args] script script-options; anything else is run
    directly) as a daemon, passing script-options as command line
    arguments. Option parsing stops at the script.

    Each worker's stdout and stderr are redirected to the log files
    specified by the stdout and stderr options; naught's own events go to
    log. When a log file becomes larger than max-log-size bytes, it is
    renamed with the current date and time and gzipped, and a new file is
    opened; max-log-files rotated files of each log are kept (0: all).
    A path of /dev/null disables that log; - passes it through to
    naught's own stream. Paths are relative to this command's working
    directory; the script is relative to cwd.

    When running with daemon-mode false, naught blocks in the foreground.
    SIGHUP deploys, SIGTERM and SIGINT stop gracefully. As PID 1 (a
    container's init), daemon-mode defaults to false and log, stdout and
    stderr to -; daemon-mode true is refused there.

    stop-timeout is how many seconds (fractional allowed) a stop asked for
    by SIGTERM or SIGINT waits for the workers before it kills the
    stragglers and exits; none waits for ever. As PID 1 it defaults to ` + containerStopTimeoutSeconds + `,
    inside docker stop's default grace period of 10 seconds. naught stop
    takes its own --timeout.

    Creates an ipc-file (a unix socket, owner-only unless ipc-mode says
    otherwise) which naught uses to communicate with your server once it
    has started. With remove-old-ipc true, an ipc-file nobody answers on
    is removed instead of being reported.

    worker-count auto starts one worker per CPU.

` + optionsList(map[string]string{
			"worker-count": "1", "ipc-file": "naught.ipc", "log": "naught.log", "stdout": "stdout.log",
			"stderr": "stderr.log", "max-log-size": "10485760", "max-log-files": "0", "cwd": ".", "daemon-mode": "true",
			"node-args": "''", "pid-file": "naught.pid", "remove-old-ipc": "false", "ipc-mode": "0600", "ipc-group": "''",
			"stop-timeout": "none (" + containerStopTimeoutSeconds + " as PID 1)",
		}, startOrder...),
		flags:   startFlags,
		minArgs: 1,
		maxArgs: -1,
	}
}

func startFlags(fs *pflag.FlagSet) func(*Env, []string) int {
	count := &countValue{n: 1, min: 1}
	daemonMode := boolValue(true)
	removeOld := boolValue(false)
	mode := modeValue(0o600)
	fs.Var(count, "worker-count", "number of workers, or auto")
	ipcFile := fs.String("ipc-file", "naught.ipc", "control socket")
	logPath := fs.String("log", "naught.log", "naught's event log")
	stdout := fs.String("stdout", "stdout.log", "workers' stdout")
	stderr := fs.String("stderr", "stderr.log", "workers' stderr")
	maxLogSize := fs.Int64("max-log-size", 10485760, "log rotation size in bytes")
	maxLogFiles := fs.Int("max-log-files", 0, "rotated files kept per log (0 = all)")
	cwd := fs.String("cwd", ".", "workers' working directory")
	fs.Var(&daemonMode, "daemon-mode", "detach")
	nodeArgs := fs.String("node-args", "", "arguments for node")
	pidFile := fs.String("pid-file", "naught.pid", "pid-file")
	fs.Var(&removeOld, "remove-old-ipc", "remove an ipc-file nobody answers on")
	fs.Var(&mode, "ipc-mode", "permissions of the ipc-file")
	group := fs.String("ipc-group", "", "group of the ipc-file (name or gid)")
	stopTimeout := &timeoutValue{}
	fs.Var(stopTimeout, "stop-timeout", "seconds a signalled stop waits before killing the stragglers")

	return func(env *Env, args []string) int {
		if pid1.IsPID1() {
			// A container's init (SPEC §2): detaching would end the
			// container, and its logs belong to the container's streams.
			if bool(daemonMode) && fs.Changed("daemon-mode") {
				fmt.Fprintln(env.Stderr, msgDaemonModeAsPID1)
				return exitFailure
			}
			daemonMode = false
			if !fs.Changed("stop-timeout") {
				stopTimeout.d = containerStopTimeout
			}
			for _, name := range []string{"log", "stdout", "stderr"} {
				if !fs.Changed(name) {
					_ = fs.Set(name, "-") // a valid value for a string option
				}
			}
		}
		workDir := absPath(env.Cwd, *cwd)
		program := args[0]
		if !filepath.IsAbs(program) {
			program = filepath.Join(workDir, program)
		}
		gid, err := lookupGroup(*group)
		if err != nil {
			fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
			return exitFailure
		}
		cfg := daemon.Config{
			Program:     program,
			Args:        args[1:],
			NodeArgs:    strings.Fields(*nodeArgs),
			WorkerCount: count.n,
			IPCFile:     absPath(env.Cwd, *ipcFile),
			IPCMode:     uint32(mode),
			IPCGroup:    gid,
			PidFile:     absPath(env.Cwd, *pidFile),
			Log:         absPath(env.Cwd, *logPath),
			Stdout:      absPath(env.Cwd, *stdout),
			Stderr:      absPath(env.Cwd, *stderr),
			MaxLogSize:  *maxLogSize,
			MaxLogFiles: *maxLogFiles,
			Cwd:         workDir,
			Env:         workerEnviron(env.Environ),
			StopTimeout: stopTimeout.d,
		}
		if *pidFile == "" || *pidFile == "/dev/null" {
			cfg.PidFile = ""
		}
		if code, proceed := checkExisting(env, cfg.IPCFile, bool(removeOld)); !proceed {
			return code
		}
		if daemonMode {
			return startDaemon(env, cfg)
		}
		return runForeground(env, cfg)
	}
}

// workerEnviron is the environment the workers get: the caller's, without
// naught's own Node.js channel.
func workerEnviron(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "NODE_CHANNEL_FD" || name == "NODE_CHANNEL_SERIALIZATION_MODE" || name == "NODE_UNIQUE_ID"
	})
}

func lookupGroup(name string) (int, error) {
	if name == "" {
		return -1, nil
	}
	if gid, err := strconv.Atoi(name); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, fmt.Errorf("unknown ipc-group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}

// checkExisting looks for a daemon already on ipcFile. proceed is false
// when start must stop here, with code.
func checkExisting(env *Env, ipcFile string, removeOld bool) (code int, proceed bool) {
	c, err := control.Dial(ipcFile)
	if err == nil {
		// Already running: show its status and fail.
		existingStatus(env, c)
		return exitFailure, false
	}
	switch {
	case errors.Is(err, control.ErrNotRunning):
		return 0, true
	case errors.Is(err, control.ErrNoAnswer):
		if !removeOld {
			fmt.Fprintf(env.Stderr, msgNoAnswerIPC, ipcFile)
			return exitFailure, false
		}
		// Only a socket is ever removed: not a regular file or a symlink
		// that happens to be named as the ipc-file (SPEC §6).
		if fi, err := os.Lstat(ipcFile); err == nil && fi.Mode().Type() != os.ModeSocket {
			fmt.Fprintf(env.Stderr, msgNoAnswerIPC, ipcFile)
			return exitFailure, false
		}
		fmt.Fprintf(env.Stderr, msgRemovingOldIPC, ipcFile)
		if err := os.Remove(ipcFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
			return exitFailure, false
		}
		return 0, true
	default:
		fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
		return exitFailure, false
	}
}

// startRelay prints a starting daemon's events the way `naught start`
// does: every event from Bootup on, on stderr; on Ready, "workers online".
type startRelay struct {
	env *Env
	// printEvents is false when the events already reach the terminal
	// (a foreground daemon whose log is "-").
	printEvents bool
	parent      *daemon.ParentChannel
	over        bool
}

// handle takes one event; it returns true once start's part is over
// (Ready, or Shutdown: the first workers died).
func (r *startRelay) handle(ev control.Event) bool {
	if r.over {
		return true
	}
	if r.parent != nil {
		r.parent.Send(ev)
	}
	switch ev.Event {
	case control.EventIpcListening, control.EventStatus:
	case control.EventReady:
		online := 0
		if ev.Count != nil {
			online = ev.Count.Online
		}
		fmt.Fprintf(r.env.Stdout, msgWorkersOnline, online)
		r.over = true
	case control.EventShutdown:
		r.over = true
	default:
		if r.printEvents {
			printEvent(r.env.Stderr, ev)
		}
	}
	return r.over
}

// existingStatus asks the daemon on c for its status and prints it, on
// stdout.
func existingStatus(env *Env, c *control.Client) {
	s := &session{env: env, client: c}
	defer c.Close()
	if !s.send(control.Request{Action: control.ActionStatus}) {
		return
	}
	s.relay(func(ev control.Event) (int, bool, bool) {
		if ev.Event != control.EventStatus {
			return 0, false, false
		}
		printStatus(env, ev)
		return 0, true, true
	})
}

// runForeground runs the daemon in this process until it stops.
func runForeground(env *Env, cfg daemon.Config) int {
	// A Node.js parent, if any, hears from daemon.Run itself.
	relay := &startRelay{env: env, printEvents: cfg.Log != "-"}
	err := daemon.Run(context.Background(), cfg, func(ev control.Event) { relay.handle(ev) })
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, master.ErrBootFailed):
		fmt.Fprint(env.Stderr, msgCrashedWithoutBoot)
	case errors.Is(err, daemon.ErrLogsIncomplete):
		// Stopped, but not every line reached its log: exit non-zero so
		// that a supervisor shows it, without claiming the start failed.
		fmt.Fprintf(env.Stderr, msgStoppedLogsIncomplete, err)
	default:
		fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
	}
	return exitFailure
}

// startDaemon starts a detached daemon (this program, re-executed as
// `naught _daemon` in a new session with stdio on /dev/null), sends it the
// configuration over a socketpair at its fd 3, and relays the events it
// sends back until Ready or failure. The daemon sends from IpcListening on,
// so no event of the boot slips past.
func startDaemon(env *Env, cfg daemon.Config) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
		return exitFailure
	}
	ours, theirs, err := nodeipc.Socketpair()
	if err != nil {
		fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
		return exitFailure
	}
	defer ours.Close()
	cmd := exec.Command(exe, daemonChildName)
	cmd.Env = workerEnviron(os.Environ())
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
		return exitFailure
	}
	if err := control.WriteMessage(ours, cfg); err != nil {
		fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, err)
		return exitFailure
	}
	parent, err := daemon.OpenParentChannel()
	if err != nil {
		fmt.Fprintln(env.Stderr, err)
	}
	if parent != nil {
		defer parent.Close()
	}
	relay := &startRelay{env: env, printEvents: true, parent: parent}
	r := bufio.NewReader(ours)
	listening := false
	for {
		var ev control.Event
		if err := control.ReadMessage(r, &ev); err != nil {
			reason := "the daemon exited before it was ready"
			if werr := cmd.Wait(); werr != nil {
				reason += ": " + werr.Error()
			}
			fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, reason)
			return exitFailure
		}
		if ev.Event == control.EventError && !listening {
			fmt.Fprintf(env.Stderr, msgUnableToStartDaemon, ev.Message)
			return exitFailure
		}
		listening = listening || ev.Event == control.EventIpcListening
		if relay.handle(ev) {
			if ev.Event == control.EventShutdown {
				fmt.Fprint(env.Stderr, msgCrashedWithoutBoot)
				return exitFailure
			}
			// The daemon lives on; its exit is its own business now.
			_ = cmd.Process.Release()
			return exitOK
		}
	}
}

const daemonChildName = "_daemon"

// daemonChildCommand is the detached daemon's side of startDaemon.
func daemonChildCommand() command {
	return command{
		name:     daemonChildName,
		synopsis: "naught " + daemonChildName + " (internal: the detached daemon)",
		flags: func(*pflag.FlagSet) func(*Env, []string) int {
			return func(env *Env, _ []string) int {
				return runDaemonChild(env)
			}
		},
		maxArgs: 0,
	}
}

func runDaemonChild(env *Env) int {
	starter := os.NewFile(3, "naught-start")
	var cfg daemon.Config
	if err := control.ReadMessage(bufio.NewReader(starter), &cfg); err != nil {
		fmt.Fprintf(env.Stderr, "naught %s: unable to read the configuration: %v\n", daemonChildName, err)
		return exitFailure
	}
	// Tell the starting CLI everything up to Ready or Shutdown, then let it go.
	announce := func(ev control.Event) {
		if starter == nil {
			return
		}
		if control.WriteMessage(starter, ev) != nil || ev.Event == control.EventReady || ev.Event == control.EventShutdown {
			_ = starter.Close()
			starter = nil
		}
	}
	err := daemon.Run(context.Background(), cfg, announce)
	if err != nil && !errors.Is(err, master.ErrBootFailed) {
		announce(control.Event{Event: control.EventError, Message: err.Error()})
	}
	if starter != nil {
		_ = starter.Close()
	}
	if err != nil {
		return exitFailure
	}
	return exitOK
}
