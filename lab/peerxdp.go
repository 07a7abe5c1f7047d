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
	"fmt"

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
	err := inNetns(ns, func() error {
		link, err := netlink.LinkByName(dev)
		if err != nil {
			return err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:    PeerProgramName,
			Type:    ebpf.XDP,
			License: "GPL",
			Instructions: asm.Instructions{
				asm.Mov.Imm(asm.R0, 2), // XDP_PASS
				asm.Return(),
			},
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
