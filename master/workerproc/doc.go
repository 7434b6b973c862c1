// Package workerproc is the real master.Spawner: it starts worker processes
// and speaks to them over the naught channel (Node's IPC channel).
//
// Invariants:
//   - Every worker is started through reaper.Start (the reaper is the only
//     caller of wait4) from one locked OS thread, with Pdeathsig, in its own
//     process group, with the channel at fd 3.
//   - A worker's messages are all reported before its exit, and nothing is
//     reported after it; its exit is reported once its channel is closed and
//     its output drained, or a bounded grace period after it was reaped.
//   - After a worker was reaped, naught sends no signal to its pid or group.
//
// A Node.js script (.js, .mjs, .cjs) runs as `node [node-args] script args`
// and is a cluster worker (NODE_UNIQUE_ID): its server.listen() gets the
// sockets of the listeners registry. Any other program runs directly and
// gets the naught channel only.
package workerproc
