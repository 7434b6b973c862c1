package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/pflag"

	"naught/master/control"
)

// session is one CLI command talking to a daemon over its control socket.
type session struct {
	env    *Env
	client *control.Client
}

// connect connects to the daemon at path. When none answers it prints
// "server not running" and ok is false, with notRunning as the exit code.
func connect(env *Env, path string, notRunning int) (s *session, code int, ok bool) {
	c, err := control.Dial(path)
	switch {
	case errors.Is(err, control.ErrNotRunning) || errors.Is(err, control.ErrNoAnswer):
		fmt.Fprint(env.Stderr, msgServerNotRunning)
		return nil, notRunning, false
	case err != nil:
		fmt.Fprintln(env.Stderr, err)
		return nil, exitFailure, false
	}
	return &session{env: env, client: c}, 0, true
}

// relay reads events until handle says the command is over (done), and
// prints every event that handle does not consume itself, on stderr, except
// the replies to requests (isReply): the daemon sends every event to every
// client, so those it does not consume answer other clients. It returns the
// exit code handle chose.
func (s *session) relay(handle func(ev control.Event) (code int, done, consumed bool)) int {
	for {
		ev, err := s.client.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(s.env.Stderr, "the daemon closed the connection")
			} else {
				fmt.Fprintf(s.env.Stderr, "lost the connection to the daemon: %v\n", err)
			}
			return exitFailure
		}
		code, done, consumed := handle(ev)
		if !consumed && !isReply(ev.Event) {
			printEvent(s.env.Stderr, ev)
		}
		if done {
			return code
		}
	}
}

// isReply tells the events that answer one client's request rather than
// report a change of the pool.
func isReply(event string) bool {
	switch event {
	case control.EventStatus, control.EventUnrecognizedMessage, control.EventErrorDeployInProgress,
		control.EventErrorShuttingDown, control.EventErrorNoDeployInProgress, control.EventAlreadyShuttingDown:
		return true
	}
	return false
}

// printEvent prints an event line (and an Error's message).
func printEvent(w io.Writer, ev control.Event) {
	fmt.Fprintln(w, ev.String())
	if ev.Message != "" {
		fmt.Fprintln(w, ev.Message)
	}
}

func (s *session) send(req control.Request) bool {
	if err := s.client.Send(req); err != nil {
		fmt.Fprintf(s.env.Stderr, "unable to talk to the daemon: %v\n", err)
		return false
	}
	return true
}

func stopCommand() command {
	return command{
		name:     "stop",
		synopsis: "naught stop [options] [ipc-file]",
		help: `    Stops the running server which created ipc-file.
    Uses naught.ipc by default.

    This sends the 'shutdown' message to all the workers and waits for
    them to exit gracefully.

    If you specify a timeout, naught will forcefully kill your workers
    if they do not shut down gracefully within the timeout (seconds).

` + optionsList(map[string]string{"timeout": "none"}),
		flags: func(fs *pflag.FlagSet) func(*Env, []string) int {
			timeout := &timeoutValue{}
			fs.Var(timeout, "timeout", "seconds before the stragglers are killed")
			return func(env *Env, args []string) int {
				s, code, ok := connect(env, ipcFileArg(env, args), exitOK)
				if !ok {
					return code
				}
				defer s.client.Close()
				if !s.send(control.Request{Action: control.ActionShutdown, Timeout: timeout.seconds()}) {
					return exitFailure
				}
				// answered: the reply to our request came (our shutdown
				// began, or one was under way); a later AlreadyShuttingDown
				// answers another client.
				answered := false
				return s.relay(func(ev control.Event) (int, bool, bool) {
					switch ev.Event {
					case control.EventShutdown:
						return exitOK, true, true
					case control.EventShutdownOld:
						answered = true
					case control.EventAlreadyShuttingDown:
						if !answered {
							answered = true
							fmt.Fprint(env.Stderr, msgWaitingForShutdown)
						}
						return 0, false, true
					}
					return 0, false, false
				})
			}
		},
		interspersed: true,
		maxArgs:      1,
	}
}

func statusCommand() command {
	return command{
		name:     "status",
		synopsis: "naught status [ipc-file]",
		help: `    Displays whether a server is running or not, and how many workers
    are online. Uses naught.ipc by default. Exits 1 when no server runs.
`,
		flags: func(*pflag.FlagSet) func(*Env, []string) int {
			return func(env *Env, args []string) int {
				s, code, ok := connect(env, ipcFileArg(env, args), exitFailure)
				if !ok {
					return code
				}
				defer s.client.Close()
				if !s.send(control.Request{Action: control.ActionStatus}) {
					return exitFailure
				}
				return s.relay(func(ev control.Event) (int, bool, bool) {
					if ev.Event != control.EventStatus {
						return 0, false, false
					}
					printStatus(env, ev)
					return exitOK, true, true
				})
			}
		},
		interspersed: true,
		maxArgs:      1,
	}
}

// printStatus prints a Status event the way the original did, on stdout,
// and any crash loop on stderr.
func printStatus(env *Env, ev control.Event) {
	c := control.Counts{}
	if ev.Count != nil {
		c = *ev.Count
	}
	switch {
	case ev.WaitingFor == nil:
		fmt.Fprintf(env.Stdout, msgWorkersOnline, c.Online)
	case *ev.WaitingFor == control.WaitingForShutdown:
		fmt.Fprintf(env.Stdout, "shutting down\n%s\n", c)
	case *ev.WaitingFor == control.WaitingForNew && c.Online == 0 && c.NewOnline == 0 && c.Dying == 0:
		fmt.Fprintf(env.Stdout, "booting\n%s\n", c)
	default:
		fmt.Fprintf(env.Stdout, "deploy in progress\n%s\n", c)
	}
	for _, w := range ev.Workers {
		if w.State == "restarting" {
			fmt.Fprintf(env.Stderr, "worker %d crashed %d times in a row; restarting in %.1fs\n", w.Number, w.Restarts, w.NextRestartSeconds)
		} else if w.Restarts > 1 {
			fmt.Fprintf(env.Stderr, "worker %d (pid %d) crashed %d times in a row\n", w.Number, w.Pid, w.Restarts)
		}
	}
}

func deployCommand() command {
	return command{
		name:     "deploy",
		synopsis: "naught deploy [options] [ipc-file]",
		help: `    Replaces workers with new workers using new code and optionally
    the environment variables from this command.

    Naught spawns all the new workers and waits for them to all become
    online before killing a single old worker. This guarantees zero
    downtime if any of the new workers fail and provides the ability to
    cleanly abort the deployment if it hangs.

    A hanging deploy happens when a new worker fails to emit the 'online'
    message, or when an old worker fails to shutdown upon receiving the
    'shutdown' message. A keyboard interrupt will cause a deploy-abort,
    cleanly and with zero downtime.

    If timeout is specified, naught will automatically abort the deploy
    if it does not finish within those seconds.

    If override-env is true, the environment variables that are set with
    this command are used to override the original environment variables
    used with the start command. If any variables are missing, the
    original values are left intact.

    worker-count can be used to change the number of workers running. A
    value of 0 means to keep the same number of workers; auto means one
    per CPU.

    cwd changes the working directory of the new workers (the script
    path does not change). When not given, the workers keep theirs.

    Uses naught.ipc by default.

` + optionsList(map[string]string{"worker-count": "0", "override-env": "true", "timeout": "none", "cwd": "(unchanged)"}, "worker-count", "override-env", "timeout", "cwd"),
		flags: func(fs *pflag.FlagSet) func(*Env, []string) int {
			count := &countValue{min: 0}
			override := boolValue(true)
			timeout := &timeoutValue{}
			fs.Var(count, "worker-count", "size of the new generation (0 = keep)")
			fs.Var(&override, "override-env", "send this command's environment")
			fs.Var(timeout, "timeout", "seconds before the deploy is aborted")
			cwd := fs.String("cwd", "", "working directory of the new workers")
			return func(env *Env, args []string) int {
				req := control.Request{Action: control.ActionDeploy, NewWorkerCount: count.n, Timeout: timeout.seconds(), Environment: map[string]string{}}
				if *cwd != "" {
					req.Cwd = absPath(env.Cwd, *cwd)
				}
				if override {
					for _, kv := range env.Environ {
						if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
							req.Environment[k] = v
						}
					}
				}
				return deploy(env, ipcFileArg(env, args), req)
			}
		},
		interspersed: true,
		maxArgs:      1,
	}
}

func deploy(env *Env, path string, req control.Request) int {
	s, code, ok := connect(env, path, exitFailure)
	if !ok {
		return code
	}
	defer s.client.Close()
	// Ctrl+C aborts the deploy cleanly; a second one leaves at once.
	interrupts := make(chan os.Signal, 2)
	signal.Notify(interrupts, syscall.SIGINT)
	defer func() {
		signal.Stop(interrupts)
		close(interrupts)
	}()
	var interrupted atomic.Bool
	go func() {
		if _, ok := <-interrupts; !ok {
			return
		}
		interrupted.Store(true)
		fmt.Fprint(env.Stderr, msgAbortingDeploy)
		if err := s.client.Send(control.Request{Action: control.ActionDeployAbort}); err != nil {
			fmt.Fprintf(env.Stderr, "unable to abort: %v\n", err)
		}
		<-interrupts
		_ = s.client.Close()
	}()
	if !s.send(req) {
		return exitFailure
	}
	// answered: the reply to our request came (our deploy began, or one
	// was under way); later errors answer other clients.
	answered := false
	return s.relay(func(ev control.Event) (int, bool, bool) {
		switch ev.Event {
		case control.EventSpawnNew:
			answered = true
		case control.EventReady:
			if interrupted.Load() {
				return exitFailure, true, true // the abort we asked for is done
			}
			fmt.Fprint(env.Stderr, msgDone)
			return exitOK, true, true
		case control.EventDeployFailed:
			if interrupted.Load() {
				return 0, false, false // our own abort: wait for its Ready
			}
			fmt.Fprint(env.Stdout, msgDeployFailed)
			return exitFailure, true, true
		case control.EventErrorDeployInProgress:
			if !answered {
				answered = true
				fmt.Fprint(env.Stderr, msgDeployInProgress)
			}
			return 0, false, true
		case control.EventShutdown:
			fmt.Fprint(env.Stderr, msgBootupNeverSucceed)
			return exitFailure, true, true
		case control.EventErrorShuttingDown:
			if answered {
				return 0, false, true
			}
			printEvent(env.Stderr, ev)
			return exitFailure, true, true
		}
		return 0, false, false
	})
}

func deployAbortCommand() command {
	return command{
		name:     "deploy-abort",
		synopsis: "naught deploy-abort [ipc-file]",
		help: `    Aborts a hanging deploy. A hanging deploy happens when a new worker
    fails to emit the 'online' message, or when an old worker fails
    to shutdown upon receiving the 'shutdown' message.

    When deploying, a keyboard interrupt will cause a deploy-abort,
    so the times you actually have to run this command will be few and
    far between.

    Uses naught.ipc by default.
`,
		flags: func(*pflag.FlagSet) func(*Env, []string) int {
			return func(env *Env, args []string) int {
				s, code, ok := connect(env, ipcFileArg(env, args), exitFailure)
				if !ok {
					return code
				}
				defer s.client.Close()
				if !s.send(control.Request{Action: control.ActionDeployAbort}) {
					return exitFailure
				}
				// aborting: our abort began; a later
				// ErrorNoDeployInProgress answers another client.
				aborting := false
				return s.relay(func(ev control.Event) (int, bool, bool) {
					switch ev.Event {
					case control.EventDestroyNew, control.EventDestroyOld:
						aborting = true
					case control.EventReady:
						fmt.Fprint(env.Stderr, msgDeployAborted)
						return exitOK, true, true
					case control.EventErrorNoDeployInProgress:
						if aborting {
							return 0, false, true
						}
						fmt.Fprint(env.Stderr, msgNoDeployInProgress)
						return exitFailure, true, true
					}
					return 0, false, false
				})
			}
		},
		interspersed: true,
		maxArgs:      1,
	}
}
