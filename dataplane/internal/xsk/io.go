package xsk

// Per-packet ring operations. No allocation, no defer, no interfaces: each
// call moves a batch between a caller slice and a ring with one acquire
// load and one release store at most, and enters the kernel only when a
// ring's need_wakeup bit asks for it.

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Receive appends up to cap(out)-len(out) received descriptors to out.
// The frames belong to the caller until given back with Fill (any socket of
// the same UMEM) or Transmit.
func (s *Socket) Receive(out []Desc) []Desc {
	return s.rx.consume(out)
}

// Transmit puts as many descriptors on the TX ring as fit and returns how
// many; the caller keeps ownership of descs[n:]. It then makes one sendto
// (MSG_DONTWAIT) if the TX ring has need_wakeup set (always, when the socket
// has no need_wakeup support) and the ring holds unsent descriptors, so
// Transmit(nil) flushes what an earlier kick left queued. Kick errors are
// counted in Counters, never returned: EAGAIN/EBUSY/ENOBUFS mean the kernel
// took part of the ring (copy mode sends at most 32 frames per call) and
// the rest waits for the next Transmit or Poll; ENETDOWN leaves the frames
// queued until the device comes up.
func (s *Socket) Transmit(descs []Desc) int {
	n := s.tx.produce(descs)
	if (!s.needWakeup || s.tx.needWakeup()) && (n > 0 || s.tx.pending()) {
		s.kick()
	}
	return int(n)
}

// kick asks the kernel to process the TX ring. sendto and recvfrom with
// MSG_DONTWAIT on an AF_XDP socket never sleep, so they are made as raw
// system calls: unix.Syscall6 tells the Go scheduler that the thread may
// block, and a call that lasts over 20 µs (a copy-mode kick runs the
// receiving device's softirq inside it, tens of µs on veth) lets the
// runtime's monitor thread take the worker's P away and hand it to another
// thread, which costs wake-ups and context switches on the machine's cores
// per kick and keeps the monitor polling every 20 µs.
func (s *Socket) kick() {
	s.counters.TxKicks++
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	switch errno {
	case 0, unix.EINTR:
	case unix.EAGAIN, unix.EBUSY, unix.ENOBUFS:
		s.counters.TxKickBusy++
	default:
		s.counters.TxKickErrors++
	}
}

// Complete appends up to cap(out)-len(out) addresses of frames the kernel
// has finished transmitting; they belong to the caller again.
func (s *Socket) Complete(out []uint64) []uint64 {
	return s.comp.consume(out)
}

// Fill gives frames to the kernel to receive into and returns how many fit
// on the fill ring; the caller keeps addrs[n:]. An address may point
// anywhere inside its frame. If the fill ring has need_wakeup set, Fill
// wakes the driver with recvfrom(MSG_DONTWAIT).
func (s *Socket) Fill(addrs []uint64) int {
	n := s.fill.produce(addrs)
	if n > 0 && s.needWakeup && s.fill.needWakeup() {
		s.counters.RxWakeups++
		unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	return int(n)
}

// ready reports whether Receive or Complete has work, or leaves TX
// descriptors queued after kicking the kernel once more.
func (s *Socket) ready() bool {
	if s.rx.avail(1) > 0 || s.comp.avail(1) > 0 {
		return true
	}
	if s.tx.pending() {
		if !s.needWakeup || s.tx.needWakeup() {
			s.kick()
		}
		return true
	}
	return false
}

// Poll blocks up to timeoutMs milliseconds (-1: no limit) until the RX ring
// has frames. It returns at once if the RX or completion ring has entries
// or the TX ring still holds descriptors (which it kicks again, since copy
// mode sends a bounded number per kick). Completions alone do not end a
// poll(2) wait: a caller with frames in flight should use a bounded timeout.
// EINTR counts as a timeout.
func (s *Socket) Poll(timeoutMs int) error {
	if s.ready() {
		return nil
	}
	pfd := [1]unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	return ppoll(pfd[:], timeoutMs)
}

// Poll is Socket.Poll over several sockets: it returns at once if any has
// work, otherwise waits until one has received frames or the timeout ends.
// pfds is caller scratch with len(pfds) >= len(socks).
func Poll(socks []*Socket, pfds []unix.PollFd, timeoutMs int) error {
	ready := false
	for _, s := range socks {
		if s.ready() {
			ready = true
		}
	}
	if ready {
		return nil
	}
	pfds = pfds[:len(socks)]
	for i, s := range socks {
		pfds[i] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	}
	return ppoll(pfds, timeoutMs)
}

// ppoll is unix.Poll without its heap-allocated timespec.
func ppoll(pfds []unix.PollFd, timeoutMs int) error {
	var ts unix.Timespec
	tsp := &ts
	if timeoutMs < 0 {
		tsp = nil
	} else {
		ts.Sec = int64(timeoutMs / 1000)
		ts.Nsec = int64(timeoutMs%1000) * 1e6
	}
	_, _, errno := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfds[0])), uintptr(len(pfds)),
		uintptr(unsafe.Pointer(tsp)), 0, 0, 0)
	if errno != 0 && errno != unix.EINTR {
		return errno
	}
	return nil
}

// RxBacklog returns how many received descriptors wait on the RX ring: one
// acquire load of the kernel's producer index.
func (s *Socket) RxBacklog() uint32 {
	return atomic.LoadUint32(s.rx.producer) - s.rx.cachedCons
}
