package bench

import (
	"math"
	"strings"
	"testing"
	"time"
)

// statSample is /proc/stat of a machine with CPUs 0, 1 and 10 (the
// aggregate "cpu" line first, as the kernel writes it).
const statSample = `cpu  1000 20 300 9000 40 50 600 7 0 0
cpu0 400 10 100 3000 10 20 200 3 0 0
cpu1 300 5 100 3000 20 10 300 2 0 0
cpu10 300 5 100 3000 10 20 100 2 0 0
intr 123456 0 0 0
ctxt 987654
btime 1700000000
processes 4242
procs_running 2
procs_blocked 0
softirq 5555 0 1 2 3 4 5 6 7 8 9
`

func TestParseCPU(t *testing.T) {
	for _, c := range []struct {
		cpu  int
		want cpuTimes
	}{
		{-1, cpuTimes{User: 1000, Nice: 20, System: 300, Idle: 9000, IOWait: 40, IRQ: 50, SoftIRQ: 600, Steal: 7}},
		{1, cpuTimes{User: 300, Nice: 5, System: 100, Idle: 3000, IOWait: 20, IRQ: 10, SoftIRQ: 300, Steal: 2}},
		{10, cpuTimes{User: 300, Nice: 5, System: 100, Idle: 3000, IOWait: 10, IRQ: 20, SoftIRQ: 100, Steal: 2}},
	} {
		got, err := parseCPU([]byte(statSample), c.cpu)
		if err != nil || got != c.want {
			t.Errorf("cpu %d: %+v, %v; want %+v", c.cpu, got, err, c.want)
		}
	}
	if _, err := parseCPU([]byte(statSample), 2); err == nil {
		t.Error("cpu 2 (absent): no error")
	}
	bad := strings.Replace(statSample, "cpu  1000 20 300", "cpu  1000 x 300", 1)
	if _, err := parseCPU([]byte(bad), -1); err == nil || !strings.Contains(err.Error(), "field 2") {
		t.Errorf("non-numeric field: %v", err)
	}
}

func TestAllCPUCost(t *testing.T) {
	a := cpuSample{at: time.Unix(100, 0), proc: 50,
		dut: cpuTimes{IRQ: 10, SoftIRQ: 100}, all: cpuTimes{IRQ: 30, SoftIRQ: 400}}
	b := cpuSample{at: time.Unix(102, 0), proc: 80,
		dut: cpuTimes{IRQ: 12, SoftIRQ: 140}, all: cpuTimes{IRQ: 35, SoftIRQ: 495}}
	// 1000 units over: process 30 ticks, every CPU's softirq+irq 100, the
	// DUT core's 42; one tick is 10 ms.
	c := allCPUCost(a, b, 1000)
	want := AllCPUCost{Ns: 130 * 10e6 / 1000, ProcessNs: 30 * 10e6 / 1000, SoftirqNs: 100 * 10e6 / 1000, DUTCoreNs: 72 * 10e6 / 1000}
	for _, f := range []struct {
		name      string
		got, want float64
	}{
		{"Ns", c.Ns, want.Ns}, {"ProcessNs", c.ProcessNs, want.ProcessNs},
		{"SoftirqNs", c.SoftirqNs, want.SoftirqNs}, {"DUTCoreNs", c.DUTCoreNs, want.DUTCoreNs},
	} {
		if math.Abs(f.got-f.want) > 1e-6 {
			t.Errorf("%s = %v, want %v", f.name, f.got, f.want)
		}
	}
	if z := allCPUCost(a, b, 0); z != (AllCPUCost{}) {
		t.Errorf("no units: %+v", z)
	}
}

// TestTakeCPU reads this machine's /proc/stat: every CPU together holds at
// least as much as the DUT core.
func TestTakeCPU(t *testing.T) {
	s := takeCPU(0, 0)
	if s.all.busy()+s.all.Idle == 0 || s.dut.busy()+s.dut.Idle == 0 {
		t.Fatalf("empty sample %+v", s)
	}
	if s.all.SoftIRQ < s.dut.SoftIRQ || s.all.busy() < s.dut.busy() {
		t.Errorf("all CPUs %+v below cpu0 %+v", s.all, s.dut)
	}
}

// Scenario 10's table and targets show the DUT core's busy time per
// SYN/ACK, the process + every CPU's softirq figure beside it, and per
// core-second from the former.
func TestSYNFloodReportCost(t *testing.T) {
	r := sampleResults()
	r.SYNFlood = []SYNFloodResult{
		{Contender: "cbacd-intercept-native", FloodPps: 5e5, SYNACKPps: 4e5, Attempted: 100, Completed: 99, Share: 0.99,
			Cost: AllCPUCost{Ns: 1500, ProcessNs: 1200, SoftirqNs: 300, DUTCoreNs: 1500, CoreBusyNs: 2000}, PerCoreSecond: 5e5},
		{Contender: "nft-synproxy", FloodPps: 5e5, SYNACKPps: 3e5, Attempted: 100, Completed: 90, Share: 0.9,
			Cost: AllCPUCost{Ns: 3000, SoftirqNs: 3000, DUTCoreNs: 3000, CoreBusyNs: 4000}, PerCoreSecond: 2.5e5},
	}
	var table, summary strings.Builder
	r.WriteTable(&table)
	r.WriteSummary(&summary)
	for _, want := range []string{"the DUT core's busy time", "2000       1500         500000"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, want := range []string{"cookie SYN/ACKs per core-second >= 2x nftables synproxy | 500000 vs 250000 = 2.00x | yes",
		"CPU per SYN/ACK = the DUT core's busy time"} {
		if !strings.Contains(summary.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
