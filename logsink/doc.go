// Package logsink is where naught's own log and its workers' output go.
//
// Invariant: a worker never writes into a log file itself. Each worker gets
// either naught's own descriptor (passthrough, "-"), /dev/null (discard), or
// the write end of a pipe that this package drains line by line into the
// file, so whole lines reach the file and two workers' lines never interleave.
package logsink
