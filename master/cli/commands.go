package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// exit codes
const (
	exitOK      = 0
	exitFailure = 1
)

// Env is what a CLI run sees of the world; Main wires it to the process.
type Env struct {
	Stdout, Stderr io.Writer
	// Environ is the process environment, KEY=VALUE.
	Environ []string
	// Cwd is the caller's working directory.
	Cwd     string
	Version string
}

func (e *Env) getenv(name string) (string, bool) {
	for _, kv := range e.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// command is one subcommand.
type command struct {
	name     string
	synopsis string // first help line
	help     string // the rest of the help, ending with the options' list
	// flags declares the options on fs; it returns the command's runner.
	flags func(fs *pflag.FlagSet) func(env *Env, args []string) int
	// interspersed is false for start: options stop at the script.
	interspersed bool
	// minArgs and maxArgs bound the positional arguments (-1 = no bound).
	minArgs, maxArgs int
}

// commands lists the subcommands in help order; hidden ones start with "_".
func commands() []command {
	return []command{startCommand(), stopCommand(), statusCommand(), deployCommand(), deployAbortCommand(), versionCommand(), helpCommand(), daemonChildCommand()}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Main runs the CLI with args (without the program name) and returns the
// exit code.
func Main(args []string, env *Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, overview())
		return exitFailure
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(env.Stderr, "unknown command %q\n\n%s", args[0], overview())
		return exitFailure
	}
	fs := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(cmd.interspersed)
	fs.SortFlags = false
	run := cmd.flags(fs)
	err := fs.Parse(args[1:])
	if err == nil {
		err = applyEnv(fs, env)
	}
	if err == nil {
		n := fs.NArg()
		if n < cmd.minArgs {
			err = errors.New("missing argument")
		} else if cmd.maxArgs >= 0 && n > cmd.maxArgs {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(cmd.maxArgs))
		}
	}
	if errors.Is(err, pflag.ErrHelp) {
		fmt.Fprint(env.Stdout, cmd.usage())
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%v\n\n%s", err, cmd.usage())
		return exitFailure
	}
	return run(env, fs.Args())
}

// applyEnv sets every option not given on the command line from its
// NAUGHT_<OPTION> environment variable, if there is one.
func applyEnv(fs *pflag.FlagSet, env *Env) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := envName(f.Name)
		if v, ok := env.getenv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("invalid %s=%q: %w", name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

func envName(option string) string {
	return "NAUGHT_" + strings.ToUpper(strings.ReplaceAll(option, "-", "_"))
}

func (c command) usage() string {
	return c.synopsis + "\n\n" + c.help
}

func overview() string {
	var b strings.Builder
	b.WriteString("Usage:\n\n")
	for _, c := range commands() {
		if !strings.HasPrefix(c.name, "_") {
			b.WriteString("    " + c.synopsis + "\n")
		}
	}
	b.WriteString("\nnaught help <command> shows a command's options. Every option can also be\nset by the environment variable NAUGHT_<OPTION> (e.g. NAUGHT_WORKER_COUNT=4).\n")
	return b.String()
}

func versionCommand() command {
	return command{
		name:     "version",
		synopsis: "naught version",
		help:     "    Prints the version of naught and exits.\n",
		flags: func(*pflag.FlagSet) func(*Env, []string) int {
			return func(env *Env, _ []string) int {
				fmt.Fprintln(env.Stdout, env.Version)
				return exitOK
			}
		},
		maxArgs: 0,
	}
}

func helpCommand() command {
	return command{
		name:     "help",
		synopsis: "naught help [cmd]",
		help:     "    Displays help for cmd.\n",
		flags: func(*pflag.FlagSet) func(*Env, []string) int {
			return func(env *Env, args []string) int {
				if len(args) == 0 {
					fmt.Fprint(env.Stdout, overview())
					return exitOK
				}
				c, ok := findCommand(args[0])
				if !ok || strings.HasPrefix(c.name, "_") {
					fmt.Fprintf(env.Stderr, "unknown command %q\n\n%s", args[0], overview())
					return exitFailure
				}
				fmt.Fprint(env.Stdout, c.usage())
				return exitOK
			}
		},
		maxArgs: 1,
	}
}

// optionsList renders "--name default" lines, as the original's help does.
func optionsList(defaults map[string]string, order ...string) string {
	if len(order) == 0 {
		for k := range defaults {
			order = append(order, k)
		}
		sort.Strings(order)
	}
	var b strings.Builder
	b.WriteString("    Available options and their defaults:\n\n")
	for _, name := range order {
		fmt.Fprintf(&b, "    --%s %s\n", name, defaults[name])
	}
	return b.String()
}

// ipcFileArg is the ipc-file positional argument of stop, status, deploy
// and deploy-abort: naught.ipc, or NAUGHT_IPC_FILE, resolved against cwd.
func ipcFileArg(env *Env, args []string) string {
	path := "naught.ipc"
	if v, ok := env.getenv("NAUGHT_IPC_FILE"); ok && v != "" {
		path = v
	}
	if len(args) > 0 {
		path = args[0]
	}
	return absPath(env.Cwd, path)
}

// absPath resolves a path option against dir; "-" and /dev/null stay as they are.
func absPath(dir, p string) string {
	if p == "-" || p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return filepath.Join(dir, p)
}
