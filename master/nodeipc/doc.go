// Package nodeipc is the parent (primary) end of Node.js's IPC channel in
// json serialization mode (newline-delimited JSON over an AF_UNIX stream
// socketpair, fds passed with SCM_RIGHTS), plus the primary side of Node's
// cluster protocol on the shared-handle path (NODE-IPC.md §1–§3). naught
// uses one Channel per worker it spawns, and one for its own optional
// Node.js parent.
//
// Invariants:
//
//   - Every byte written is a complete line json.Marshal produced plus "\n":
//     never an empty line or invalid JSON, which would crash the Node peer (P4).
//   - All writes go through one writer goroutine, in order. A message carrying
//     an fd is written in one sendmsg together with its NODE_HANDLE line (P5);
//     after it, every later message except NODE_HANDLE_ACK/NACK waits until
//     the peer ACKs; a NACK retransmits the handle at most 3 times (P6). When
//     the peer goes away, the queue is dropped (P18) and Send fails instead of
//     blocking.
//   - Every NODE_HANDLE the peer sends is ACKed at once and its fd closed, or
//     NACKed if no fd came with it (P6). Received fds are never leaked.
//   - Nothing the peer sends can panic naught: bad lines are logged and skipped.
//   - A queryServer is answered exactly once, from a listeners.Registry: either
//     a NODE_HANDLE envelope with the shared fd and errno 0, or a plain line
//     with a negative errno (P7); both echo the socket's first truthy data (P8)
//     and carry Node v20's key (P9). After Disconnect, queryServer is ignored.
//   - OnMessage and OnClose run on the reader goroutine only; OnClose runs
//     exactly once, after the last OnMessage.
//
// This package is Linux-only.
package nodeipc
