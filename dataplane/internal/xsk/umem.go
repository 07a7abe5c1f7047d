// Package xsk is cbac's AF_XDP ring layer: one UMEM shared by every socket
// of the process, one socket per (device, queue) with its own fill and
// completion rings, batch ring access with atomic indices, and need_wakeup
// so the kernel is entered only when it asks to be.
//
// It is the only package of cbac that uses unsafe and the AF_XDP parts of
// golang.org/x/sys/unix. The XDP program that redirects frames to the
// sockets is github.com/asavie/xdp's (see program.go).
//
// Kernel reference: Documentation/networking/af_xdp.rst ("UMEM",
// "Rings", "XDP_SHARED_UMEM bind flag", "XDP_USE_NEED_WAKEUP bind flag").
//
// Ownership of frames: a frame address belongs to exactly one party at a
// time: the caller, or the kernel from the moment it is put on a fill or TX
// ring until it comes back on an RX or completion ring. The package keeps no
// free list; the worker decides where a frame goes next (forward it with
// Transmit, or recycle it with Fill on any socket of the same UMEM).
package xsk

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Frame sizes the kernel accepts for an aligned UMEM (a power of two from
// 2048 to the page size).
const (
	FrameSize2K = 2048
	FrameSize4K = 4096
)

// ErrUMEMInUse is returned by UMEM.Close while sockets still use the UMEM.
var ErrUMEMInUse = errors.New("umem still has open sockets")

// UMEM is one anonymous memory area split into equal frames. Frame
// addresses are byte offsets into Bytes(). It is registered with the kernel
// (XDP_UMEM_REG) by the first socket created on it; later sockets share it
// with XDP_SHARED_UMEM.
type UMEM struct {
	area      []byte
	frameSize uint64
	numFrames int

	mu sync.Mutex
	// sockets holds the open sockets bound to this UMEM; sockets[0].fd is
	// the one later sockets name in sxdp_shared_umem_fd. When the list
	// empties the kernel drops its registration and the next socket
	// registers again.
	sockets []*Socket
	// zeroCopy and needWakeup are the modes of the registering socket;
	// shared sockets inherit them (the kernel rejects bind flags on them).
	zeroCopy   bool
	needWakeup bool
}

// NewUMEM maps numFrames*frameSize bytes (anonymous, MAP_POPULATE).
// frameSize is FrameSize2K or FrameSize4K.
func NewUMEM(numFrames, frameSize int) (*UMEM, error) {
	if frameSize != FrameSize2K && frameSize != FrameSize4K {
		return nil, fmt.Errorf("umem: frame size %d: want %d or %d", frameSize, FrameSize2K, FrameSize4K)
	}
	if numFrames <= 0 || numFrames > 1<<22 {
		return nil, fmt.Errorf("umem: frame count %d out of range 1..%d", numFrames, 1<<22)
	}
	area, err := unix.Mmap(-1, 0, numFrames*frameSize,
		unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("umem: mmap %d bytes: %w", numFrames*frameSize, err)
	}
	return &UMEM{area: area, frameSize: uint64(frameSize), numFrames: numFrames}, nil
}

// Bytes returns the whole area; frame addresses index into it.
func (u *UMEM) Bytes() []byte { return u.area }

// FrameSize returns the frame (chunk) size in bytes.
func (u *UMEM) FrameSize() int { return int(u.frameSize) }

// NumFrames returns the number of frames.
func (u *UMEM) NumFrames() int { return u.numFrames }

// FrameAddr returns the address of frame i (0 <= i < NumFrames).
func (u *UMEM) FrameAddr(i int) uint64 { return uint64(i) * u.frameSize }

// FrameStart rounds an address inside a frame down to the frame's start.
// RX descriptors point past the kernel's headroom (XDP_PACKET_HEADROOM in
// copy mode); Fill accepts either form because the kernel masks fill
// addresses to the frame in an aligned UMEM.
func (u *UMEM) FrameStart(addr uint64) uint64 { return addr &^ (u.frameSize - 1) }

// Frame returns the bytes a descriptor describes, aliasing the UMEM.
func (u *UMEM) Frame(d Desc) []byte {
	return u.area[d.Addr : d.Addr+uint64(d.Len) : d.Addr+uint64(d.Len)]
}

// Close unmaps the area. Every socket on the UMEM must be closed first.
func (u *UMEM) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.sockets) > 0 {
		return fmt.Errorf("umem: close: %w (%d)", ErrUMEMInUse, len(u.sockets))
	}
	if u.area == nil {
		return nil
	}
	err := unix.Munmap(u.area)
	u.area = nil
	if err != nil {
		return fmt.Errorf("umem: munmap: %w", err)
	}
	return nil
}

// addSocketLocked records an open socket; removeSocketLocked forgets it.
func (u *UMEM) addSocketLocked(s *Socket) { u.sockets = append(u.sockets, s) }

func (u *UMEM) removeSocketLocked(s *Socket) {
	for i, o := range u.sockets {
		if o == s {
			u.sockets = append(u.sockets[:i], u.sockets[i+1:]...)
			return
		}
	}
}
