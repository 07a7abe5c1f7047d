package xsk

// Forwarding rate of this ring layer against asavie/xdp's Socket, one
// direction over veth, copy mode (CBAC_XSK_BENCH=1 go test -run TestForwardRate -v).
//
//	netns G                 netns M (forwarder under test)       netns S
//	eth0 [AF_XDP TX gen] --- a0 [xdp] => b0 --------------------- eth0 (drops: foreign dst MAC)
//
// The generator is an AF_XDP TX-only socket of this package blasting
// 64-byte UDP frames. Forwarders:
//   - xsk: shared UMEM, frames leave b0 from the address they arrived in
//     on a0, one sendto per Transmit batch only when need_wakeup says so;
//   - asavie: two xdp.Socket (one UMEM each, so each frame is copied), a
//     GetDescs linear scan per batch, one sendto per Transmit.

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asavie/xdp"
	"golang.org/x/sys/unix"
)

const rateWindow = 2 * time.Second

func TestForwardRate(t *testing.T) {
	needRoot(t)
	if os.Getenv("CBAC_XSK_BENCH") != "1" {
		t.Skip("load test: set CBAC_XSK_BENCH=1")
	}
	for _, impl := range []string{"xsk", "asavie"} {
		t.Run(impl, func(t *testing.T) {
			g, s, m := newNetns(t, "rg"+impl), newNetns(t, "rs"+impl), newNetns(t, "rm"+impl)
			ipn(t, m, "link add a0 type veth peer name eth0 netns "+g)
			ipn(t, m, "link add b0 type veth peer name eth0 netns "+s)
			for _, x := range [][2]string{{g, "eth0"}, {s, "eth0"}, {m, "a0"}, {m, "b0"}} {
				ipn(t, x[0], "link set "+x[1]+" up")
			}
			var count func() uint64
			var stop func()
			var cpu func() int64
			switch impl {
			case "xsk":
				f := startForwarder(t, m, [2]string{"a0", "b0"})
				count = f.forwarded[0].Load
				stop = f.halt
				cpu = f.cpuNs.Load
			case "asavie":
				count, stop, cpu = startAsavieForwarder(t, m)
			}
			gen := startGenerator(t, g)
			time.Sleep(300 * time.Millisecond) // warm up
			c0, s0, t0 := count(), gen.sent.Load(), time.Now()
			time.Sleep(rateWindow)
			c1, s1, t1 := count(), gen.sent.Load(), time.Now()
			gen.halt()
			stop()
			secs := t1.Sub(t0).Seconds()
			fpps, gpps := float64(c1-c0)/secs, float64(s1-s0)/secs
			t.Logf("%s: forwarded %.0f pps (offered %.0f pps, %.0f%%); forwarder CPU %.0f ns/frame",
				impl, fpps, gpps, 100*fpps/gpps, float64(cpu())/float64(count()))
			if c1 == c0 {
				t.Fatalf("%s forwarded nothing", impl)
			}
		})
	}
}

// generator blasts 64-byte UDP frames from an AF_XDP TX-only socket.
type generator struct {
	stop atomic.Bool
	done chan struct{}
	sent atomic.Uint64
}

func startGenerator(t *testing.T, ns string) *generator {
	t.Helper()
	u, err := NewUMEM(2048, FrameSize2K)
	if err != nil {
		t.Fatal(err)
	}
	frame := udpFrame()
	for i := 0; i < u.NumFrames(); i++ {
		copy(u.Bytes()[u.FrameAddr(i):], frame)
	}
	var s *Socket
	inNetns(t, ns, func() error {
		idx, err := InterfaceIndex("eth0")
		if err != nil {
			return err
		}
		s, err = NewSocket(u, idx, 0, SocketConfig{FillSize: 64, CompletionSize: 2048, RxSize: 64, TxSize: 2048})
		return err
	})
	g := &generator{done: make(chan struct{})}
	go func() {
		defer close(g.done)
		free := make([]Desc, 0, u.NumFrames())
		for i := 0; i < u.NumFrames(); i++ {
			free = append(free, Desc{Addr: u.FrameAddr(i), Len: uint32(len(frame))})
		}
		comp := make([]uint64, 0, 256)
		for !g.stop.Load() {
			comp = s.Complete(comp[:0])
			for _, a := range comp {
				free = append(free, Desc{Addr: a, Len: uint32(len(frame))})
			}
			g.sent.Add(uint64(len(comp)))
			batch := free
			if len(batch) > 256 {
				batch = batch[len(batch)-256:]
			}
			n := s.Transmit(batch)
			free = free[:len(free)-n]
			if len(comp) == 0 && n == 0 {
				s.Poll(1)
			}
		}
	}()
	t.Cleanup(func() {
		g.halt()
		s.Close()
		u.Close()
	})
	return g
}

func (g *generator) halt() {
	if g.stop.CompareAndSwap(false, true) {
		<-g.done
	}
}

// udpFrame is Ethernet/IPv4/UDP, 60 bytes, to a MAC nobody owns.
func udpFrame() []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 0x99})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 0x01})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 46)
	copy(ip[12:], []byte{192, 168, 78, 1})
	copy(ip[16:], []byte{192, 168, 78, 2})
	binary.BigEndian.PutUint16(ip[10:], icmpChecksum(ip))
	binary.BigEndian.PutUint16(f[34:], 9)
	binary.BigEndian.PutUint16(f[36:], 9)
	binary.BigEndian.PutUint16(f[38:], 26)
	return f
}

// startAsavieForwarder forwards a0 -> b0 with two asavie/xdp sockets.
func startAsavieForwarder(t *testing.T, m string) (count func() uint64, stop func(), cpu func() int64) {
	t.Helper()
	opts := xdp.SocketOptions{NumFrames: fwdFrames, FrameSize: FrameSize2K,
		FillRingNumDescs: fwdRingSize, CompletionRingNumDescs: fwdRingSize,
		RxRingNumDescs: fwdRingSize, TxRingNumDescs: fwdRingSize}
	var progs [2]*Program
	var socks [2]*xdp.Socket
	inNetns(t, m, func() error {
		for i, dev := range []string{"a0", "b0"} {
			idx, err := InterfaceIndex(dev)
			if err != nil {
				return err
			}
			if progs[i], err = Attach(idx, 1, AttachOptions{}); err != nil {
				return err
			}
			if socks[i], err = xdp.NewSocket(idx, 0, &opts); err != nil {
				return err
			}
			if err := progs[i].Register(0, socks[i].FD()); err != nil {
				return err
			}
		}
		return nil
	})
	var completed atomic.Uint64
	var halt atomic.Bool
	done := make(chan struct{})
	var panicked atomic.Value
	var cpuNs atomic.Int64
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu0 := threadCPU()
		defer func() { cpuNs.Store(threadCPU() - cpu0) }()
		defer func() {
			if r := recover(); r != nil {
				panicked.Store(fmt.Sprint(r))
			}
		}()
		a, b := socks[0], socks[1]
		pfd := []unix.PollFd{{Fd: int32(a.FD()), Events: unix.POLLIN}}
		for !halt.Load() {
			a.Fill(a.GetDescs(a.NumFreeFillSlots()))
			rx := a.Receive(a.NumReceived())
			if len(rx) > 0 {
				tx := b.GetDescs(len(rx))
				for i := range tx {
					tx[i].Len = uint32(copy(b.GetFrame(tx[i]), a.GetFrame(rx[i])))
				}
				b.Transmit(tx)
			}
			if n := b.NumCompleted(); n > 0 {
				b.Complete(n)
				completed.Add(uint64(n))
			} else if len(rx) == 0 {
				unix.Poll(pfd, 2)
			}
		}
	}()
	stop = func() {
		if halt.CompareAndSwap(false, true) {
			<-done
		}
		if p := panicked.Load(); p != nil {
			t.Logf("asavie forwarder panicked: %v", p)
		}
	}
	t.Cleanup(func() {
		stop()
		for i := range socks {
			if progs[i] != nil {
				progs[i].Unregister(0)
			}
			if socks[i] != nil {
				socks[i].Close()
			}
			if progs[i] != nil {
				progs[i].Close()
			}
		}
	})
	return completed.Load, stop, cpuNs.Load
}
