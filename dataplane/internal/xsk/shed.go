package xsk

// Overload shedding in the XDP program. When the worker cannot keep up,
// the kernel drops whatever finds the RX ring full: under a SYN flood that
// is as likely to be the ACK that completes a legitimate handshake (which
// no one retransmits: a client of a server-first protocol then waits
// forever) or a segment of an established transfer as a flood SYN. With
// shedding on, the program drops a share of pure SYNs (SYN without ACK,
// RST or FIN, IPv4 without options, not fragmented) before they are copied
// to the socket, so that the ring has room for everything else. A client
// whose SYN is shed retransmits it; nothing else is shed. The share is set
// per RX queue by the worker that owns the queue (dataplane shedControl)
// from the ring's backlog; 0 turns the step off.

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// progMaps are the program's maps besides asavie's two: shedding's
// shed_map, the threshold (a pure SYN is dropped when
// bpf_get_prandom_u32() < threshold), written by the worker, and
// shed_count, the SYNs dropped, counted by the program with an atomic add
// (two maps, so that writing the threshold never overwrites the count);
// and the cookie step's (cookie.go).
type progMaps struct {
	threshold, count *ebpf.Map
	cookie           *cookieMaps
}

func (m *progMaps) Close() error {
	var err error
	for _, p := range []**ebpf.Map{&m.threshold, &m.count} {
		if *p != nil {
			if cerr := (*p).Close(); err == nil {
				err = cerr
			}
			*p = nil
		}
	}
	if m.cookie != nil {
		if cerr := m.cookie.Close(); err == nil {
			err = cerr
		}
		m.cookie = nil
	}
	return err
}

// XDP actions.
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
)

// newProgram loads the program and its maps for queues queues.
func newProgram(queues int) (*xdp.Program, *progMaps, error) {
	u32 := uint32(unsafe.Sizeof(uint32(0)))
	qidconf, err := ebpf.NewMap(&ebpf.MapSpec{Name: "qidconf_map", Type: ebpf.Array, KeySize: u32, ValueSize: u32, MaxEntries: uint32(queues)})
	if err != nil {
		return nil, nil, fmt.Errorf("map qidconf_map (try raising RLIMIT_MEMLOCK): %w", err)
	}
	xsks, err := ebpf.NewMap(&ebpf.MapSpec{Name: "xsks_map", Type: ebpf.XSKMap, KeySize: u32, ValueSize: u32, MaxEntries: uint32(queues)})
	if err != nil {
		qidconf.Close()
		return nil, nil, fmt.Errorf("map xsks_map (try raising RLIMIT_MEMLOCK): %w", err)
	}
	shed := &progMaps{}
	shed.threshold, err = ebpf.NewMap(&ebpf.MapSpec{Name: "shed_map", Type: ebpf.Array, KeySize: u32, ValueSize: u32, MaxEntries: uint32(queues)})
	if err == nil {
		shed.count, err = ebpf.NewMap(&ebpf.MapSpec{Name: "shed_count", Type: ebpf.Array, KeySize: u32, ValueSize: 8, MaxEntries: uint32(queues)})
	}
	if err == nil {
		shed.cookie, err = newCookieMaps(queues)
	}
	if err != nil {
		qidconf.Close()
		xsks.Close()
		shed.Close()
		return nil, nil, fmt.Errorf("map shed_map (try raising RLIMIT_MEMLOCK): %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         ProgramName,
		Type:         ebpf.XDP,
		License:      "GPL",
		Instructions: instructions(qidconf.FD(), xsks.FD(), shed.threshold.FD(), shed.count.FD(), shed.cookie),
	})
	if err != nil {
		qidconf.Close()
		xsks.Close()
		shed.Close()
		return nil, nil, fmt.Errorf("program: %w", err)
	}
	return &xdp.Program{Program: prog, Queues: qidconf, Sockets: xsks}, shed, nil
}

// instructions is the program. In C:
//
//	int cbac_xsk(struct xdp_md *ctx)
//	{
//		void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
//		__u32 q = ctx->rx_queue_index;
//		if (data + 48 <= end && *(__u16 *)(data+12) == htons(0x0800) &&
//		    *(__u8 *)(data+14) == 0x45 && *(__u8 *)(data+23) == IPPROTO_TCP &&
//		    (*(__u16 *)(data+20) & htons(0x3fff)) == 0 &&   // not a fragment
//		    (*(__u8 *)(data+47) & (FIN|SYN|RST|ACK)) == SYN) {
//			__u32 *limit = bpf_map_lookup_elem(&shed_map, &q);
//			if (limit && *limit && bpf_get_prandom_u32() < *limit) {
//				__u64 *n = bpf_map_lookup_elem(&shed_count, &q);
//				if (n)
//					__sync_fetch_and_add(n, 1);
//				return XDP_DROP;
//			}
//			if (cookie_answer(ctx))   // cookie.go: the SYN/ACK, over the SYN
//				return XDP_TX;
//		}
//		int *on = bpf_map_lookup_elem(&qidconf_map, &q);
//		if (!on)
//			return XDP_ABORTED;
//		if (*on)
//			return bpf_redirect_map(&xsks_map, q, 0);
//		return XDP_PASS;
//	}
func instructions(qidconf, xsks, shed, count int, cookie *cookieMaps) asm.Instructions {
	const (
		ctx   = asm.R6
		limit = asm.R7
	)
	// The 16-bit loads read network-order bytes on a little-endian host.
	le16 := func(b0, b1 byte) int32 { return int32(binary.LittleEndian.Uint16([]byte{b0, b1})) }
	in := asm.Instructions{
		asm.Mov.Reg(ctx, asm.R1),
		asm.StoreMem(asm.RFP, fpCtx, ctx, asm.DWord),
		asm.LoadMem(asm.R2, ctx, 0, asm.Word), // data
		asm.LoadMem(asm.R3, ctx, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 48), // Ethernet 14 + IPv4 20 + TCP flags at 13, +1
		asm.JGT.Reg(asm.R4, asm.R3, "redirect"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, le16(0x08, 0x00), "redirect"),
		asm.LoadMem(asm.R5, asm.R2, 14, asm.Byte),
		asm.JNE.Imm(asm.R5, 0x45, "redirect"),
		asm.LoadMem(asm.R5, asm.R2, 23, asm.Byte),
		asm.JNE.Imm(asm.R5, 6, "redirect"),
		asm.LoadMem(asm.R5, asm.R2, 20, asm.Half),
		asm.And.Imm(asm.R5, le16(0x3f, 0xff)), // MF and the fragment offset
		asm.JNE.Imm(asm.R5, 0, "redirect"),
		asm.LoadMem(asm.R5, asm.R2, 47, asm.Byte),
		asm.And.Imm(asm.R5, 0x17), // FIN|SYN|RST|ACK
		asm.JNE.Imm(asm.R5, 0x02, "redirect"),
	}
	in = append(in,
		asm.LoadMem(asm.R1, ctx, 16, asm.Word), // rx_queue_index
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, shed),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "cookie"),
		asm.LoadMem(limit, asm.R0, 0, asm.Word),
		asm.JEq.Imm(limit, 0, "cookie"),
		asm.FnGetPrandomU32.Call(),
		asm.JGE.Reg(asm.R0, limit, "cookie"),
		asm.Mov.Reg(asm.R2, asm.RFP), // the key is still at fp-4
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, count),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpDrop).Sym("drop"),
		asm.Return(),
	)
	c := cookieInstructions(cookie, "redirect")
	c[0] = c[0].Sym("cookie")
	in = append(in, c...)
	return append(in,
		asm.LoadMem(ctx, asm.RFP, fpCtx, asm.DWord).Sym("redirect"),
		asm.LoadMem(asm.R1, ctx, 16, asm.Word),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, qidconf),
		asm.FnMapLookupElem.Call(),
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R0, xdpAborted),
		asm.JEq.Imm(asm.R1, 0, "out"),
		asm.Mov.Imm(asm.R0, xdpPass),
		asm.LoadMem(asm.R1, asm.R1, 0, asm.Word),
		asm.JEq.Imm(asm.R1, 0, "out"),
		asm.LoadMapPtr(asm.R1, xsks),
		asm.LoadMem(asm.R2, asm.RFP, -4, asm.Word),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRedirectMap.Call(),
		asm.Return().Sym("out"),
	)
}

// SetShed sets the share of pure SYNs the program drops on queue, as a
// threshold against a uniform 32-bit random number (0: none, 1<<32-1: all
// but one in four billion). It is a map update (a system call): callers
// change it at most every control interval.
func (p *Program) SetShed(queue int, threshold uint32) error {
	if p.maps == nil {
		return fmt.Errorf("xdp %s: closed", p.ifname)
	}
	if err := p.maps.threshold.Put(uint32(queue), threshold); err != nil {
		return fmt.Errorf("xdp %s: shed queue %d: %w", p.ifname, queue, err)
	}
	return nil
}

// Shed returns queue's threshold and the number of SYNs the program has
// dropped on it.
func (p *Program) Shed(queue int) (threshold uint32, shed uint64, err error) {
	if p.maps == nil {
		return 0, 0, fmt.Errorf("xdp %s: closed", p.ifname)
	}
	if err := p.maps.threshold.Lookup(uint32(queue), &threshold); err != nil {
		return 0, 0, fmt.Errorf("xdp %s: shed queue %d: %w", p.ifname, queue, err)
	}
	if err := p.maps.count.Lookup(uint32(queue), &shed); err != nil {
		return 0, 0, fmt.Errorf("xdp %s: shed queue %d: %w", p.ifname, queue, err)
	}
	return threshold, shed, nil
}
