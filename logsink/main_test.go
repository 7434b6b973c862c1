package logsink

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The test binary doubles as the workers these tests attach, in the manner
// of os/exec's tests: with helperEnv set, TestMain runs a helper command
// instead of the tests.
const helperEnv = "LOGSINK_TEST_HELPER"

var helperCommands = map[string]func(args ...string){
	// lines ID COUNT LENGTH writes COUNT lines "ID SEQ xxxx…" of LENGTH
	// bytes (newline excluded), each in two Write calls, so that a sink
	// copying writes rather than lines would interleave them.
	"lines": func(args ...string) {
		id := args[0]
		count, _ := strconv.Atoi(args[1])
		length, _ := strconv.Atoi(args[2])
		for i := range count {
			line := []byte(workerLine(id, i, length) + "\n")
			half := len(line) / 2
			mustWrite(line[:half])
			mustWrite(line[half:])
		}
	},
	// print TEXT writes TEXT as is.
	"print": func(args ...string) {
		mustWrite([]byte(args[0]))
	},
	// wait writes "hello\n", waits for stdin to close, then writes "bye"
	// without a newline.
	"wait": func(...string) {
		mustWrite([]byte("hello\n"))
		_, _ = io.Copy(io.Discard, os.Stdin)
		mustWrite([]byte("bye"))
	},
}

func mustWrite(b []byte) {
	if _, err := os.Stdout.Write(b); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// workerLine is line seq of worker id, length bytes long.
func workerLine(id string, seq, length int) string {
	head := fmt.Sprintf("%s %d ", id, seq)
	return head + strings.Repeat(id[:1], length-len(head))
}

var (
	helpersMu   sync.Mutex
	helpersUsed = map[string]bool{}
)

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		helperCommands[name](os.Args[1:]...)
		os.Exit(0)
	}
	code := m.Run()
	if code == 0 && !testing.Short() && testRunFlag() == "" {
		for name := range helperCommands {
			if !helpersUsed[name] {
				fmt.Fprintf(os.Stderr, "helper command %q is never used\n", name)
				code = 1
			}
		}
	}
	os.Exit(code)
}

func testRunFlag() string {
	for _, a := range os.Args[1:] {
		if v, ok := strings.CutPrefix(a, "-test.run="); ok {
			return v
		}
	}
	return ""
}

// helperCommand returns a command running helper name with args.
func helperCommand(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	if _, ok := helperCommands[name]; !ok {
		t.Fatalf("no helper command %q", name)
	}
	helpersMu.Lock()
	helpersUsed[name] = true
	helpersMu.Unlock()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	// GORACE: a -race helper would otherwise linger a second at exit.
	cmd.Env = append(os.Environ(), helperEnv+"="+name, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	return cmd
}

// readLines returns the lines of the file at path, which must end in a
// newline.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end in a newline", path)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
