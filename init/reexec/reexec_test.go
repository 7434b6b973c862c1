package reexec_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"naught/init/reexec"
)

var helpers = reexec.New("NAUGHT_REEXEC_TEST_HELPER")

// withUnusedEnv, set, adds a helper no test uses to the table.
const withUnusedEnv = "NAUGHT_REEXEC_TEST_WITH_UNUSED"

func TestMain(m *testing.M) {
	table := map[string]func(args ...string) error{
		"echo": helperEcho,
		"fail": func(...string) error { return errors.New("boom") },
	}
	if os.Getenv(withUnusedEnv) != "" {
		table["unused"] = helperEcho
	}
	helpers.Main(m, table)
}

// helperEcho prints its arguments, one a line, then echoes stdin line by
// line until it ends.
func helperEcho(args ...string) error {
	for _, a := range args {
		fmt.Println(a)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(sc.Text())
	}
	return sc.Err()
}

func TestRun(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a\nb c\n", helpers.Run(t, time.Minute, "echo", "a", "b c"))
}

func TestHelperExitCodes(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]int{"fail": 1, "no-such-helper": 2} {
		cmd, err := helpers.Command(name)
		require.NoError(t, err)
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "helper %s: %s", name, out)
		require.Equal(t, want, exitErr.ExitCode(), "helper %s: %s", name, out)
	}
}

func TestStart(t *testing.T) {
	t.Parallel()
	c := helpers.Start(t, "echo", "ready")
	require.Equal(t, "ready", c.Line(t))
	_, err := fmt.Fprintln(c.Stdin, "ping")
	require.NoError(t, err)
	require.Equal(t, "ping", c.Line(t))

	kids, err := reexec.Children(os.Getpid())
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(kids, func(p reexec.Proc) bool { return p.Pid == c.Pid }),
		"helper %d not among the children %v", c.Pid, kids)

	require.NoError(t, c.Stdin.Close())
	require.NoError(t, c.Wait(t))
	<-c.Done()
}

// TestCleanupKillsGroup: a grandchild that keeps the child's stdout open
// does not hold up Wait, and dies with the group at cleanup.
func TestCleanupKillsGroup(t *testing.T) {
	t.Parallel()
	var sleeper int
	t.Run("start", func(t *testing.T) {
		c := reexec.StartCmd(t, exec.Command("sh", "-c", "sleep 1000 & echo $!"))
		var err error
		sleeper, err = strconv.Atoi(c.Line(t))
		require.NoError(t, err)
		require.NoError(t, c.Wait(t))
		st, err := reexec.Stat(sleeper)
		require.NoError(t, err)
		require.NotEqual(t, byte('Z'), st.State)
	})
	require.NoError(t, reexec.PollUntil(time.Minute, func() (bool, error) {
		st, err := reexec.Stat(sleeper)
		if errors.Is(err, os.ErrNotExist) {
			return true, nil
		}
		return st.State == 'Z', err
	}), "sleep %d outlived its test", sleeper)
}

// TestUnusedHelperFailsSuite runs this suite again in a child, with a
// helper no test uses: the child's tests pass, the suite fails.
func TestUnusedHelperFailsSuite(t *testing.T) {
	if os.Getenv(withUnusedEnv) != "" {
		t.Skip("this is the child run")
	}
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // hang guard
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), withUnusedEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "%s", out)
	require.Equal(t, 1, exitErr.ExitCode(), "%s", out)
	require.Contains(t, string(out), "PASS\n")
	require.Contains(t, string(out), `helper command unused: "unused"`)
	require.NotContains(t, string(out), `helper command unused: "echo"`)
}

func TestStatNoSuchProcess(t *testing.T) {
	t.Parallel()
	_, err := reexec.Stat(1 << 30) // above any pid_max
	require.ErrorIs(t, err, os.ErrNotExist)
}
