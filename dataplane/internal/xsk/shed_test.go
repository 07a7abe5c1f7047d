package xsk

import (
	"encoding/binary"
	"testing"
)

// tcpFrame is an Ethernet/IPv4/TCP frame with the given TCP flags; ihl is
// the IPv4 header length in words and frag the flags/fragment-offset field.
func tcpFrame(flags byte, ihl int, frag uint16, proto byte) []byte {
	b := make([]byte, 14+ihl*4+20)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x40 | byte(ihl)
	binary.BigEndian.PutUint16(ip[2:], uint16(ihl*4+20))
	binary.BigEndian.PutUint16(ip[6:], frag)
	ip[8] = 64
	ip[9] = proto
	copy(ip[12:], []byte{198, 51, 100, 7, 172, 22, 1, 110})
	tcp := ip[ihl*4:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 25)
	tcp[12] = 5 << 4
	tcp[13] = flags
	return b
}

// TestShedProgram runs the loaded program on frames (BPF_PROG_TEST_RUN):
// with the threshold at its top every pure SYN is dropped and counted and
// nothing else is; at 0 nothing is; at half about half the SYNs are.
func TestShedProgram(t *testing.T) {
	needRoot(t)
	prog, shed, err := newProgram(1)
	if err != nil {
		t.Fatal(err)
	}
	p := &Program{prog: prog, maps: shed, nsFD: -1, ifname: "test"}
	defer p.closeFDs()
	const (
		fin, syn, rst, psh, ack = 0x01, 0x02, 0x04, 0x08, 0x10
	)
	run := func(frame []byte) uint32 {
		t.Helper()
		ret, _, err := prog.Program.Test(frame)
		if err != nil {
			t.Fatalf("test run: %v", err)
		}
		return ret
	}
	// No socket on queue 0: frames the program keeps go to the stack.
	others := map[string][]byte{
		"SYN/ACK":          tcpFrame(syn|ack, 5, 0, 6),
		"ACK":              tcpFrame(ack, 5, 0, 6),
		"PSH/ACK":          tcpFrame(psh|ack, 5, 0, 6),
		"RST":              tcpFrame(rst, 5, 0, 6),
		"SYN/RST":          tcpFrame(syn|rst, 5, 0, 6),
		"SYN/FIN":          tcpFrame(syn|fin, 5, 0, 6),
		"SYN with IP opts": tcpFrame(syn, 6, 0, 6),
		"SYN first frag":   tcpFrame(syn, 5, 0x2000, 6),
		"SYN later frag":   tcpFrame(syn, 5, 0x0010, 6),
		"UDP":              tcpFrame(syn, 5, 0, 17),
		"short SYN":        tcpFrame(syn, 5, 0, 6)[:47],
		"ARP-sized runt":   make([]byte, 14),
	}
	if err := p.SetShed(0, ^uint32(0)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if got := run(tcpFrame(syn, 5, 0, 6)); got != xdpDrop {
			t.Fatalf("SYN at full shedding: action %d, want XDP_DROP", got)
		}
		// DF set is not a fragment.
		if got := run(tcpFrame(syn, 5, 0x4000, 6)); got != xdpDrop {
			t.Fatalf("SYN with DF at full shedding: action %d, want XDP_DROP", got)
		}
	}
	for name, f := range others {
		if got := run(f); got != xdpPass {
			t.Errorf("%s at full shedding: action %d, want XDP_PASS", name, got)
		}
	}
	th, n, err := p.Shed(0)
	if err != nil || th != ^uint32(0) || n != 20 {
		t.Fatalf("Shed(0) = %#x, %d, %v; want threshold max, 20 shed", th, n, err)
	}

	if err := p.SetShed(0, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if got := run(tcpFrame(syn, 5, 0, 6)); got != xdpPass {
			t.Fatalf("SYN without shedding: action %d, want XDP_PASS", got)
		}
	}

	if err := p.SetShed(0, 1<<31); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	const tries = 2000
	for i := 0; i < tries; i++ {
		if run(tcpFrame(syn, 5, 0, 6)) == xdpDrop {
			dropped++
		}
	}
	// Binomial(2000, 0.5): the bounds are 7 standard deviations out.
	if dropped < 840 || dropped > 1160 {
		t.Errorf("half shedding dropped %d of %d SYNs", dropped, tries)
	}
	if _, n, _ := p.Shed(0); n != uint64(20+dropped) {
		t.Errorf("count %d, want %d", n, 20+dropped)
	}
}
