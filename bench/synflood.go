package bench

// Scenario 10: TCP intercept against nftables synproxy under a
// random-source SYN flood at the generator's full rate.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cbac/lab"
)

// SYNFloodResult is scenario 10 for one contender.
type SYNFloodResult struct {
	Contender string `json:"contender"`
	Describe  string `json:"describe"`
	// FloodPps is the rate of SYNs the generator put on the wire.
	FloodPps float64 `json:"flood_pps"`
	// SYNACKs are the cookie SYN/ACKs the DUT sent in the flood's cost
	// window (cbacd: show ip inspect statistics; synproxy: an output hook
	// counter), SYNACKPps their rate. The cost window follows the window
	// of the legitimate sessions and the bulk stream, with the stream
	// closed: the DUT's CPU then goes to the flood alone (a contender
	// that keeps forwarding the bulk stream under the flood would
	// otherwise pay for it in its SYN/ACK cost).
	SYNACKs   uint64  `json:"synacks"`
	SYNACKPps float64 `json:"synack_pps"`
	// Cost is the CPU per SYN/ACK. CoreBusyNs, the DUT core's busy time,
	// is the one PerCoreSecond uses (1e9 / CoreBusyNs): placeNAPI puts
	// every piece of the DUT's work on that core, the hosts' on the
	// generator's. Ns, the contender's process time plus every CPU's
	// softirq+irq time, is kept for reference (it misses threaded NAPI).
	Cost          AllCPUCost `json:"cost_per_synack"`
	PerCoreSecond float64    `json:"synacks_per_core_second"`
	// Legitimate SMTP sessions (5 s timeout each) during the flood.
	Attempted int64   `json:"attempted"`
	Completed int64   `json:"completed"`
	Share     float64 `json:"share"`
	// An established bulk stream (outside -> 172.22.1.110:2525) opened
	// before the flood: Mbit/s without and with the flood.
	BulkBaselineMbps float64 `json:"bulk_baseline_mbps"`
	BulkFloodMbps    float64 `json:"bulk_flood_mbps"`
	BulkShare        float64 `json:"bulk_share"`
	// BulkError is why the stream ended early (a write stalled for 10 s
	// under the flood): a result, not a failure of the run.
	BulkError string `json:"bulk_error,omitempty"`
}

// bulkWindow is the measurement window of the bulk stream without flood;
// costWindow that of the flood's cost, after the stream is closed.
const (
	bulkWindow = 3 * time.Second
	costWindow = 2 * time.Second
)

// phaseSYNFlood is scenario 10.
func (b *Bench) phaseSYNFlood(ctx context.Context) error {
	ln, err := b.listenIn(RoleIn, net.JoinHostPort(MailAddr, strconv.Itoa(DataPlainPort)))
	if err != nil {
		b.fail("syn flood (intercept)", fmt.Errorf("discard sink: %w", err))
		return ctx.Err()
	}
	defer ln.Close()
	go serveDiscard(ln)
	// Frames cbacd's XDP program sends back out the device they came in on
	// (XDP_TX) reach the peer of a native-mode veth only if the peer has
	// an XDP program (lab/peerxdp.go): the outside host's end of out0
	// carries one for this scenario, for every contender alike (its
	// receive then runs in the veth's NAPI, placed on the generator's core
	// by placeNAPI). It drops what is addressed to the flood's made-up
	// sources (198.18.0.0/15): on a real network those answers leave
	// through the firewall's upstream, not into the host that shares the
	// link with the flood; every contender's answers die there alike.
	out := b.topo.NS(RoleOut)
	if err := lab.AttachPeerXDPDropping(out, "eth0", netip.MustParsePrefix("198.18.0.0/15")); err != nil {
		b.fail("syn flood (intercept)", err)
		return ctx.Err()
	}
	defer func() {
		if err := lab.DetachPeerXDP(out, "eth0"); err != nil {
			b.logf("cbacbench: %v", err)
		}
	}()
	for _, c := range synfloodContenders {
		b.logf("cbacbench: SYN flood (intercept/synproxy) through %s", c.Name)
		err := b.withContender(ctx, c, func(r *running) error {
			res, err := b.synFloodIntercept(ctx, r)
			if err != nil {
				return err
			}
			b.res.SYNFlood = append(b.res.SYNFlood, res)
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			b.fail("syn flood "+c.Name, err)
		}
	}
	return ctx.Err()
}

// placeNAPI runs the receive processing (NAPI) of the veths that have it
// in kernel threads at real-time priority, placed as two machines would have it: the DUT's
// devices (in0, out0: native XDP, and cbacd's XDP program's answers) on
// the DUT core, the hosts' ends (their XDP pass programs, and the receive
// of what the DUT sends them) on the generator's core. Unthreaded, a
// veth's NAPI runs on whichever core sent it frames: the DUT's XDP work on
// the generator's core, the hosts' receive of the DUT's answers on the
// DUT core. A device without NAPI (no XDP program in native mode) keeps
// the kernel's default.
func (b *Bench) placeNAPI(ctx context.Context) {
	place := func(ns, dev string, cpu int) {
		if err := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /sys/class/net/"+dev+"/threaded").Run(); err != nil {
			return // no NAPI on this device
		}
		out, _ := exec.CommandContext(ctx, "pgrep", "-x", "napi/"+dev+"-[0-9]+").Output()
		for _, pid := range strings.Fields(string(out)) {
			exec.CommandContext(ctx, "taskset", "-p", "-c", strconv.Itoa(cpu), pid).Run()
			// Real-time, as the softirq it replaces runs before any
			// process: as an ordinary thread it would share its core
			// evenly with a busy worker.
			exec.CommandContext(ctx, "chrt", "-f", "-p", "50", pid).Run()
		}
	}
	place(b.topo.NS(RoleDUT), "out0", b.topo.DUTCPU)
	place(b.topo.NS(RoleDUT), "in0", b.topo.DUTCPU)
	place(b.topo.NS(RoleOut), "eth0", b.topo.GenCPU)
}

// bulkStream writes to 172.22.1.110:2525 from the outside client until
// stopped, counting the bytes the kernel accepted.
type bulkStream struct {
	sent atomic.Int64
	err  error
	done chan struct{}
	stop chan struct{}
}

func (b *Bench) startBulk(ctx context.Context) (*bulkStream, error) {
	s := &bulkStream{done: make(chan struct{}), stop: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(s.done)
		// Never unlocked: the thread dies with the goroutine.
		if err := enterNetns(b.topo.NS(RoleOut), b.topo.GenCPU); err != nil {
			ready <- err
			return
		}
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ClientAddr)}}
		c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(MailGlobal, strconv.Itoa(DataPlainPort)))
		ready <- err
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-s.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			n, err := c.Write(buf)
			s.sent.Add(int64(n))
			if err != nil {
				s.err = err
				return
			}
		}
	}()
	if err := <-ready; err != nil {
		<-s.done
		return nil, fmt.Errorf("bulk stream: %w", err)
	}
	return s, nil
}

// rate measures the stream's Mbit/s over d.
func (s *bulkStream) rate(ctx context.Context, d time.Duration) float64 {
	n0, t0 := s.sent.Load(), time.Now()
	sleep(ctx, d)
	return float64(s.sent.Load()-n0) * 8 / time.Since(t0).Seconds() / 1e6
}

func (s *bulkStream) close() error {
	close(s.stop)
	<-s.done
	return s.err
}

var (
	cookiesRE    = regexp.MustCompile(`TCP intercept: Cookies: (\d+) SYN/ACKs sent`)
	nftCounterRE = regexp.MustCompile(`packets (\d+) bytes`)
)

// synacks returns the SYN/ACKs the contender has sent so far.
func (b *Bench) synacks(ctx context.Context, r *running) (uint64, error) {
	var out string
	if r.sock != "" {
		o, err := r.cbacdCommand(ctx, "show ip inspect statistics")
		if err != nil {
			return 0, err
		}
		out = o
		if m := cookiesRE.FindStringSubmatch(out); m != nil {
			return strconv.ParseUint(m[1], 10, 64)
		}
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		o, err := exec.CommandContext(ctx, "ip", "netns", "exec", b.topo.NS(RoleDUT), "nft", "list", "counter", "ip", "cbacbench", "synacks").CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("nft list counter: %w: %s", err, o)
		}
		out = string(o)
		if m := nftCounterRE.FindStringSubmatch(out); m != nil {
			return strconv.ParseUint(m[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no SYN/ACK count in %q", out)
}

// synFloodIntercept measures one contender: the bulk stream alone, then
// the flood at full rate with legitimate SMTP sessions meanwhile.
func (b *Bench) synFloodIntercept(ctx context.Context, r *running) (SYNFloodResult, error) {
	res := SYNFloodResult{Contender: r.c.Name, Describe: r.c.Describe}
	b.placeNAPI(ctx)
	if err := b.shape(ctx, RoleOut, "eth0", 0, 64); err != nil {
		return res, err
	}
	bulk, err := b.startBulk(ctx)
	if err != nil {
		return res, err
	}
	var closeOnce sync.Once
	var bulkErr error
	closeBulk := func() { closeOnce.Do(func() { bulkErr = bulk.close() }) }
	defer closeBulk()
	sleep(ctx, 500*time.Millisecond) // past slow start
	res.BulkBaselineMbps = bulk.rate(ctx, bulkWindow)

	g0, err := b.topo.Stats(ctx, RoleOut, "eth0")
	if err != nil {
		return res, err
	}
	g, err := b.startGenerator(ctx, RoleOut, "eth0", "synflood", synFloodConfig())
	if err != nil {
		return res, err
	}
	defer g.stop()
	start := time.Now()
	sleep(ctx, 500*time.Millisecond)
	n0, t0 := bulk.sent.Load(), time.Now()
	one := func(ctx context.Context) error { return smtpTransaction(ctx, 5*time.Second) }
	ok, failed, _, _ := b.runClients(ctx, RoleOut, b.opts.FloodClients, b.opts.FloodDuration, one)
	n1, t1 := bulk.sent.Load(), time.Now()
	closeBulk()
	sleep(ctx, 200*time.Millisecond)
	a0, err := b.synacks(ctx, r)
	if err != nil {
		return res, err
	}
	c0, w0 := takeCPU(b.topo.DUTCPU, r.pid), time.Now()
	sleep(ctx, costWindow)
	c1, w1 := takeCPU(b.topo.DUTCPU, r.pid), time.Now()
	a1, err := b.synacks(ctx, r)
	if err != nil {
		return res, err
	}
	alive := g.running()
	g.stop()
	elapsed := time.Since(start).Seconds()
	g1, err := b.topo.Stats(ctx, RoleOut, "eth0")
	if err != nil {
		return res, err
	}
	if !alive {
		return res, fmt.Errorf("flood generator exited early (see %s/trafgen.log)", b.work)
	}
	win := t1.Sub(t0).Seconds()
	res.FloodPps = float64((g1.TxPackets+g1.TxDropped)-(g0.TxPackets+g0.TxDropped)) / elapsed
	res.SYNACKs = a1 - a0
	res.SYNACKPps = float64(res.SYNACKs) / w1.Sub(w0).Seconds()
	res.Cost = allCPUCost(c0, c1, res.SYNACKs)
	if res.Cost.CoreBusyNs > 0 {
		res.PerCoreSecond = 1e9 / res.Cost.CoreBusyNs
	}
	res.Attempted, res.Completed = ok+failed, ok
	if res.Attempted > 0 {
		res.Share = float64(ok) / float64(res.Attempted)
	}
	res.BulkFloodMbps = float64(n1-n0) * 8 / win / 1e6
	if res.BulkBaselineMbps > 0 {
		res.BulkShare = res.BulkFloodMbps / res.BulkBaselineMbps
	}
	b.logf("  %-22s flood %.0f pps, %d SYN/ACKs (%.0f/s, DUT core busy %.0f ns each (process + softirq %.0f, DUT core softirq %.0f): %.0f per core-second), SMTP %d/%d (%.1f%%), bulk %.0f -> %.0f Mbit/s (%.0f%%)",
		r.c.Name, res.FloodPps, res.SYNACKs, res.SYNACKPps, res.Cost.CoreBusyNs, res.Cost.Ns, res.Cost.DUTCoreNs, res.PerCoreSecond, ok, res.Attempted, 100*res.Share,
		res.BulkBaselineMbps, res.BulkFloodMbps, 100*res.BulkShare)
	if bulkErr != nil {
		res.BulkError = bulkErr.Error()
		b.logf("  %-22s bulk stream ended during the flood: %v", r.c.Name, bulkErr)
	}
	return res, nil
}
