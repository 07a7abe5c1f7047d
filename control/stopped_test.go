package control

import (
	"errors"
	"testing"
)

// Once the workers have stopped (cbacd exiting), commands that need them
// say so instead of waiting for a mailbox nobody reads.
func TestExecStopped(t *testing.T) {
	srv, dp, _ := newTestServer(t, seedConfig(t))
	dp.SetRunning(true)
	dp.SetRunning(false)
	for _, cmd := range []string{"show ip inspect sessions", "show ip inspect statistics", "clear ip inspect session all", "clear access-list counters"} {
		if _, err := execLine(srv, cmd); !errors.Is(err, ErrStopped) {
			t.Errorf("%q: %v, want ErrStopped", cmd, err)
		}
	}
}
