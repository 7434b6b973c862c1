// Package master keeps naught's worker pool: it boots the workers, replaces
// crashed ones, deploys new generations and stops, emitting naught's events
// (SPEC §4, §5) as the pool changes.
//
// Invariant: one goroutine — the loop in Master.Run — owns every worker's
// state. Control-socket requests, signals, worker messages, worker exits and
// timers only send it inputs; it handles them one at a time, in arrival
// order, and emits events synchronously in the order the state changes
// happen. When several workers change at once (a deploy's batch of
// shutdowns, say), they are handled in spawn order, so the same inputs give
// the same event sequence.
//
// The OS and the clock sit behind two small seams, Spawner and Clock, so the
// state machine is unit-tested with fakes; master/workerproc is the real
// Spawner.
package master
