package master

import (
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBootEmitsBootupThenReadyWhenAllOnline(t *testing.T) {
	h := newHarness(t, 2)
	h.expect("Bootup 2 0 0 0")
	h.online(0)
	h.expect("WorkerOnline 1 1 0 0")
	h.online(0) // a second online changes nothing
	h.online(1)
	h.expect("WorkerOnline 0 2 0 0", "Ready 0 2 0 0")
	assert.Equal(t, WaitingForNothing, h.lastEvent().WaitingFor)
	for i := range 2 {
		p := h.proc(i)
		assert.Equal(t, i, p.spec.Number)
		assert.Equal(t, "/srv/app", p.spec.Dir)
		assert.Contains(t, p.spec.Env, "NAUGHT_WORKER="+string(rune('0'+i)))
		assert.Contains(t, p.spec.Env, "A=1")
	}
}

func TestBootFailureDestroysTheRestAndShutsDown(t *testing.T) {
	h := newHarness(t, 3)
	h.online(0)
	h.next()
	h.exit(1)
	h.expect("NewDeath 1 1 0 0", "DestroyNew 1 0 1 0", "DestroyNew 0 0 2 0")
	assert.Equal(t, []string{"kill"}, h.proc(0).Calls())
	assert.Equal(t, []string{"kill"}, h.proc(2).Calls())
	h.exit(0, 2)
	h.expect("NewDestroyed 0 0 1 0", "NewDestroyed 0 0 0 0", "Shutdown 0 0 0 0")
	assert.ErrorIs(t, h.waitResult(), ErrBootFailed)
}

func TestBootSpawnFailureReportsErrorAndFails(t *testing.T) {
	h := newHarness(t, 2, func(c *Config) {
		c.Spawner.(*fakeSpawner).fail[1] = true
	})
	got := h.next()
	require.Len(t, got, 2)
	assert.Equal(t, "Error. booting: 1, online: 0, dying: 0, new_online: 0", got[0])
	assert.Equal(t, "DestroyNew. booting: 0, online: 0, dying: 1, new_online: 0", got[1])
	h.exit(0)
	h.expect("NewDestroyed 0 0 0 0", "Shutdown 0 0 0 0")
	assert.ErrorIs(t, h.waitResult(), ErrBootFailed)
}

func TestDeployStartsAllNewBeforeShuttingDownAnyOld(t *testing.T) {
	h := booted(t, 2)
	h.m.Deploy(DeployRequest{Env: map[string]string{"A": "2", "B": "x"}, Dir: "/srv/v2"})
	h.expect("SpawnNew 1 2 0 0", "SpawnNew 2 2 0 0")
	assert.Equal(t, WaitingForNew, h.lastEvent().WaitingFor)
	h.online(2)
	h.expect("NewOnline 1 2 0 1")
	assert.Empty(t, h.proc(0).Calls(), "no old worker is touched before every new one is online")
	h.online(3)
	h.expect("NewOnline 0 2 0 2", "ShutdownOld 0 1 1 2", "ShutdownOld 0 0 2 2")
	assert.Equal(t, WaitingForOld, h.lastEvent().WaitingFor)
	assert.Equal(t, []string{"shutdown"}, h.proc(0).Calls())
	h.exit(1)
	h.expect("OldExit 0 0 1 2")
	h.exit(0)
	h.expect("OldExit 0 0 0 2", "Ready 0 2 0 0")

	p := h.proc(2)
	assert.Equal(t, 0, p.spec.Number)
	assert.Equal(t, "/srv/v2", p.spec.Dir)
	assert.Equal(t, []string{"PATH=/bin", "A=2", "B=x", "NAUGHT_WORKER=0"}, p.spec.Env)
	assert.Equal(t, 1, h.proc(3).spec.Number)
}

func TestDeployCanChangeTheWorkerCount(t *testing.T) {
	h := booted(t, 1)
	h.m.Deploy(DeployRequest{WorkerCount: 3})
	h.expect("SpawnNew 1 1 0 0", "SpawnNew 2 1 0 0", "SpawnNew 3 1 0 0")
	h.online(1, 2, 3)
	h.next()
	h.exit(0)
	h.expect("OldExit 0 0 0 3", "Ready 0 3 0 0")
	// The next deploy keeps the new count.
	h.m.Deploy(DeployRequest{})
	assert.Len(t, h.next(), 3)
}

func TestNewWorkerDeathFailsTheDeployAndOldKeepServing(t *testing.T) {
	h := booted(t, 2)
	h.m.Deploy(DeployRequest{})
	h.online(2)
	h.next()
	h.exit(3)
	h.expect("NewDeath 0 2 0 1", "DestroyNew 0 2 1 0")
	assert.Equal(t, []string{"kill"}, h.proc(2).Calls())
	h.exit(2)
	h.expect("NewDestroyed 0 2 0 0", "DeployFailed 0 2 0 0", "Ready 0 2 0 0")
	assert.Empty(t, h.proc(0).Calls())
	// The old generation keeps its settings: a crash is replaced with old code.
	h.exit(0)
	h.expect("WorkerDeath 0 1 0 0")
	assert.Equal(t, "/srv/app", h.proc(4).spec.Dir)
}

func TestDeployAbortWhileNewBoot(t *testing.T) {
	h := booted(t, 1)
	h.m.Deploy(DeployRequest{})
	h.next()
	h.m.DeployAbort()
	h.expect("DestroyNew 0 1 1 0")
	h.exit(1)
	h.expect("NewDestroyed 0 1 0 0", "DeployFailed 0 1 0 0", "Ready 0 1 0 0")
	h.m.DeployAbort()
	h.expect("ErrorNoDeployInProgress 0 1 0 0")
}

func TestDeployAbortWhileOldDieKillsThem(t *testing.T) {
	h := booted(t, 1)
	h.m.Deploy(DeployRequest{})
	h.online(1)
	h.next()
	h.m.DeployAbort()
	h.expect("DestroyOld 0 0 1 1")
	assert.Equal(t, []string{"shutdown", "kill"}, h.proc(0).Calls())
	h.exit(0)
	h.expect("OldExit 0 0 0 1", "Ready 0 1 0 0")
}

func TestDeployTimeoutAbortsInBothPhases(t *testing.T) {
	h := booted(t, 1)
	h.m.Deploy(DeployRequest{Timeout: 5 * time.Second})
	h.next()
	h.advance(4 * time.Second)
	h.expect()
	h.advance(time.Second)
	h.expect("Timeout 1 1 0 0", "DestroyNew 0 1 1 0")
	h.exit(1)
	h.expect("NewDestroyed 0 1 0 0", "DeployFailed 0 1 0 0", "Ready 0 1 0 0")

	h.m.Deploy(DeployRequest{Timeout: 5 * time.Second})
	h.online(2)
	h.next()
	h.advance(5 * time.Second)
	h.expect("Timeout 0 0 1 1", "DestroyOld 0 0 1 1")
	h.exit(0)
	h.expect("OldExit 0 0 0 1", "Ready 0 1 0 0")
	assert.Zero(t, h.clock.pending(), "a finished deploy leaves no timer")
}

func TestDeployRefusedWhileBusy(t *testing.T) {
	h := newHarness(t, 1)
	h.next()
	h.m.Deploy(DeployRequest{})
	h.expect("ErrorDeployInProgress 1 0 0 0")
	h.online(0)
	h.next()
	h.m.Deploy(DeployRequest{})
	h.next()
	h.m.Deploy(DeployRequest{})
	h.expect("ErrorDeployInProgress 1 1 0 0")
	h.m.Shutdown(0)
	h.next()
	h.m.Deploy(DeployRequest{})
	h.expect("ErrorShuttingDown 0 0 2 0")
}

func TestOfflineMovesToDyingAndSpawnsReplacementOnce(t *testing.T) {
	h := booted(t, 2)
	h.offline(1)
	h.expect("WorkerOffline 0 1 1 0")
	assert.Equal(t, []string{"stop-accepting"}, h.proc(1).Calls())
	require.Equal(t, 3, h.spawned())
	assert.Equal(t, 1, h.proc(2).spec.Number, "the replacement keeps the number")
	h.offline(1) // a second offline is ignored
	h.expect()
	assert.Equal(t, 3, h.spawned())
	h.online(2)
	h.expect("WorkerOnline 0 2 1 0")
	h.exit(1)
	h.expect("OldExit 0 2 0 0")
}

func TestCrashIsResuscitatedWithTheSameNumber(t *testing.T) {
	h := booted(t, 2)
	h.exit(0)
	h.expect("WorkerDeath 0 1 0 0")
	require.Equal(t, 3, h.spawned())
	assert.Equal(t, 0, h.proc(2).spec.Number)
	assert.Contains(t, h.proc(2).spec.Env, "NAUGHT_WORKER=0")
	h.online(2)
	h.expect("WorkerOnline 0 2 0 0")
}

func TestCrashLoopBacksOffExponentiallyAndResetsWhenStable(t *testing.T) {
	h := booted(t, 1, func(c *Config) {
		c.Backoff = Backoff{First: time.Second, Max: 4 * time.Second, StableAfter: time.Minute}
	})
	h.exit(0) // 1st crash: immediate
	require.Equal(t, 2, h.spawned())
	h.exit(1) // 2nd: 1 s
	require.Equal(t, 2, h.spawned())
	h.m.Status()
	st := h.lastEvent().Workers
	require.Len(t, st, 1)
	assert.Equal(t, WorkerInfo{Number: 0, State: "restarting", Crashes: 2, RestartIn: 1}, st[0])
	h.advance(time.Second)
	require.Equal(t, 3, h.spawned())
	h.exit(2) // 3rd: 2 s
	h.advance(time.Second)
	require.Equal(t, 3, h.spawned())
	h.advance(time.Second)
	require.Equal(t, 4, h.spawned())
	h.exit(3) // 4th: 4 s, 5th: capped at 4 s
	h.advance(4 * time.Second)
	h.exit(4)
	h.advance(3 * time.Second)
	require.Equal(t, 5, h.spawned())
	h.advance(time.Second)
	require.Equal(t, 6, h.spawned())
	// A worker that stays up resets the count: its crash restarts at once.
	h.online(5)
	h.advance(time.Minute)
	h.exit(5)
	require.Equal(t, 7, h.spawned())
	for _, p := range h.spawner.procs {
		assert.Equal(t, 0, p.spec.Number)
	}
}

func TestFailedRestartIsRetriedAfterBackoff(t *testing.T) {
	h := booted(t, 1)
	h.spawner.mu.Lock()
	h.spawner.fail[1] = true
	h.spawner.mu.Unlock()
	h.exit(0)
	got := h.next()
	assert.Equal(t, []string{"WorkerDeath. booting: 0, online: 0, dying: 0, new_online: 0", "Error. booting: 0, online: 0, dying: 0, new_online: 0"}, got)
	h.advance(DefaultBackoff().First)
	assert.Equal(t, 2, h.spawned(), "retried")
}

func TestStopWaitsForEveryWorker(t *testing.T) {
	h := booted(t, 2)
	h.m.Shutdown(0)
	h.expect("ShutdownOld 0 1 1 0", "ShutdownOld 0 0 2 0")
	assert.Equal(t, WaitingForShutdown, h.lastEvent().WaitingFor)
	h.m.Shutdown(0)
	h.expect("AlreadyShuttingDown 0 0 2 0")
	h.exit(0, 1)
	h.expect("OldExit 0 0 1 0", "OldExit 0 0 0 0", "Shutdown 0 0 0 0")
	assert.NoError(t, h.waitResult())
}

func TestStopTimeoutKillsStragglers(t *testing.T) {
	h := booted(t, 2)
	h.m.Shutdown(3 * time.Second)
	h.next()
	h.exit(0)
	h.next()
	h.advance(3 * time.Second)
	h.expect("Timeout 0 0 1 0", "DestroyOld 0 0 1 0")
	assert.Equal(t, []string{"shutdown", "kill"}, h.proc(1).Calls())
	h.exit(1)
	h.expect("OldExit 0 0 0 0", "Shutdown 0 0 0 0")
	assert.NoError(t, h.waitResult())
}

func TestASecondStopCanShortenTheTimeout(t *testing.T) {
	h := booted(t, 1)
	h.m.Shutdown(0)
	h.next()
	h.m.Shutdown(time.Second)
	h.expect("AlreadyShuttingDown 0 0 1 0")
	h.advance(time.Second)
	h.expect("Timeout 0 0 1 0", "DestroyOld 0 0 1 0")
}

func TestStopDuringDeployRetiresEveryGeneration(t *testing.T) {
	h := booted(t, 1)
	h.m.Deploy(DeployRequest{Timeout: time.Minute})
	h.next()
	h.m.Shutdown(0)
	h.expect("ShutdownOld 1 0 1 0", "ShutdownOld 0 0 2 0")
	h.online(1) // too late: it was told to go
	h.exit(0, 1)
	h.expect("OldExit 0 0 1 0", "OldExit 0 0 0 0", "Shutdown 0 0 0 0")
	assert.Zero(t, h.clock.pending())
}

func TestStopCancelsPendingRestarts(t *testing.T) {
	h := booted(t, 1)
	h.exit(0)
	h.exit(1) // second crash: restart pending
	h.next()
	h.m.Shutdown(0)
	h.expect("Shutdown 0 0 0 0")
	assert.NoError(t, h.waitResult())
	assert.Equal(t, 2, h.spawned())
}

func TestWorkerNumbersSurviveDeploysAndReplacements(t *testing.T) {
	h := booted(t, 3)
	h.exit(1)
	h.online(3)
	h.m.Deploy(DeployRequest{})
	h.online(4, 5, 6)
	h.exit(0, 2, 3)
	h.offline(5)
	var numbers []int
	for i := range h.spawned() {
		numbers = append(numbers, h.proc(i).spec.Number)
	}
	assert.Equal(t, []int{0, 1, 2, 1, 0, 1, 2, 1}, numbers)
}

func TestStatusListsWorkersAndSignalsAreForwarded(t *testing.T) {
	h := booted(t, 2)
	h.m.Status()
	e := h.lastEvent()
	assert.Equal(t, EventStatus, e.Name)
	assert.Equal(t, []WorkerInfo{{Number: 0, Pid: 1000, State: "online"}, {Number: 1, Pid: 1001, State: "online"}}, e.Workers)
	h.m.Forward(syscall.SIGUSR2)
	h.m.Unrecognized()
	h.expect("Status 0 2 0 0", "UnrecognizedMessage 0 2 0 0")
	assert.Equal(t, []string{"signal user defined signal 2"}, h.proc(1).Calls())
}

func TestCrashDuringDeployOfOldWorkerIsReplacedAndDeployGoesOn(t *testing.T) {
	h := booted(t, 1)
	h.m.Deploy(DeployRequest{})
	h.exit(0)
	h.expect("SpawnNew 1 1 0 0", "WorkerDeath 1 0 0 0")
	require.Equal(t, 3, h.spawned())
	h.online(1)
	// The old generation's replacement is retired with it.
	h.expect("NewOnline 1 0 0 1", "ShutdownOld 0 0 1 1")
	h.exit(2)
	h.expect("OldExit 0 0 0 1", "Ready 0 1 0 0")
}

func TestEventsAreDeterministic(t *testing.T) {
	run := func() []string {
		h := booted(t, 3)
		h.m.Deploy(DeployRequest{WorkerCount: 2, Timeout: time.Second})
		h.online(4, 3)
		h.exit(1)
		h.advance(time.Second)
		h.exit(0, 2)
		h.m.Shutdown(0)
		h.exit(3, 4)
		return h.next()
	}
	first := run()
	require.NotEmpty(t, first)
	for range 5 {
		require.True(t, slices.Equal(first, run()))
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{WorkerCount: 0})
	assert.Error(t, err)
	_, err = New(Config{WorkerCount: 1})
	assert.Error(t, err)
	assert.False(t, errors.Is(err, ErrBootFailed))
}

func TestBackoffDelays(t *testing.T) {
	b := Backoff{First: 100 * time.Millisecond, Max: time.Second}
	var got []time.Duration
	for i := 1; i <= 7; i++ {
		got = append(got, b.delay(i))
	}
	assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}, got)
}

func TestMergeEnv(t *testing.T) {
	assert.Equal(t, []string{"A=9", "B=2", "C=3", "D=4"}, mergeEnv([]string{"A=1", "B=2"}, map[string]string{"D": "4", "A": "9", "C": "3"}))
	assert.Equal(t, []string{"X=1", "NAUGHT_WORKER=3"}, withWorkerNumber([]string{"NAUGHT_WORKER=0", "X=1"}, 3))
}
