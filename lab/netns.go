package lab

// Sockets inside the lab's namespaces, created from Go.
//
// A socket keeps the namespace it was created in for its whole life, so
// Listen and Dial only need the namespace while socket(2) runs; the thread
// switching is internal/netns's (a fresh goroutine locked to its thread).

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"cbac/internal/netns"
)

// netnsDir is where iproute2 keeps named network namespaces (bind mounts).
const netnsDir = netns.Dir

// inNetns runs fn on a locked thread inside the named namespace.
func inNetns(name string, fn func() error) error { return netns.InNetns(name, fn) }

// Listen creates a listening socket inside the namespace of role (see NS)
// and returns it; the socket stays in that namespace. addr must be a
// numeric address (no name resolution inside the namespace).
func (l *Lab) Listen(role, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(l.NS(role), func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, addr, l.NS(role), err)
	}
	return ln, nil
}

// ListenPacket is Listen for packet sockets ("udp", "udp4", "ip4:icmp").
func (l *Lab) ListenPacket(role, network, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNetns(l.NS(role), func() error {
		var err error
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, addr, l.NS(role), err)
	}
	return pc, nil
}

// Dial connects from inside the namespace of role. addr must be numeric.
// The whole connect runs on the namespace's thread; ctx bounds it.
func (l *Lab) Dial(ctx context.Context, role, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNetns(l.NS(role), func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, addr, l.NS(role), err)
	}
	return c, nil
}

// writeSysctl writes value to /proc/sys/KEY inside the named namespace.
// /proc/sys/net resolves per thread, so no remount is needed.
func writeSysctl(ns, key, value string) error {
	return inNetns(ns, func() error {
		p := filepath.Join("/proc/sys", filepath.FromSlash(key))
		if err := os.WriteFile(p, []byte(value), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s in %s: %w", key, value, ns, err)
		}
		return nil
	})
}
