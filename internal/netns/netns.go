// Package netns runs code inside a named Linux network namespace.
//
// A network namespace is a property of an OS thread, not of a goroutine or a
// process: setns(2) switches only the calling thread. Everything here
// therefore runs the caller's function on a fresh goroutine locked to its OS
// thread, switches that thread into the namespace, and switches it back
// afterwards. If the way back fails, the thread is left locked so the Go
// runtime destroys it when the goroutine ends instead of reusing a thread
// that sits in the wrong namespace (the containernetworking ns.Do pattern).
//
// Sockets and file descriptors created inside fn keep the namespace they
// were created in for their whole life, so a listener or an AF_XDP socket
// made inside fn can be used from any goroutine afterwards. Goroutines that fn
// starts do not inherit the namespace: the runtime creates new threads from a
// template thread in the process's original namespace.
//
// Named namespaces are the bind mounts iproute2 keeps under /var/run/netns
// (`ip netns add NAME`).
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Dir is where iproute2 bind-mounts named network namespaces.
const Dir = "/var/run/netns"

// ErrNoNamespace reports a namespace name with no bind mount under Dir.
var ErrNoNamespace = errors.New("no such network namespace")

// Path returns the bind-mount path of the named namespace.
func Path(name string) string { return filepath.Join(Dir, name) }

// InNetns runs fn on a locked OS thread switched into the named network
// namespace and returns fn's error. The calling goroutine waits for fn.
// fn must not call runtime.Goexit (t.Fatal, t.FailNow): it runs on its own
// goroutine.
func InNetns(name string, fn func() error) error {
	fd, err := Open(name)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := InNetnsFD(fd, fn); err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return nil
}

// Open returns an O_CLOEXEC file descriptor of the named namespace, for
// InNetnsFD. The caller closes it.
func Open(name string) (int, error) {
	if name == "" || filepath.Base(name) != name {
		return -1, fmt.Errorf("netns %q: invalid name", name)
	}
	fd, err := unix.Open(Path(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("netns %s: %w", name, ErrNoNamespace)
	}
	if err != nil {
		return -1, fmt.Errorf("netns %s: open: %w", name, err)
	}
	return fd, nil
}

// Current returns an O_CLOEXEC file descriptor of the calling thread's
// network namespace. Call it from a locked thread (or from InNetns's fn) when
// the process uses more than one namespace. The caller closes it.
func Current() (int, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open current netns: %w", err)
	}
	return fd, nil
}

// InNetnsFD is InNetns for a namespace given by file descriptor (from Open
// or Current).
func InNetnsFD(nsFD int, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := Current()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			unix.Close(orig)
			runtime.UnlockOSThread()
			done <- fmt.Errorf("setns: %w", err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			unix.Close(orig)
			done <- errors.Join(fnErr, fmt.Errorf("setns back to the original namespace: %w", err))
			return
		}
		unix.Close(orig)
		runtime.UnlockOSThread()
		done <- fnErr
	}()
	return <-done
}

// Exists reports whether a named namespace is mounted under Dir.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}
