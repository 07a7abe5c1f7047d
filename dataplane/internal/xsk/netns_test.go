package xsk

// Namespace plumbing for the kernel tests. Every namespace is named
// cbacxsk-<pid>-<suffix> and deleted in t.Cleanup; nothing is configured in
// the root namespace.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"cbac/internal/netns"
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs, attaches XDP programs, opens AF_XDP sockets")
	}
}

// newNetns creates a fresh namespace and registers its deletion.
func newNetns(t testing.TB, suffix string) string {
	t.Helper()
	name := fmt.Sprintf("cbacxsk-%d-%s", os.Getpid(), suffix)
	exec.Command("ip", "netns", "del", name).Run() // leftover from a killed run
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ipn(t, name, "link set lo up")
	return name
}

// ipn runs `ip -n ns ARGS`.
func ipn(t testing.TB, ns, args string) string {
	t.Helper()
	argv := append([]string{"-n", ns}, strings.Fields(args)...)
	out, err := exec.Command("ip", argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// inNetns runs fn in ns and fails the test on error (fn must not t.Fatal).
func inNetns(t testing.TB, ns string, fn func() error) {
	t.Helper()
	if err := netns.InNetns(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// ipLinkXDP reports whether `ip -j link show` lists an XDP program on dev.
func ipLinkXDP(t testing.TB, ns, dev string) bool {
	t.Helper()
	var links []map[string]any
	if err := json.Unmarshal([]byte(ipn(t, ns, "-j link show dev "+dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s: %v (%d links)", dev, err, len(links))
	}
	_, ok := links[0]["xdp"]
	return ok
}

// netnsDo is netns.InNetns, for helpers that return errors.
func netnsDo(ns string, fn func() error) error { return netns.InNetns(ns, fn) }
