// Package dataplane is cbac's packet path: one run-to-completion worker per
// RX queue, moving frames in batches between AF_XDP rings (or in-memory and
// capture rings) and applying CBAC inspection, static NAT and ACLs.
//
// A batch (Worker.Step), in order:
//
//  1. load the ruleset snapshot (atomic.Pointer; a reload never stops traffic)
//  2. take frames handed over by other workers (the session's owner runs it)
//  3. receive a batch from every port, warm the cache lines its session
//     lookups will read (warm.go), and for each frame (forward.go):
//     a. Ethernet: ARP is answered/learned (l2.go); non-IPv4 is dropped
//     b. IPv4 header checks and every checksum (IPv4 header, TCP, UDP,
//     ICMP; a fragment's over its reassembled datagram, frag.go) before
//     any state changes; packets for the router itself (ICMP echo)
//     c. owner check: a flow belongs to one worker; others hand it over
//     d. session lookup (one lookup finds either direction); a packet of a
//     known session skips the ACLs (how return traffic passes ACL 101)
//     -> TCP window tracking, SMTP inspection (smtp.go), NAT, forward
//     e. no session: inbound ACL (global addresses) -> NAT outside->inside
//     -> route -> inspection rule creates a session (thresholds first)
//     -> NAT inside->outside -> outbound ACL; with ip tcp intercept, a
//     protected SYN is answered with a cookie SYN/ACK instead, and a
//     cookie ACK creates the session and opens the server side
//     (intercept.go), whose segments are translated around step d
//     f. TTL, next-hop MAC (ARP resolve with a bounded pending queue)
//  4. transmit per port, reclaim completions, refill the fill rings
//  5. frames waiting for ARP, session expiry (bounded), SMTP pool top-up
//     (smtpPool.stock), threshold tick and refusal reports (refusalLog)
//  6. control-plane requests (mailbox), between batches only
//
// The clock is read once per batch (now) by the caller; nothing on the
// packet path allocates, locks, logs or formats.
package dataplane

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"cbac/appinspect"
	"cbac/flowtable"
	"cbac/inspect"
	"cbac/internal/hugepage"
	"cbac/smtpfsm"
	"cbac/tcpintercept"
	"cbac/vfr"
)

// Options size a Dataplane.
type Options struct {
	Workers   int
	UMEM      []byte // shared by every queue of every worker
	FrameSize int
	// Queues[w][p] is worker w's queue on port p (nil: the worker has none
	// on that port; it then hands its frames for p to a worker that has).
	Queues    [][]Queue
	BatchSize int    // frames per receive; default 64
	Seed      uint64 // hash seed for the session tables
	// CookieSecret is the TCP intercept master secret (tcpintercept.NewJar),
	// shared by the workers; zero: drawn from crypto/rand.
	CookieSecret [16]byte
	// Reserve is how many frames each worker keeps back from its fill rings
	// for packets it builds itself (ARP, RST, ICMP); default 64.
	Reserve int
}

// handoffRing is the least size of each hand-over ring (and of its
// give-back ring): room for a bulk direction's frames while the owner is
// descheduled for some milliseconds (256 entries dropped frames of 10 MB
// FTP transfers with two workers on two busy cores).
const handoffRing = 2048

// Dataplane owns the workers and what they share: the ruleset pointer, the
// ARP cache, the hand-over rings and the global threshold counters.
type Dataplane struct {
	ruleset atomic.Pointer[Ruleset]
	// xdpCookies: the XDP program can answer cookie SYN/ACKs; workers
	// offer it destinations (xdpcookie.go).
	xdpCookies atomic.Bool
	Workers    []*Worker
	Neigh      *Neighbors
	handoff    [][]*spsc[Desc] // [from][to]
	// giveback [from][to] carries free frames back to a worker that
	// handed frames over (giveback.go).
	giveback [][]*spsc[uint64]
	shared   *inspect.Shared
	running  atomic.Bool
	// runMu guards stop, closed when the worker goroutines have stopped
	// (SetRunning(false)): Do stops waiting then.
	runMu sync.Mutex
	stop  chan struct{}
	// DebugSMTP turns on `debug ip inspect smtp` tracing.
	DebugSMTP atomic.Bool
	frameSize int
	pins      *pinholeTable           // FTP data connections announced (pinhole.go)
	capture   atomic.Pointer[Capture] // cbacctl capture (capture.go)
}

// Worker is one run-to-completion packet loop. Its fields are touched only
// by its own goroutine, except through Do.
type Worker struct {
	ID           int
	dp           *Dataplane
	rs           *Ruleset
	umem         []byte
	frameSize    uint64
	queues       [maxPorts]Queue
	batch        int
	reserve      int
	pool         framePool
	holds        frameHolds // frames held by SMTP guards (hold.go)
	rx           []Desc
	warmKeys     []flowtable.Key // warm.go scratch
	warmIdx      []uint32
	warmSink     uint64
	warmPos      [warmChunkMax]uint8  // frame of warmKeys[j] in the chunk
	warmHint     [warmChunkMax]uint32 // session index found for frame i of the chunk, 0 = none
	tx           [maxPorts][]Desc
	handOut      [][]Desc
	owed         []int // frames received by hand-over from each worker, not yet given back
	completed    []uint64
	table        *flowtable.Table
	sess         []Session
	smtp         smtpPool
	ftp          appinspect.Pool[ftpState]        // FTP control sessions' inspection (ftp.go)
	http         appinspect.Pool[appinspect.HTTP] // HTTP sessions' Java blocking (http.go)
	ftpBuf       []byte                           // scratch for rewritten FTP segments
	tracing      bool                             // debug ip inspect smtp: trace into w.trace
	reassembling bool                             // process runs on a reassembled datagram's first fragment
	adm          *inspect.Admission
	pend         pendingARP
	expired      []uint32
	events       *spsc[Event]
	mailbox      chan func(*Worker)
	now          int64
	halfOpen     int // half-open sessions of this worker
	lastRx       int // frames the previous batch received; -1 before the first
	trace        smtpfsm.Trace
	vfr          *vfr.Table       // virtual reassembly (frag.go)
	fragOut      []vfr.Frag       // scratch for vfr results
	fragRest     []Desc           // the other fragments of the datagram being processed
	jar          tcpintercept.Jar // TCP intercept cookies (intercept.go)
	// Destinations judged for the XDP program's cookie answers under this
	// rule set, and those offered to it (xdpcookie.go).
	cookieSeen    [cookieSeenMax]cookieDst
	nCookieSeen   int
	cookieOffers  [cookieOfferMax]cookieDst
	nCookieOffers int
	splices       splicePool
	// TCP intercept's incomplete connections (watch.go): session indices,
	// and per session index 1 + its position there (0: not incomplete).
	incomplete    []uint32
	incompletePos []uint32
	rng           uint64 // drop-mode random's generator (watch.go random)
	// Stats are the worker's counters; read them through Do.
	Stats Stats
	// Intercept are the TCP intercept counters; read them through Do.
	Intercept InterceptStats
	// Rate limits of the EvTableFull and EvInspectFull events.
	tableFull, inspectFull refusalLog
	// The running capture as this worker took it up (capture.go).
	capture workerCapture
}

// Stats are one worker's counters.
type Stats struct {
	Drops           [NumReasons]uint64
	RxPackets       [maxPorts]uint64
	RxBytes         [maxPorts]uint64
	TxPackets       [maxPorts]uint64
	TxBytes         [maxPorts]uint64
	ACLHits         [][]uint64 // [acl][entry]; the last entry is the implicit deny
	SessionsCreated uint64
	SessionsDeleted uint64
	ARPAnswered     uint64
	ARPLearned      uint64
	ARPRequests     uint64
	HandedOver      uint64
	FramesGivenBack uint64 // free frames given back to workers that handed frames over
	EventsDropped   uint64
	SMTPRewritten   uint64 // bytes turned into x
	Forwarded       uint64
	// SMTPAlerts counts SMTP violations by kind (whether or not the
	// session's rule logs alerts).
	SMTPAlerts [smtpfsm.NumAlerts]uint64
	// FTPAlerts counts FTP check failures by ftpfsm.AlertKind.
	FTPAlerts [8]uint64
	// PinholesOpened counts the data connections FTP sessions announced,
	// PinholesUsed those that came, PinholesFull announcements that found
	// the pinhole table full (the data connection is then refused).
	PinholesOpened, PinholesUsed, PinholesFull uint64
	// HTTP (http.go): sessions inspected for Java applets, sessions whose
	// server the java-list trusts (not inspected), and archived applets
	// (.jar, .zip) that inspected sessions passed, unable to look inside.
	HTTPInspected, HTTPTrusted, HTTPArchives uint64
	// RunNs is the time from the worker's first batch to its last; BusyNs
	// the part of it that followed batches that received frames: the
	// worker was processing, not waiting. Both come from the batch clock
	// (Step's now), which costs no extra clock read.
	RunNs, BusyNs int64
	// HalfOpenResets counts half-open TCP sessions deleted and reset on
	// both ends, per cause.
	HalfOpenResets [NumResetCauses]uint64
}

// ErrOptions is wrapped by New's errors.
var ErrOptions = errors.New("dataplane options")

// New builds the workers. rs must be compiled.
func New(rs *Ruleset, o Options) (*Dataplane, error) {
	if o.Workers <= 0 || len(o.Queues) != o.Workers {
		return nil, fmt.Errorf("%w: %d workers, %d queue sets", ErrOptions, o.Workers, len(o.Queues))
	}
	if o.FrameSize < 2048 || len(o.UMEM) < o.FrameSize*o.Workers*256 {
		return nil, fmt.Errorf("%w: UMEM of %d bytes with %d-byte frames is too small", ErrOptions, len(o.UMEM), o.FrameSize)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.Reserve <= 0 {
		o.Reserve = 64
	}
	if o.CookieSecret == ([16]byte{}) {
		if _, err := rand.Read(o.CookieSecret[:]); err != nil {
			return nil, fmt.Errorf("%w: cookie secret: %v", ErrOptions, err)
		}
	}
	dp := &Dataplane{Neigh: NewNeighbors(4096), shared: &inspect.Shared{}, frameSize: o.FrameSize, pins: new(pinholeTable)}
	rs.gen = 1
	dp.ruleset.Store(rs)
	for _, n := range rs.StaticARP {
		dp.Neigh.Learn(n.Port, n.Addr, n.MAC, true)
	}
	nframes := len(o.UMEM) / o.FrameSize
	per := nframes / o.Workers
	perSessions := rs.MaxSessions / o.Workers
	if perSessions < 1 {
		perSessions = 1
	}
	dp.handoff = make([][]*spsc[Desc], o.Workers)
	dp.giveback = make([][]*spsc[uint64], o.Workers)
	for i := range dp.handoff {
		dp.handoff[i] = make([]*spsc[Desc], o.Workers)
		dp.giveback[i] = make([]*spsc[uint64], o.Workers)
		for j := range dp.handoff[i] {
			if i != j {
				dp.handoff[i][j] = newSPSC[Desc](max(4*o.BatchSize, handoffRing))
				dp.giveback[i][j] = newSPSC[uint64](max(4*o.BatchSize, handoffRing))
			}
		}
	}
	for i := 0; i < o.Workers; i++ {
		w := &Worker{
			ID: i, dp: dp, umem: o.UMEM, frameSize: uint64(o.FrameSize),
			batch: o.BatchSize, reserve: o.Reserve, lastRx: -1,
			rx:        make([]Desc, 0, o.BatchSize),
			warmKeys:  make([]flowtable.Key, 0, flowtable.WarmMax),
			warmIdx:   make([]uint32, 0, flowtable.WarmMax),
			completed: make([]uint64, 0, 4*o.BatchSize),
			expired:   make([]uint32, 0, expireBudget),
			events:    newSPSC[Event](4096),
			mailbox:   make(chan func(*Worker), 4),
			table:     flowtable.New(perSessions, paddedClasses(rs), o.Seed+uint64(i)*0x9e3779b97f4a7c15),
			jar:       tcpintercept.NewJar(o.CookieSecret),
			rng:       o.Seed ^ uint64(i+1)*0xd1b54a32d192ed03,
			adm:       inspect.NewAdmission(rs.Thresholds, dp.shared, 4096, o.Seed^uint64(i), make([]inspect.Event, 0, 64)),
		}
		if o.FrameSize&(o.FrameSize-1) != 0 {
			return nil, fmt.Errorf("%w: frame size %d is not a power of two", ErrOptions, o.FrameSize)
		}
		w.pool.free = make([]uint64, 0, nframes)
		w.pool.mask = ^uint64(o.FrameSize - 1)
		for f := i * per; f < (i+1)*per; f++ {
			w.pool.free = append(w.pool.free, uint64(f*o.FrameSize))
		}
		w.sess = make([]Session, w.table.Capacity()+1)
		_ = hugepage.Advise(w.sess) // as flowtable.New does for its slab
		w.vfr = vfr.New(rs.Reassembly.MaxDatagrams, rs.Reassembly.MaxFragments, int64(rs.Reassembly.Timeout), o.Seed^0x5bd1e995+uint64(i))
		w.fragOut = make([]vfr.Frag, 0, w.vfr.MaxFragments()+1)
		w.fragRest = make([]Desc, 0, w.vfr.MaxFragments())
		// The SMTP pool grows to the table's capacity, keeping enough
		// states free for the sessions one batch can create: a batch
		// from each port and from each other worker's hand-over ring.
		ports := 0
		for p := range o.Queues[i] {
			if o.Queues[i][p] != nil {
				ports++
			}
		}
		w.smtp.init(w, w.table.Capacity(), rs.StreamBuffer, o.BatchSize*(ports+o.Workers-1))
		w.ftp.Init(w.table.Capacity(), o.BatchSize*(ports+o.Workers-1))
		w.ftpBuf = make([]byte, appinspect.ScratchLen(o.FrameSize))
		w.http.Init(w.table.Capacity(), o.BatchSize*(ports+o.Workers-1))
		w.holds.init(nframes, o.FrameSize, per/4)
		for p := range o.Queues[i] {
			if p >= maxPorts {
				return nil, fmt.Errorf("%w: too many ports", ErrOptions)
			}
			w.queues[p] = o.Queues[i][p]
		}
		for p := range w.tx {
			w.tx[p] = make([]Desc, 0, 4*o.BatchSize+arpQueueLen)
		}
		w.owed = make([]int, o.Workers)
		w.handOut = make([][]Desc, o.Workers)
		for j := range w.handOut {
			w.handOut[j] = make([]Desc, 0, 2*o.BatchSize+vfr.MaxFragments)
		}
		w.setRuleset(rs)
		dp.Workers = append(dp.Workers, w)
	}
	for _, w := range dp.Workers {
		w.refill()
	}
	return dp, nil
}

// Ruleset returns the running ruleset.
func (dp *Dataplane) Ruleset() *Ruleset { return dp.ruleset.Load() }

// Swap installs a new compiled ruleset; workers pick it up at their next
// batch. Interfaces and expiry classes must stay compatible (same ports,
// no fewer classes).
func (dp *Dataplane) Swap(rs *Ruleset) error {
	old := dp.ruleset.Load()
	if len(rs.Ifaces) != len(old.Ifaces) {
		return fmt.Errorf("%w: reload cannot change the number of interfaces", ErrRuleset)
	}
	for i := range rs.Ifaces {
		if rs.Ifaces[i].Device != old.Ifaces[i].Device {
			return fmt.Errorf("%w: reload cannot change interface devices (%s)", ErrRuleset, rs.Ifaces[i].Device)
		}
	}
	if len(rs.Classes()) > maxClasses {
		return fmt.Errorf("%w: too many timeouts", ErrRuleset)
	}
	for _, n := range rs.StaticARP {
		dp.Neigh.Learn(n.Port, n.Addr, n.MAC, true)
	}
	rs.gen = old.gen + 1
	dp.ruleset.Store(rs)
	return nil
}

// SetRunning(true) says that worker goroutines run Step from now on: Do
// then goes through their mailboxes. SetRunning(false) says that they have
// stopped and run no more batches: a Do waiting for one returns, and later
// ones run nothing. A dataplane never set running is driven by its caller
// (replay, tests): Do runs fn at once.
func (dp *Dataplane) SetRunning(on bool) {
	dp.runMu.Lock()
	defer dp.runMu.Unlock()
	if on {
		dp.stop = make(chan struct{})
	} else if dp.stop != nil {
		select {
		case <-dp.stop:
		default:
			close(dp.stop)
		}
	}
	dp.running.Store(on)
}

// Stopped reports whether the worker goroutines have stopped (SetRunning
// false after true).
func (dp *Dataplane) Stopped() bool {
	dp.runMu.Lock()
	defer dp.runMu.Unlock()
	if dp.stop == nil {
		return false
	}
	select {
	case <-dp.stop:
		return true
	default:
		return false
	}
}

// Do runs fn on worker w between two batches and waits for it. It reports
// false, without running fn, when the worker goroutines stop first (cbacd
// exiting): a worker that has exited never reads its mailbox again, so
// waiting for it would hang the caller.
func (dp *Dataplane) Do(w int, fn func(*Worker)) bool {
	wk := dp.Workers[w]
	dp.runMu.Lock()
	stop, running := dp.stop, dp.running.Load()
	dp.runMu.Unlock()
	if !running {
		if stop != nil {
			return false // stopped
		}
		fn(wk)
		return true
	}
	// claim decides who owns fn: the worker (1: it runs fn) or Do after
	// the stop (2: nobody will), so that a request left in the mailbox of
	// a stopped worker never runs later.
	var claim atomic.Int32
	done := make(chan struct{})
	req := func(x *Worker) {
		if claim.CompareAndSwap(0, 1) {
			fn(x)
			close(done)
		}
	}
	select {
	case wk.mailbox <- req:
	case <-stop:
		return false
	}
	select {
	case <-done:
		return true
	case <-stop:
		if claim.CompareAndSwap(0, 2) {
			return false
		}
		<-done // the worker ran fn before it stopped
		return true
	}
}

// Events appends up to cap(out)-len(out) pending events of worker w.
func (dp *Dataplane) Events(w int, out []Event) []Event {
	return dp.Workers[w].events.pop(out)
}

func (w *Worker) setRuleset(rs *Ruleset) {
	w.Stats.ACLHits = carryACLHits(w.rs, rs, w.Stats.ACLHits)
	w.rs = rs
	w.nCookieSeen, w.nCookieOffers = 0, 0
	w.adm.SetThresholds(rs.Thresholds)
	w.table.SetTimeouts(rs.Classes())
	if rs.Intercept != nil && w.splices.states == nil {
		w.splices.init(min(w.table.Capacity(), interceptPoolMax))
		// Room for every session: appending never allocates per packet
		// (pages untouched stay unallocated).
		w.incomplete = make([]uint32, 0, len(w.sess))
		w.incompletePos = make([]uint32, len(w.sess))
	}
}

// carryACLHits returns the match counters for rs's access lists, carrying
// over those of old (hits, [acl][entry]) across a reload. An entry keeps
// its count when the list of the same name in old has the same entry: the
// same text as show access-lists prints it (acl.Entry.String), whatever
// its position, so inserting or removing other entries keeps the counts of
// those that stay, as IOS's sequence-numbered entries do. When one text
// occurs more than once in a list, its k-th occurrence takes the k-th's
// count. New entries and renamed lists start at 0; the implicit deny keeps
// its count while its list exists. It runs once per reload, between
// batches.
func carryACLHits(old, rs *Ruleset, hits [][]uint64) [][]uint64 {
	out := make([][]uint64, len(rs.ACLs))
	for i, l := range rs.ACLs {
		out[i] = make([]uint64, l.Len()+1)
	}
	if old == nil {
		return out
	}
	for i, l := range rs.ACLs {
		j := -1
		for k, ol := range old.ACLs {
			if ol.Name() == l.Name() {
				j = k
				break
			}
		}
		if j < 0 || j >= len(hits) || len(hits[j]) != old.ACLs[j].Len()+1 {
			continue
		}
		ol := old.ACLs[j]
		byText := make(map[string][]int, ol.Len()) // text -> old entry indexes, in order
		for e := 0; e < ol.Len(); e++ {
			t := ol.Entry(e).String()
			byText[t] = append(byText[t], e)
		}
		for e := 0; e < l.Len(); e++ {
			t := l.Entry(e).String()
			if idx := byText[t]; len(idx) > 0 {
				out[i][e] = hits[j][idx[0]]
				byText[t] = idx[1:]
			}
		}
		out[i][l.Len()] = hits[j][ol.Len()]
	}
	return out
}

// paddedClasses gives every table maxClasses expiry classes, so a reload
// may add timeouts without rebuilding it.
func paddedClasses(rs *Ruleset) []int64 {
	c := make([]int64, maxClasses)
	for i := range c {
		c[i] = int64(time.Hour)
	}
	copy(c, rs.Classes())
	return c
}

const expireBudget = 256

// Step runs one batch at time now (nanoseconds) and returns how many
// frames it received.
func (w *Worker) Step(now int64) int {
	if w.lastRx >= 0 && now > w.now {
		// The time since the previous batch was work if that batch had
		// frames (the loop sleeps only after an empty one).
		w.Stats.RunNs += now - w.now
		if w.lastRx > 0 {
			w.Stats.BusyNs += now - w.now
		}
	}
	w.now = now
	if rs := w.dp.ruleset.Load(); rs != w.rs {
		w.setRuleset(rs)
	}
	w.tracing = w.dp.DebugSMTP.Load()
	if c := w.dp.capture.Load(); c != w.capture.cur {
		w.setCapture(c)
	}
	n := 0
	for from, row := range w.dp.handoff {
		if from == w.ID {
			continue
		}
		k := w.receiveHandedOver(row[w.ID])
		w.owed[from] += k
		n += k
	}
	for p, q := range w.queues {
		if q == nil {
			continue
		}
		rx := q.Receive(w.rx[:0])
		size, j := 0, 0 // frame i is frame j of a chunk of size frames
		for i := range rx {
			if j == size {
				size = chunkLen(len(rx) - i)
				w.warm(rx[i : i+size])
				j = 0
			}
			rx[i].Port = uint8(p)
			w.Stats.RxPackets[p]++
			w.Stats.RxBytes[p] += uint64(rx[i].Len)
			if w.capture.rx {
				w.captureRx(&rx[i])
			}
			w.process(&rx[i], false, w.warmHint[j])
			j++
		}
		n += len(rx)
	}
	w.flush()
	w.serviceARP()
	w.expire()
	w.smtp.stock(w)
	w.ftp.Stock()
	w.http.Stock()
	w.expireFragments()
	w.tick()
	if w.rs.Intercept != nil {
		w.interceptTick()
	}
	w.flush()
	w.refill()
	if w.dp.running.Load() {
		for {
			select {
			case fn := <-w.mailbox:
				fn(w)
				continue
			default:
			}
			break
		}
	}
	w.lastRx = n
	return n
}

// flush transmits the per-port TX lists and hands frames to their owners.
func (w *Worker) flush() {
	for p := range w.tx {
		ds := w.tx[p]
		q := w.queues[p]
		if q == nil && len(ds) == 0 {
			continue
		}
		// Transmit is called even with nothing new: an AF_XDP socket in
		// copy mode sends a bounded number of frames per kick and needs
		// another kick for the rest.
		sent := 0
		if q != nil {
			sent = q.Transmit(ds)
		}
		if w.capture.tx {
			w.captureTx(p, ds[:sent])
		}
		for i := 0; i < sent; i++ {
			w.Stats.TxPackets[p]++
			w.Stats.TxBytes[p] += uint64(ds[i].Len)
		}
		for i := sent; i < len(ds); i++ {
			w.drop(&ds[i], DropTxRingFull)
		}
		w.tx[p] = ds[:0]
	}
	for to, ds := range w.handOut {
		if len(ds) == 0 {
			continue
		}
		r := w.dp.handoff[w.ID][to]
		sent := r.push(ds[:groupCut(ds, r.free())])
		w.Stats.HandedOver += uint64(sent)
		for i := sent; i < len(ds); i++ {
			w.drop(&ds[i], DropHandoffFull)
		}
		w.handOut[to] = ds[:0]
	}
}

// refill reclaims transmitted frames, settles frames with the other
// workers (giveback.go) and keeps the fill rings stocked.
func (w *Worker) refill() {
	for _, q := range w.queues {
		if q == nil {
			continue
		}
		for {
			c := q.Complete(w.completed[:0])
			for _, a := range c {
				w.recycle(a)
			}
			if len(c) < cap(w.completed) {
				break
			}
		}
	}
	w.settleFrames()
	for _, q := range w.queues {
		if q == nil {
			continue
		}
		avail := len(w.pool.free) - w.reserve
		if avail <= 0 {
			break
		}
		if avail > 4*w.batch {
			avail = 4 * w.batch
		}
		top := w.pool.free[len(w.pool.free)-avail:]
		took := q.Fill(top)
		// Fill took top[:took]; keep the rest.
		copy(top, top[took:])
		w.pool.free = w.pool.free[:len(w.pool.free)-took]
	}
}

// drop counts a drop and returns the frame to the pool (unless a guard
// holds it: hold.go).
func (w *Worker) drop(d *Desc, r Reason) {
	w.Stats.Drops[r]++
	if w.capture.drops {
		w.captureDrop(d, r)
	}
	w.recycle(d.Addr)
}

// emit hands an event to the control plane, or counts it as lost.
func (w *Worker) emit(e *Event) {
	e.Now = w.now
	if !w.events.push1(e) {
		w.Stats.EventsDropped++
	}
}

// frame returns the bytes of d.
func (w *Worker) frame(d *Desc) []byte {
	return w.umem[d.Addr : d.Addr+uint64(d.Len)]
}

// newFrame takes a free frame for a packet the worker builds.
func (w *Worker) newFrame() (Desc, []byte, bool) {
	a, ok := w.pool.get()
	if !ok {
		w.Stats.Drops[DropNoFrame]++
		return Desc{}, nil, false
	}
	return Desc{Addr: a}, w.umem[a : a+w.frameSize], true
}
