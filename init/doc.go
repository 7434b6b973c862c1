// Package pid1 is naught's init role (the folder is init/; Go cannot import a
// package named init).
//
// Invariant: whatever the mode, the naught process is the reaper of every
// orphan its workers leave behind — as a container's PID 1 by nature, and
// everywhere else because it makes itself a child subreaper before it starts
// any worker.
package pid1
