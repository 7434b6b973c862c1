package signals

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

func TestSigName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "SIGHUP", sigName(unix.SIGHUP))
	assert.Equal(t, "SIGWINCH", sigName(unix.SIGWINCH))
	assert.Equal(t, "signal 37", sigName(unix.Signal(37)))
}
