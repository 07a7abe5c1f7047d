package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerCPUs(t *testing.T) {
	dir := t.TempDir()
	r := sysRoots{sys: filepath.Join(dir, "sys"), proc: filepath.Join(dir, "proc")}
	net := filepath.Join(r.sys, "class/net")
	// eth0: two MSI vectors on CPUs 0 and 1 (effective affinity wins over
	// the wider smp_affinity_list).
	writeFile(t, filepath.Join(net, "eth0/device/msi_irqs/40"), "msix")
	writeFile(t, filepath.Join(net, "eth0/device/msi_irqs/41"), "msix")
	writeFile(t, filepath.Join(r.proc, "irq/40/effective_affinity_list"), "0\n")
	writeFile(t, filepath.Join(r.proc, "irq/40/smp_affinity_list"), "0-7\n")
	writeFile(t, filepath.Join(r.proc, "irq/41/smp_affinity_list"), "1\n")
	writeFile(t, filepath.Join(net, "eth0/queues/rx-0/rps_cpus"), "00000000\n")
	// eth1: a legacy line on CPU 2, and RPS to CPUs 3 and 33.
	writeFile(t, filepath.Join(net, "eth1/device/irq"), "11\n")
	writeFile(t, filepath.Join(r.proc, "irq/11/smp_affinity_list"), "2\n")
	writeFile(t, filepath.Join(net, "eth1/queues/rx-0/rps_cpus"), "00000002,00000008\n")
	// veth: no device, RPS off.
	writeFile(t, filepath.Join(net, "in0/queues/rx-0/rps_cpus"), "0\n")
	writeFile(t, filepath.Join(net, "out0/queues/rx-0/rps_cpus"), "0\n")

	allowed := []int{0, 1, 2, 3, 4, 5, 33}
	pick, avoided := r.workerCPUs(allowed, []string{"eth0", "eth1"}, 2)
	if !slices.Equal(pick, []int{4, 5}) || !slices.Equal(avoided, []int{0, 1, 2, 3, 33}) {
		t.Errorf("eth0+eth1, 2 workers: pick %v avoided %v; want [4 5], [0 1 2 3 33]", pick, avoided)
	}
	// Three workers, two free CPUs: not pinned.
	if pick, avoided := r.workerCPUs(allowed, []string{"eth0", "eth1"}, 3); pick != nil || len(avoided) != 5 {
		t.Errorf("3 workers: pick %v avoided %v; want nil and 5 avoided", pick, avoided)
	}
	// Veths: nothing to avoid, not pinned.
	if pick, avoided := r.workerCPUs(allowed, []string{"in0", "out0"}, 1); pick != nil || avoided != nil {
		t.Errorf("veths: pick %v avoided %v; want nil, nil", pick, avoided)
	}
	// Veths with RPS on CPU 1 (the bench's topology, 2 CPUs): CPU 0.
	writeFile(t, filepath.Join(net, "in0/queues/rx-0/rps_cpus"), "2\n")
	if pick, _ := r.workerCPUs([]int{0, 1}, []string{"in0", "out0"}, 1); !slices.Equal(pick, []int{0}) {
		t.Errorf("veths with RPS on CPU 1: pick %v, want [0]", pick)
	}
	// A device that does not exist is skipped.
	if pick, avoided := r.workerCPUs(allowed, []string{"nosuch"}, 1); pick != nil || avoided != nil {
		t.Errorf("missing device: pick %v avoided %v", pick, avoided)
	}
}

func TestParseCPUListAndMask(t *testing.T) {
	if got, err := parseCPUList("0-2,5,7-8"); err != nil || !slices.Equal(got, []int{0, 1, 2, 5, 7, 8}) {
		t.Errorf("parseCPUList = %v, %v", got, err)
	}
	for _, bad := range []string{"a", "3-1", "1-x", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q): want an error", bad)
		}
	}
	if got := parseCPUMask("00000001,80000002"); !slices.Equal(got, []int{1, 31, 32}) {
		t.Errorf("parseCPUMask = %v, want [1 31 32]", got)
	}
	if got := parseCPUMask("zz"); got != nil {
		t.Errorf("parseCPUMask(zz) = %v, want nil", got)
	}
}

func TestParseCPUsNone(t *testing.T) {
	for _, s := range []string{"", "none", "auto"} {
		if l, err := parseCPUs(s); err != nil || l != nil {
			t.Errorf("parseCPUs(%q) = %v, %v; want nil, nil", s, l, err)
		}
	}
	if _, err := parseCPUs("nonsense"); err == nil {
		t.Error("parseCPUs(nonsense): want an error")
	}
}
