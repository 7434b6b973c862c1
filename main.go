// Command naught keeps a pool of workers serving on shared sockets and
// deploys new code with zero downtime. See README.md and `naught help`.
package main

import (
	"fmt"
	"os"

	"naught/master/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	cwd, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "naught: unable to read the working directory: %v\n", err)
		os.Exit(1)
	}
	os.Exit(cli.Main(os.Args[1:], &cli.Env{
		Stdout:  os.Stdout,
		Stderr:  os.Stderr,
		Environ: os.Environ(),
		Cwd:     cwd,
		Version: version,
	}))
}
