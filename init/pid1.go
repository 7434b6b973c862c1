package pid1

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// IsPID1 reports whether this process is PID 1 of its pid namespace: a
// container's init.
func IsPID1() bool {
	return os.Getpid() == 1
}

// BecomeSubreaper makes this process a child subreaper
// (prctl(PR_SET_CHILD_SUBREAPER)): orphans of its descendants are reparented
// to it instead of to PID 1, so it must reap them.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("unable to become a child subreaper: prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// Setup prepares the init role; call it before starting any worker. As PID 1
// the kernel already reparents every orphan in the namespace to us; anywhere
// else Setup makes the process a child subreaper. It reports whether we are
// PID 1.
func Setup() (isPID1 bool, err error) {
	if IsPID1() {
		return true, nil
	}
	return false, BecomeSubreaper()
}
