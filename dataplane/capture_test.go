package dataplane_test

import (
	"bytes"
	"testing"

	"cbac/dataplane"
)

type captured struct {
	rec  dataplane.CaptureRecord
	data []byte
}

func drainAll(c *dataplane.Capture) []captured {
	var out []captured
	c.Drain(func(r *dataplane.CaptureRecord) bool {
		out = append(out, captured{rec: *r, data: append([]byte(nil), r.Data...)})
		return true
	})
	return out
}

// A drop capture for one reason takes exactly the frames dropped for it,
// cut to the snap length, on their ingress port; nothing else.
func TestCaptureDropsByReason(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	denied := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40001, dport: 80, seq: 1, syn: true,
		srcMAC: macClient, dstMAC: macOut0, ttl: 64})
	smtp := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40002, dport: 25, seq: 1, syn: true,
		srcMAC: macClient, dstMAC: macOut0, ttl: 64})

	// Before any capture: nothing is copied anywhere (no capture exists).
	h.send(portOut, denied)

	const snap = 40
	c, err := h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: 1 << dataplane.DropACLIn, Port: -1, Snap: snap})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: dataplane.AllReasons, Port: -1, Snap: snap}); err == nil {
		t.Error("a second capture started while one runs")
	}
	h.send(portOut, denied)
	h.send(portOut, []byte{1, 2, 3}) // runt: another reason
	if out := h.send(portOut, smtp); len(out[portIn]) != 1 {
		t.Fatalf("permitted SYN not forwarded: %v", h.w.Stats.Drops)
	}
	h.send(portOut, denied)
	got := drainAll(c)
	wire := denied[:14+20+20] // the dataplane cut the Ethernet padding
	if len(got) != 2 {
		t.Fatalf("captured %d frames, want the 2 ACL denies: %+v", len(got), got)
	}
	for _, g := range got {
		if g.rec.Dir != dataplane.CaptureDrop || g.rec.Reason != dataplane.DropACLIn || g.rec.Port != portOut ||
			g.rec.Len != uint32(len(wire)) || !bytes.Equal(g.data, denied[:snap]) || g.rec.Now != h.now {
			t.Errorf("record %+v data %x, want ACL deny on port %d, len %d, data %x", g.rec, g.data, portOut, len(wire), denied[:snap])
		}
	}
	if c.Lost() != 0 {
		t.Errorf("lost %d", c.Lost())
	}

	// All reasons: the runt is captured as it is (shorter than snap).
	h.dp.StopCapture(c)
	c, err = h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: dataplane.AllReasons, Port: -1, Snap: 256})
	if err != nil {
		t.Fatal(err)
	}
	h.send(portOut, []byte{1, 2, 3})
	got = drainAll(c)
	if len(got) != 1 || got[0].rec.Reason != dataplane.DropRunt || !bytes.Equal(got[0].data, []byte{1, 2, 3}) {
		t.Errorf("runt capture %+v", got)
	}
	h.dp.StopCapture(c)
	// Stopped: the worker takes nothing more.
	h.send(portOut, denied)
	if got := drainAll(c); len(got) != 0 {
		t.Errorf("captured %d frames after stop", len(got))
	}
}

// An interface capture takes what the port receives (dropped or not) and
// what it transmits, with the direction; not the other port's traffic.
func TestCaptureInterface(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c, err := h.dp.StartCapture(dataplane.CaptureFilter{Port: portIn, Snap: 2048})
	if err != nil {
		t.Fatal(err)
	}
	syn := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40002, dport: 25, seq: 1000, syn: true,
		srcMAC: macClient, dstMAC: macOut0, ttl: 64})
	out := h.send(portOut, syn) // received on out0: not captured; sent on in0: captured
	if len(out[portIn]) != 1 {
		t.Fatalf("SYN not forwarded: %v", h.w.Stats.Drops)
	}
	sent := out[portIn][0]
	synack := tcpFrame(t, seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: 40002, seq: 5000, ack: 1001, syn: true, ackf: true,
		srcMAC: macMail, dstMAC: macIn0})
	h.send(portIn, synack)
	h.send(portIn, []byte{9, 9}) // runt received on in0
	got := drainAll(c)
	want := []struct {
		dir  dataplane.CaptureDir
		data []byte
	}{{dataplane.CaptureOut, sent}, {dataplane.CaptureIn, synack}, {dataplane.CaptureIn, []byte{9, 9}}}
	if len(got) != len(want) {
		t.Fatalf("captured %d frames, want %d: %+v", len(got), len(want), got)
	}
	for i, wnt := range want {
		if got[i].rec.Dir != wnt.dir || got[i].rec.Port != portIn || !bytes.Equal(got[i].data, wnt.data) {
			t.Errorf("frame %d: %+v %x, want dir %d on port %d: %x", i, got[i].rec, got[i].data, wnt.dir, portIn, wnt.data)
		}
	}
	h.dp.StopCapture(c)
}

// A reader that does not drain loses captured frames (counted), and
// forwarding goes on unaffected.
func TestCaptureSlowReader(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c, err := h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: dataplane.AllReasons, Port: portOut, Snap: 64, Ring: 4})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	forwarded := 0
	for i := 0; i < n; i++ {
		denied := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: uint16(41000 + i), dport: 80, seq: 1, syn: true,
			srcMAC: macClient, dstMAC: macOut0, ttl: 64})
		h.send(portOut, denied)
		smtp := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: uint16(42000 + i), dport: 25, seq: 1, syn: true,
			srcMAC: macClient, dstMAC: macOut0, ttl: 64})
		out := h.send(portOut, smtp)
		forwarded += len(out[portIn])
	}
	if forwarded != n || h.drops(dataplane.DropACLIn) != n {
		t.Errorf("forwarded %d, ACL drops %d; want %d each", forwarded, h.drops(dataplane.DropACLIn), n)
	}
	// Per denied frame: its receive and its drop; per SMTP SYN: its receive.
	h.dp.StopCapture(c)
	got := drainAll(c)
	if len(got) != 4 || c.Lost() != 3*n-4 {
		t.Errorf("ring held %d, lost %d; want 4 and %d", len(got), c.Lost(), 3*n-4)
	}
	// Draining frees the ring: the next capture's frames are taken again.
	c, err = h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: dataplane.AllReasons, Port: -1, Snap: 64, Ring: 4})
	if err != nil {
		t.Fatal(err)
	}
	h.send(portOut, []byte{1})
	if got := drainAll(c); len(got) != 1 || c.Lost() != 0 {
		t.Errorf("after restart: %d frames, %d lost", len(got), c.Lost())
	}
	h.dp.StopCapture(c)
}

func TestCaptureFilterErrors(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	for name, f := range map[string]dataplane.CaptureFilter{
		"nothing":    {Port: -1, Snap: 64},
		"no reasons": {Drops: true, Port: -1, Snap: 64},
		"bad port":   {Port: 7, Snap: 64},
		"snap 0":     {Port: 0},
		"snap huge":  {Port: 0, Snap: 1 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			if c, err := h.dp.StartCapture(f); err == nil {
				h.dp.StopCapture(c)
				t.Errorf("%+v accepted", f)
			}
		})
	}
}

// With a capture running, the drop path still allocates nothing.
func TestCaptureNoAllocs(t *testing.T) {
	h := newHarness(t, compile(t, seedWithNeighbours(t, true)))
	c, err := h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: dataplane.AllReasons, Port: portOut, Snap: 256})
	if err != nil {
		t.Fatal(err)
	}
	denied := tcpFrame(t, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40001, dport: 80, seq: 1, syn: true,
		srcMAC: macClient, dstMAC: macOut0, ttl: 64})
	h.send(portOut, denied)
	drainAll(c)
	allocs := testing.AllocsPerRun(100, func() {
		h.q[portOut].Inject(denied)
		h.w.Step(h.now)
		c.Drain(func(*dataplane.CaptureRecord) bool { return true })
	})
	if allocs != 0 {
		t.Errorf("%v allocations per captured drop", allocs)
	}
	h.dp.StopCapture(c)
}

// BenchmarkCaptureDrop: batches of 64 SYNs that ACL 101 denies, through
// Worker.Step, without a capture, with one that takes them (each batch
// drained, as the control plane does) and with one that takes another
// reason (the hook tested, the frames not copied).
func BenchmarkCaptureDrop(b *testing.B) {
	for _, mode := range []string{"off", "on", "other-reason"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarness(b, compile(b, seedWithNeighbours(b, true)))
			frames := make([][]byte, 64)
			for i := range frames {
				frames[i] = tcpFrame(b, seg{src: "172.22.1.100", dst: "172.22.1.110", sport: uint16(40000 + i), dport: 80, seq: 1, syn: true,
					srcMAC: macClient, dstMAC: macOut0, ttl: 64})
			}
			var c *dataplane.Capture
			reasons := uint64(1 << dataplane.DropACLIn)
			if mode == "other-reason" {
				reasons = 1 << dataplane.DropRunt
			}
			if mode != "off" {
				var err error
				if c, err = h.dp.StartCapture(dataplane.CaptureFilter{Drops: true, Reasons: reasons, Port: -1, Snap: 256}); err != nil {
					b.Fatal(err)
				}
			}
			p := newPump(h)
			taken := 0
			take := func(*dataplane.CaptureRecord) bool { taken++; return true }
			b.ReportAllocs()
			b.ResetTimer()
			n := 0
			for n < b.N {
				p.batch(portOut, frames)
				if c != nil {
					c.Drain(take)
				}
				n += len(frames)
			}
			b.StopTimer()
			p.report(b, n)
			var lost uint64
			if c != nil {
				lost = c.Lost()
			}
			if h.drops(dataplane.DropACLIn) != uint64(n) || (mode == "on" && (taken != n || lost != 0)) || (mode != "on" && taken != 0) {
				b.Fatalf("%d ACL drops, %d captured, %d lost of %d", h.drops(dataplane.DropACLIn), taken, lost, n)
			}
		})
	}
}
