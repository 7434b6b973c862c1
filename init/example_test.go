package pid1_test

import (
	"fmt"
	"log"
	"os/exec"
	"syscall"

	pid1 "naught/init"
	"naught/reaper"
)

// How the daemon starts a worker: become the reaper of orphans, then fork
// every worker on the spawner's thread with Pdeathsig and its own process
// group, registered with the reaper. (Not run as a test: Setup would make
// the test process a subreaper.)
func ExampleThreadSpawner() {
	isPID1, err := pid1.Setup()
	if err != nil {
		log.Fatal(err)
	}
	spawner := pid1.NewThreadSpawner()
	r := reaper.New()

	cmd := exec.Command("my-worker")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL, // dies with naught: forked on the spawner's thread
		Setpgid:   true,            // its own process group, signalled as -pid
	}
	pid, exited, err := r.Start(func() (pid int, err error) {
		spawner.Do(func() { err = cmd.Start() })
		if err != nil {
			return 0, err
		}
		pid = cmd.Process.Pid
		_ = cmd.Process.Release() // the reaper waits, never cmd.Wait
		return pid, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(isPID1, pid, <-exited)
}
