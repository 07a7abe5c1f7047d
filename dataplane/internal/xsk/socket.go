package xsk

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DefaultRingSize is the entry count used for a ring left at 0 in
// SocketConfig.
const DefaultRingSize = 2048

// SocketConfig sets a socket's ring sizes (powers of two; 0 means
// DefaultRingSize) and mode.
type SocketConfig struct {
	FillSize       uint32
	CompletionSize uint32
	RxSize         uint32
	TxSize         uint32
	// ZeroCopy binds with XDP_ZEROCOPY (the driver must support it; there
	// is no fallback) instead of XDP_COPY. Only the socket that registers
	// the UMEM chooses; the kernel gives every socket sharing the UMEM the
	// same mode.
	ZeroCopy bool
}

// Counters are the socket's own kick bookkeeping (kernel counters are in
// Stats).
type Counters struct {
	TxKicks      uint64 // sendto calls made to start transmission
	TxKickBusy   uint64 // of those, EAGAIN/EBUSY/ENOBUFS: the kernel took what it could; the rest stays queued
	TxKickErrors uint64 // of those, other errors (ENETDOWN, ENXIO, ...); descriptors stay queued
	RxWakeups    uint64 // recvfrom calls made because the fill ring asked for a wakeup
}

// Socket is an AF_XDP socket bound to one (device, queue) with its own fill,
// completion, RX and TX rings over a UMEM that other sockets may share.
//
// The per-packet methods (Receive, Transmit, Complete, Fill, Poll) are for a
// single goroutine: each ring has one producer and one consumer.
type Socket struct {
	fd      int
	umem    *UMEM
	ifindex int
	queue   int

	fill addrRing
	comp addrRing
	rx   descRing
	tx   descRing

	needWakeup bool // bound with XDP_USE_NEED_WAKEUP (or inherited it)
	zeroCopy   bool
	counters   Counters
}

// NewSocket creates a socket on u bound to (ifindex, queue) in the calling
// thread's network namespace. The first socket of a UMEM registers it
// (XDP_UMEM_REG) and binds with XDP_COPY or XDP_ZEROCOPY plus
// XDP_USE_NEED_WAKEUP (retrying without it on EINVAL, for kernels before
// 5.4); later sockets bind with XDP_SHARED_UMEM naming the first socket's
// fd and get their own fill and completion rings, which the kernel requires
// when the device or queue differs. Two sockets of one UMEM cannot share a
// (device, queue).
//
// Frames arrive only after the socket is registered in the device's XDP
// program (Program.Register) and its fill ring holds frames (Fill).
func NewSocket(u *UMEM, ifindex, queue int, cfg SocketConfig) (*Socket, error) {
	sizes := [4]*uint32{&cfg.FillSize, &cfg.CompletionSize, &cfg.RxSize, &cfg.TxSize}
	for _, p := range sizes {
		if *p == 0 {
			*p = DefaultRingSize
		}
		if *p&(*p-1) != 0 || *p > 1<<20 {
			return nil, fmt.Errorf("xsk: ring size %d is not a power of two up to %d", *p, 1<<20)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.area == nil {
		return nil, errors.New("xsk: umem is closed")
	}
	s := &Socket{fd: -1, umem: u, ifindex: ifindex, queue: queue}
	if err := s.openLocked(cfg); err != nil {
		s.release()
		return nil, fmt.Errorf("xsk: ifindex %d queue %d: %w", ifindex, queue, err)
	}
	u.addSocketLocked(s)
	return s, nil
}

func (s *Socket) openLocked(cfg SocketConfig) error {
	u := s.umem
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket(AF_XDP): %w", err)
	}
	s.fd = fd
	shared := len(u.sockets) > 0
	if !shared {
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(&u.area[0]))),
			Len:  uint64(len(u.area)),
			Size: uint32(u.frameSize),
		}
		if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			return fmt.Errorf("setsockopt XDP_UMEM_REG: %w", err)
		}
	}
	opts := [4]struct {
		name int
		size uint32
	}{
		{unix.XDP_UMEM_FILL_RING, cfg.FillSize},
		{unix.XDP_UMEM_COMPLETION_RING, cfg.CompletionSize},
		{unix.XDP_RX_RING, cfg.RxSize},
		{unix.XDP_TX_RING, cfg.TxSize},
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, unix.SOL_XDP, o.name, int(o.size)); err != nil {
			return fmt.Errorf("setsockopt ring %d size %d: %w", o.name, o.size, err)
		}
	}
	var off unix.XDPMmapOffsets
	offLen := uint32(unsafe.Sizeof(off))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&offLen)), 0)
	if errno != 0 {
		return fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: %w", errno)
	}
	if offLen != uint32(unsafe.Sizeof(off)) {
		// Pre-5.4 layout without the flags word: no need_wakeup either.
		return fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: kernel returned %d bytes, want %d (kernel too old)", offLen, unsafe.Sizeof(off))
	}
	const addrSize, descSize = 8, uint64(unsafe.Sizeof(Desc{}))
	if err := mapAddrRing(fd, &s.fill, unix.XDP_UMEM_PGOFF_FILL_RING, &off.Fr, cfg.FillSize); err != nil {
		return fmt.Errorf("mmap fill ring: %w", err)
	}
	if err := mapAddrRing(fd, &s.comp, unix.XDP_UMEM_PGOFF_COMPLETION_RING, &off.Cr, cfg.CompletionSize); err != nil {
		return fmt.Errorf("mmap completion ring: %w", err)
	}
	if err := mapDescRing(fd, &s.rx, unix.XDP_PGOFF_RX_RING, &off.Rx, cfg.RxSize); err != nil {
		return fmt.Errorf("mmap rx ring: %w", err)
	}
	if err := mapDescRing(fd, &s.tx, unix.XDP_PGOFF_TX_RING, &off.Tx, cfg.TxSize); err != nil {
		return fmt.Errorf("mmap tx ring: %w", err)
	}

	sa := unix.SockaddrXDP{Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	if shared {
		// The kernel rejects mode flags on a shared bind; the socket
		// inherits copy/zero-copy and need_wakeup from the UMEM's owner.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(u.sockets[0].fd)
		if err := bind(fd, &sa); err != nil {
			return bindError(err, true)
		}
		s.needWakeup, s.zeroCopy = u.needWakeup, u.zeroCopy
	} else {
		mode := uint16(unix.XDP_COPY)
		if cfg.ZeroCopy {
			mode = unix.XDP_ZEROCOPY
		}
		sa.Flags = mode | unix.XDP_USE_NEED_WAKEUP
		err := bind(fd, &sa)
		s.needWakeup = err == nil
		if errors.Is(err, unix.EINVAL) {
			sa.Flags = mode
			err = bind(fd, &sa)
		}
		if err != nil {
			return bindError(err, false)
		}
		s.zeroCopy = cfg.ZeroCopy
		u.needWakeup, u.zeroCopy = s.needWakeup, s.zeroCopy
	}
	// Confirm the mode the kernel chose.
	var xo uint32
	xoLen := uint32(4)
	_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_OPTIONS,
		uintptr(unsafe.Pointer(&xo)), uintptr(unsafe.Pointer(&xoLen)), 0)
	if errno == 0 {
		s.zeroCopy = xo&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	return nil
}

// bindBusyWait bounds how long bind retries EBUSY: the kernel frees a
// closed socket's buffer pool from a work queue, so a queue stays busy for
// a moment after its previous socket (in this or a killed process) closed.
const bindBusyWait = 500 * time.Millisecond

func bind(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(bindBusyWait)
	for {
		err := unix.Bind(fd, sa)
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func bindError(err error, shared bool) error {
	what := "bind"
	if shared {
		what = "bind XDP_SHARED_UMEM"
	}
	switch {
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%s: %w (device gone or not in this network namespace)", what, ErrNoDevice)
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("%s: queue already has an AF_XDP socket: %w", what, err)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%s: %w: %w", what, ErrNotSupported, err)
	case errors.Is(err, unix.EINVAL) && shared:
		return fmt.Errorf("%s: %w (same device and queue as another socket of this umem?)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func setsockopt(fd, name int, val unsafe.Pointer, size uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(name),
		uintptr(val), size, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func mapAddrRing(fd int, r *addrRing, pgoff int64, off *unix.XDPRingOffset, size uint32) error {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc+uint64(size)*8),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	r.mapRing(mem, off.Producer, off.Consumer, off.Flags, size)
	r.mapAddrs(mem, off.Desc)
	return nil
}

func mapDescRing(fd int, r *descRing, pgoff int64, off *unix.XDPRingOffset, size uint32) error {
	mem, err := unix.Mmap(fd, pgoff, int(off.Desc+uint64(size)*uint64(unsafe.Sizeof(Desc{}))),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	r.mapRing(mem, off.Producer, off.Consumer, off.Flags, size)
	r.mapDescs(mem, off.Desc)
	return nil
}

// release unmaps the rings and closes the fd; safe on a half-built socket.
func (s *Socket) release() error {
	var errs []error
	for _, mem := range [4]*[]byte{&s.fill.mem, &s.comp.mem, &s.rx.mem, &s.tx.mem} {
		if *mem != nil {
			if err := unix.Munmap(*mem); err != nil {
				errs = append(errs, fmt.Errorf("munmap ring: %w", err))
			}
			*mem = nil
		}
	}
	s.fill, s.comp, s.rx, s.tx = addrRing{}, addrRing{}, descRing{}, descRing{}
	if s.fd >= 0 {
		if err := unix.Close(s.fd); err != nil {
			errs = append(errs, fmt.Errorf("close: %w", err))
		}
		s.fd = -1
	}
	return errors.Join(errs...)
}

// Close unmaps the rings and closes the socket; the kernel removes it from
// the XDP program's socket map. Unregister its queue in the Program first,
// or the program keeps redirecting that queue to an empty slot and the
// kernel drops those frames. Frames the kernel still held for this socket
// are lost to the caller's accounting.
func (s *Socket) Close() error {
	u := s.umem
	u.mu.Lock()
	defer u.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	u.removeSocketLocked(s)
	if err := s.release(); err != nil {
		return fmt.Errorf("xsk: close ifindex %d queue %d: %w", s.ifindex, s.queue, err)
	}
	return nil
}

// FD returns the socket's file descriptor (for Program.Register and poll).
func (s *Socket) FD() int { return s.fd }

// Ifindex and Queue return what the socket is bound to.
func (s *Socket) Ifindex() int { return s.ifindex }
func (s *Socket) Queue() int   { return s.queue }

// UMEM returns the UMEM the socket's descriptors address.
func (s *Socket) UMEM() *UMEM { return s.umem }

// ZeroCopy reports whether the kernel runs the socket in zero-copy mode.
func (s *Socket) ZeroCopy() bool { return s.zeroCopy }

// NeedWakeup reports whether the socket uses XDP_USE_NEED_WAKEUP.
func (s *Socket) NeedWakeup() bool { return s.needWakeup }

// Counters returns the socket's kick counters.
func (s *Socket) Counters() Counters { return s.counters }

// Stats returns the kernel's XDP_STATISTICS for the socket: rx_dropped,
// rx_invalid_descs, tx_invalid_descs, rx_ring_full,
// rx_fill_ring_empty_descs, tx_ring_empty_descs.
func (s *Socket) Stats() (unix.XDPStatistics, error) {
	var st unix.XDPStatistics
	n := uint32(unsafe.Sizeof(st))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 {
		return st, fmt.Errorf("xsk: getsockopt XDP_STATISTICS: %w", errno)
	}
	return st, nil
}
