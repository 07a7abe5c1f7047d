package lab

// An XDP program on the peers of cbacd's devices (the switch ports "fw").
//
// Why: cbacd's XDP program answers some frames itself, sending the answer
// back out the device the frame came in on (XDP_TX: TCP intercept's cookie
// SYN/ACKs). On a veth in native XDP mode the kernel puts such a frame on
// the peer device's XDP ring and runs the peer's receive for it only when
// the peer carries an XDP program of its own. A peer without one drops the
// frame (without NAPI, the default) or, with GRO on, queues it and leaves it
// there until some other frame makes the peer receive. A program that
// passes every frame changes nothing else (the peer's receive runs in NAPI
// and the kernel turns segmentation offload off on the device facing it,
// which cbacd's devices do not use). Generic XDP mode does not need it.
//
// The program stays attached after the loading process closes it (the
// device holds it) and goes with the device.

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// PeerProgramName is the BPF name of the pass-everything program.
const PeerProgramName = "cbac_peer_pass"

// AttachPeerXDP attaches a native-mode XDP program that passes every frame
// to dev in namespace ns, replacing one already there.
func AttachPeerXDP(ns, dev string) error {
	return attachPeer(ns, dev, asm.Instructions{
		asm.Mov.Imm(asm.R0, 2), // XDP_PASS
		asm.Return(),
	})
}

// AttachPeerXDPDropping is AttachPeerXDP with one difference: IPv4 frames
// whose destination address is in drop are dropped. A benchmark host
// facing a random-source flood uses it: the answers to the flood's
// made-up sources would go elsewhere on a real network, not into the host
// that shares the link with the flood.
func AttachPeerXDPDropping(ns, dev string, drop netip.Prefix) error {
	insns, err := dropInstructions(drop)
	if err != nil {
		return fmt.Errorf("attach XDP program to %s in %s: %w", dev, ns, err)
	}
	return attachPeer(ns, dev, insns)
}

// dropInstructions is AttachPeerXDPDropping's program.
func dropInstructions(drop netip.Prefix) (asm.Instructions, error) {
	if !drop.Addr().Is4() {
		return nil, fmt.Errorf("%v is not IPv4", drop)
	}
	base := binary.BigEndian.Uint32(drop.Masked().Addr().AsSlice())
	mask := uint32(0)
	if drop.Bits() > 0 {
		mask = ^uint32(0) << (32 - drop.Bits())
	}
	// Loads of network-order words on a little-endian host come byte-swapped.
	swap := func(v uint32) int32 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], v)
		return int32(binary.LittleEndian.Uint32(b[:]))
	}
	return asm.Instructions{
		asm.Mov.Imm(asm.R0, 2), // XDP_PASS
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 34),
		asm.JGT.Reg(asm.R4, asm.R3, "out"),
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R4, 0x0008, "out"), // EtherType IPv4
		asm.LoadMem(asm.R4, asm.R2, 30, asm.Word),
		asm.And.Imm32(asm.R4, swap(mask)),
		asm.Mov.Imm32(asm.R5, swap(base)),
		asm.JNE.Reg(asm.R4, asm.R5, "out"),
		asm.Mov.Imm(asm.R0, 1), // XDP_DROP
		asm.Return().Sym("out"),
	}, nil
}

func attachPeer(ns, dev string, insns asm.Instructions) error {
	err := inNetns(ns, func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         PeerProgramName,
			Type:         ebpf.XDP,
			License:      "GPL",
			Instructions: insns,
		})
		if err != nil {
			return fmt.Errorf("load program: %w", err)
		}
		defer prog.Close() // the device keeps its own reference
		return netlink.LinkSetXdpFdWithFlags(link, prog.FD(), unix.XDP_FLAGS_DRV_MODE)
	})
	if err != nil {
		return fmt.Errorf("attach XDP pass program to %s in %s: %w", dev, ns, err)
	}
	return nil
}

// DetachPeerXDP removes the native-mode XDP program from dev in namespace
// ns (none there: nothing to do).
func DetachPeerXDP(ns, dev string) error {
	err := inNetns(ns, func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		return netlink.LinkSetXdpFdWithFlags(link, -1, unix.XDP_FLAGS_DRV_MODE)
	})
	if err != nil {
		return fmt.Errorf("detach XDP program from %s in %s: %w", dev, ns, err)
	}
	return nil
}

// PeerXDP reports the name of the XDP program on dev in namespace ns (""
// if none).
func PeerXDP(ns, dev string) (string, error) {
	var name string
	err := inNetns(ns, func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		x := link.Attrs().Xdp
		if x == nil || !x.Attached {
			return nil
		}
		prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId))
		if err != nil {
			return fmt.Errorf("program %d: %w", x.ProgId, err)
		}
		defer prog.Close()
		info, err := prog.Info()
		if err != nil {
			return fmt.Errorf("program %d: %w", x.ProgId, err)
		}
		name = info.Name
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("XDP program of %s in %s: %w", dev, ns, err)
	}
	return name, nil
}
