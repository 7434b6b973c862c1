// Package signals turns process signals into calls on the daemon.
//
// Invariant: exactly one buffered channel receives every signal naught
// handles, and one goroutine dispatches them in arrival order; nothing else
// in naught calls signal.Notify.
package signals
