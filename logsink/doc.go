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
//   - A rotated file gets a name that no file has, and, unless the wall
//     clock was stepped back, a later name than the file rotated before it
//     (see below: lumberjack alone promises neither).
//   - Close returns once the rotated files are compressed (or when it
//     gives up on them, see below), so that stopping naught does not cut
//     a compression short.
//   - Attach's done channel closes once the worker's last line has been
//     written (or dropped), so a dying worker's output is drained before it
//     is forgotten.
//   - A sink never waits for itself: reports are made with no lock held,
//     and a report that does not fit in the buffer is dropped and counted
//     like any line, so the event log may report into itself.
//
// # lumberjack
//
// The file itself is a gopkg.in/natefinch/lumberjack.v2 Logger, used by
// the writer goroutine alone: lumberjack opens it (O_APPEND), renames it
// to name-<UTC time>.ext on Rotate and opens a fresh one with the old
// one's mode and owner, and its mill goroutine gzips the rotated files
// (the .gz complete and closed before the rotated file is deleted; a
// partial .gz deleted when the compression fails) and deletes those
// beyond MaxFiles (MaxBackups). Its own size limit is set out of reach
// (2 PiB): it counts whole MiB, and would rotate in the middle of a
// batch. The writer counts bytes (a stat when the file is opened, then
// what it writes) and calls Rotate itself. Where lumberjack falls short,
// the writer makes up:
//
//   - Names. lumberjack names a rotated file by the millisecond and
//     renames over a file of that name, so two rotations in a millisecond
//     (small sizes, bursts) would lose the first file, and a name an
//     earlier run left would be lost too. Before Rotate, and before
//     anything that may make lumberjack rotate (it rotates a file it
//     fails to open), the writer waits until the clock has left the
//     millisecond of its last such call and until neither this
//     millisecond's name nor the next's exists, plain or .gz. That is at
//     most a millisecond on the writer goroutine, which the workers never
//     wait for; a wall clock stepped back into a stretch of earlier
//     rotations may need longer, and after nameWait (20 ms) the rotation
//     is put off, reported, and the file grows past MaxSize until a name
//     is free. The hole left: a clock stepped back so that lumberjack
//     reads a millisecond whose name exists later than the one checked,
//     because Rotate took more than a millisecond to read the clock (a
//     slow close).
//   - Appending. lumberjack opens the fresh file of a rotation without
//     O_APPEND; the writer has it reopened, for appending, at its first
//     write a millisecond or more later (the reopen is then safe by the
//     rule above).
//   - Modes. lumberjack creates a missing file 0600: the writer creates
//     it first, 0644 less the umask, at Open and before any reopen. It
//     gives a fresh file the old one's mode less the umask: the writer
//     sets it in full.
//   - Failed writes. lumberjack keeps the descriptor to itself: a write
//     that failed halfway is cut back to the last whole line by path,
//     once a stat shows that the path is still the file written, and the
//     file is then reopened.
//   - Reopen. Close the Logger; its next write opens the file at the path.
//   - Compression errors. The mill drops them (_ =), and it can be neither
//     stopped nor waited for. Only the directory shows what it did: a
//     rotated file still there uncompressed. The writer lists the
//     directory after each rotation and reports a rotated file that has
//     stayed uncompressed for a minute ("unable to compress …: still not
//     compressed …"); Close polls the directory until no rotated file is
//     left uncompressed, and reports those that are when it gives up:
//     after flushTimeout, or once the directory has shown no progress
//     (no rotated file gone, no .gz grown) for a second, as it does when
//     a compression failed. What is lost is the reason (a full disk, a
//     permission, …), and a second at Close. The mill tries again after
//     every rotation, and at the next run's Open.
//   - Process death. If naught dies while the mill compresses, the
//     rotated file is still there (lumberjack deletes it only after the
//     .gz is complete) next to a partial .gz, which the next run's mill
//     overwrites: nothing is lost. A power failure is another matter:
//     lumberjack does not fsync the .gz before it deletes the rotated
//     file, so a file rotated seconds before may be lost with it.
//   - lumberjack's mill goroutine is never stopped: one idle goroutine
//     stays behind per closed file sink.
package logsink
