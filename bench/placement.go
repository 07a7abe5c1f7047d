package bench

// Scenario 9: where cbacd's worker runs. With a competing load pinned to
// the generator's CPU (a busy loop, as other work on a shared machine),
// 64-byte NATed UDP (1k flows) at the generator's full rate through cbacd
// placed three ways: its default (not pinned: the scheduler's choice),
// -cpus DUT (the other CPU) and -cpus GEN (the loaded CPU). Reported: the
// packets delivered per second, and the CPU the worker ran on.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PlacementResult is one placement of scenario 9.
type PlacementResult struct {
	XDPMode   string `json:"xdp_mode"`
	Placement string `json:"placement"` // "default" or "-cpus N"
	BusyCPU   int    `json:"busy_loop_cpu"`
	// At the generator's full rate, 64-byte frames, 1k flows.
	OfferedPps   float64 `json:"offered_pps"`
	DeliveredPps float64 `json:"delivered_pps"`
	// WorkerCPU is the CPU the busiest thread of cbacd (the worker) last
	// ran on, read at the end of the window.
	WorkerCPU int    `json:"worker_cpu"`
	Error     string `json:"error,omitempty"`
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
	for _, mode := range modes {
		for _, pl := range []string{PlacementDefault, strconv.Itoa(o.DUTCPU), strconv.Itoa(o.GenCPU)} {
			c := Contender{Name: "cbacd", Kind: KindCBACD, NAT: true, XDPMode: mode, Placement: pl}
			res := PlacementResult{XDPMode: mode, Placement: "default", BusyCPU: o.GenCPU}
			if pl != PlacementDefault {
				res.Placement = "-cpus " + pl
			}
			b.logf("cbacbench: placement: cbacd %s, %s XDP, busy loop on cpu %d", res.Placement, mode, o.GenCPU)
			err := b.withContender(ctx, c, func(r *running) error {
				if err := b.warmUp(ctx, r, 1000); err != nil {
					return err
				}
				tr, err := b.trial(ctx, r, throughDUT, "placement", cfg, 64, 0, o.PlacementTrial)
				if err != nil {
					return err
				}
				res.OfferedPps, res.DeliveredPps = tr.OfferedPps, tr.DeliveredPps
				res.WorkerCPU, _ = busiestThreadCPU(r.pid)
				return nil
			})
			if err != nil {
				res.Error = err.Error()
				b.fail("placement "+res.Placement+" "+mode, err)
			}
			b.logf("  offered %.0f delivered %.0f pps, worker on cpu %d", res.OfferedPps, res.DeliveredPps, res.WorkerCPU)
			b.res.Placement = append(b.res.Placement, res)
			if ctx.Err() != nil {
				return
			}
		}
	}
}
