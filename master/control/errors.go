package control

import "errors"

// Errors of Listen and Dial, wrapped with context; match them with errors.Is.
var (
	// ErrInUse means a daemon answers on the socket path: Listen refuses
	// to replace it.
	ErrInUse = errors.New("a daemon is listening on the control socket")
	// ErrNotSocket means the path exists and is not a socket (for example
	// a regular file): Listen refuses to remove it.
	ErrNotSocket = errors.New("path exists and is not a socket")
	// ErrSymlink means the path is a symbolic link: Listen never follows
	// or removes it.
	ErrSymlink = errors.New("path is a symbolic link")
	// ErrPathTooLong means the path does not fit in a unix socket address
	// (sun_path holds 107 bytes and a terminating NUL).
	ErrPathTooLong = errors.New("socket path too long")
	// ErrNotRunning means Dial found no file at the path: no daemon runs.
	ErrNotRunning = errors.New("server not running")
	// ErrNoAnswer means the path exists but nobody accepts connections on
	// it (a stale socket, or a file that is not a socket).
	ErrNoAnswer = errors.New("nobody answers on the control socket")
)
