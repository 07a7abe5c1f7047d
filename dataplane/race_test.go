package dataplane_test

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"cbac/dataplane"
	"cbac/packet"
)

// Two workers, each running its own Step loop in its
// own goroutine, with both directions of every flow arriving on different
// workers: the initiator's packets on worker 0's queues, the responder's on
// worker 1's. A session is owned by one worker (symmetric hash of the
// flow), so half of the frames are handed over between the workers through
// the SPSC rings. Every flow must work end to end, the counters must add
// up, and every UMEM frame must be accounted for afterwards. Run it with
// -race (CI does).
func TestTwoWorkersRace(t *testing.T) {
	const (
		frameSize = 2048
		nframes   = 4096
		tcpFlows  = 96 // inside -> outside, tcp
		smtpFlows = 96 // outside -> inside, smtp inspected
		round     = 32 // flows moved through the handshake together
	)
	// The one-minute and max-incomplete thresholds are raised: hundreds of
	// sessions are created within a millisecond of virtual time.
	rs := compile(t, seedVariant(t, smallTable,
		seedOneMinute, `one_minute = { low = 90000, high = 100000 }`,
		seedMaxIncomplete, `max_incomplete = { low = 90000, high = 100000 }`))
	umem := make([]byte, frameSize*nframes)
	var fq [2][2]*dataplane.FakeQueue // [worker][port]
	qs := make([][]dataplane.Queue, 2)
	for w := range fq {
		for p := range fq[w] {
			fq[w][p] = dataplane.NewFakeQueue(umem, frameSize, 256)
			qs[w] = append(qs[w], fq[w][p])
		}
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 2, UMEM: umem, FrameSize: frameSize, Queues: qs})
	if err != nil {
		t.Fatal(err)
	}
	dp.SetRunning(true)

	// The workers.
	var now atomic.Int64
	now.Store(int64(time.Hour))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range dp.Workers {
		wg.Add(1)
		go func(w *dataplane.Worker) {
			defer wg.Done()
			for !stop.Load() {
				if w.Step(now.Load()) == 0 {
					runtime.Gosched()
				}
			}
		}(dp.Workers[i])
	}
	// The wire: one goroutine drains every TX queue and the event rings.
	var mu sync.Mutex
	got := [2][][]byte{} // per port, frames in arrival order
	var events atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		evs := make([]dataplane.Event, 0, 64)
		for !stop.Load() {
			n := 0
			for w := range fq {
				for p := range fq[w] {
					n += fq[w][p].Drain(func(f []byte) {
						c := append([]byte(nil), f...)
						mu.Lock()
						got[p] = append(got[p], c)
						mu.Unlock()
					})
				}
				evs = dp.Events(w, evs[:0])
				events.Add(int64(len(evs)))
			}
			if n == 0 {
				runtime.Gosched()
			}
		}
	}()
	shutdown := func() {
		if !stop.Swap(true) {
			wg.Wait()
			dp.SetRunning(false)
		}
	}
	defer shutdown()

	// take waits for n frames on port and returns them.
	deadline := time.Now().Add(60 * time.Second)
	taken := [2]int{}
	take := func(port, n int, what string) [][]byte {
		t.Helper()
		for {
			mu.Lock()
			have := len(got[port]) - taken[port]
			mu.Unlock()
			if have >= n {
				break
			}
			if time.Now().After(deadline) {
				shutdown()
				// Every SMTP flow's message data was held by its owner until the 250
				// (in both workers), and every held frame is back (accounted below).
				var everHeld [2]uint64
				for i, w := range dp.Workers {
					everHeld[i] = w.FramesEverHeld()
					if held, _ := w.FramesHeld(); held != 0 {
						t.Errorf("worker %d still holds %d frames with no session left", i, held)
					}
				}
				if everHeld[0]+everHeld[1] != smtpFlows || everHeld[0] == 0 || everHeld[1] == 0 {
					t.Errorf("frames held by workers 0 and 1: %v, want %d in all, some on each", everHeld, smtpFlows)
				}
				st := statsTotal(dp)
				t.Fatalf("%s: %d of %d frames on port %d; drops %v", what, have, n, port, nonZero(st.Drops[:]))
			}
			time.Sleep(200 * time.Microsecond)
		}
		mu.Lock()
		defer mu.Unlock()
		out := got[port][taken[port] : taken[port]+n]
		taken[port] += n
		return out
	}
	// inject puts frames on worker w's queue for port, waiting for fill
	// frames when the worker has not given any yet.
	injected := 0
	inject := func(w, port int, frames [][]byte) {
		t.Helper()
		for _, f := range frames {
			for !fq[w][port].Inject(f) {
				if time.Now().After(deadline) {
					shutdown()
					t.Fatalf("worker %d port %d: no fill frame", w, port)
				}
				time.Sleep(100 * time.Microsecond)
			}
			injected++
		}
	}

	var conns []*tcpConn
	for i := 0; i < tcpFlows; i++ {
		conns = append(conns, insideOut(nil, uint16(20000+i), outsideHost(i), 443))
	}
	for i := 0; i < smtpFlows; i++ {
		conns = append(conns, outsideIn(nil, uint16(41000+i)))
	}
	// One exchange: every connection of a round sends a segment from side
	// a (initiator) or b (responder); it must come out on the other side
	// exactly once, translated.
	type segment struct {
		fromA   bool
		flags   uint8
		payload func(c *tcpConn) []byte
	}
	text := func(s string) func(*tcpConn) []byte { return func(*tcpConn) []byte { return []byte(s) } }
	none := func(*tcpConn) []byte { return nil }
	script := []segment{
		{true, packet.SYN, none},
		{false, packet.SYN | packet.ACK, none},
		{true, packet.ACK, none},
		{false, packet.ACK | packet.PSH, text("220 mail ESMTP\r\n")},
		{true, packet.ACK | packet.PSH, func(c *tcpConn) []byte { return []byte(fmt.Sprintf("HELO c%d\r\n", c.a.sport)) }},
		{false, packet.ACK | packet.PSH, text("250 hello\r\n")},
		{true, packet.ACK | packet.PSH, text("MAIL FROM:<a@example.org>\r\n")},
		{false, packet.ACK | packet.PSH, text("250 ok\r\n")},
		{true, packet.ACK | packet.PSH, text("RCPT TO:<b@example.com>\r\n")},
		{false, packet.ACK | packet.PSH, text("250 ok\r\n")},
		{true, packet.ACK | packet.PSH, text("DATA\r\n")},
		{false, packet.ACK | packet.PSH, text("354 go ahead\r\n")},
		// Message data large enough to be kept by holding its frame on
		// the session's owner (hold.go) until the 250 acknowledges it.
		{true, packet.ACK | packet.PSH, text(strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n", 12))},
		{true, packet.ACK | packet.PSH, text(".\r\n")},
		{false, packet.ACK | packet.PSH, text("250 queued\r\n")},
		{true, packet.ACK | packet.FIN, none},
		{false, packet.ACK | packet.FIN, none},
		{true, packet.ACK, none},
	}
	for r0 := 0; r0 < len(conns); r0 += round {
		batch := conns[r0:min(r0+round, len(conns))]
		for si, sg := range script {
			// Frames per ingress (worker, port).
			var frames [2][2][][]byte
			want := [2]int{}
			for _, c := range batch {
				p := sg.payload(c)
				var f []byte
				var w, in, out int
				if sg.fromA {
					ack := c.nb
					if sg.flags&packet.ACK == 0 {
						ack = 0
					}
					f = writeTCP(make([]byte, 256+len(p)), &c.a, c.na, ack, sg.flags, p)
					w, in, out = 0, c.pa, c.pb
					c.na += uint32(len(p))
					if sg.flags&(packet.SYN|packet.FIN) != 0 {
						c.na++
					}
				} else {
					f = writeTCP(make([]byte, 256+len(p)), &c.b, c.nb, c.na, sg.flags, p)
					w, in, out = 1, c.pb, c.pa
					c.nb += uint32(len(p))
					if sg.flags&(packet.SYN|packet.FIN) != 0 {
						c.nb++
					}
				}
				frames[w][in] = append(frames[w][in], f)
				want[out]++
			}
			for w := range frames {
				for p := range frames[w] {
					inject(w, p, frames[w][p])
				}
			}
			what := fmt.Sprintf("round %d step %d", r0/round, si)
			for port, n := range want {
				checkDelivered(t, what, batch, port, sg.fromA, take(port, n, what))
			}
		}
		// Read the workers' state while they run (through the mailbox).
		live := 0
		for i := range dp.Workers {
			dp.Do(i, func(w *dataplane.Worker) { l, _ := w.SessionCount(); live += l })
		}
		if live != r0+len(batch) {
			t.Errorf("after round %d: %d live sessions, want %d (closed, in finwait)", r0/round, live, r0+len(batch))
		}
	}

	// finwait (5 s) passes: every session goes.
	now.Add(int64(10 * time.Second))
	for {
		live := 0
		for i := range dp.Workers {
			dp.Do(i, func(w *dataplane.Worker) { l, _ := w.SessionCount(); live += l })
		}
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left after finwait", live)
		}
		time.Sleep(time.Millisecond)
	}
	shutdown()

	// Quiesce: drain, let each worker reclaim its completions.
	for range 3 {
		for w := range fq {
			for p := range fq[w] {
				fq[w][p].Drain(func([]byte) {})
			}
		}
		for _, w := range dp.Workers {
			w.Step(now.Load())
		}
	}
	st := statsTotal(dp)
	delivered := len(got[0]) + len(got[1])
	if n := len(conns) * len(script); injected != n || delivered != n || int(st.Forwarded) != n {
		t.Errorf("injected %d, delivered %d, forwarded %d; want %d each", injected, delivered, st.Forwarded, n)
	}
	if rx := st.RxPackets[0] + st.RxPackets[1]; int(rx) != injected {
		t.Errorf("received %d frames, injected %d", rx, injected)
	}
	if tx := st.TxPackets[0] + st.TxPackets[1]; int(tx) != delivered {
		t.Errorf("transmitted %d frames, delivered %d", tx, delivered)
	}
	if d := nonZero(st.Drops[:]); len(d) != 0 {
		t.Errorf("drops: %v", d)
	}
	if st.SessionsCreated != uint64(len(conns)) || st.SessionsDeleted != uint64(len(conns)) {
		t.Errorf("sessions created %d, deleted %d; want %d", st.SessionsCreated, st.SessionsDeleted, len(conns))
	}
	// Half the frames (in expectation) arrive at the worker that does not
	// own their session; with 192 flows at least one did.
	if st.HandedOver == 0 {
		t.Error("no frame was handed over between the workers")
	}
	var perWorker [2]uint64
	for i, w := range dp.Workers {
		perWorker[i] = w.Stats.SessionsCreated
	}
	if perWorker[0] == 0 || perWorker[1] == 0 {
		t.Errorf("sessions per worker %v: the owner hash should spread them", perWorker)
	}
	t.Logf("%d flows, %d frames, %d handed over, sessions per worker %v, %d events", len(conns), injected, st.HandedOver, perWorker, events.Load())

	// Frame accounting: every UMEM frame is free again, once.
	var all []uint64
	held := 0
	for _, w := range dp.Workers {
		all = append(all, w.FreeFrames()...)
		held += w.HeldFrames()
	}
	for w := range fq {
		for p := range fq[w] {
			all = append(all, fq[w][p].FillFrames()...)
			held += fq[w][p].InFlight()
		}
	}
	if held != 0 {
		t.Errorf("%d frames still held in rings or queues", held)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for i := range all {
		if all[i]%frameSize != 0 || all[i] >= frameSize*nframes {
			t.Fatalf("bad frame address %#x", all[i])
		}
		if i > 0 && all[i] == all[i-1] {
			t.Fatalf("frame %#x is free twice", all[i])
		}
	}
	if len(all) != nframes {
		t.Errorf("%d of %d frames accounted for", len(all), nframes)
	}
}

// checkDelivered decodes the frames that left by port and checks each
// belongs to one connection of batch and is translated.
func checkDelivered(t *testing.T, what string, batch []*tcpConn, port int, fromA bool, frames [][]byte) {
	t.Helper()
	seen := map[uint16]bool{}
	for _, f := range frames {
		p := decode(t, f)
		ip := ipOf(p)
		tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			t.Fatalf("%s: not TCP", what)
		}
		var c *tcpConn
		for _, x := range batch {
			if fromA && uint16(tc.SrcPort) == x.a.sport && x.pb == port || !fromA && uint16(tc.DstPort) == x.a.sport && x.pa == port {
				c = x
			}
		}
		if c == nil {
			t.Fatalf("%s: frame on port %d belongs to no connection: %v", what, port, p)
		}
		// Addresses as the other side sees them: what it sends, reversed.
		wantSrc, wantDst := c.b.dst, c.b.src
		if !fromA {
			wantSrc, wantDst = c.a.dst, c.a.src
		}
		if ip4(ip.SrcIP.String()) != wantSrc || ip4(ip.DstIP.String()) != wantDst {
			t.Errorf("%s: %v -> %v not translated", what, ip.SrcIP, ip.DstIP)
		}
		if seen[c.a.sport] {
			t.Errorf("%s: connection %d delivered twice", what, c.a.sport)
		}
		seen[c.a.sport] = true
	}
}

// statsTotal sums the workers' counters (workers stopped).
func statsTotal(dp *dataplane.Dataplane) dataplane.Stats {
	var t dataplane.Stats
	for _, w := range dp.Workers {
		s := &w.Stats
		for r := range s.Drops {
			t.Drops[r] += s.Drops[r]
		}
		for p := range s.RxPackets {
			t.RxPackets[p] += s.RxPackets[p]
			t.TxPackets[p] += s.TxPackets[p]
		}
		t.Forwarded += s.Forwarded
		t.HandedOver += s.HandedOver
		t.SessionsCreated += s.SessionsCreated
		t.SessionsDeleted += s.SessionsDeleted
	}
	return t
}
