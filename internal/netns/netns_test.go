package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces with `ip netns add`")
	}
}

// inode returns the namespace inode behind an open namespace fd.
func inode(t *testing.T, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return st.Ino
}

func addNetns(t *testing.T, name string) {
	t.Helper()
	exec.Command("ip", "netns", "del", name).Run()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
}

func TestInNetnsSwitchesAndRestores(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("cbacns-%d-a", os.Getpid())
	addNetns(t, name)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(orig)
	origIno := inode(t, orig)

	target, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(target)
	targetIno := inode(t, target)
	if targetIno == origIno {
		t.Fatalf("new namespace has the same inode as ours: %d", origIno)
	}

	for i := 0; i < 50; i++ {
		var inside uint64
		err := InNetns(name, func() error {
			fd, err := Current()
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return err
			}
			inside = st.Ino
			return nil
		})
		if err != nil {
			t.Fatalf("InNetns: %v", err)
		}
		if inside != targetIno {
			t.Fatalf("fn ran in namespace %d, want %d", inside, targetIno)
		}
	}
	// The caller's own thread never moved.
	now, err := Current()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(now)
	if got := inode(t, now); got != origIno {
		t.Fatalf("caller thread now in namespace %d, want %d", got, origIno)
	}
}

func TestInNetnsSocketKeepsNamespace(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("cbacns-%d-b", os.Getpid())
	addNetns(t, name)
	// A fresh namespace has only "lo", and it is down; the root namespace's
	// interface list differs. Count interfaces through a netlink dump made on
	// the namespaced thread.
	var names []string
	err := InNetns(name, func() error {
		ifs, err := netInterfaces()
		names = ifs
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Fatalf("interfaces inside new namespace = %v, want [lo]", names)
	}
}

func TestInNetnsErrors(t *testing.T) {
	err := InNetns("cbacns-does-not-exist", func() error { return nil })
	if !errors.Is(err, ErrNoNamespace) {
		t.Fatalf("err = %v, want ErrNoNamespace", err)
	}
	if err := InNetns("../etc", func() error { return nil }); err == nil {
		t.Fatal("path-like name accepted")
	}
	if os.Geteuid() != 0 {
		return
	}
	name := fmt.Sprintf("cbacns-%d-c", os.Getpid())
	addNetns(t, name)
	want := errors.New("boom")
	if err := InNetns(name, func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("fn error not returned: %v", err)
	}
}

func netInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names, nil
}
