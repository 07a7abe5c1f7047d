package bench

// Scenario 1 (throughput, RFC 2544 section 26.1: the highest offered rate
// with loss at most 0.1%, found by binary search) and scenario 2 (CPU cost
// per forwarded packet at a fixed rate).

import (
	"context"
	"fmt"
	"time"
)

// MaxLoss is the loss a passing trial may show (0.1%).
const MaxLoss = 0.001

// trialResult is one timed run of the generator at one offered rate.
type trialResult struct {
	TargetPps    float64 `json:"target_pps"` // 0: unshaped
	Offered      uint64  `json:"offered"`    // whole trial
	Delivered    uint64  `json:"delivered"`
	Loss         float64 `json:"loss"`
	OfferedPps   float64 `json:"offered_pps"` // steady-state window
	DeliveredPps float64 `json:"delivered_pps"`
	Cost         CPUCost `json:"cost"`
}

func (tr *trialResult) pass() bool {
	if tr.Offered == 0 || tr.Loss > MaxLoss {
		return false
	}
	// The tester must really offer the rate: a DUT (or a generator) that
	// pushes back, so that less is sent, does not pass.
	return tr.TargetPps <= 0 || tr.OfferedPps >= 0.95*tr.TargetPps
}

// counters reads the generator's and the sink's device counters.
func (b *Bench) counters(ctx context.Context, p path) (sent, got uint64, err error) {
	g, err := b.topo.Stats(ctx, p.GenRole, p.GenDev)
	if err != nil {
		return 0, 0, err
	}
	s, err := b.topo.Stats(ctx, p.SinkRole, p.SinkDev)
	if err != nil {
		return 0, 0, err
	}
	return g.TxPackets + g.TxDropped, s.RxPackets, nil
}

// trial offers pps (0: as fast as the generator goes) of cfg along p for
// the measurement window d (after a short ramp), then waits for the DUT to
// drain and counts.
func (b *Bench) trial(ctx context.Context, r *running, p path, cfgName, cfg string, frameSize int, pps float64, d time.Duration) (trialResult, error) {
	tr := trialResult{TargetPps: pps}
	// Threads the Go runtime made since (from its template thread) may
	// carry the full CPU mask: keep this process on the generator core.
	PinProcess(0, b.topo.GenCPU)
	if r != nil && r.pid > 0 && r.c.pinnedByBench() {
		// cbacd's worker pins itself (to CPU worker mod NumCPU) when it
		// starts running, possibly after waitReady pinned it: pin again.
		if err := PinProcess(r.pid, b.topo.DUTCPU); err != nil {
			return tr, err
		}
	}
	if err := b.shape(ctx, p.GenRole, p.GenDev, pps, frameSize); err != nil {
		return tr, err
	}
	sent0, got0, err := b.counters(ctx, p)
	if err != nil {
		return tr, err
	}
	g, err := b.startGenerator(ctx, p.GenRole, p.GenDev, cfgName, cfg)
	if err != nil {
		return tr, err
	}
	pid := 0
	if r != nil {
		pid = r.pid
	}
	defer g.stop()
	sleep(ctx, b.opts.Ramp)
	ws0, wg0, err := b.counters(ctx, p)
	if err != nil {
		return tr, err
	}
	c0 := takeCPU(b.topo.DUTCPU, pid)
	sleep(ctx, d)
	c1 := takeCPU(b.topo.DUTCPU, pid)
	ws1, wg1, err := b.counters(ctx, p)
	if err != nil {
		return tr, err
	}
	alive := g.running()
	g.stop()
	if ctx.Err() != nil {
		return tr, ctx.Err()
	}
	if !alive {
		return tr, fmt.Errorf("trafgen exited early (see %s/trafgen.log)", b.work)
	}
	sleep(ctx, 250*time.Millisecond) // drain the DUT's queues
	sent1, got1, err := b.counters(ctx, p)
	if err != nil {
		return tr, err
	}
	tr.Offered, tr.Delivered = sent1-sent0, got1-got0
	if tr.Offered > 0 {
		tr.Loss = 1 - float64(tr.Delivered)/float64(tr.Offered)
		if tr.Loss < 0 {
			tr.Loss = 0 // a few packets of the DUT's own (ARP) at the sink
		}
	}
	secs := c1.at.Sub(c0.at).Seconds()
	tr.OfferedPps = float64(ws1-ws0) / secs
	tr.DeliveredPps = float64(wg1-wg0) / secs
	tr.Cost = cpuCost(c0, c1, wg1-wg0)
	return tr, nil
}

// ThroughputResult is scenario 1 for one contender, frame size and flow
// count.
type ThroughputResult struct {
	Contender string `json:"contender"`
	FrameSize int    `json:"frame_size"`
	Flows     int    `json:"flows"`
	// ZeroLossPps is the highest offered rate that passed (loss <= 0.1%).
	ZeroLossPps float64 `json:"zero_loss_pps"`
	// GeneratorLimited: even the generator's full rate passed; the DUT's
	// throughput is at least ZeroLossPps.
	GeneratorLimited bool `json:"generator_limited"`
	// At the generator's full rate: what was offered and delivered.
	MaxOfferedPps float64 `json:"max_offered_pps"`
	// LowestFailedPps: the lowest target that failed (when none passed,
	// the zero-loss rate is below it).
	LowestFailedPps float64 `json:"lowest_failed_pps"`
	// ShortTrials counts trials that could not offer 95% of their target
	// (no loss, but less sent): the DUT pushed back through the shared
	// kernel, or the generator core was busy. Many of them make the
	// result a lower bound on a busy machine.
	ShortTrials     int           `json:"short_trials"`
	MaxDeliveredPps float64       `json:"max_delivered_pps"`
	Trials          []trialResult `json:"trials"`
}

// Mbps is the zero-loss rate in Mbit/s of frames (FCS included, no
// preamble or gap).
func (t *ThroughputResult) Mbps() float64 {
	return t.ZeroLossPps * float64(t.FrameSize) * 8 / 1e6
}

// throughput runs the binary search for one frame size and flow count.
func (b *Bench) throughput(ctx context.Context, r *running, frameSize, flows int) (ThroughputResult, error) {
	res := ThroughputResult{Contender: r.c.Name, FrameSize: frameSize, Flows: flows}
	cfg, err := udpConfig(throughDUT, frameSize, flows)
	if err != nil {
		return res, err
	}
	name := fmt.Sprintf("udp-%d-%d", frameSize, flows)
	full, err := b.trial(ctx, r, throughDUT, name, cfg, frameSize, 0, b.opts.Trial)
	if err != nil {
		return res, err
	}
	res.Trials = append(res.Trials, full)
	res.MaxOfferedPps, res.MaxDeliveredPps = full.OfferedPps, full.DeliveredPps
	b.logf("  %-9s %4dB %6d flows: full rate offered %.0f delivered %.0f pps (loss %.2f%%)",
		r.c.Name, frameSize, flows, full.OfferedPps, full.DeliveredPps, 100*full.Loss)
	if full.pass() {
		res.ZeroLossPps, res.GeneratorLimited = full.OfferedPps, true
		return res, nil
	}
	lo, hi := 0.0, full.OfferedPps
	// The first probe just under what the DUT delivers when overloaded is
	// usually close to its zero-loss rate.
	rate := full.DeliveredPps * 0.97
	for i := 0; i < b.opts.MaxTrials; i++ {
		if rate <= 1000 {
			break
		}
		tr, err := b.trial(ctx, r, throughDUT, name, cfg, frameSize, rate, b.opts.Trial)
		if err != nil {
			return res, err
		}
		res.Trials = append(res.Trials, tr)
		ok := tr.pass()
		if !ok && tr.Loss <= MaxLoss {
			res.ShortTrials++
		}
		b.logf("  %-9s %4dB %6d flows: %.0f pps target, offered %.0f delivered %.0f (loss %.3f%%) %s",
			r.c.Name, frameSize, flows, rate, tr.OfferedPps, tr.DeliveredPps, 100*tr.Loss, map[bool]string{true: "pass", false: "fail"}[ok])
		if ok {
			lo = rate
			if tr.OfferedPps > res.ZeroLossPps {
				res.ZeroLossPps = tr.OfferedPps
			}
		} else {
			hi = rate
			if res.LowestFailedPps == 0 || rate < res.LowestFailedPps {
				res.LowestFailedPps = rate
			}
		}
		if hi > 0 && (hi-lo)/hi < b.opts.Resolution {
			break
		}
		rate = (lo + hi) / 2
	}
	return res, nil
}

// warmUp sends every flow twice at a moderate rate, so that sessions (and
// conntrack entries) exist before the measurement.
func (b *Bench) warmUp(ctx context.Context, r *running, flows int) error {
	if flows <= 1 {
		return nil
	}
	cfg, err := udpConfig(throughDUT, 64, flows)
	if err != nil {
		return err
	}
	const rate = 200000
	d := time.Duration(float64(2*flows)/rate*float64(time.Second)) + 100*time.Millisecond
	_, err = b.trial(ctx, r, throughDUT, fmt.Sprintf("warm-%d", flows), cfg, 64, rate, d)
	return err
}

// CeilingResult is the generator's own rate, straight into the sink.
type CeilingResult struct {
	FrameSize    int     `json:"frame_size"`
	OfferedPps   float64 `json:"offered_pps"`
	DeliveredPps float64 `json:"delivered_pps"`
}

func (b *Bench) ceiling(ctx context.Context, frameSize int) (CeilingResult, error) {
	cfg, err := udpConfig(ceilingPair, frameSize, 1000)
	if err != nil {
		return CeilingResult{}, err
	}
	tr, err := b.trial(ctx, nil, ceilingPair, fmt.Sprintf("ceiling-%d", frameSize), cfg, frameSize, 0, b.opts.Trial)
	return CeilingResult{FrameSize: frameSize, OfferedPps: tr.OfferedPps, DeliveredPps: tr.DeliveredPps}, err
}

// CostResult is scenario 2 for one contender.
type CostResult struct {
	Contender    string  `json:"contender"`
	FrameSize    int     `json:"frame_size"`
	Flows        int     `json:"flows"`
	RatePps      float64 `json:"rate_pps"` // the fixed offered rate
	OfferedPps   float64 `json:"offered_pps"`
	DeliveredPps float64 `json:"delivered_pps"`
	Loss         float64 `json:"loss"`
	CPUCost
}

func (b *Bench) cost(ctx context.Context, r *running, rate float64) (CostResult, error) {
	res := CostResult{Contender: r.c.Name, FrameSize: 64, Flows: b.opts.CostFlows, RatePps: rate}
	cfg, err := udpConfig(throughDUT, 64, b.opts.CostFlows)
	if err != nil {
		return res, err
	}
	tr, err := b.trial(ctx, r, throughDUT, "cost", cfg, 64, rate, b.opts.CostWindow)
	if err != nil {
		return res, err
	}
	res.OfferedPps, res.DeliveredPps, res.Loss, res.CPUCost = tr.OfferedPps, tr.DeliveredPps, tr.Loss, tr.Cost
	b.logf("  %-9s cost at %.0f pps: offered %.0f, delivered %.0f, %.0f ns/packet on the DUT core (process %.0f, softirq %.0f)",
		r.c.Name, rate, tr.OfferedPps, tr.DeliveredPps, tr.Cost.DUTNs, tr.Cost.ProcessNs, tr.Cost.SoftirqNs)
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
