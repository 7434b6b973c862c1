package reexec

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Proc is one line of /proc/<pid>/stat, reduced to what tests need.
type Proc struct {
	Pid, PPid int
	State     byte // 'R', 'S', 'Z' (zombie), …
}

// Stat reads /proc/<pid>/stat. The error wraps os.ErrNotExist when there is
// no such process (any more).
func Stat(pid int) (Proc, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, fmt.Errorf("read stat of %d: %w", pid, err)
	}
	// "pid (comm) S ppid ...": comm may contain spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Proc{}, fmt.Errorf("malformed stat of %d: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return Proc{}, fmt.Errorf("malformed stat of %d: %q", pid, s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Proc{}, fmt.Errorf("malformed ppid of %d: %w", pid, err)
	}
	return Proc{Pid: pid, PPid: ppid, State: f[0][0]}, nil
}

// Children lists the processes whose parent is ppid, zombies included.
func Children(ppid int) ([]Proc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := Stat(pid)
		if err != nil {
			continue // exited (and was reaped) while we listed
		}
		if st.PPid == ppid {
			out = append(out, st)
		}
	}
	return out, nil
}

// PollUntil calls cond until it returns true or an error, or timeout passes.
// The short pause between calls is polling, not synchronisation: cond is the
// event.
func PollUntil(timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met within %v", timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
