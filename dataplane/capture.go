package dataplane

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Packet capture for `cbacctl capture` (ASA "capture asp-drop", VPP "pcap
// trace drop"): while a capture runs, each worker copies the first Snap
// bytes of the frames it selects into its own bounded ring; the control
// plane drains the rings off the packet path. Without a capture the cost
// is one atomic load per batch (Step) and a plain bool test at each hook
// (drop, receive, transmit).
//
// A full ring loses the frame (counted in Lost): a slow reader never slows
// forwarding. Selected are:
//   - drops (Worker.drop) of the chosen reasons, on the port the frame was
//     on when dropped: its ingress port, except for drops at transmit
//     (ARP unresolved, ARP queue full, TX ring full) of frames already
//     routed, which are on their egress port and already rewritten (NAT,
//     TTL, MACs); frames dropped before they were parsed (runts) as they are;
//   - for an interface capture, every frame received on the port (before
//     any check, so its drops too) and every frame transmitted on it.
//
// One capture runs at a time.

// CaptureDir says where a captured frame was taken.
type CaptureDir uint8

const (
	CaptureDrop CaptureDir = iota // dropped (Record.Reason says why)
	CaptureIn                     // received on the port
	CaptureOut                    // transmitted on the port
)

// CaptureFilter says what a capture takes.
type CaptureFilter struct {
	// Drops selects dropped frames whose reason's bit (1<<Reason) is set
	// in Reasons.
	Drops   bool
	Reasons uint64
	// Port >= 0 selects the frames received and transmitted on that port.
	Port int
	// Snap is how many bytes of each frame are kept (1 to the frame size).
	Snap int
	// Ring is the number of frames each worker's ring holds; default 2048.
	Ring int
}

// AllReasons selects every drop reason.
const AllReasons = uint64(1)<<NumReasons - 1 - 1<<DropNone

// Reasons must fit CaptureFilter.Reasons.
var _ [64 - int(NumReasons)]struct{}

// ErrCaptureStart is wrapped by StartCapture's errors.
var ErrCaptureStart = errors.New("capture start")

// Capture is a running capture: one ring per worker.
type Capture struct {
	filter CaptureFilter
	rings  []*captureRing
	rec    CaptureRecord // Drain's scratch
}

// CaptureRecord is one captured frame as Drain hands it over.
type CaptureRecord struct {
	Now    int64  // the worker's clock when the frame was taken
	Len    uint32 // length of the whole frame
	Port   uint8
	Dir    CaptureDir
	Reason Reason // for CaptureDrop
	Data   []byte // the first min(Len, Snap) bytes; valid during the callback
}

// captureRing is a single-producer (the worker) single-consumer (the
// drain goroutine) ring of fixed-size slots.
type captureRing struct {
	head atomic.Uint64
	_    [56]byte
	tail atomic.Uint64
	_    [56]byte
	lost atomic.Uint64
	mask uint64
	snap uint64
	recs []captureRec
	data []byte
}

type captureRec struct {
	now    int64
	len    uint32
	caplen uint32
	port   uint8
	dir    CaptureDir
	reason Reason
}

// workerCapture is a worker's view of the running capture, set once per
// batch from Dataplane.capture.
type workerCapture struct {
	cur     *Capture
	ring    *captureRing
	drops   bool // the drop path tests this, and only this, without a capture
	rx, tx  bool
	port    uint8
	reasons uint64
}

// StartCapture starts a capture; the workers take it up at their next
// batch. Only one capture runs at a time.
func (dp *Dataplane) StartCapture(f CaptureFilter) (*Capture, error) {
	if !f.Drops && f.Port < 0 {
		return nil, fmt.Errorf("%w: nothing selected", ErrCaptureStart)
	}
	if f.Drops && f.Reasons&AllReasons == 0 {
		return nil, fmt.Errorf("%w: no drop reason selected", ErrCaptureStart)
	}
	if f.Port >= len(dp.Ruleset().Ifaces) {
		return nil, fmt.Errorf("%w: no port %d", ErrCaptureStart, f.Port)
	}
	if f.Snap < 1 || f.Snap > dp.frameSize {
		return nil, fmt.Errorf("%w: snap length %d is not between 1 and %d", ErrCaptureStart, f.Snap, dp.frameSize)
	}
	if f.Ring <= 0 {
		f.Ring = 2048
	}
	n := 1
	for n < f.Ring {
		n <<= 1
	}
	c := &Capture{filter: f}
	for range dp.Workers {
		c.rings = append(c.rings, &captureRing{
			mask: uint64(n - 1), snap: uint64(f.Snap),
			recs: make([]captureRec, n), data: make([]byte, n*f.Snap),
		})
	}
	if !dp.capture.CompareAndSwap(nil, c) {
		return nil, fmt.Errorf("%w: another capture is running", ErrCaptureStart)
	}
	return c, nil
}

// StopCapture ends c and waits until no worker writes to its rings any
// more (each passes a batch boundary), so a last Drain gets everything
// and Lost is final.
func (dp *Dataplane) StopCapture(c *Capture) {
	if !dp.capture.CompareAndSwap(c, nil) {
		return
	}
	for i := range dp.Workers {
		dp.Do(i, func(*Worker) {})
	}
}

// Drain calls fn for every frame the workers' rings hold, oldest first
// per worker, and frees their slots; fn returning false stops it (the
// rest stay). It returns how many frames fn took. One goroutine drains.
func (c *Capture) Drain(fn func(*CaptureRecord) bool) int {
	n := 0
	rec := &c.rec
	for _, r := range c.rings {
		h, t := r.head.Load(), r.tail.Load()
		for ; h != t; h++ {
			i := h & r.mask
			x := &r.recs[i]
			*rec = CaptureRecord{Now: x.now, Len: x.len, Port: x.port, Dir: x.dir, Reason: x.reason,
				Data: r.data[i*r.snap : i*r.snap+uint64(x.caplen)]}
			if !fn(rec) {
				r.head.Store(h)
				return n
			}
			n++
		}
		r.head.Store(h)
	}
	return n
}

// Lost is how many selected frames found their worker's ring full.
func (c *Capture) Lost() uint64 {
	var n uint64
	for _, r := range c.rings {
		n += r.lost.Load()
	}
	return n
}

// Filter is what c selects (with the defaults filled in).
func (c *Capture) Filter() CaptureFilter { return c.filter }

// Clock is the worker's clock at its last batch (the time base of
// CaptureRecord.Now); read it through Do.
func (w *Worker) Clock() int64 { return w.now }

// setCapture takes up the capture c (nil: none) between batches.
func (w *Worker) setCapture(c *Capture) {
	w.capture = workerCapture{cur: c}
	if c == nil {
		return
	}
	f := &c.filter
	w.capture.ring = c.rings[w.ID]
	w.capture.drops = f.Drops
	w.capture.reasons = f.Reasons
	if f.Port >= 0 {
		w.capture.rx, w.capture.tx, w.capture.port = true, true, uint8(f.Port)
	}
}

// captureDrop copies a frame dropped for reason r if the capture wants it.
func (w *Worker) captureDrop(d *Desc, r Reason) {
	if w.capture.reasons&(1<<r) != 0 {
		w.capture.ring.put(w.now, w.captured(d), d.Port, CaptureDrop, r)
	}
}

// captureRx copies a frame received on the captured port.
func (w *Worker) captureRx(d *Desc) {
	if d.Port == w.capture.port {
		w.capture.ring.put(w.now, w.captured(d), d.Port, CaptureIn, DropNone)
	}
}

// captureTx copies the frames just transmitted on port p if it is the
// captured port.
func (w *Worker) captureTx(p int, ds []Desc) {
	if uint8(p) != w.capture.port {
		return
	}
	for i := range ds {
		w.capture.ring.put(w.now, w.captured(&ds[i]), uint8(p), CaptureOut, DropNone)
	}
}

// captured is d's frame, cut to the UMEM (a drop may see a bad length).
func (w *Worker) captured(d *Desc) []byte {
	if d.Addr >= uint64(len(w.umem)) {
		return nil
	}
	end := d.Addr + uint64(d.Len)
	if end > uint64(len(w.umem)) {
		end = uint64(len(w.umem))
	}
	return w.umem[d.Addr:end]
}

// put copies up to snap bytes of f into the next slot, or counts it lost.
func (r *captureRing) put(now int64, f []byte, port uint8, dir CaptureDir, why Reason) {
	t := r.tail.Load()
	if t-r.head.Load() > r.mask {
		r.lost.Add(1)
		return
	}
	i := t & r.mask
	n := copy(r.data[i*r.snap:(i+1)*r.snap], f)
	r.recs[i] = captureRec{now: now, len: uint32(len(f)), caplen: uint32(n), port: port, dir: dir, reason: why}
	r.tail.Store(t + 1)
}
