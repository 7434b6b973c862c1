// Package control is naught's control socket (the "ipc-file"): its wire
// format, the server the daemon runs, and the client the CLI uses.
//
// Wire format (compatible with the original Node.js naught): every message,
// in both directions, is the decimal byte length of a JSON text, "\n", then
// the JSON text. JSON is sent as pure ASCII — every non-ASCII rune escaped as
// \uXXXX, above the BMP as a UTF-16 surrogate pair — so the byte length equals
// the UTF-16 length the original tool counted. Clients send [Request]s; the
// daemon sends [Event]s to every connected client.
//
// Invariants:
//
//   - The socket file is never reachable by anyone but its owner before its
//     final permissions are set: it is bound under umask 0177 and only then
//     chowned (if asked) and chmodded (if asked). An existing path is never
//     followed if it is a symlink, never removed unless it is a socket that
//     provably has no listener (connect gives ECONNREFUSED), and the server
//     only unlinks, on Close, the socket file it created itself.
//   - [Server.Broadcast] never blocks its caller: each client has a bounded
//     queue drained by its own goroutine, and a client whose queue is full is
//     disconnected.
//   - Bad input from one client (a length line that is not a number, a
//     message over [MaxMessageSize], a truncated body, invalid JSON) closes
//     that client's connection only, and the reason goes to
//     [ServerOptions.Logf]; other clients are unaffected.
//   - Requests from one connection reach [ServerOptions.OnRequest] in the
//     order they were sent.
package control
