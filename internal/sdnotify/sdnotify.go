// Package sdnotify tells systemd about the service's state (sd_notify(3))
// for a Type=notify unit: one datagram per state change to the unix
// socket named by $NOTIFY_SOCKET. Without that variable (not started by
// systemd) every call does nothing.
package sdnotify

import (
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Socket is the environment variable systemd sets for a Type=notify
// service: a socket path, or an abstract socket name starting with '@'.
const Socket = "NOTIFY_SOCKET"

// Notify sends state ("READY=1", lines separated by '\n') to
// $NOTIFY_SOCKET. It returns nil without the variable.
func Notify(state string) error {
	name := os.Getenv(Socket)
	if name == "" {
		return nil
	}
	// Go's net package maps a leading '@' to the abstract namespace (a
	// leading NUL byte in sun_path), as systemd means it.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

// Ready says start-up (or a reload) is complete.
func Ready() error { return Notify("READY=1") }

// Reloading says a reload starts. systemd 253 and later want the time of
// the request on CLOCK_MONOTONIC with it, so that they can tell this
// reload from an older one; READY=1 ends it.
func Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return err
	}
	usec := ts.Nano() / 1000
	return Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// Stopping says the service is shutting down.
func Stopping() error { return Notify("STOPPING=1") }

// Status sends a free-form status line (systemctl status shows it).
func Status(s string) error { return Notify("STATUS=" + s) }
