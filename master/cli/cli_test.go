package cli

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Main(args, &Env{Stdout: &out, Stderr: &errOut, Environ: environ, Cwd: t.TempDir(), Version: "9.9.9"})
	return code, out.String(), errOut.String()
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "9.9.9\n", out)

	code, out, _ = runCLI(t, nil, "help", "deploy")
	assert.Equal(t, 0, code)
	assert.True(t, strings.HasPrefix(out, "naught deploy [options] [ipc-file]\n"))
	assert.Contains(t, out, "--override-env true")

	code, out, _ = runCLI(t, nil, "help")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "naught deploy-abort [ipc-file]")
	assert.NotContains(t, out, daemonChildName, "the internal command is not advertised")
}

func TestUsageErrorsPrintTheCommandsHelpOnStderr(t *testing.T) {
	for _, args := range [][]string{
		{"start"},                                // missing script
		{"start", "--worker-count"},              // missing value
		{"start", "--bogus", "server.js"},        // unknown option
		{"start", "--daemon-mode", "maybe", "x"}, // bad boolean
		{"stop", "--timeout", "soon"},
		{"status", "a.ipc", "b.ipc"},
		{"deploy", "--worker-count", "-1"},
	} {
		code, out, errOut := runCLI(t, nil, args...)
		assert.NotEqual(t, 0, code, args)
		assert.Empty(t, out, args)
		assert.Contains(t, errOut, "naught "+args[0], args)
	}
	code, _, errOut := runCLI(t, nil, "frobnicate")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
}

func TestEnvironmentSetsOptionsAndFlagsWin(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	count := &countValue{n: 1, min: 1}
	fs.Var(count, "worker-count", "")
	log := fs.String("log", "naught.log", "")
	timeout := &timeoutValue{}
	fs.Var(timeout, "timeout", "")
	require.NoError(t, fs.Parse([]string{"--log", "x.log"}))
	env := &Env{Environ: []string{"NAUGHT_WORKER_COUNT=4", "NAUGHT_LOG=env.log", "NAUGHT_TIMEOUT=1.5"}}
	require.NoError(t, applyEnv(fs, env))
	assert.Equal(t, 4, count.n)
	assert.Equal(t, "x.log", *log, "an explicit option wins")
	assert.Equal(t, 1500*time.Millisecond, timeout.d)

	bad := &Env{Environ: []string{"NAUGHT_WORKER_COUNT=lots"}}
	fs2 := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs2.Var(&countValue{n: 1, min: 1}, "worker-count", "")
	err := applyEnv(fs2, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `NAUGHT_WORKER_COUNT="lots"`)

	code, _, errOut := runCLI(t, []string{"NAUGHT_DAEMON_MODE=perhaps"}, "start", "x.js")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "NAUGHT_DAEMON_MODE")
}

func TestValues(t *testing.T) {
	c := &countValue{min: 0}
	require.NoError(t, c.Set("auto"))
	assert.Equal(t, runtime.NumCPU(), c.n)
	assert.Error(t, (&countValue{min: 1}).Set("0"))

	var tv timeoutValue
	require.NoError(t, tv.Set("none"))
	assert.Nil(t, tv.seconds())
	require.NoError(t, tv.Set("0.25"))
	assert.Equal(t, 0.25, *tv.seconds())
	for _, bad := range []string{"-1", "0", "NaN", "+Inf", "x"} {
		assert.Error(t, tv.Set(bad), bad)
	}

	var m modeValue
	require.NoError(t, m.Set("0660"))
	assert.Equal(t, modeValue(0o660), m)
	assert.Error(t, m.Set("0999"))
	assert.Error(t, m.Set("1777"))
}

func TestPathsAndIPCFileDefault(t *testing.T) {
	assert.Equal(t, "/a/b/c.log", absPath("/a/b", "c.log"))
	assert.Equal(t, "/x.log", absPath("/a", "/x.log"))
	assert.Equal(t, "-", absPath("/a", "-"))
	env := &Env{Cwd: "/srv"}
	assert.Equal(t, "/srv/naught.ipc", ipcFileArg(env, nil))
	env.Environ = []string{"NAUGHT_IPC_FILE=/run/naught/naught.ipc"}
	assert.Equal(t, "/run/naught/naught.ipc", ipcFileArg(env, nil))
	assert.Equal(t, filepath.Join("/srv", "other.ipc"), ipcFileArg(env, []string{"other.ipc"}))
}

func TestClientCommandsWithoutAServer(t *testing.T) {
	for cmd, want := range map[string]int{"stop": 0, "status": 1, "deploy": 1, "deploy-abort": 1} {
		code, out, errOut := runCLI(t, nil, cmd)
		assert.Equal(t, want, code, cmd)
		assert.Empty(t, out, cmd)
		assert.Equal(t, msgServerNotRunning, errOut, cmd)
	}
}

func TestWorkerEnvironDropsNaughtsOwnChannel(t *testing.T) {
	assert.Equal(t, []string{"A=1", "B=2"}, workerEnviron([]string{"A=1", "NODE_CHANNEL_FD=3", "NODE_UNIQUE_ID=1", "B=2"}))
}
