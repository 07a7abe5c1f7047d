package bench

// Scenario 9: where cbacd's worker runs. With a competing load pinned to
// the generator's CPU (a busy loop, as other work on a shared machine),
// 64-byte NATed UDP (1k flows) at the generator's full rate through cbacd
// placed four ways: its default (not pinned: the scheduler's choice),
// -cpus auto (away from the CPUs of the devices' receive work: here from
// the DUT CPU, where RPS sends in0's and out0's), -cpus DUT and -cpus GEN
// (the loaded CPU, where the old default put worker 0). Reported: the packets
// delivered per second, and the CPU the worker ran on.

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var workersLineRE = regexp.MustCompile(`%SYS-6-WORKERS: [^\n]*`)

// PlacementResult is one placement of scenario 9.
type PlacementResult struct {
	XDPMode   string `json:"xdp_mode"`
	Placement string `json:"placement"` // "default" or "-cpus N"
	BusyCPU   int    `json:"busy_loop_cpu"`
	// At the generator's full rate, 64-byte frames, 1k flows.
	// The medians over the rounds, and each round's delivered rate.
	OfferedPps   float64   `json:"offered_pps"`
	DeliveredPps float64   `json:"delivered_pps"`
	Rounds       []float64 `json:"delivered_pps_rounds"`
	// WorkerCPUs is, per round, the CPU the busiest thread of cbacd (the
	// worker) last ran on, read at the end of the window.
	WorkerCPUs []int  `json:"worker_cpus"`
	Logged     string `json:"logged,omitempty"` // cbacd's %SYS-6-WORKERS line
	Error      string `json:"error,omitempty"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// busiestThreadCPU returns the CPU that the thread of pid with the most
// CPU time last ran on (/proc/PID/task/TID/stat field 39).
func busiestThreadCPU(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return -1, err
	}
	best, cpu := uint64(0), -1
	for _, e := range ents {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, e.Name()))
		if err != nil {
			continue
		}
		s := string(b)
		fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fs) < 37 {
			continue
		}
		ut, _ := strconv.ParseUint(fs[11], 10, 64)
		st, _ := strconv.ParseUint(fs[12], 10, 64)
		if ut+st >= best {
			best = ut + st
			cpu, _ = strconv.Atoi(fs[36])
		}
	}
	return cpu, nil
}

// placement runs scenario 9 in the run's XDP mode and, if it differs,
// native mode.
func (b *Bench) placement(ctx context.Context) {
	o := b.opts
	if !b.isSelected("cbacd") {
		return
	}
	busy, err := b.startProcess("", strconv.Itoa(o.GenCPU), "sh", "-c", "while :; do :; done")
	if err != nil {
		b.fail("placement: busy loop", err)
		return
	}
	defer busy.stop()
	modes := []string{o.XDPMode}
	if o.XDPMode != "native" {
		modes = append(modes, "native")
	}
	cfg, err := udpConfig(throughDUT, 64, 1000)
	if err != nil {
		b.fail("placement", err)
		return
	}
	type cell struct {
		c       Contender
		res     PlacementResult
		offered []float64
	}
	var cells []*cell
	for _, mode := range modes {
		for _, pl := range []string{PlacementDefault, "auto", strconv.Itoa(o.DUTCPU), strconv.Itoa(o.GenCPU)} {
			c := &cell{c: Contender{Name: "cbacd", Kind: KindCBACD, NAT: true, XDPMode: mode, Placement: pl},
				res: PlacementResult{XDPMode: mode, Placement: "default", BusyCPU: o.GenCPU}}
			if pl != PlacementDefault {
				c.res.Placement = "-cpus " + pl
			}
			cells = append(cells, c)
		}
	}
	// Rounds interleave the placements, so that a change in the machine's
	// other load does not fall on one placement only.
	for round := 0; round < o.PlacementRounds; round++ {
		for _, c := range cells {
			b.logf("cbacbench: placement round %d: cbacd %s, %s XDP, busy loop on cpu %d", round+1, c.res.Placement, c.res.XDPMode, o.GenCPU)
			err := b.withContender(ctx, c.c, func(r *running) error {
				if err := b.warmUp(ctx, r, 1000); err != nil {
					return err
				}
				tr, err := b.trial(ctx, r, throughDUT, "placement", cfg, 64, 0, o.PlacementTrial)
				if err != nil {
					return err
				}
				cpu, _ := busiestThreadCPU(r.pid)
				if log, err := os.ReadFile(r.logf.Name()); err == nil {
					if m := workersLineRE.FindString(string(log)); m != "" {
						c.res.Logged = m
					}
				}
				c.offered = append(c.offered, tr.OfferedPps)
				c.res.Rounds = append(c.res.Rounds, tr.DeliveredPps)
				c.res.WorkerCPUs = append(c.res.WorkerCPUs, cpu)
				b.logf("  offered %.0f delivered %.0f pps, worker on cpu %d", tr.OfferedPps, tr.DeliveredPps, cpu)
				return nil
			})
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				c.res.Error = err.Error()
				b.fail("placement "+c.res.Placement+" "+c.res.XDPMode, err)
			}
		}
	}
	for _, c := range cells {
		c.res.OfferedPps, c.res.DeliveredPps = median(c.offered), median(c.res.Rounds)
		b.res.Placement = append(b.res.Placement, c.res)
	}
}
