package main

// Worker placement. By default the workers are not pinned: each keeps its
// own OS thread and the scheduler places it, moving it off a CPU that
// other load takes. -cpus LIST pins worker i to the i-th CPU of the list.
// -cpus auto pins them to CPUs that service none of cbacd's devices'
// receive work (their interrupts' affinity and their RX queues' RPS
// masks), worker i to the i-th of them, when there are at least as many
// such CPUs as workers, and leaves them unpinned otherwise: softirq work
// runs before any task on its CPU, so on a machine set aside for cbacd a
// worker beside its own devices' receive processing gets only what is
// left of that CPU. Veths have no interrupts and, unless configured, no
// RPS: nothing to avoid.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// sysRoots are where placement reads the kernel's view (tests point them
// at a fake tree).
type sysRoots struct{ sys, proc string }

var realRoots = sysRoots{sys: "/sys", proc: "/proc"}

// deviceCPUs adds to cpus the CPUs that service dev's receive work: the
// affinity of its interrupts (MSI vectors or the legacy line) and the RPS
// masks of its RX queues.
func (r sysRoots) deviceCPUs(dev string, cpus map[int]bool) {
	devDir := filepath.Join(r.sys, "class/net", dev)
	var irqs []string
	if ents, err := os.ReadDir(filepath.Join(devDir, "device/msi_irqs")); err == nil {
		for _, e := range ents {
			irqs = append(irqs, e.Name())
		}
	} else if b, err := os.ReadFile(filepath.Join(devDir, "device/irq")); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" && s != "0" {
			irqs = append(irqs, s)
		}
	}
	for _, irq := range irqs {
		for _, f := range []string{"effective_affinity_list", "smp_affinity_list"} {
			b, err := os.ReadFile(filepath.Join(r.proc, "irq", irq, f))
			if err != nil {
				continue
			}
			if list, err := parseCPUList(strings.TrimSpace(string(b))); err == nil && len(list) > 0 {
				for _, c := range list {
					cpus[c] = true
				}
				break
			}
		}
	}
	queues, _ := filepath.Glob(filepath.Join(devDir, "queues/rx-*/rps_cpus"))
	for _, q := range queues {
		if b, err := os.ReadFile(q); err == nil {
			for _, c := range parseCPUMask(strings.TrimSpace(string(b))) {
				cpus[c] = true
			}
		}
	}
}

// workerCPUs returns the CPUs to pin n workers to: those of allowed that
// service none of devs' receive work, if there are at least n; nil
// otherwise (not pinned). avoided is the CPUs it found servicing them.
func (r sysRoots) workerCPUs(allowed []int, devs []string, n int) (pick, avoided []int) {
	busy := map[int]bool{}
	for _, d := range devs {
		r.deviceCPUs(d, busy)
	}
	for c := range busy {
		avoided = append(avoided, c)
	}
	sort.Ints(avoided)
	if len(busy) == 0 {
		return nil, nil
	}
	for _, c := range allowed {
		if !busy[c] {
			pick = append(pick, c)
		}
	}
	if len(pick) < n || n == 0 {
		return nil, avoided
	}
	return pick, avoided
}

// parseCPUList reads a kernel CPU list ("0-3,8,10-11").
func parseCPUList(s string) ([]int, error) {
	var out []int
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("CPU list %q: %w", s, err)
			}
		}
		if a < 0 || b < a || b >= 4096 {
			return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// parseCPUMask reads a kernel CPU mask: hex, in comma-separated 32-bit
// groups, the most significant first ("00000000,00000003").
func parseCPUMask(s string) []int {
	groups := strings.Split(s, ",")
	var out []int
	for i := range groups {
		g := groups[len(groups)-1-i]
		v, err := strconv.ParseUint(g, 16, 32)
		if err != nil {
			return nil
		}
		for bit := 0; bit < 32; bit++ {
			if v&(1<<bit) != 0 {
				out = append(out, 32*i+bit)
			}
		}
	}
	return out
}
