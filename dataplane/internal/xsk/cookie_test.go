package xsk

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"cbac/packet"
	"cbac/tcpintercept"
)

var (
	cookieMAC    = packet.MAC{0x02, 0xcb, 0xac, 0, 0, 2}
	cookieSrcMAC = packet.MAC{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
)

const (
	cookieGen = 7 // the rule set generation the tests' destinations carry
	cookieDst = 0xac16016e
	cookiePrt = 25
)

// synFrame builds an Ethernet/IPv4/TCP SYN from src:sport to
// cookieDst:cookiePrt with options opts (padded with EOL to a multiple of
// 4), extra TCP flags, and valid checksums.
func synFrame(src uint32, sport uint16, isn uint32, flags uint8, opts []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	tl := 20 + len(opts)
	b := make([]byte, 14+20+tl)
	eth := packet.Ethernet(b)
	eth.SetDst(cookieMAC)
	eth.SetSrc(cookieSrcMAC)
	eth.SetType(packet.EtherTypeIPv4)
	t := packet.TCP(b[34:])
	t.SetSrcPort(sport)
	t.SetDstPort(cookiePrt)
	t.SetSeq(isn)
	t.SetDataOffset(tl)
	t.SetFlags(packet.SYN | flags)
	t.SetWindow(64240)
	copy(t[20:], opts)
	t.SetChecksum(t.CalculateChecksum(src, cookieDst))
	packet.WriteIPv4Header(b[14:], src, cookieDst, packet.ProtoTCP, 63, tl, 0x1234)
	return b
}

// randomOptions returns a SYN's options: the usual ones in a random order
// and form, sometimes malformed, NOP-padded, sometimes cut by EOL, at most
// 40 bytes.
func randomOptions(r *rand.Rand) []byte {
	var o []byte
	add := func(b ...byte) {
		if len(o)+len(b) <= 40 {
			o = append(o, b...)
		}
	}
	for n := r.IntN(9); n > 0; n-- {
		switch r.IntN(12) {
		case 0, 1:
			mss := []uint16{0, 100, 536, 1199, 1200, 1300, 1380, 1440, 1452, 1460, 1500, 8960, 9000, 65535}[r.IntN(14)]
			add(2, 4, byte(mss>>8), byte(mss))
		case 2, 3:
			add(3, 3, byte(r.IntN(17)))
		case 4:
			add(4, 2)
		case 5, 6:
			add(8, 10, byte(r.Uint32()), 1, 2, 3, 0, 0, 0, 0)
		case 7:
			add(1)
		case 8:
			add(30, 4, 0xaa, 0xbb) // unknown kind
		case 9: // malformed lengths
			switch r.IntN(4) {
			case 0:
				add(2, 3, 5)
			case 1:
				add(8, 8, 1, 2, 3, 4, 5, 6)
			case 2:
				add(3, 1)
			case 3:
				add(4, 0)
			}
		case 10:
			add(0) // EOL: the rest is not read
		case 11:
			add(19, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
		}
	}
	return o
}

// cookieProgram loads the program and sets it up to answer for
// cookieDst:cookiePrt on queue 0, the workers' clock offset from the
// kernel's monotonic clock being offset.
func cookieProgram(t *testing.T, jar *tcpintercept.Jar, offset int64) *Program {
	t.Helper()
	needRoot(t)
	prog, maps, err := newProgram(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &Program{prog: prog, maps: maps, nsFD: -1, ifname: "test"}
	t.Cleanup(func() { p.closeFDs() })
	if err := p.SetCookieClock(cookieGen, offset, cookieMAC); err != nil {
		t.Fatal(err)
	}
	gen := tcpintercept.Generation(Monotonic() + offset)
	for _, g := range []uint32{gen, gen + 1} {
		k0, k1 := jar.GenKey(g)
		if err := p.SetCookieKey(g, k0, k1); err != nil {
			t.Fatal(err)
		}
	}
	if created, err := p.AddCookieDst(cookieDst, cookiePrt, cookieGen); err != nil || !created {
		t.Fatalf("add destination: created %v, %v", created, err)
	}
	if created, err := p.AddCookieDst(cookieDst, cookiePrt, cookieGen); err != nil || created {
		t.Fatalf("add destination again: created %v, %v", created, err)
	}
	if err := p.SetCookies(0, true); err != nil {
		t.Fatal(err)
	}
	return p
}

// answer runs the program on frame and returns its action, its output and
// the workers' time around the run (within one TSval tick when ok).
func answer(t *testing.T, p *Program, frame []byte, offset int64, runs *int) (uint32, []byte, int64, bool) {
	t.Helper()
	for try := 0; try < 5; try++ {
		*runs++
		t0 := Monotonic() + offset
		ret, out, err := p.prog.Program.Test(frame)
		t1 := Monotonic() + offset
		if err != nil {
			t.Fatalf("test run: %v", err)
		}
		if t0>>20 == t1>>20 {
			return ret, out, t0, true
		}
	}
	return 0, nil, 0, false
}

// want is the frame the worker sends for SYN frame at time now
// (dataplane's interceptSYN).
func want(jar *tcpintercept.Jar, frame []byte, now int64) []byte {
	ip := packet.IPv4(frame[14:])
	syn := tcpintercept.ParseSYN(ip.Src(), ip.Dst(), packet.TCP(frame[34:]))
	c := jar.Make(now, &syn)
	b := make([]byte, 128)
	copy(b, frame)
	n := tcpintercept.WriteSYNACKFrame(b, &syn, &c, tcpintercept.CookieMSS, tcpintercept.DefaultWScale, cookieMAC)
	return b[:n]
}

// TestCookieProgramMatchesWorker: for SYNs with every mix of options
// (random orders, malformed and unknown options, EOL, ECN), the program's
// SYN/ACK is byte for byte the worker's, and the worker accepts the ACK
// that answers it.
func TestCookieProgramMatchesWorker(t *testing.T) {
	jar := tcpintercept.NewJar([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	offset := int64(1<<40) - Monotonic() // the workers' clock: some hours in
	p := cookieProgram(t, &jar, offset)
	r := rand.New(rand.NewPCG(1, 2))
	fixed := [][]byte{
		nil,
		{2, 4, 5, 180},
		{2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 3, 7}, // Linux
		{2, 4, 5, 180, 1, 3, 3, 8, 1, 1, 4, 2},                          // Windows
		{2, 4, 5, 180, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 4, 2, 0, 0},
	}
	tsSeen, runs := 0, 0
	for i := 0; i < 3000; i++ {
		var opts []byte
		if i < len(fixed) {
			opts = fixed[i]
		} else {
			opts = randomOptions(r)
		}
		var flags uint8
		if r.IntN(4) == 0 {
			flags = packet.ECE | packet.CWR
		}
		src := 0xc6120000 | r.Uint32()&0xffff
		frame := synFrame(src, uint16(1024+r.IntN(60000)), r.Uint32(), flags, opts)
		ret, out, now, ok := answer(t, p, frame, offset, &runs)
		if !ok {
			t.Fatal("clock moved across a TSval tick in every try")
		}
		if ret != xdpTx {
			t.Fatalf("SYN with options % x: action %d, want XDP_TX", opts, ret)
		}
		exp := want(&jar, frame, now)
		if !bytes.Equal(out, exp) {
			t.Fatalf("SYN with options % x flags %#x:\n got % x\nwant % x", opts, flags, out, exp)
		}
		// The client's ACK opens the connection in the worker.
		syn := tcpintercept.ParseSYN(src, cookieDst, packet.TCP(frame[34:]))
		sa := packet.TCP(out[34:])
		a := tcpintercept.ACK{Tuple: syn.Tuple, Seq: syn.ISN + 1, Ack: sa.Seq() + 1}
		if tsval, _, ok := sa.Timestamps(); ok {
			a.TS, a.TSval, a.TSecr = true, 99, tsval
			tsSeen++
		}
		if _, ok := jar.Check(now+int64(1e6), &a); !ok {
			t.Fatalf("SYN with options % x: the worker rejects the ACK of the program's cookie", opts)
		}
	}
	if tsSeen < 500 {
		t.Fatalf("only %d SYN/ACKs with timestamps: the options generator is off", tsSeen)
	}
	n, err := p.CookieAnswers(0)
	if err != nil || n != uint64(runs) {
		t.Fatalf("queue count %d (%v), want %d", n, err, runs)
	}
	if got, ok := p.CookieDstAnswers(cookieDst, cookiePrt, cookieGen); !ok || got != uint64(runs) {
		t.Fatalf("destination count %d (%v), want %d", got, ok, runs)
	}
	if _, ok := p.CookieDstAnswers(cookieDst, cookiePrt+1, cookieGen); ok {
		t.Fatal("an entry never made is there")
	}
}

// TestCookieProgramDeclines: every SYN the program may not answer goes on
// to shedding and the socket (no socket here: XDP_PASS), unchanged.
func TestCookieProgramDeclines(t *testing.T) {
	jar := tcpintercept.NewJar([16]byte{9})
	offset := int64(1<<40) - Monotonic()
	p := cookieProgram(t, &jar, offset)
	linux := []byte{2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 3, 7}
	good := func() []byte { return synFrame(0xc6120001, 40000, 1000, 0, linux) }
	cases := map[string]func() []byte{
		"bad IPv4 checksum": func() []byte { b := good(); b[24] ^= 1; return b },
		"bad TCP checksum":  func() []byte { b := good(); b[50] ^= 1; return b },
		"TTL 1": func() []byte {
			b := synFrame(0xc6120001, 40000, 1000, 0, linux)
			ip := packet.IPv4(b[14:])
			ip.SetTTL(1)
			ip.SetChecksum(0)
			ip.SetChecksum(packet.Fold(packet.Checksum(ip[:20], 0)))
			return b
		},
		"other MAC":      func() []byte { b := good(); b[5] ^= 1; return b },
		"broadcast":      func() []byte { b := good(); copy(b, []byte{255, 255, 255, 255, 255, 255}); return b },
		"PSH":            func() []byte { return synFrame(0xc6120001, 40000, 1000, packet.PSH, linux) },
		"other port":     func() []byte { b := good(); t := packet.TCP(b[34:]); t.SetDstPortWithChecksum(26); return b },
		"data":           func() []byte { return withData(good()) },
		"header too big": func() []byte { return good()[:60] },
	}
	for name, f := range cases {
		frame := f()
		orig := append([]byte(nil), frame...)
		ret, out, err := p.prog.Program.Test(frame)
		if err != nil {
			t.Fatal(err)
		}
		if ret != xdpPass || !bytes.Equal(out, orig) {
			t.Errorf("%s: action %d, frame changed %v; want XDP_PASS, unchanged", name, ret, !bytes.Equal(out, orig))
		}
	}
	mustPass := func(what string) {
		t.Helper()
		ret, _, err := p.prog.Program.Test(good())
		if err != nil {
			t.Fatal(err)
		}
		if ret != xdpPass {
			t.Errorf("%s: action %d, want XDP_PASS", what, ret)
		}
	}
	// A destination of an older rule set.
	p.SetCookieClock(cookieGen+1, offset, cookieMAC)
	mustPass("destination of another rule set generation")
	p.SetCookieClock(cookieGen, offset, cookieMAC)
	// No secret for the generation the clock is in.
	p.SetCookieClock(cookieGen, offset+int64(200)<<tcpintercept.TickShift, cookieMAC)
	mustPass("no secret for the generation")
	p.SetCookieClock(cookieGen, offset, cookieMAC)
	p.SetCookies(0, false)
	mustPass("off for the queue")
	p.SetCookies(0, true)
	if ret, _, _ := p.prog.Program.Test(good()); ret != xdpTx {
		t.Fatalf("back on: action %d, want XDP_TX", ret)
	}
	// Shedding comes first: under overload the SYNs it drops cost the
	// program nothing more.
	p.SetShed(0, ^uint32(0))
	if ret, _, _ := p.prog.Program.Test(good()); ret != xdpDrop {
		t.Fatalf("SYN at full shedding: action %d, want XDP_DROP", ret)
	}
}

// withData appends 4 bytes of data to a SYN and fixes its lengths and
// checksums.
func withData(b []byte) []byte {
	b = append(b, 'a', 'b', 'c', 'd')
	ip := packet.IPv4(b[14:])
	binary.BigEndian.PutUint16(ip[2:], uint16(len(b)-14))
	ip.SetChecksum(0)
	ip.SetChecksum(packet.Fold(packet.Checksum(ip[:20], 0)))
	t := packet.TCP(b[34:])
	t.SetChecksum(0)
	t.SetChecksum(t.CalculateChecksum(ip.Src(), ip.Dst()))
	return b
}
