package reaper_test

import (
	"context"
	"fmt"
	"os/exec"

	"naught/reaper"
)

// Start a child through the reaper and learn how it ended. The reaper, not
// os/exec, waits for the child: cmd.Wait is never called. (Not run as a
// test: it would reap the test process's other children.)
func ExampleReaper_Start() {
	r := reaper.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx) // the daemon calls r.Reap from signals.Loop instead

	cmd := exec.Command("sh", "-c", "exit 3")
	pid, exited, err := r.Start(func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release() // frees the pidfd; never fails on unix
		return pid, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	e := <-exited
	fmt.Println(pid == e.Pid, e, e.Code()) // true exit status 3 3
}
