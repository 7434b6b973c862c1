// Package cli is naught's command line: start, stop, status, deploy,
// deploy-abort, version and help, compatible with the original naught 1.6
// (SPEC §3 and its Appendix A).
//
// Invariants:
//   - Every option can also come from NAUGHT_<OPTION> in the environment
//     (upper case, "-" → "_"); an explicit option wins.
//   - Option parsing of start stops at the script: everything after it
//     reaches the workers' argv untouched.
//   - Progress events go to stderr, one per line; results that scripts
//     parse (workers online: N, the status) go to stdout; the exact words
//     of the original are kept byte for byte (messages.go).
//   - Main returns the exit code; only the program's main exits.
package cli
