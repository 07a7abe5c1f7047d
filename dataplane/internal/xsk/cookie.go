package xsk

// TCP intercept cookies in the XDP program. While the worker says so, the
// program answers a protected client SYN itself with the SYN-cookie
// SYN/ACK that the worker would have sent (package tcpintercept: the same
// SipHash-2-4 MAC, MSS table, tick and timestamp encoding, the same
// options in the same order), written over the SYN's frame and sent back
// out the device it came in on (XDP_TX). The worker never sees the SYN:
// under a SYN flood its RX ring stays free for handshake ACKs and
// established traffic, and an answer costs the driver's receive path and a
// few hundred BPF instructions instead of two copies between the kernel
// and the UMEM.
//
// The program answers only what the worker has shown it can answer without
// the session table or the rules:
//
//   - cookie_on[queue] is set by the worker that owns the queue while it
//     sends cookies for every protected SYN (intercept mode, or auto mode
//     with cookies on) and no FTP data connection is expected;
//   - the SYN's (destination address, destination port) is in cookie_dst,
//     put there by a worker after it answered such a SYN itself and found
//     that the rules' whole decision for it does not depend on the source
//     (dataplane cookieOffload), tagged with the rule set's generation; an
//     entry of an older rule set is ignored;
//   - the frame is addressed to the device's MAC address, IPv4 without
//     options, not a fragment, TTL above 1, TCP flags SYN (ECE and CWR
//     allowed) without data, both checksums valid.
//
// The step runs after shedding (shed.go): under overload the SYNs shed
// never cost an answer, and the worker's RX ring level keeps steering how
// many are shed. Anything the step declines goes to the socket. The clock is
// the worker's: cookie_ctl[0] holds the offset from the kernel's monotonic
// clock (bpf_ktime_get_ns) to the workers' time, and cookie_ctl[1 + g&1]
// the secret of rotation generation g (written by the dataplane before g
// begins, so a slot is never rewritten while it is read). Each answer is
// counted per queue (cookie_count) and on its cookie_dst entry, for the
// worker's statistics and ACL hit counters.

import (
	"encoding/binary"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"cbac/tcpintercept"
)

// Layouts shared with the program.
const (
	// cookie_ctl values: [0] rule set generation u32, a zero u32 (the
	// options walk's start, which the verifier must not know), clock
	// offset i64, MAC address; [1], [2] secret generation u64, k0, k1.
	cookieCtlSize = 24
	cookieDstSize = 16 // cookie_dst values: generation u32, pad u32, answers u64
	xdpTx         = 3
)

// cookieMaps are the program's cookie maps (see the file comment).
type cookieMaps struct {
	on, ctl, dst, count *ebpf.Map
}

func newCookieMaps(queues int) (*cookieMaps, error) {
	m := &cookieMaps{}
	var err error
	if m.on, err = ebpf.NewMap(&ebpf.MapSpec{Name: "cookie_on", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: uint32(queues)}); err != nil {
		return nil, err
	}
	if m.ctl, err = ebpf.NewMap(&ebpf.MapSpec{Name: "cookie_ctl", Type: ebpf.Array, KeySize: 4, ValueSize: cookieCtlSize, MaxEntries: 3}); err == nil {
		if m.dst, err = ebpf.NewMap(&ebpf.MapSpec{Name: "cookie_dst", Type: ebpf.LRUHash, KeySize: 8, ValueSize: cookieDstSize, MaxEntries: MaxCookieDsts}); err == nil {
			m.count, err = ebpf.NewMap(&ebpf.MapSpec{Name: "cookie_count", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(queues)})
		}
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func (m *cookieMaps) Close() error {
	var err error
	for _, p := range []**ebpf.Map{&m.on, &m.ctl, &m.dst, &m.count} {
		if *p != nil {
			if cerr := (*p).Close(); err == nil {
				err = cerr
			}
			*p = nil
		}
	}
	return err
}

// MaxCookieDsts is how many destinations the program answers for at once
// (least recently used ones are forgotten: the worker puts them back).
const MaxCookieDsts = 4096

// SetCookies turns the program's answers on or off for queue.
func (p *Program) SetCookies(queue int, on bool) error {
	if p.maps == nil {
		return fmt.Errorf("xdp %s: closed", p.ifname)
	}
	v := uint32(0)
	if on {
		v = 1
	}
	if err := p.maps.cookie.on.Put(uint32(queue), v); err != nil {
		return fmt.Errorf("xdp %s: cookies queue %d: %w", p.ifname, queue, err)
	}
	return nil
}

// SetCookieClock sets what every answer depends on besides its secret: the
// rule set generation that cookie_dst entries must carry, the offset from
// the kernel's monotonic clock to the workers' clock (ns), and the device's
// MAC address (the SYN's destination, the SYN/ACK's source).
func (p *Program) SetCookieClock(generation uint32, offset int64, mac [6]byte) error {
	if p.maps == nil {
		return fmt.Errorf("xdp %s: closed", p.ifname)
	}
	var v [cookieCtlSize]byte
	binary.LittleEndian.PutUint32(v[0:], generation)
	binary.LittleEndian.PutUint64(v[8:], uint64(offset))
	copy(v[16:], mac[:])
	if err := p.maps.cookie.ctl.Put(uint32(0), v[:]); err != nil {
		return fmt.Errorf("xdp %s: cookie clock: %w", p.ifname, err)
	}
	return nil
}

// SetCookieKey stores the secret of rotation generation gen
// (tcpintercept.Jar.GenKey) in its slot.
func (p *Program) SetCookieKey(gen uint32, k0, k1 uint64) error {
	if p.maps == nil {
		return fmt.Errorf("xdp %s: closed", p.ifname)
	}
	var v [cookieCtlSize]byte
	binary.LittleEndian.PutUint64(v[0:], uint64(gen))
	binary.LittleEndian.PutUint64(v[8:], k0)
	binary.LittleEndian.PutUint64(v[16:], k1)
	if err := p.maps.cookie.ctl.Put(1+gen&1, v[:]); err != nil {
		return fmt.Errorf("xdp %s: cookie key: %w", p.ifname, err)
	}
	return nil
}

// cookieDstKey is cookie_dst's key: the address and port as they sit in
// the frame.
func cookieDstKey(dst uint32, dport uint16) []byte {
	var k [8]byte
	binary.BigEndian.PutUint32(k[0:], dst)
	binary.BigEndian.PutUint16(k[4:], dport)
	return k[:]
}

// AddCookieDst lets the program answer SYNs to dst:dport under rule set
// generation gen, and reports whether it made the entry: one already
// there for gen keeps its count (and whoever made it reads it).
func (p *Program) AddCookieDst(dst uint32, dport uint16, gen uint32) (bool, error) {
	if p.maps == nil {
		return false, fmt.Errorf("xdp %s: closed", p.ifname)
	}
	var v [cookieDstSize]byte
	k := cookieDstKey(dst, dport)
	if err := p.maps.cookie.dst.Lookup(k, &v); err == nil && binary.LittleEndian.Uint32(v[:]) == gen {
		return false, nil
	}
	v = [cookieDstSize]byte{}
	binary.LittleEndian.PutUint32(v[:], gen)
	if err := p.maps.cookie.dst.Put(k, v[:]); err != nil {
		return false, fmt.Errorf("xdp %s: cookie destination: %w", p.ifname, err)
	}
	return true, nil
}

// Monotonic returns the kernel's monotonic clock (bpf_ktime_get_ns's), ns.
func Monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// CookieDstAnswers returns how many SYNs the program answered for dst:dport
// under generation gen, and whether the entry is still there for gen (the
// program forgets the least recently used ones).
func (p *Program) CookieDstAnswers(dst uint32, dport uint16, gen uint32) (uint64, bool) {
	if p.maps == nil {
		return 0, false
	}
	var v [cookieDstSize]byte
	if err := p.maps.cookie.dst.Lookup(cookieDstKey(dst, dport), &v); err != nil || binary.LittleEndian.Uint32(v[:]) != gen {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v[8:]), true
}

// CookieAnswers returns how many SYNs the program has answered on queue.
func (p *Program) CookieAnswers(queue int) (uint64, error) {
	if p.maps == nil {
		return 0, fmt.Errorf("xdp %s: closed", p.ifname)
	}
	var n uint64
	if err := p.maps.cookie.count.Lookup(uint32(queue), &n); err != nil {
		return 0, fmt.Errorf("xdp %s: cookie count queue %d: %w", p.ifname, queue, err)
	}
	return n, nil
}

// Stack slots of the cookie step (offsets from the frame pointer). fp-4 is
// the queue key of the shedding and redirect steps, fp-8 the context.
const (
	fpCtx    = -16
	fpZero   = -20 // key 0 / slot key of cookie_ctl
	fpCtl    = -32 // cookie_ctl[0]
	fpDstEnt = -40 // the cookie_dst entry
	fpDstKey = -48
	fpSrc    = -56 // addresses, ports, ISN in host order
	fpDst    = -64
	fpSport  = -72
	fpDport  = -80
	fpISN    = -88
	fpTSval  = -96 // the client's TSval as it sits in the frame
	fpFlags  = -104
	fpNow    = -112
	fpOpts   = -120 // bit 0 SACK, 1 TS, 2 TS seen, 3 ECN; bits 8-15 wscale (0xff none); 16-18 MSS index
	fpCookie = -128 // the cookie ISN
	fpTSOut  = -136 // the SYN/ACK's TSval
)

const (
	optSACK   = 1
	optTS     = 2
	optTSSeen = 4
	optECN    = 8
)

// sum adds the n 32-bit words at off of the packet pointer p into acc,
// as they sit (little-endian loads: folded, the one's complement sum comes
// out byte-swapped, which the comparison and the store undo).
func sumWords(acc, p, tmp asm.Register, off int16, n int) asm.Instructions {
	var in asm.Instructions
	for i := 0; i < n; i++ {
		in = append(in,
			asm.LoadMem(tmp, p, off+int16(4*i), asm.Word),
			asm.Add.Reg(acc, tmp),
		)
	}
	return in
}

// fold reduces the 64-bit sum acc to 16 bits with end-around carries.
func fold(acc, tmp asm.Register) asm.Instructions {
	in := asm.Instructions{
		asm.Mov.Reg(tmp, acc),
		asm.RSh.Imm(tmp, 32),
		asm.LSh.Imm(acc, 32),
		asm.RSh.Imm(acc, 32),
		asm.Add.Reg(acc, tmp),
	}
	for i := 0; i < 3; i++ {
		in = append(in,
			asm.Mov.Reg(tmp, acc),
			asm.RSh.Imm(tmp, 16),
			asm.And.Imm(acc, 0xffff),
			asm.Add.Reg(acc, tmp),
		)
	}
	return in
}

// xadd8 atomically adds src to the 64-bit word at dst+8.
func xadd8(dst, src asm.Register) asm.Instruction {
	in := asm.StoreXAdd(dst, src, asm.DWord)
	in.Offset = 8
	return in
}

// rotl rotates r left by k bits.
func rotl(r, tmp asm.Register, k int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(tmp, r),
		asm.LSh.Imm(r, k),
		asm.RSh.Imm(tmp, 64-k),
		asm.Or.Reg(r, tmp),
	}
}

// SipHash state registers of the cookie step.
const (
	v0, v1, v2, v3 = asm.R6, asm.R7, asm.R8, asm.R9
)

func sipRound() asm.Instructions {
	var in asm.Instructions
	t := asm.R2
	in = append(in, asm.Add.Reg(v0, v1))
	in = append(in, rotl(v1, t, 13)...)
	in = append(in, asm.Xor.Reg(v1, v0))
	in = append(in, rotl(v0, t, 32)...)
	in = append(in, asm.Add.Reg(v2, v3))
	in = append(in, rotl(v3, t, 16)...)
	in = append(in, asm.Xor.Reg(v3, v2), asm.Add.Reg(v0, v3))
	in = append(in, rotl(v3, t, 21)...)
	in = append(in, asm.Xor.Reg(v3, v0), asm.Add.Reg(v2, v1))
	in = append(in, rotl(v1, t, 17)...)
	in = append(in, asm.Xor.Reg(v1, v2))
	in = append(in, rotl(v2, t, 32)...)
	return in
}

// sipCompress absorbs the message word in R1.
func sipCompress() asm.Instructions {
	in := asm.Instructions{asm.Xor.Reg(v3, asm.R1)}
	in = append(in, sipRound()...)
	in = append(in, sipRound()...)
	return append(in, asm.Xor.Reg(v0, asm.R1))
}

// cookieInstructions is the cookie step, entered with R6 the context, the
// frame a pure SYN (flags & (FIN|SYN|RST|ACK) == SYN, IPv4 without options,
// not a fragment, 48 bytes checked) and the queue key at fp-4. It ends in
// XDP_TX, or jumps to label next with the context at fp-8.
func cookieInstructions(m *cookieMaps, next string) asm.Instructions {
	const (
		data = asm.R2
		end  = asm.R3
	)
	le16 := func(b0, b1 byte) int32 { return int32(binary.LittleEndian.Uint16([]byte{b0, b1})) }
	// reload puts data and end in R2, R3 from the context at fpCtx and
	// checks n bytes (the helpers clobber R1-R5; bpf_xdp_adjust_tail
	// invalidates every packet pointer).
	reload := func(n int32) asm.Instructions {
		return asm.Instructions{
			asm.LoadMem(asm.R1, asm.RFP, fpCtx, asm.DWord),
			asm.LoadMem(data, asm.R1, 0, asm.Word),
			asm.LoadMem(end, asm.R1, 4, asm.Word),
			asm.Mov.Reg(asm.R4, data),
			asm.Add.Imm(asm.R4, n),
			asm.JGT.Reg(asm.R4, end, next),
		}
	}
	in := asm.Instructions{
		// On for this queue?
		asm.LoadMem(asm.R1, asm.R6, 16, asm.Word), // rx_queue_index
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, m.on.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.JEq.Imm(asm.R1, 0, next),
		asm.StoreImm(asm.RFP, fpZero, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpZero),
		asm.LoadMapPtr(asm.R1, m.ctl.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.StoreMem(asm.RFP, fpCtl, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R7, asm.R0),
	}
	in = append(in, reload(54)...)
	in = append(in,
		// Addressed to this device, TTL above 1, SYN without PSH or URG.
		asm.LoadMem(asm.R4, data, 0, asm.Word),
		asm.LoadMem(asm.R5, asm.R7, 16, asm.Word),
		asm.JNE.Reg(asm.R4, asm.R5, next),
		asm.LoadMem(asm.R4, data, 4, asm.Half),
		asm.LoadMem(asm.R5, asm.R7, 20, asm.Half),
		asm.JNE.Reg(asm.R4, asm.R5, next),
		asm.LoadMem(asm.R4, data, 22, asm.Byte),
		asm.JLE.Imm(asm.R4, 1, next),
		asm.LoadMem(asm.R4, data, 47, asm.Byte),
		asm.StoreMem(asm.RFP, fpFlags, asm.R4, asm.DWord),
		asm.And.Imm(asm.R4, 0x3f),
		asm.JNE.Imm(asm.R4, 0x02, next),
		// No data: total length = 20 + the TCP header.
		asm.LoadMem(asm.R4, data, 46, asm.Byte),
		asm.RSh.Imm(asm.R4, 4),
		asm.LSh.Imm(asm.R4, 2),
		asm.JLT.Imm(asm.R4, 20, next),
		asm.LoadMem(asm.R5, data, 16, asm.Half),
		asm.HostTo(asm.BE, asm.R5, asm.Half),
		asm.Sub.Imm(asm.R5, 20),
		asm.JNE.Reg(asm.R5, asm.R4, next),
		// The fields, in host order.
		asm.LoadMem(asm.R4, data, 26, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(asm.RFP, fpSrc, asm.R4, asm.DWord),
		asm.LoadMem(asm.R4, data, 30, asm.Word),
		asm.StoreMem(asm.RFP, fpDstKey, asm.R4, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(asm.RFP, fpDst, asm.R4, asm.DWord),
		asm.LoadMem(asm.R4, data, 34, asm.Half),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.RFP, fpSport, asm.R4, asm.DWord),
		asm.LoadMem(asm.R4, data, 36, asm.Half),
		asm.StoreMem(asm.RFP, fpDstKey+4, asm.R4, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(asm.RFP, fpDport, asm.R4, asm.DWord),
		asm.LoadMem(asm.R4, data, 38, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(asm.RFP, fpISN, asm.R4, asm.DWord),
		// A destination the worker handed over, under this rule set?
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpDstKey),
		asm.LoadMapPtr(asm.R1, m.dst.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.Word),
		asm.LoadMem(asm.R7, asm.RFP, fpCtl, asm.DWord),
		asm.LoadMem(asm.R2, asm.R7, 0, asm.Word),
		asm.JNE.Reg(asm.R1, asm.R2, next),
		asm.StoreMem(asm.RFP, fpDstEnt, asm.R0, asm.DWord),
	)
	// Checksums: the IPv4 header, then the TCP header with the pseudo
	// header (the header length is 20..60, a multiple of 4).
	in = append(in, reload(54)...)
	in = append(in, asm.Mov.Imm(asm.R0, 0))
	in = append(in, sumWords(asm.R0, data, asm.R5, 14, 5)...)
	in = append(in, fold(asm.R0, asm.R5)...)
	in = append(in, asm.JNE.Imm(asm.R0, 0xffff, next))
	in = append(in,
		asm.LoadMem(asm.R1, data, 46, asm.Byte),
		asm.RSh.Imm(asm.R1, 4),
		asm.LSh.Imm(asm.R1, 2), // the TCP header length
		asm.Mov.Reg(asm.R0, asm.R1),
		asm.LSh.Imm(asm.R0, 24),
		asm.Or.Imm(asm.R0, 0x600), // 0, protocol 6, length (< 256) as they sit
	)
	in = append(in, sumWords(asm.R0, data, asm.R5, 26, 2)...)
	in = append(in, sumWords(asm.R0, data, asm.R5, 34, 5)...)
	for w := 5; w < 15; w++ {
		in = append(in,
			asm.JLE.Imm(asm.R1, int32(4*w), "cookie_tcpsum"),
			asm.Mov.Reg(asm.R4, data),
			asm.Add.Imm(asm.R4, int32(34+4*w+4)),
			asm.JGT.Reg(asm.R4, end, next),
			asm.LoadMem(asm.R5, data, int16(34+4*w), asm.Word),
			asm.Add.Reg(asm.R0, asm.R5),
		)
	}
	f := fold(asm.R0, asm.R5)
	f[0] = f[0].Sym("cookie_tcpsum")
	in = append(in, f...)
	in = append(in, asm.JNE.Imm(asm.R0, 0xffff, next))

	// Options, walked as packet.TCP.ParseOptions and Timestamps do: NOPs
	// skipped; EOL, a last lone byte, a length below 2 or past the end
	// stop the walk; MSS (length 4) and window scale (length 3, above 14
	// taken as 14) the last seen, SACK-permitted (length 2), timestamps
	// from the first option of kind 8 only if its length is 10. The walk
	// is unrolled over the 40 byte positions (constant offsets keep the
	// verifier's work linear): skip counts down the bytes of the option
	// being passed.
	const (
		pkt    = asm.R1
		pktEnd = asm.R2
		optLen = asm.R3
		skip   = asm.R4
		mss    = asm.R6
		ws     = asm.R7
		bitsR  = asm.R8
		tmp    = asm.R9
	)
	in = append(in,
		asm.Mov.Reg(tmp, asm.R1),
		asm.Sub.Imm(tmp, 20),
		asm.Mov.Reg(pkt, data),
		asm.Mov.Reg(pktEnd, end),
		asm.Mov.Reg(optLen, tmp),
		asm.Mov.Imm(skip, 0),
		asm.Mov.Imm(mss, 0),
		asm.Mov.Imm(ws, 0xff),
		// 0, from cookie_ctl[0]'s zero word: unknown to the verifier, so
		// that paths differing only in the options seen so far are one
		// state to it (a constant here multiplies its work 16 times).
		asm.LoadMem(bitsR, asm.RFP, fpCtl, asm.DWord),
		asm.LoadMem(bitsR, bitsR, 4, asm.Word),
	)
	// check jumps to next unless the frame holds n bytes from the options'
	// start (never taken: the header was summed whole).
	check := func(n int) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(tmp, pkt),
			asm.Add.Imm(tmp, int32(54+n)),
			asm.JGT.Reg(tmp, pktEnd, next),
		}
	}
	const maxOpts = 40
	for i := 0; i < maxOpts; i++ {
		here := fmt.Sprintf("cookie_opt%d", i)
		nxt := fmt.Sprintf("cookie_opt%d", i+1)
		if i+1 == maxOpts {
			nxt = "cookie_parsed"
		}
		l := func(s string) string { return fmt.Sprintf("%s_%s", here, s) }
		in = append(in,
			asm.JLE.Imm(optLen, int32(i), "cookie_parsed").Sym(here),
			asm.JEq.Imm(skip, 0, l("kind")),
			asm.Sub.Imm(skip, 1),
			asm.Ja.Label(nxt),
		)
		c := check(i + 1)
		c[0] = c[0].Sym(l("kind"))
		in = append(in, c...)
		in = append(in,
			asm.LoadMem(asm.R5, pkt, int16(54+i), asm.Byte),
			asm.JEq.Imm(asm.R5, 1, nxt),
			asm.JEq.Imm(asm.R5, 0, "cookie_parsed"),
			asm.JLE.Imm(optLen, int32(i+1), "cookie_parsed"),
		)
		in = append(in, check(i+2)...)
		in = append(in,
			asm.LoadMem(asm.R0, pkt, int16(55+i), asm.Byte),
			asm.JLT.Imm(asm.R0, 2, "cookie_parsed"),
			asm.Mov.Reg(tmp, asm.R0),
			asm.Add.Imm(tmp, int32(i)),
			asm.JGT.Reg(tmp, optLen, "cookie_parsed"),
			asm.Mov.Reg(skip, asm.R0),
			asm.Sub.Imm(skip, 1),

			asm.JNE.Imm(asm.R5, 2, l("notmss")),
			asm.JNE.Imm(asm.R0, 4, nxt),
		)
		in = append(in, check(i+4)...)
		in = append(in,
			asm.LoadMem(mss, pkt, int16(56+i), asm.Half),
			asm.HostTo(asm.BE, mss, asm.Half),
			asm.Ja.Label(nxt),

			asm.JNE.Imm(asm.R5, 3, l("notws")).Sym(l("notmss")),
			asm.JNE.Imm(asm.R0, 3, nxt),
		)
		in = append(in, check(i+3)...)
		in = append(in,
			asm.LoadMem(ws, pkt, int16(56+i), asm.Byte),
			asm.JLE.Imm(ws, 14, nxt),
			asm.Mov.Imm(ws, 14),
			asm.Ja.Label(nxt),

			asm.JNE.Imm(asm.R5, 4, l("notsack")).Sym(l("notws")),
			asm.JNE.Imm(asm.R0, 2, nxt),
			asm.Or.Imm(bitsR, optSACK),
			asm.Ja.Label(nxt),

			asm.JNE.Imm(asm.R5, 8, nxt).Sym(l("notsack")),
			asm.Mov.Reg(tmp, bitsR),
			asm.And.Imm(tmp, optTSSeen),
			asm.JNE.Imm(tmp, 0, nxt),
			asm.Or.Imm(bitsR, optTSSeen),
			asm.JNE.Imm(asm.R0, 10, nxt),
		)
		in = append(in, check(i+6)...)
		in = append(in,
			asm.LoadMem(tmp, pkt, int16(56+i), asm.Word),
			asm.StoreMem(asm.RFP, fpTSval, tmp, asm.Word),
			asm.Or.Imm(bitsR, optTS),
			asm.Ja.Label(nxt),
		)
	}
	in = append(in,
		// The MSS index (tcpintercept.MSSTable, largest entry not above
		// the MSS; 0 for none), ECN, and the options word.
		asm.Mov.Imm(asm.R1, 0).Sym("cookie_parsed"),
	)
	for i := 1; i < len(tcpintercept.MSSTable); i++ {
		in = append(in,
			asm.JLT.Imm(mss, int32(tcpintercept.MSSTable[i]), "cookie_mssidx"),
			asm.Mov.Imm(asm.R1, int32(i)),
		)
	}
	in = append(in,
		asm.LSh.Imm(asm.R1, 16).Sym("cookie_mssidx"),
		asm.Or.Reg(bitsR, asm.R1),
		asm.LSh.Imm(ws, 8),
		asm.Or.Reg(bitsR, ws),
		asm.LoadMem(asm.R1, asm.RFP, fpFlags, asm.DWord),
		asm.And.Imm(asm.R1, 0xc0), // ECE and CWR
		asm.JNE.Imm(asm.R1, 0xc0, "cookie_noecn"),
		asm.Or.Imm(bitsR, optECN),
		asm.StoreMem(asm.RFP, fpOpts, bitsR, asm.DWord).Sym("cookie_noecn"),

		// now = the kernel's monotonic clock + the workers' offset; the
		// generation's secret must be in its slot.
		asm.FnKtimeGetNs.Call(),
		asm.LoadMem(asm.R1, asm.RFP, fpCtl, asm.DWord),
		asm.LoadMem(asm.R1, asm.R1, 8, asm.DWord),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.StoreMem(asm.RFP, fpNow, asm.R0, asm.DWord),
		asm.RSh.Imm(asm.R0, tcpintercept.TickShift),
		asm.LSh.Imm(asm.R0, 32), // count: the tick as a uint32
		asm.RSh.Imm(asm.R0, 32),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Div.Imm(asm.R1, tcpintercept.KeyTicks),
		asm.StoreMem(asm.RFP, fpCookie, asm.R1, asm.DWord), // the generation, for now
		asm.And.Imm(asm.R1, 1),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.RFP, fpZero, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, fpZero),
		asm.LoadMapPtr(asm.R1, m.ctl.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, next),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, fpCookie, asm.DWord),
		asm.JNE.Reg(asm.R1, asm.R2, next),
		// SipHash-2-4 of src, dst, sport, dport, ISN, count, MSS index,
		// timestamps flag, as tcpintercept's Jar.mac.
		asm.LoadMem(v0, asm.R0, 8, asm.DWord),  // k0
		asm.LoadMem(v1, asm.R0, 16, asm.DWord), // k1
		asm.Mov.Reg(v2, v0),
		asm.Mov.Reg(v3, v1),
		asm.LoadImm(asm.R1, 0x736f6d6570736575, asm.DWord),
		asm.Xor.Reg(v0, asm.R1),
		asm.LoadImm(asm.R1, 0x646f72616e646f6d, asm.DWord),
		asm.Xor.Reg(v1, asm.R1),
		asm.LoadImm(asm.R1, 0x6c7967656e657261, asm.DWord),
		asm.Xor.Reg(v2, asm.R1),
		asm.LoadImm(asm.R1, 0x7465646279746573, asm.DWord),
		asm.Xor.Reg(v3, asm.R1),
		// m0 = src<<32 | dst
		asm.LoadMem(asm.R1, asm.RFP, fpSrc, asm.DWord),
		asm.LSh.Imm(asm.R1, 32),
		asm.LoadMem(asm.R3, asm.RFP, fpDst, asm.DWord),
		asm.Or.Reg(asm.R1, asm.R3),
	)
	in = append(in, sipCompress()...)
	in = append(in,
		// m1 = sport<<48 | dport<<32 | ISN
		asm.LoadMem(asm.R1, asm.RFP, fpSport, asm.DWord),
		asm.LSh.Imm(asm.R1, 48),
		asm.LoadMem(asm.R3, asm.RFP, fpDport, asm.DWord),
		asm.LSh.Imm(asm.R3, 32),
		asm.Or.Reg(asm.R1, asm.R3),
		asm.LoadMem(asm.R3, asm.RFP, fpISN, asm.DWord),
		asm.Or.Reg(asm.R1, asm.R3),
	)
	in = append(in, sipCompress()...)
	in = append(in,
		// m2 = 20<<56 | count&0xffffff | idx<<24 | ts<<27
		asm.LoadMem(asm.R1, asm.RFP, fpNow, asm.DWord),
		asm.RSh.Imm(asm.R1, tcpintercept.TickShift),
		asm.And.Imm(asm.R1, 0xffffff),
		asm.LoadMem(asm.R4, asm.RFP, fpOpts, asm.DWord),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.RSh.Imm(asm.R3, 16),
		asm.And.Imm(asm.R3, 7),
		asm.LSh.Imm(asm.R3, 24),
		asm.Or.Reg(asm.R1, asm.R3),
		asm.And.Imm(asm.R4, optTS),
		asm.LSh.Imm(asm.R4, 26), // bit 1 -> bit 27
		asm.Or.Reg(asm.R1, asm.R4),
		asm.LoadImm(asm.R3, 20<<56, asm.DWord),
		asm.Or.Reg(asm.R1, asm.R3),
	)
	in = append(in, sipCompress()...)
	in = append(in, asm.Xor.Imm(v2, 0xff))
	for i := 0; i < 4; i++ {
		in = append(in, sipRound()...)
	}
	in = append(in,
		asm.Xor.Reg(v0, v1),
		asm.Xor.Reg(v0, v2),
		asm.Xor.Reg(v0, v3), // h
		// cookie = ISN + (h & ^31 | (count&3)<<3 | idx)
		asm.Mov.Reg(asm.R1, v0),
		asm.And.Imm(asm.R1, -32),
		asm.LoadMem(asm.R3, asm.RFP, fpNow, asm.DWord),
		asm.RSh.Imm(asm.R3, tcpintercept.TickShift),
		asm.And.Imm(asm.R3, 3),
		asm.LSh.Imm(asm.R3, 3),
		asm.Or.Reg(asm.R1, asm.R3),
		asm.LoadMem(asm.R4, asm.RFP, fpOpts, asm.DWord),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.RSh.Imm(asm.R3, 16),
		asm.And.Imm(asm.R3, 7),
		asm.Or.Reg(asm.R1, asm.R3),
		asm.LoadMem(asm.R3, asm.RFP, fpISN, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R3),
		asm.StoreMem(asm.RFP, fpCookie, asm.R1, asm.Word),
		// TSval = (now/2^20 + h>>32) &^ 63 | options: window scale (15
		// none), SACK<<4, ECN<<5.
		asm.LoadMem(asm.R1, asm.RFP, fpNow, asm.DWord),
		asm.RSh.Imm(asm.R1, 20),
		asm.RSh.Imm(v0, 32),
		asm.Add.Reg(asm.R1, v0),
		asm.And.Imm(asm.R1, -64),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.RSh.Imm(asm.R3, 8),
		asm.And.Imm(asm.R3, 0xff),
		asm.JNE.Imm(asm.R3, 0xff, "cookie_hasws"),
		asm.Mov.Imm(asm.R3, 0xf),
		asm.Or.Reg(asm.R1, asm.R3).Sym("cookie_hasws"),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.And.Imm(asm.R3, optSACK),
		asm.LSh.Imm(asm.R3, 4),
		asm.Or.Reg(asm.R1, asm.R3),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.And.Imm(asm.R3, optECN),
		asm.LSh.Imm(asm.R3, 2), // bit 3 -> bit 5
		asm.Or.Reg(asm.R1, asm.R3),
		asm.StoreMem(asm.RFP, fpTSOut, asm.R1, asm.Word),

		// The SYN/ACK's length: 58 (MSS), 70 (and timestamps, with
		// SACK-permitted if asked), 74 (and window scale).
		asm.Mov.Imm(asm.R6, 58),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.And.Imm(asm.R3, optTS),
		asm.JEq.Imm(asm.R3, 0, "cookie_len"),
		asm.Mov.Imm(asm.R6, 70),
		asm.Mov.Reg(asm.R3, asm.R4),
		asm.And.Imm(asm.R3, 0xff00),
		asm.JEq.Imm(asm.R3, 0xff00, "cookie_len"),
		asm.Mov.Imm(asm.R6, 74),
		asm.LoadMem(asm.R1, asm.RFP, fpCtx, asm.DWord).Sym("cookie_len"),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R4, asm.R1, 0, asm.Word),
		asm.Sub.Reg(asm.R3, asm.R4), // the frame's length
		asm.Mov.Reg(asm.R2, asm.R6),
		asm.Sub.Reg(asm.R2, asm.R3), // delta
		asm.FnXdpAdjustTail.Call(),
		asm.JNE.Imm(asm.R0, 0, next),
	)
	// The common part: Ethernet, IPv4, TCP with the MSS option.
	in = append(in, reload(58)...)
	in = append(in,
		// Ethernet: to the SYN's source, from this device.
		asm.LoadMem(asm.R4, data, 6, asm.Word),
		asm.StoreMem(data, 0, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, data, 10, asm.Half),
		asm.StoreMem(data, 4, asm.R4, asm.Half),
		asm.LoadMem(asm.R1, asm.RFP, fpCtl, asm.DWord),
		asm.LoadMem(asm.R4, asm.R1, 16, asm.Word),
		asm.StoreMem(data, 6, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.R1, 20, asm.Half),
		asm.StoreMem(data, 10, asm.R4, asm.Half),
		// IPv4 (packet.WriteIPv4Header): 0x45, TOS 0, length, ID 0, no
		// fragment bits, TTL 64, TCP, addresses swapped.
		asm.StoreImm(data, 14, int64(le16(0x45, 0)), asm.Half),
		asm.Mov.Reg(asm.R4, asm.R6),
		asm.Sub.Imm(asm.R4, 14),
		asm.HostTo(asm.BE, asm.R4, asm.Half),
		asm.StoreMem(data, 16, asm.R4, asm.Half),
		asm.StoreImm(data, 18, 0, asm.Word),
		asm.StoreImm(data, 22, int64(le16(64, 6)), asm.Half),
		asm.StoreImm(data, 24, 0, asm.Half),
		asm.LoadMem(asm.R4, data, 26, asm.Word),
		asm.LoadMem(asm.R5, data, 30, asm.Word),
		asm.StoreMem(data, 26, asm.R5, asm.Word),
		asm.StoreMem(data, 30, asm.R4, asm.Word),
		// TCP (tcpintercept.WriteSYNACK): ports swapped, seq the cookie,
		// ack the ISN + 1, SYN|ACK (ECE too for an ECN setup with
		// timestamps), window 0.
		asm.LoadMem(asm.R4, data, 34, asm.Half),
		asm.LoadMem(asm.R5, data, 36, asm.Half),
		asm.StoreMem(data, 34, asm.R5, asm.Half),
		asm.StoreMem(data, 36, asm.R4, asm.Half),
		asm.LoadMem(asm.R4, asm.RFP, fpCookie, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(data, 38, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.RFP, fpISN, asm.DWord),
		asm.Add.Imm(asm.R4, 1),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(data, 42, asm.R4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R6),
		asm.Sub.Imm(asm.R4, 34),
		asm.LSh.Imm(asm.R4, 2), // (len/4)<<4
		asm.StoreMem(data, 46, asm.R4, asm.Byte),
		asm.LoadMem(asm.R5, asm.RFP, fpOpts, asm.DWord),
		asm.Mov.Imm(asm.R4, 0x12),
		asm.Mov.Reg(asm.R1, asm.R5),
		asm.And.Imm(asm.R1, optTS|optECN),
		asm.JNE.Imm(asm.R1, optTS|optECN, "cookie_flags"),
		asm.Or.Imm(asm.R4, 0x40),
		asm.StoreMem(data, 47, asm.R4, asm.Byte).Sym("cookie_flags"),
		asm.StoreImm(data, 48, 0, asm.Word), // window, checksum
		asm.StoreImm(data, 52, 0, asm.Half), // urgent pointer
		asm.LoadImm(asm.R4, int64(binary.LittleEndian.Uint32([]byte{2, 4, tcpintercept.CookieMSS >> 8, tcpintercept.CookieMSS & 0xff})), asm.DWord),
		asm.StoreMem(data, 54, asm.R4, asm.Word),
		// Checksums: IPv4, and the TCP sum's fixed part.
		asm.Mov.Imm(asm.R0, 0),
	)
	in = append(in, sumWords(asm.R0, data, asm.R4, 14, 5)...)
	in = append(in, fold(asm.R0, asm.R4)...)
	in = append(in,
		asm.Xor.Imm(asm.R0, 0xffff),
		asm.StoreMem(data, 24, asm.R0, asm.Half),
		asm.Mov.Reg(asm.R0, asm.R6),
		asm.Sub.Imm(asm.R0, 34),
		asm.LSh.Imm(asm.R0, 24),
		asm.Or.Imm(asm.R0, 0x600),
	)
	in = append(in, sumWords(asm.R0, data, asm.R4, 26, 2)...)
	in = append(in, sumWords(asm.R0, data, asm.R4, 34, 6)...)
	in = append(in,
		asm.JEq.Imm(asm.R6, 58, "cookie_csum"),
		// Timestamps, SACK-permitted in front if asked, else two NOPs.
		asm.Mov.Reg(asm.R4, data),
		asm.Add.Imm(asm.R4, 70),
		asm.JGT.Reg(asm.R4, end, next),
		asm.LoadImm(asm.R4, int64(binary.LittleEndian.Uint32([]byte{1, 1, 8, 10})), asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R5),
		asm.And.Imm(asm.R1, optSACK),
		asm.JEq.Imm(asm.R1, 0, "cookie_nosack"),
		asm.LoadImm(asm.R4, int64(binary.LittleEndian.Uint32([]byte{4, 2, 8, 10})), asm.DWord),
		asm.StoreMem(data, 58, asm.R4, asm.Word).Sym("cookie_nosack"),
		asm.LoadMem(asm.R4, asm.RFP, fpTSOut, asm.Word),
		asm.HostTo(asm.BE, asm.R4, asm.Word),
		asm.StoreMem(data, 62, asm.R4, asm.Word),
		asm.LoadMem(asm.R4, asm.RFP, fpTSval, asm.Word),
		asm.StoreMem(data, 66, asm.R4, asm.Word),
	)
	in = append(in, sumWords(asm.R0, data, asm.R4, 58, 3)...)
	in = append(in,
		asm.JEq.Imm(asm.R6, 70, "cookie_csum"),
		asm.Mov.Reg(asm.R4, data),
		asm.Add.Imm(asm.R4, 74),
		asm.JGT.Reg(asm.R4, end, next),
		asm.LoadImm(asm.R4, int64(binary.LittleEndian.Uint32([]byte{1, 3, 3, byte(tcpintercept.DefaultWScale)})), asm.DWord),
		asm.StoreMem(data, 70, asm.R4, asm.Word),
		asm.Add.Reg(asm.R0, asm.R4),
		asm.Mov.Reg(asm.R1, asm.R0).Sym("cookie_csum"),
	)
	in = append(in, fold(asm.R0, asm.R4)...)
	in = append(in,
		asm.Xor.Imm(asm.R0, 0xffff),
		asm.StoreMem(data, 50, asm.R0, asm.Half),
		// Count, and back out.
		asm.LoadMem(asm.R1, asm.RFP, fpDstEnt, asm.DWord),
		asm.Mov.Imm(asm.R2, 1),
		xadd8(asm.R1, asm.R2),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, m.count.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "cookie_tx"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpTx).Sym("cookie_tx"),
		asm.Return(),
	)
	return in
}
