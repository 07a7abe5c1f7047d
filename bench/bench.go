// Package bench is cbac's load test: cbacd against the alternatives a user
// would pick instead (Linux forwarding, nftables conntrack + NAT, and the
// bare AF_XDP forwarder as the ceiling), side by side on the same veths in
// one run (cmd/cbacbench).
//
// Scenarios, in the order they run:
//
//  1. throughput (RFC 2544 26.1): binary search for the highest offered rate
//     with loss <= 0.1%, NATed UDP from the inside host, per frame size
//     and number of flows; the generator's own ceiling first;
//  2. cost: CPU-ns per forwarded packet on the DUT core at a fixed rate;
//  3. connection setup rate (RFC 3511 5.2, RFC 9411 7.2): handshake,
//     request, reply, close, inside -> outside;
//  4. SMTP transactions per second, outside -> 172.22.1.110:25, with
//     cbacd's SMTP inspection on;
//  5. SYN flood: random-source SYNs to 172.22.1.110:25 at the generator's
//     full rate while legitimate SMTP sessions run;
//  6. capacity: memory per session;
//  7. SMTP data throughput: SMTP transactions with a 200 MiB DATA body
//     (-quick: 20 MiB) from the outside client to 172.22.1.110:25 against
//     the same bytes on plain TCP to 172.22.1.110:2525, on the same
//     contender (cbacd: SMTP inspection against tcp inspection, same
//     OUT-IN rule and ACL 101), 3 rounds (-quick: 2) of each: Gbit/s and
//     DUT CPU-ns per forwarded packet and per data frame of each, and
//     their ratios (target: inspection costs no more than 10% over plain
//     TCP at 1500-byte frames).
//
// Scenario 10 (synflood.go) floods tcp intercept: cbacd with [tcp_intercept]
// (generic and native XDP) against nftables synproxy at the generator's
// full rate: cookie SYN/ACKs per core-second (the contender's process time
// plus every CPU's softirq+irq time), legitimate SMTP sessions
// completed, and an established bulk stream's rate during the flood
// against its rate without.
//
// The micro-benchmarks (bench_test.go) run each pipeline stage and the
// whole pipeline over in-memory rings.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a run.
type Options struct {
	Quick  bool
	CBACD  string // path of the cbacd binary
	Prefix string // namespace prefix
	// GenCPU runs the generator (trafgen, this process); DUTCPU the device
	// under test.
	GenCPU, DUTCPU int
	XDPMode        string // cbacd -xdp-mode
	Contenders     []string
	KeepWork       bool // keep the work directory (logs, configurations, statistics) after a clean run

	FrameSizes []int
	Flows      []int
	Ramp       time.Duration // before a trial's window
	Trial      time.Duration // a trial's measurement window
	MaxTrials  int           // per binary search, after the full-rate probe
	Resolution float64       // stop when (hi-lo)/hi is below

	CostRate   float64 // pps; 0: half the lowest zero-loss 64-byte rate
	CostFlows  int
	CostWindow time.Duration

	ConnClients   int
	ConnDuration  time.Duration
	SMTPClients   int
	SMTPDuration  time.Duration
	FloodClients  int
	FloodDuration time.Duration

	MaxSessions int // cbacd max_sessions
	// CapacitySessions live sessions in the in-memory measurement;
	// CapacityLive flows sent through the real cbacd for its RSS (0: skip).
	CapacitySessions int
	CapacityLive     int

	// DataBytes is the body size of each scenario 7 transfer, DataRounds
	// the transfers of each kind; InspectedBuffer, if > 0, cbacd's
	// dataplane.inspected_buffer in scenario 7 (its replay copy per
	// inspected session, which bounds the window a client may use).
	DataBytes       int64
	DataRounds      int
	InspectedBuffer int

	// MTAMessages is smtp-source -m of scenario 8, MTATimeout its bound.
	MTAMessages int
	MTATimeout  time.Duration
	// MTASpins, if not empty, runs scenario 8 through cbacd once per
	// value of cbacd -spin, in this order, instead of cbacd and
	// cbacd-default (contenders named cbacd-spin-VALUE).
	MTASpins []string
	// Spin, if not empty, is cbacd -spin for every cbacd contender that
	// sets none itself.
	Spin string
	// PlacementTrial is the measurement window of each placement of
	// scenario 9, PlacementRounds how often each is measured.
	PlacementTrial  time.Duration
	PlacementRounds int

	// Scenarios, if not empty, runs only these (ScenarioNames).
	Scenarios []string
	// Soak, if > 0, runs the soak for that long instead of the scenarios.
	Soak time.Duration
	// SoakFlood, if > 0, adds ip tcp intercept on 172.22.1.110:25 to the
	// soak's cbacd and a SYN flood of this many SYNs a second from the
	// outside for the whole soak.
	SoakFlood int

	Log io.Writer
}

// DefaultOptions are the full run's (about 10-15 minutes) or, quick, the CI
// smoke run's (about 3 minutes).
func DefaultOptions(quick bool) Options {
	o := Options{
		Prefix: "cbb-", GenCPU: 0, DUTCPU: 1, XDPMode: "generic",
		FrameSizes: []int{64, 512, 1518}, Flows: []int{1, 1000, 100000},
		Ramp: 200 * time.Millisecond, Trial: time.Second, MaxTrials: 5, Resolution: 0.03,
		CostFlows: 1000, CostWindow: 3 * time.Second,
		ConnClients: 32, ConnDuration: 5 * time.Second,
		SMTPClients: 16, SMTPDuration: 5 * time.Second,
		FloodClients: 4, FloodDuration: 10 * time.Second,
		MaxSessions: 1 << 20, CapacitySessions: 1000000, CapacityLive: 1000000,
		DataBytes: 200 << 20, DataRounds: 3,
		MTAMessages: 100000, MTATimeout: 150 * time.Second, PlacementTrial: 3 * time.Second, PlacementRounds: 3,
		Log: os.Stderr,
	}
	if quick {
		o.Quick = true
		o.FrameSizes, o.Flows = []int{64}, []int{1000}
		o.Ramp, o.Trial, o.MaxTrials, o.Resolution = 150*time.Millisecond, 500*time.Millisecond, 3, 0.1
		o.CostWindow = time.Second
		o.ConnDuration, o.SMTPDuration, o.FloodDuration = 1500*time.Millisecond, 1500*time.Millisecond, 2*time.Second
		o.ConnClients, o.SMTPClients = 16, 8
		o.CapacitySessions, o.CapacityLive = 100000, 0
		o.DataBytes, o.DataRounds = 20<<20, 2
		o.MTAMessages, o.MTATimeout, o.PlacementTrial, o.PlacementRounds = 20000, 60*time.Second, time.Second, 1
	}
	if runtime.NumCPU() < 2 {
		o.DUTCPU = 0
	}
	return o
}

// Machine describes where the run happened.
type Machine struct {
	CPUs        int       `json:"cpus"`
	CPUModel    string    `json:"cpu_model"`
	Kernel      string    `json:"kernel"`
	MemoryMB    int       `json:"memory_mb"`
	GoVersion   string    `json:"go_version"`
	Trafgen     string    `json:"trafgen"`
	LoadStart   string    `json:"loadavg_start"`
	LoadEnd     string    `json:"loadavg_end"`
	Started     time.Time `json:"started"`
	DurationSec float64   `json:"duration_seconds"`
	GenCPU      int       `json:"generator_cpu"`
	DUTCPU      int       `json:"dut_cpu"`
	XDPMode     string    `json:"cbacd_xdp_mode"`
	Quick       bool      `json:"quick"`
	Scenarios   []string  `json:"scenarios,omitempty"` // empty: all
}

// Results is everything a run measured.
type Results struct {
	Machine    Machine            `json:"machine"`
	Contenders []Contender        `json:"contenders"`
	Ceiling    []CeilingResult    `json:"generator_ceiling"`
	Throughput []ThroughputResult `json:"throughput"`
	Cost       []CostResult       `json:"cost"`
	ConnRate   []RateResult       `json:"connection_setup"`
	SMTP       []RateResult       `json:"smtp"`
	Flood      []FloodResult      `json:"syn_flood"`
	SYNFlood   []SYNFloodResult   `json:"syn_flood_intercept"`
	Capacity   []CapacityResult   `json:"capacity"`
	Data       []DataResult       `json:"smtp_data"`
	MTA        []MTAResult        `json:"smtp_source_sink"`
	Placement  []PlacementResult  `json:"placement"`
	Soak       *SoakResult        `json:"soak,omitempty"`
	Notes      []string           `json:"notes"`
	Errors     []string           `json:"errors,omitempty"`
}

// Bench is one run.
type Bench struct {
	opts Options
	topo *Topology
	work string
	res  *Results
	// starts numbers cbacd starts, so each keeps its own log.
	starts int

	gensMu sync.Mutex
	gens   []*generator // guarded by gensMu; every generator started
}

// track records a generator so that the teardown stops it whatever path
// the run took.
func (b *Bench) track(g *generator) {
	b.gensMu.Lock()
	b.gens = append(b.gens, g)
	b.gensMu.Unlock()
}

func (b *Bench) stopGenerators() {
	b.gensMu.Lock()
	gens := b.gens
	b.gensMu.Unlock()
	for _, g := range gens {
		g.stop()
	}
}

func (b *Bench) logf(format string, args ...any) {
	if b.opts.Log != nil {
		fmt.Fprintf(b.opts.Log, format+"\n", args...)
	}
}

// Run builds the topology, runs every scenario against every contender and
// tears everything down (also when ctx is cancelled: Ctrl-C). Failures of
// one measurement are recorded in Results.Errors and the run goes on.
func Run(ctx context.Context, o Options) (*Results, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("cbacbench needs root (network namespaces, AF_XDP, nftables)")
	}
	if o.CBACD == "" {
		return nil, errors.New("the cbacd binary is required (-cbacd PATH)")
	}
	work, err := os.MkdirTemp("", "cbacbench-")
	if err != nil {
		return nil, err
	}
	b := &Bench{opts: o, topo: &Topology{Prefix: o.Prefix, GenCPU: o.GenCPU, DUTCPU: o.DUTCPU}, work: work, res: &Results{}}
	b.res.Machine = describeMachine(o)
	start := time.Now()
	b.logf("cbacbench: work directory %s (cbacd and trafgen logs)", work)

	if err := PinProcess(0, o.GenCPU); err != nil {
		b.note("could not pin cbacbench to cpu %d: %v", o.GenCPU, err)
	}
	restore, err := raiseSendBuffer()
	if err != nil {
		return nil, err
	}
	defer restore()
	upCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = b.topo.Up(upCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	defer func() {
		b.stopGenerators()
		if err := b.topo.Down(); err != nil {
			b.logf("cbacbench: teardown: %v", err)
		}
	}()
	if o.Soak > 0 {
		err = b.soak(ctx, o.Soak)
	} else {
		err = b.run(ctx)
	}
	b.res.Machine.DurationSec = time.Since(start).Seconds()
	b.res.Machine.LoadEnd = loadavg()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err == nil && len(b.res.Errors) == 0 && !o.KeepWork {
		os.RemoveAll(work)
	} else {
		b.logf("cbacbench: logs kept in %s", work)
	}
	return b.res, err
}

func (b *Bench) note(format string, args ...any) {
	b.res.Notes = append(b.res.Notes, fmt.Sprintf(format, args...))
}

func (b *Bench) fail(what string, err error) {
	msg := fmt.Sprintf("%s: %v", what, err)
	b.res.Errors = append(b.res.Errors, msg)
	b.logf("cbacbench: %s", msg)
}

// selected returns the contenders -contenders names, or by default every
// contender but those run only on request.
func (b *Bench) selected() []Contender {
	var out []Contender
	for _, c := range Contenders {
		if len(b.opts.Contenders) == 0 && !c.OnRequest {
			out = append(out, c)
		}
		for _, n := range b.opts.Contenders {
			if n == c.Name {
				out = append(out, c)
			}
		}
	}
	return out
}

func (b *Bench) run(ctx context.Context) error {
	b.res.Contenders = b.selected()
	connLn, err := b.listenIn(RoleOut, fmt.Sprintf("%s:%d", RemoteAddr, connServerPort))
	if err != nil {
		return fmt.Errorf("connection server: %w", err)
	}
	defer connLn.Close()
	go serveRequestReply(connLn)
	smtpSrv, err := b.startSMTPServer()
	if err != nil {
		return err
	}
	defer smtpSrv.Close()

	if b.want("throughput") {
		if err := b.phaseThroughput(ctx); err != nil {
			return err
		}
	}
	if b.want("tcp") {
		if err := b.phaseTCP(ctx); err != nil {
			return err
		}
	}
	if b.want("flood") {
		if err := b.phaseFlood(ctx); err != nil {
			return err
		}
	}
	if b.want("synflood") {
		if err := b.phaseSYNFlood(ctx); err != nil {
			return err
		}
	}
	if b.want("capacity") {
		if err := b.phaseCapacity(ctx); err != nil {
			return err
		}
	}
	// The sinks of scenarios 7 and 8 take the lab SMTP server's place on
	// 10.10.10.2:25.
	smtpSrv.Close()
	if b.want("data") {
		if err := b.phaseData(ctx); err != nil {
			return err
		}
	}
	if b.want("mta") {
		b.mta(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if b.want("placement") {
		b.placement(ctx)
	}
	return ctx.Err()
}

// phaseThroughput is the generator's ceiling and scenario 1.
func (b *Bench) phaseThroughput(ctx context.Context) error {
	o := b.opts
	b.logf("cbacbench: generator ceiling (trafgen straight into the sink, cpu %d)", o.GenCPU)
	for _, size := range o.FrameSizes {
		c, err := b.ceiling(ctx, size)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.fail(fmt.Sprintf("ceiling %dB", size), err)
			continue
		}
		b.res.Ceiling = append(b.res.Ceiling, c)
		b.logf("  %4dB: %.0f pps offered, %.0f delivered", size, c.OfferedPps, c.DeliveredPps)
	}

	// Phase 1: throughput per contender.
	for _, c := range b.res.Contenders {
		b.logf("cbacbench: throughput through %s", c.Name)
		err := b.withContender(ctx, c, func(r *running) error {
			for _, flows := range o.Flows {
				if err := b.warmUp(ctx, r, flows); err != nil {
					return fmt.Errorf("warm-up %d flows: %w", flows, err)
				}
				for _, size := range o.FrameSizes {
					t, err := b.throughput(ctx, r, size, flows)
					if ctx.Err() != nil {
						return ctx.Err()
					}
					if err != nil {
						b.fail(fmt.Sprintf("throughput %s %dB %d flows", c.Name, size, flows), err)
						continue
					}
					b.res.Throughput = append(b.res.Throughput, t)
				}
			}
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.fail("throughput "+c.Name, err)
		}
	}

	return nil
}

// phaseTCP is scenarios 2 (cost), 3 (connection setup) and 4 (SMTP).
func (b *Bench) phaseTCP(ctx context.Context) error {
	o := b.opts
	rate := o.CostRate
	if rate <= 0 {
		rate = b.autoCostRate()
	}
	b.note("cost measured at %.0f pps of 64-byte frames over %d flows (half the lowest zero-loss rate of any contender, unless -cost-rate)", rate, o.CostFlows)

	// Phase 2: cost, connection setup, SMTP per contender.
	for _, c := range b.res.Contenders {
		b.logf("cbacbench: cost, connection setup and SMTP through %s", c.Name)
		err := b.withContender(ctx, c, func(r *running) error {
			if err := b.warmUp(ctx, r, o.CostFlows); err != nil {
				return err
			}
			if cr, err := b.cost(ctx, r, rate); err != nil {
				b.fail("cost "+c.Name, err)
			} else {
				b.res.Cost = append(b.res.Cost, cr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if cr, err := b.connRate(ctx, r); err != nil {
				b.fail("connection setup "+c.Name, err)
			} else {
				b.res.ConnRate = append(b.res.ConnRate, cr)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if sr, err := b.smtpRate(ctx, r); err != nil {
				b.fail("smtp "+c.Name, err)
			} else {
				b.res.SMTP = append(b.res.SMTP, sr)
			}
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.fail(c.Name, err)
		}
	}

	return nil
}

// phaseFlood is scenario 5: cbacd with the seed's thresholds, and
// nftables.
func (b *Bench) phaseFlood(ctx context.Context) error {
	for _, fc := range []struct {
		c      Contender
		policy string
	}{
		{seedFloodContender, "seed thresholds: max-incomplete 400/500, one-minute 400/500, 50 half-open per host, block-time 0"},
		{contenderNamed("nftables"), "nftables conntrack; the server's SYN cookies"},
	} {
		if !b.isSelected(fc.c.Name) {
			continue
		}
		b.logf("cbacbench: SYN flood through %s", fc.c.Name)
		err := b.withContender(ctx, fc.c, func(r *running) error {
			fr, err := b.synFlood(ctx, r, fc.policy)
			if err != nil {
				return err
			}
			b.res.Flood = append(b.res.Flood, fr)
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.fail("syn flood "+fc.c.Name, err)
		}
	}

	return nil
}

// phaseCapacity is scenario 6.
func (b *Bench) phaseCapacity(ctx context.Context) error {
	o := b.opts
	b.logf("cbacbench: capacity (memory per session)")
	if cr, err := SessionMemory(o.MaxSessions, o.CapacitySessions); err != nil {
		b.fail("capacity (in-memory)", err)
	} else {
		b.res.Capacity = append(b.res.Capacity, cr...)
	}
	if o.CapacityLive > 0 && b.isSelected("cbacd") {
		if err := b.withContender(ctx, Contenders[0], func(r *running) error {
			cr, err := b.liveCapacity(ctx, r, o.CapacityLive)
			if err == nil {
				b.res.Capacity = append(b.res.Capacity, cr)
			}
			return err
		}); err != nil {
			b.fail("capacity (cbacd RSS)", err)
		}
	}
	if obj := conntrackObjSize(); obj > 0 {
		b.res.Capacity = append(b.res.Capacity, CapacityResult{What: "nf_conntrack entry (reference)", Sessions: 1,
			Bytes: uint64(obj), BytesPerSession: float64(obj), Note: "slab object size from /proc/slabinfo, hash bucket not counted"})
	}
	return ctx.Err()
}

// phaseData is scenario 7.
func (b *Bench) phaseData(ctx context.Context) error {
	o := b.opts
	closeSinks, err := b.startDataSinks()
	if err != nil {
		b.fail("smtp data", err)
		return ctx.Err()
	}
	defer closeSinks()
	for _, c := range b.res.Contenders {
		b.logf("cbacbench: SMTP data throughput through %s", c.Name)
		bulk := c
		bulk.BulkData, bulk.InspectedBuffer = true, o.InspectedBuffer
		err := b.withContender(ctx, bulk, func(r *running) error {
			dr, err := b.dataThroughput(ctx, r)
			if err != nil {
				return err
			}
			b.res.Data = append(b.res.Data, dr)
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.fail("smtp data "+c.Name, err)
		}
	}
	return ctx.Err()
}

// ScenarioNames are the parts of a run Options.Scenarios selects:
// throughput (with the generator's ceiling), tcp (cost, connection setup,
// SMTP), flood, synflood (scenario 10), capacity, data, mta, placement.
var ScenarioNames = []string{"throughput", "tcp", "flood", "synflood", "capacity", "data", "mta", "placement"}

// want reports whether the run includes scenario name.
func (b *Bench) want(name string) bool {
	if len(b.opts.Scenarios) == 0 {
		return true
	}
	for _, s := range b.opts.Scenarios {
		if s == name {
			return true
		}
	}
	return false
}

func (b *Bench) isSelected(name string) bool {
	for _, c := range b.selected() {
		if c.Name == name {
			return true
		}
	}
	return false
}

// withContender starts c, runs fn and stops c.
func (b *Bench) withContender(ctx context.Context, c Contender, fn func(*running) error) error {
	r, err := b.startContender(ctx, c)
	if err != nil {
		return err
	}
	err = fn(r)
	if serr := r.stop(); serr != nil && err == nil {
		err = serr
	}
	return err
}

// autoCostRate is half the lowest 64-byte zero-loss rate over contenders
// at CostFlows flows (at least 10 kpps).
func (b *Bench) autoCostRate() float64 {
	low := math.Inf(1)
	for _, t := range b.res.Throughput {
		if t.FrameSize == 64 && t.Flows == b.opts.CostFlows && t.ZeroLossPps > 0 && t.ZeroLossPps < low {
			low = t.ZeroLossPps
		}
	}
	if math.IsInf(low, 1) {
		for _, t := range b.res.Throughput {
			if t.FrameSize == 64 && t.ZeroLossPps > 0 && t.ZeroLossPps < low {
				low = t.ZeroLossPps
			}
		}
	}
	if math.IsInf(low, 1) {
		return 100000
	}
	r := math.Round(low/2/10000) * 10000
	if r < 10000 {
		r = 10000
	}
	return r
}

// liveCapacity sends n distinct flows through the real cbacd and reads its
// resident memory before and after.
func (b *Bench) liveCapacity(ctx context.Context, r *running, n int) (CapacityResult, error) {
	res := CapacityResult{What: "cbacd process RSS", Note: "resident memory growth of cbacd after n NATed UDP flows from the generator, per live session"}
	before, err := rssBytes(r.pid)
	if err != nil {
		return res, err
	}
	cfg, err := udpConfig(throughDUT, 64, n)
	if err != nil {
		return res, err
	}
	// Each flow once or twice at 200 kpps (at most 20 s): what is lost
	// only makes fewer sessions, and the count divides.
	const rate = 200000
	d := time.Duration(float64(2*n) / rate * float64(time.Second))
	if d > 20*time.Second {
		d = 20 * time.Second
	}
	if _, err := b.trial(ctx, r, throughDUT, "capacity", cfg, 64, rate, d); err != nil {
		return res, err
	}
	live, _, _, err := r.sessionStats(ctx)
	if err != nil {
		return res, err
	}
	after, err := rssBytes(r.pid)
	if err != nil {
		return res, err
	}
	res.Sessions, res.Bytes = live, after
	if live > 0 && after > before {
		res.BytesPerSession = float64(after-before) / float64(live)
	}
	res.Note += fmt.Sprintf(" (RSS %d MiB before, %d MiB after)", before>>20, after>>20)
	b.logf("  cbacd: %d sessions, RSS %d -> %d MiB", live, before>>20, after>>20)
	return res, nil
}

// raiseSendBuffer sets net.core.wmem_default to 4 MiB for the run (what
// trafgen does itself outside a namespace; inside one the sysctl is
// read-only): with the kernel's forwarding on the other core, trafgen's
// TX_RING otherwise runs out of socket buffer and trafgen stops with
// EAGAIN. The old value is restored by the returned function.
func raiseSendBuffer() (func(), error) {
	const p = "/proc/sys/net/core/wmem_default"
	old, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	v, _ := strconv.Atoi(strings.TrimSpace(string(old)))
	if v >= 4<<20 {
		return func() {}, nil
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(4<<20)), 0); err != nil {
		return nil, fmt.Errorf("raise %s: %w", p, err)
	}
	return func() { os.WriteFile(p, old, 0) }, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	fs := strings.Fields(string(b))
	if len(fs) >= 3 {
		return strings.Join(fs[:3], " ")
	}
	return ""
}

func describeMachine(o Options) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadavg(), Started: time.Now().UTC(),
		GenCPU: o.GenCPU, DUTCPU: o.DUTCPU, XDPMode: o.XDPMode, Quick: o.Quick, Scenarios: o.Scenarios}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemoryMB = kb >> 10
	}
	// trafgen -v exits non-zero; its first line is the version.
	out, _ := execOutput("trafgen", "-v")
	m.Trafgen = strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
	return m
}

// conntrackObjSize reads the nf_conntrack slab's object size (0 if absent).
func conntrackObjSize() int {
	b, err := os.ReadFile("/proc/slabinfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) > 3 && fs[0] == "nf_conntrack" {
			n, _ := strconv.Atoi(fs[3])
			return n
		}
	}
	return 0
}

// contenderNamed returns the contender called name.
func contenderNamed(name string) Contender {
	for _, c := range Contenders {
		if c.Name == name {
			return c
		}
	}
	panic("bench: no contender " + name)
}
