// Package logsink is where naught's own log and its workers' output go.
//
// A destination is resolved by [Open] the way the --log, --stdout and
// --stderr options name it: "-" passes through to one of naught's own
// streams, "/dev/null" discards, anything else is a file opened for
// appending, rotated by size if [MaxSize] says so.
//
// # Invariants
//
//   - A worker never writes into a log file itself. Each worker gets either
//     naught's own descriptor (passthrough, "-": nothing is copied), a
//     descriptor on /dev/null (discard: naught reads nothing), or the write
//     end of a pipe that this package drains.
//   - A worker never waits for the disk. Its pipe is always read, whatever
//     the disk does; what a slow or full disk cannot take beyond a bounded
//     buffer ([BufferSize]) is dropped in whole lines, counted, and
//     reported ([Report]): "dropped N bytes (M lines) of worker 3 output to
//     /x/stdout.log: log writer too slow", at most once a second per log,
//     and at Close.
//   - Only whole lines reach a file, and two sources' lines never
//     interleave. A drainer queues whole lines; naught's own lines
//     (WriteLine) go through the same queue; one writer goroutine per file
//     takes what is queued and writes it in as few writes as it can. A
//     write that fails halfway (a full disk) is cut back to the last whole
//     line. (A worker's line longer than 64 KiB is cut into lines of 64 KiB,
//     so that a worker that never writes a newline cannot make naught
//     buffer without bound.)
//   - Rotation happens between two lines, before the line that would take
//     the file past MaxSize, on the writer goroutine: nothing is split,
//     lost or written twice across a rotation. A line longer than MaxSize
//     goes alone into a file of its own.
//   - A rotated file gets a name that no file has: name-<UTC time>.ext in
//     lumberjack's format, a millisecond later than the previous one if
//     need be. It is compressed to name-<time>.ext.gz by one goroutine per
//     log (the mill), woken through a coalescing channel of capacity 1;
//     the .gz is written and synced in full before the rotated file is
//     deleted, and deleted itself if anything fails. Failures are reported,
//     once per file, and tried again on the next pass. The mill only sees
//     files nobody writes any more: it lists the directory under the lock
//     a rotation holds while its rename may still be undone.
//   - Attach's done channel closes once the worker's last line has been
//     written (or dropped), so a dying worker's output is drained before it
//     is forgotten.
//   - A sink never waits for itself: reports are made with no lock held,
//     and a report that does not fit in the buffer is dropped and counted
//     like any line, so the event log may report into itself.
//
// # Why not lumberjack
//
// The rotated files are named, compressed and pruned as
// gopkg.in/natefinch/lumberjack.v2 would, but its Logger is not used:
// Logger.Rotate names the rotated file by the millisecond, and a second
// rotation in the same millisecond renames over the first file (small
// sizes and bursts rotate that fast); its MaxSize counts whole MiB; its
// mill discards compression errors, and Close neither waits for it nor
// stops it.
package logsink
