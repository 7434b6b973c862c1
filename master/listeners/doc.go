// Package listeners is the registry of listening sockets that naught binds
// once and shares, as the same open file description, with every worker
// (Node's "shared handle" cluster path, NODE-IPC.md §2.6).
//
// Invariant: every socket in a Registry was created non-blocking and
// close-on-exec with raw syscalls (never through os.File.Fd, which would make
// the shared description blocking, NODE-IPC P1), is bound and listening from
// the moment Listen first returns it, and stays open — so connections wait in
// the backlog even while no worker exists — until Registry.Close, which is
// the only place that closes the sockets and unlinks the unix socket paths
// the registry itself bound. A query key (address, port, address type, flags,
// index) maps to at most one socket for the registry's whole life; a failed
// bind is not remembered, so a later query retries it.
//
// The registry never accepts on its sockets (P14).
//
// This package is Linux-only (SOCK_NONBLOCK/SOCK_CLOEXEC socket flags).
package listeners
