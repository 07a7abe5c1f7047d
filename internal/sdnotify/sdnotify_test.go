package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen makes a fake systemd notify socket at name and points
// $NOTIFY_SOCKET at it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	t.Setenv(Socket, name)
	return ln
}

func read(t *testing.T, ln *net.UnixConn) string {
	t.Helper()
	ln.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

// The states arrive in the order sent, one datagram each; RELOADING=1
// carries MONOTONIC_USEC from CLOCK_MONOTONIC.
func TestSequence(t *testing.T) {
	for _, tc := range []struct{ name, socket string }{
		{"path", filepath.Join(t.TempDir(), "notify")},
		{"abstract", fmt.Sprintf("@cbac-sdnotify-test-%d", os.Getpid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t, tc.socket)
			var before unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &before)
			for _, f := range []func() error{Ready, Reloading, Ready, Stopping} {
				if err := f(); err != nil {
					t.Fatal(err)
				}
			}
			if got := read(t, ln); got != "READY=1" {
				t.Fatalf("first %q, want READY=1", got)
			}
			got := read(t, ln)
			lines := strings.Split(got, "\n")
			if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
				t.Fatalf("second %q, want RELOADING=1 and MONOTONIC_USEC", got)
			}
			usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
			if err != nil || usec < before.Nano()/1000 || usec > before.Nano()/1000+int64(time.Minute/time.Microsecond) {
				t.Errorf("MONOTONIC_USEC %q: not the monotonic clock now (%d us)", lines[1], before.Nano()/1000)
			}
			for _, want := range []string{"READY=1", "STOPPING=1"} {
				if got := read(t, ln); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
		})
	}
}

// Without $NOTIFY_SOCKET nothing is sent and nothing fails; with a socket
// that does not exist, the error says so.
func TestNoSocket(t *testing.T) {
	t.Setenv(Socket, "")
	if err := Ready(); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
	t.Setenv(Socket, filepath.Join(t.TempDir(), "absent"))
	if err := Ready(); err == nil {
		t.Error("missing socket: no error")
	}
}
