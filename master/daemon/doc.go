// Package daemon assembles a running naught daemon from its parts: the
// log sinks, the reaper, the signal loop, the listeners registry, the
// worker spawner, the master and the control socket.
//
// Invariant: Run is the only place that owns these parts' lifetimes. It
// starts them in dependency order, hands every event the master emits to
// the naught log, the control clients, the Node.js parent (if naught has
// one) and the caller, in that order, and on the way out removes the files
// it created (control socket, pid-file) and closes the shared listeners
// last, after every worker is gone.
package daemon
