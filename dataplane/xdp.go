package dataplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"cbac/dataplane/internal/xsk"
)

// XDPOptions size the AF_XDP binding.
type XDPOptions struct {
	// Workers is the number of workers; 0 means one per RX queue (the
	// smallest queue count of the configured devices, so that every worker
	// has a queue on every device).
	Workers   int
	Frames    int // UMEM frames shared by every socket (default 16384)
	FrameSize int // 2048 or 4096 (default 2048)
	RingSize  int // descriptors per ring (default 2048)
	// Mode is "auto", "native" or "generic" XDP.
	Mode string
	// Force replaces an XDP program that is already on a device.
	Force bool
	Seed  uint64
	// CPUs pins worker i to CPUs[i % len(CPUs)]. Empty: no pinning; each
	// worker keeps its own OS thread and the scheduler places it among the
	// CPUs the process may run on, moving it off a CPU other load took
	// (cbacd -cpus auto chooses CPUs: cmd/cbacd placement.go).
	CPUs []int
	// Spin is how long a worker keeps polling its rings after the last
	// frame before it sleeps in poll(2): SpinAuto (0, the default) adapts
	// it to the recent batches (spin.go), SpinNever (negative) sleeps
	// after the first batch without frames, a positive duration is fixed.
	Spin time.Duration
}

// XDP is a Dataplane bound to real devices: an XDP redirect program on each
// device, one AF_XDP socket per (worker, device) over one shared UMEM (a
// frame received on one device is transmitted on the other without a
// copy), and one goroutine per worker on its own OS thread.
type XDP struct {
	DP *Dataplane
	// StaleRemoved names the devices whose XDP program, left by a cbacd
	// that exited without detaching it, was removed at start.
	StaleRemoved []string
	umem         *xsk.UMEM
	progs        []*xsk.Program
	// switches are progs as the cookie control switches them; cookiesOff
	// counts in cookiesCleared each time it turned them all off.
	switches       []cookieSwitch
	cookiesCleared atomic.Uint64
	socks          [][]*xsk.Socket // [worker][port]
	cpus           []int
	spin           int64 // ns a worker keeps polling after its last frame; 0: adaptive
	ring           uint32
	// clockOffset turns the kernel's monotonic clock into the workers'
	// (the XDP program's cookie clock).
	clockOffset int64
	closeMu     sync.Mutex
	closed      bool
}

// Errors the daemon reports with advice.
var (
	ErrNotRoot = errors.New("cbacd needs root (CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW) to bind devices with AF_XDP")
)

// OpenXDP attaches the XDP program to every configured device, creates the
// sockets and builds the dataplane. On error nothing is left attached.
func OpenXDP(rs *Ruleset, o XDPOptions) (x *XDP, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if o.Frames <= 0 {
		o.Frames = 16384
	}
	if o.FrameSize <= 0 {
		o.FrameSize = 2048
	}
	if o.RingSize <= 0 {
		o.RingSize = 2048
	}
	mode := xsk.ModeAuto
	switch o.Mode {
	case "", "auto":
	case "native":
		mode = xsk.ModeNative
	case "generic":
		mode = xsk.ModeGeneric
	default:
		return nil, fmt.Errorf("xdp mode %q: want auto, native or generic", o.Mode)
	}
	x = &XDP{cpus: o.CPUs, spin: int64(o.Spin)}
	defer func() {
		if err != nil {
			x.Close()
			x = nil
		}
	}()
	ifindex := make([]int, len(rs.Ifaces))
	minQueues := 0
	for p, f := range rs.Ifaces {
		idx, err := xsk.InterfaceIndex(f.Device)
		if err != nil {
			return x, fmt.Errorf("interface %s: %w", f.Name, err)
		}
		ifindex[p] = idx
		q, err := xsk.QueueCount(f.Device)
		if err != nil {
			return x, fmt.Errorf("interface %s: %w", f.Name, err)
		}
		if minQueues == 0 || q < minQueues {
			minQueues = q
		}
		removed, err := xsk.DetachStale(idx)
		if err != nil {
			return x, fmt.Errorf("interface %s: %w", f.Name, err)
		}
		if removed {
			x.StaleRemoved = append(x.StaleRemoved, f.Device)
		}
		prog, err := xsk.Attach(idx, q, xsk.AttachOptions{Mode: mode, Force: o.Force})
		if err != nil {
			return x, fmt.Errorf("interface %s: %w", f.Name, err)
		}
		x.progs = append(x.progs, prog)
		x.switches = append(x.switches, prog)
	}
	workers := o.Workers
	if workers <= 0 || workers > minQueues {
		workers = minQueues
	}
	if workers > runtime.NumCPU() {
		workers = runtime.NumCPU()
	}
	x.umem, err = xsk.NewUMEM(o.Frames, o.FrameSize)
	if err != nil {
		return x, err
	}
	ring := uint32(o.RingSize)
	x.ring = ring
	queues := make([][]Queue, workers)
	x.socks = make([][]*xsk.Socket, workers)
	for w := 0; w < workers; w++ {
		for p := range rs.Ifaces {
			s, err := xsk.NewSocket(x.umem, ifindex[p], w, xsk.SocketConfig{FillSize: ring, CompletionSize: ring, RxSize: ring, TxSize: ring})
			if err != nil {
				return x, fmt.Errorf("interface %s queue %d: %w", rs.Ifaces[p].Name, w, err)
			}
			x.socks[w] = append(x.socks[w], s)
			queues[w] = append(queues[w], newXSKQueue(s, 256))
		}
	}
	x.DP, err = New(rs, Options{Workers: workers, UMEM: x.umem.Bytes(), FrameSize: o.FrameSize, Queues: queues, Seed: o.Seed})
	if err != nil {
		return x, err
	}
	x.DP.pins.onOpen = x.cookiesOff
	// Fill rings are stocked (New refills); now let frames in.
	for w := range x.socks {
		for p, s := range x.socks[w] {
			if err := x.progs[p].Register(w, s.FD()); err != nil {
				return x, fmt.Errorf("interface %s queue %d: register: %w", rs.Ifaces[p].Name, w, err)
			}
		}
	}
	return x, nil
}

// SetCPUs sets the CPUs the workers are pinned to, as XDPOptions.CPUs
// (before Run).
func (x *XDP) SetCPUs(cpus []int) { x.cpus = cpus }

// Run runs one goroutine per worker, each locked to its OS thread and,
// with XDPOptions.CPUs, pinned, until ctx ends.
func (x *XDP) Run(ctx context.Context) {
	x.DP.SetRunning(true)
	defer x.DP.SetRunning(false)
	start := time.Now()
	x.clockOffset = int64(time.Since(start)) - xsk.Monotonic()
	x.DP.xdpCookies.Store(true)
	defer x.DP.xdpCookies.Store(false)
	var wg sync.WaitGroup
	for i, w := range x.DP.Workers {
		wg.Add(1)
		cpu := -1
		if len(x.cpus) > 0 {
			cpu = x.cpus[i%len(x.cpus)]
		}
		go func(cpu int, w *Worker, socks []*xsk.Socket) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if cpu >= 0 {
				var set unix.CPUSet
				set.Set(cpu)
				unix.SchedSetaffinity(0, &set) // best effort: pinning is an optimisation
			}
			pfds := make([]unix.PollFd, len(socks))
			shed := make([]shedControl, len(socks))
			var cookies cookieControl
			var lastWork int64
			var auto spinPolicy
			for ctx.Err() == nil {
				now := int64(time.Since(start))
				n := w.Step(now)
				auto.observe(now, n)
				x.shed(w.ID, socks, shed, now)
				x.cookies(w, &cookies, now)
				if n > 0 {
					lastWork = now
					continue
				}
				var sleep bool
				if x.spin == 0 {
					sleep = auto.sleep(now)
				} else {
					sleep = now-lastWork > x.spin
				}
				if sleep {
					// Nothing for a while: sleep in poll(2) until frames
					// arrive, waking at least every 10 ms for timers and
					// control requests. Poll kicks a TX ring that still
					// holds frames (copy mode sends a bounded number per
					// kick) and returns at once then. Under a backlog the
					// worker keeps polling instead: a sleep and a wake-up
					// per batch cost more than the batch.
					xsk.Poll(socks, pfds, 10)
				}
			}
		}(cpu, w, x.socks[i])
	}
	wg.Wait()
}

// shed runs worker id's SYN shedding controllers (shed.go), one per
// device, while [tcp_intercept] is configured; a share that changes is
// written to the device's XDP program.
func (x *XDP) shed(id int, socks []*xsk.Socket, ctl []shedControl, now int64) {
	on := x.DP.Ruleset().Intercept != nil
	for p, s := range socks {
		if !on {
			if ctl[p].off() {
				x.progs[p].SetShed(id, 0)
			}
			continue
		}
		if share, changed := ctl[p].observe(now, s.RxBacklog(), x.ring); changed {
			x.progs[p].SetShed(id, share) // a failed update keeps the old share
		}
	}
}

// Shed is one RX queue's SYN shedding: the share now and the SYNs dropped.
type Shed struct {
	Share float64 // 0..1
	SYNs  uint64
}

// ShedStats returns the SYN shedding per (worker, port).
func (x *XDP) ShedStats() [][]Shed {
	out := make([][]Shed, len(x.socks))
	for w := range x.socks {
		for p := range x.socks[w] {
			th, n, _ := x.progs[p].Shed(w)
			out[w] = append(out[w], Shed{Share: float64(th) / (1 << 32), SYNs: n})
		}
	}
	return out
}

// SocketStats returns the kernel's XDP statistics per (worker, port).
func (x *XDP) SocketStats() [][]unix.XDPStatistics {
	out := make([][]unix.XDPStatistics, len(x.socks))
	for w := range x.socks {
		for _, s := range x.socks[w] {
			st, _ := s.Stats()
			out[w] = append(out[w], st)
		}
	}
	return out
}

// Close detaches the programs and closes the sockets and the UMEM. Safe to
// call more than once and on a half-built XDP.
func (x *XDP) Close() error {
	x.closeMu.Lock()
	defer x.closeMu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	var errs []error
	for _, p := range x.progs {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ss := range x.socks {
		for _, s := range ss {
			if err := s.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if x.umem != nil {
		if err := x.umem.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// xskQueue adapts an AF_XDP socket to Queue; the descriptor copies are per
// batch scratch, never allocated on the packet path.
type xskQueue struct {
	s   *xsk.Socket
	buf []xsk.Desc
}

func newXSKQueue(s *xsk.Socket, batch int) *xskQueue {
	return &xskQueue{s: s, buf: make([]xsk.Desc, 0, 4*batch)}
}

func (q *xskQueue) Receive(out []Desc) []Desc {
	room := cap(out) - len(out)
	if room > cap(q.buf) {
		room = cap(q.buf)
	}
	got := q.s.Receive(q.buf[:0:room])
	for _, d := range got {
		out = append(out, Desc{Addr: d.Addr, Len: d.Len})
	}
	return out
}

func (q *xskQueue) Transmit(ds []Desc) int {
	if len(ds) == 0 {
		q.s.Transmit(nil)
		return 0
	}
	sent := 0
	for sent < len(ds) {
		n := len(ds) - sent
		if n > cap(q.buf) {
			n = cap(q.buf)
		}
		b := q.buf[:n]
		for i := range b {
			b[i] = xsk.Desc{Addr: ds[sent+i].Addr, Len: ds[sent+i].Len}
		}
		k := q.s.Transmit(b)
		sent += k
		if k < n {
			break
		}
	}
	return sent
}

func (q *xskQueue) Complete(out []uint64) []uint64 { return q.s.Complete(out) }

func (q *xskQueue) Fill(addrs []uint64) int { return q.s.Fill(addrs) }
