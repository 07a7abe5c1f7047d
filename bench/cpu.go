package bench

// CPU time accounting from /proc: per-CPU time by kind (/proc/stat) and
// per-process time (/proc/PID/stat). Both count in clock ticks (USER_HZ,
// 100 per second on Linux), so a figure per packet needs enough packets:
// one tick over 1M packets is 10 ns.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is USER_HZ, fixed at 100 on every Linux architecture's ABI.
const userHZ = 100

// cpuTimes are one CPU's /proc/stat times, in ticks.
type cpuTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

func (c cpuTimes) busy() uint64 {
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
}

// readCPU returns the times of cpu (0, 1, ...), or of all CPUs together
// (-1).
func readCPU(cpu int) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseCPU(b, cpu)
}

// parseCPU returns the times of cpu (-1: the "cpu" line, every CPU
// together) from the text of /proc/stat.
func parseCPU(stat []byte, cpu int) (cpuTimes, error) {
	want := "cpu"
	if cpu >= 0 {
		want += strconv.Itoa(cpu)
	}
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 9 || fs[0] != want {
			continue
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(fs[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: %s: field %d: %w", want, i+1, err)
			}
			v[i] = n
		}
		return cpuTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat: no line for %s", want)
}

// procTicks returns utime+stime of a process (all its threads; 0: this
// process).
func procTicks(pid int) (uint64, error) {
	if pid == 0 {
		pid = os.Getpid()
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fs := strings.Fields(s[i+1:])
	// fs[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fs) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseUint(fs[11], 10, 64)
	st, _ := strconv.ParseUint(fs[12], 10, 64)
	return ut + st, nil
}

// rssBytes returns the resident set size of a process.
func rssBytes(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			fs := strings.Fields(line)
			if len(fs) >= 2 {
				kb, _ := strconv.ParseUint(fs[1], 10, 64)
				return kb << 10, nil
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// cpuSample is a snapshot for a CPU cost measurement.
type cpuSample struct {
	at   time.Time
	dut  cpuTimes // the DUT core
	all  cpuTimes // every CPU together
	proc uint64   // cbacd's ticks (0 for the kernel contenders)
}

func takeCPU(dutCPU, pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		s.dut, _ = parseCPU(b, dutCPU)
		s.all, _ = parseCPU(b, -1)
	}
	if pid > 0 {
		s.proc, _ = procTicks(pid)
	}
	return s
}

// CPUCost is the DUT's CPU time spent over a measurement, per delivered
// packet, in nanoseconds.
type CPUCost struct {
	// DUTNs is what the contender costs on the DUT core: cbacd's process
	// time (user+system, all threads) plus the DUT core's softirq and irq
	// time (the kernel's forwarding for the kernel contenders; generic XDP,
	// the AF_XDP copy and the sink's receive for all). The same sum for
	// every contender, and unaffected by other processes on the core.
	DUTNs float64 `json:"dut_ns_per_packet"`
	// ProcessNs is cbacd's own process time (0 for the kernel).
	ProcessNs float64 `json:"process_ns_per_packet"`
	// SoftirqNs is the DUT core's softirq+irq time.
	SoftirqNs float64 `json:"softirq_ns_per_packet"`
	// CoreBusyNs is all non-idle time of the DUT core (includes any other
	// process that ran there: noisy on a shared machine).
	CoreBusyNs float64 `json:"core_busy_ns_per_packet"`
	// CoreUtil is the DUT core's busy share over the measurement.
	CoreUtil float64 `json:"core_utilisation"`
}

func cpuCost(a, b cpuSample, packets uint64) CPUCost {
	if packets == 0 {
		return CPUCost{}
	}
	ns := float64(time.Second / userHZ)
	per := func(ticks uint64) float64 { return float64(ticks) * ns / float64(packets) }
	soft := (b.dut.SoftIRQ - a.dut.SoftIRQ) + (b.dut.IRQ - a.dut.IRQ)
	proc := b.proc - a.proc
	busy := b.dut.busy() - a.dut.busy()
	wall := b.at.Sub(a.at).Seconds() * userHZ
	c := CPUCost{
		DUTNs: per(proc + soft), ProcessNs: per(proc), SoftirqNs: per(soft), CoreBusyNs: per(busy),
	}
	if wall > 0 {
		c.CoreUtil = float64(busy) / wall
	}
	return c
}

// AllCPUCost is a contender's CPU time per unit of work counted on every
// CPU: its process time (cbacd's; 0 for the kernel) plus the softirq and irq
// time of all CPUs. Work the kernel does for the contender outside the DUT
// core is in it: with native XDP on a veth, cbacd's XDP program and the
// copy into the UMEM run in the veth's NAPI on the sending core, and so do
// the frames the program answers itself. The same sum for every
// contender; the hosts' receive, which runs in softirq, is in it too, alike
// for all.
type AllCPUCost struct {
	// Ns is ProcessNs + SoftirqNs.
	Ns        float64 `json:"ns"`
	ProcessNs float64 `json:"process_ns"`
	// SoftirqNs is the softirq+irq time of all CPUs.
	SoftirqNs float64 `json:"softirq_all_cpus_ns"`
	// DUTCoreNs is the process time plus the DUT core's softirq+irq time
	// alone (CPUCost.DUTNs), which omits the XDP work on the sending core.
	DUTCoreNs float64 `json:"dut_core_ns"`
	// CoreBusyNs is all non-idle time of the DUT core (processes, kernel
	// threads such as threaded NAPI, softirq, irq).
	CoreBusyNs float64 `json:"dut_core_busy_ns"`
}

func allCPUCost(a, b cpuSample, units uint64) AllCPUCost {
	if units == 0 {
		return AllCPUCost{}
	}
	ns := float64(time.Second / userHZ)
	per := func(ticks uint64) float64 { return float64(ticks) * ns / float64(units) }
	proc := b.proc - a.proc
	soft := (b.all.SoftIRQ - a.all.SoftIRQ) + (b.all.IRQ - a.all.IRQ)
	dut := (b.dut.SoftIRQ - a.dut.SoftIRQ) + (b.dut.IRQ - a.dut.IRQ)
	return AllCPUCost{Ns: per(proc + soft), ProcessNs: per(proc), SoftirqNs: per(soft), DUTCoreNs: per(proc + dut),
		CoreBusyNs: per(b.dut.busy() - a.dut.busy())}
}
