// Package pid1 is naught's init role (the folder is init/; Go cannot import a
// package named init).
//
// Invariant: whatever the mode, the naught process is the reaper of every
// orphan its workers leave behind — as a container's PID 1 by nature, and
// everywhere else because it makes itself a child subreaper before it starts
// any worker (Setup). The reaping itself is package reaper's.
//
// Invariant: workers never outlive naught, even when naught is SIGKILLed.
// Workers get SysProcAttr.Pdeathsig = SIGKILL and are started through one
// ThreadSpawner, whose OS thread lives as long as the process. The kernel
// fires Pdeathsig when the forking *thread* ends (golang/go#27505), so a
// worker forked from an arbitrary Go thread could be killed the moment the
// runtime retires that thread; forked from the spawner's thread, it is
// killed exactly when naught dies. As PID 1 of a container this is moot (the
// kernel kills the whole namespace when PID 1 dies) but harmless.
//
// What PID 1 changes besides reaping: the kernel never applies a default
// action (terminate, stop) to PID 1 for a signal sent from inside its
// namespace; only handled signals have an effect. The Go runtime installs
// handlers for every catchable signal and package signals subscribes to
// them, so SIGTERM from `docker stop` reaches naught as it would any process.
package pid1
