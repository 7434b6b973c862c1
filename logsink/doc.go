// Package logsink is where naught's own log and its workers' output go.
//
// A destination is resolved by [Open] the way the --log, --stdout and
// --stderr options name it: "-" passes through to one of naught's own
// streams, "/dev/null" discards, anything else is a file opened for
// appending.
//
// Invariant: a worker never writes into a log file itself. Each worker gets
// either naught's own descriptor (passthrough, "-"), /dev/null (discard), or
// the write end of a pipe that this package drains line by line into the
// file, so whole lines reach the file and two workers' lines never interleave.
// (Naught's own lines, written with WriteLine, are whole lines too.)
//
// A file sink has two pieces: the drainers, one goroutine per attached pipe,
// which cut the stream into whole lines, and the writing side, one
// io.Writer per file under one mutex that writes each batch of whole lines
// in one Write and can be reopened. Size rotation, bounded buffers with
// drop counting and reopening on SIGUSR1 replace or wrap these pieces;
// callers of [Sink] do not change.
package logsink
