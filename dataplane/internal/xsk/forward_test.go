package xsk

// Test 1: a zero-copy forwarder between two veth devices sharing one UMEM.
//
//	netns A                netns M (forwarder)               netns B
//	eth0 192.168.77.1 --- a0 [xdp] ==AF_XDP== [xdp] b0 --- eth0 192.168.77.2
//
// Every frame received on a0 is transmitted on b0 from the same UMEM
// address, and vice versa; A and B share one subnet, bridged by M.

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// forwarder moves frames between two sockets of one UMEM without copying.
// Socket i receives into frames of pool i; frames received on in go out on
// out, come back on out's completion ring and return to in's fill ring.
type forwarder struct {
	umem      *UMEM
	socks     [2]*Socket
	progs     [2]*Program
	poolStart [2]uint64
	poolEnd   [2]uint64

	stop      atomic.Bool
	done      chan struct{}
	forwarded [2]atomic.Uint64 // frames completed on out, by input side
	dropped   [2]atomic.Uint64 // TX ring full, frame recycled
	foreign   atomic.Uint64    // completions outside the input's pool (must stay 0)
	lost      atomic.Uint64    // frames the fill ring would not take (must stay 0)
	cpuNs     atomic.Int64     // forwarder thread CPU time (user+sys), set when run ends
}

const (
	fwdFrames   = 4096
	fwdRingSize = 2048 // per socket; pool i holds fwdRingSize frames
)

// startForwarder sets the forwarder up in namespace m on devices devs and
// starts its loop; t.Cleanup tears it down.
func startForwarder(t *testing.T, m string, devs [2]string) *forwarder {
	t.Helper()
	f := &forwarder{done: make(chan struct{})}
	var err error
	f.umem, err = NewUMEM(fwdFrames, FrameSize2K)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.umem.Close(); err != nil {
			t.Errorf("umem close: %v", err)
		}
	})
	cfg := SocketConfig{FillSize: fwdRingSize, CompletionSize: fwdRingSize, RxSize: fwdRingSize, TxSize: fwdRingSize}
	inNetns(t, m, func() error {
		for i, dev := range devs {
			idx, err := InterfaceIndex(dev)
			if err != nil {
				return err
			}
			if f.progs[i], err = Attach(idx, 1, AttachOptions{}); err != nil {
				return err
			}
			if f.socks[i], err = NewSocket(f.umem, idx, 0, cfg); err != nil {
				return err
			}
			if err := f.progs[i].Register(0, f.socks[i].FD()); err != nil {
				return err
			}
		}
		return nil
	})
	t.Cleanup(func() {
		for i := range f.socks {
			if f.progs[i] != nil && f.socks[i] != nil {
				f.progs[i].Unregister(0)
			}
			if f.socks[i] != nil {
				if err := f.socks[i].Close(); err != nil {
					t.Errorf("socket close: %v", err)
				}
			}
			if f.progs[i] != nil {
				if err := f.progs[i].Close(); err != nil {
					t.Errorf("program close: %v", err)
				}
			}
		}
	})
	addrs := make([]uint64, fwdRingSize)
	for i := range f.socks {
		f.poolStart[i] = f.umem.FrameAddr(i * fwdRingSize)
		f.poolEnd[i] = f.umem.FrameAddr((i + 1) * fwdRingSize)
		for j := range addrs {
			addrs[j] = f.umem.FrameAddr(i*fwdRingSize + j)
		}
		if n := f.socks[i].Fill(addrs); n != len(addrs) {
			t.Fatalf("initial fill of socket %d took %d of %d", i, n, len(addrs))
		}
	}
	go f.run()
	t.Cleanup(f.halt)
	return f
}

func (f *forwarder) halt() {
	if f.stop.CompareAndSwap(false, true) {
		<-f.done
	}
}

func (f *forwarder) run() {
	defer close(f.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	defer func() { f.cpuNs.Store(threadCPU() - cpu0) }()
	rx := make([]Desc, 0, 64)
	addrs := make([]uint64, 0, 64)
	pfds := make([]unix.PollFd, 2)
	socks := f.socks[:]
	for !f.stop.Load() {
		moved := 0
		for i := 0; i < 2; i++ {
			moved += f.step(i, rx, addrs)
		}
		if moved == 0 {
			// Bounded: completions do not end a poll wait.
			Poll(socks, pfds, 2)
		}
	}
}

// step forwards one batch from socket in to the other and recycles the
// other's completions into in's fill ring.
func (f *forwarder) step(in int, rx []Desc, addrs []uint64) int {
	src, dst := f.socks[in], f.socks[1-in]
	rx = src.Receive(rx[:0])
	n := dst.Transmit(rx)
	if n < len(rx) {
		addrs = addrs[:0]
		for _, d := range rx[n:] {
			addrs = append(addrs, d.Addr)
		}
		f.dropped[in].Add(uint64(len(addrs)))
		if src.Fill(addrs) != len(addrs) {
			f.lost.Add(1)
		}
	}
	addrs = dst.Complete(addrs[:0])
	for _, a := range addrs {
		if a < f.poolStart[in] || a >= f.poolEnd[in] {
			f.foreign.Add(1)
		}
	}
	if len(addrs) > 0 {
		f.forwarded[in].Add(uint64(len(addrs)))
		if src.Fill(addrs) != len(addrs) {
			f.lost.Add(1)
		}
	}
	return len(rx) + len(addrs)
}

// forwardLab builds namespaces A, B, M and returns their names.
func forwardLab(t *testing.T, tag string) (a, b, m string) {
	t.Helper()
	a, b, m = newNetns(t, tag+"a"), newNetns(t, tag+"b"), newNetns(t, tag+"m")
	ipn(t, m, "link add a0 type veth peer name eth0 netns "+a)
	ipn(t, m, "link add b0 type veth peer name eth0 netns "+b)
	ipn(t, a, "addr add 192.168.77.1/24 dev eth0")
	ipn(t, b, "addr add 192.168.77.2/24 dev eth0")
	for _, ns := range []string{a, b} {
		ns := ns
		inNetns(t, ns, func() error { return DisableTxChecksumOffload("eth0") })
		inNetns(t, ns, func() error {
			on, err := TxChecksumOffload("eth0")
			if err == nil && on {
				err = errors.New("tx checksum offload still on after DisableTxChecksumOffload")
			}
			return err
		})
		ipn(t, ns, "link set eth0 up")
	}
	ipn(t, m, "link set a0 up")
	ipn(t, m, "link set b0 up")
	return a, b, m
}

func TestForwardSharedUMEM(t *testing.T) {
	needRoot(t)
	a, b, m := forwardLab(t, "f")
	f := startForwarder(t, m, [2]string{"a0", "b0"})
	if !f.socks[0].NeedWakeup() || !f.socks[1].NeedWakeup() {
		t.Errorf("need_wakeup not in use: %v %v", f.socks[0].NeedWakeup(), f.socks[1].NeedWakeup())
	}
	if f.socks[0].ZeroCopy() || f.socks[1].ZeroCopy() {
		t.Errorf("veth sockets report zero-copy; expected copy mode")
	}

	t.Run("ping", func(t *testing.T) {
		for seq := 1; seq <= 3; seq++ {
			rtt, err := ping(a, [4]byte{192, 168, 77, 2}, 0x7ac, uint16(seq), 3*time.Second)
			if err != nil {
				t.Fatalf("ping seq %d: %v", seq, err)
			}
			t.Logf("ping seq %d: %v", seq, rtt)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		const size = 1 << 20
		up, down := make([]byte, size), make([]byte, size)
		rand.Read(up)
		rand.Read(down)
		var ln net.Listener
		inNetns(t, b, func() (err error) {
			ln, err = net.Listen("tcp4", "192.168.77.2:0")
			return err
		})
		defer ln.Close()
		var srvErr error
		var srvGot []byte
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
			c, err := ln.Accept()
			if err != nil {
				srvErr = err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			srvGot, srvErr = exchange(c.(*net.TCPConn), down)
		}()
		var c net.Conn
		inNetns(t, a, func() (err error) {
			c, err = (&net.Dialer{Timeout: 10 * time.Second}).Dial("tcp4", ln.Addr().String())
			return err
		})
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		cliGot, cliErr := exchange(c.(*net.TCPConn), up)
		wg.Wait()
		if cliErr != nil || srvErr != nil {
			t.Fatalf("exchange: client %v, server %v", cliErr, srvErr)
		}
		if !bytes.Equal(srvGot, up) {
			t.Fatalf("A->B data differs: got %d bytes, want %d", len(srvGot), len(up))
		}
		if !bytes.Equal(cliGot, down) {
			t.Fatalf("B->A data differs: got %d bytes, want %d", len(cliGot), len(down))
		}
	})

	f.halt()
	fwd := [2]uint64{f.forwarded[0].Load(), f.forwarded[1].Load()}
	t.Logf("forwarded a0->b0 %d, b0->a0 %d frames; dropped %d/%d; kicks %+v %+v",
		fwd[0], fwd[1], f.dropped[0].Load(), f.dropped[1].Load(), f.socks[0].Counters(), f.socks[1].Counters())
	// 1 MiB each way is at least 725 full-size segments each way.
	if fwd[0] < 725 || fwd[1] < 725 {
		t.Errorf("forwarded %v frames, want >= 725 each way", fwd)
	}
	if n := f.foreign.Load(); n != 0 {
		t.Errorf("%d completions outside the input socket's frame pool", n)
	}
	if n := f.lost.Load(); n != 0 {
		t.Errorf("%d fill ring overflows", n)
	}
	for i, s := range f.socks {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("socket %d stats %+v", i, st)
		if st.Rx_invalid_descs != 0 || st.Tx_invalid_descs != 0 {
			t.Errorf("socket %d: invalid descriptors: %+v", i, st)
		}
	}
}

// exchange writes out and reads everything the peer writes until EOF,
// concurrently.
func exchange(c *net.TCPConn, out []byte) ([]byte, error) {
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	return got, errors.Join(rerr, <-werr)
}

// ping sends one ICMP echo request from namespace ns and waits for the
// matching reply.
func ping(ns string, dst [4]byte, id, seq uint16, timeout time.Duration) (time.Duration, error) {
	var fd int
	err := netnsDo(ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, err
	}
	req := make([]byte, 64)
	req[0] = 8 // echo request
	binary.BigEndian.PutUint16(req[4:], id)
	binary.BigEndian.PutUint16(req[6:], seq)
	for i := 8; i < len(req); i++ {
		req[i] = byte(i)
	}
	binary.BigEndian.PutUint16(req[2:], icmpChecksum(req))
	start := time.Now()
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		return 0, fmt.Errorf("sendto: %w", err)
	}
	buf := make([]byte, 1500)
	for tries := 0; tries < 1000 && time.Since(start) < timeout; tries++ {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // timeout tick
		}
		if n < 20 {
			continue
		}
		ihl := int(buf[0]&0xf) * 4
		p := buf[ihl:n]
		if len(p) >= 8 && p[0] == 0 && binary.BigEndian.Uint16(p[4:]) == id && binary.BigEndian.Uint16(p[6:]) == seq {
			if !bytes.Equal(p[8:], req[8:]) {
				return 0, errors.New("echo reply payload differs")
			}
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("no echo reply from %v within %v", net.IP(dst[:]), timeout)
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// threadCPU returns the calling thread's CPU time (user+system) in ns.
func threadCPU() int64 {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
