package xsk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vethNetns makes namespace suffix with a veth pair x0/x1 inside it.
func vethNetns(t *testing.T, suffix string) string {
	t.Helper()
	ns := newNetns(t, suffix)
	ipn(t, ns, "link add x0 numrxqueues 4 numtxqueues 4 type veth peer name x1")
	ipn(t, ns, "link set x0 up")
	ipn(t, ns, "link set x1 up")
	return ns
}

// passProgram loads a foreign XDP program (return XDP_PASS) named name.
func passProgram(t *testing.T, name string) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: name,
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 2), // XDP_PASS
			asm.Return(),
		},
		License: "GPL",
	})
	if err != nil {
		t.Fatalf("load foreign program: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// attachFd attaches prog to device dev of the calling thread's namespace
// as another program would (netlink, mode flags), and returns its index.
func attachFd(dev string, prog *ebpf.Program, flags int) (int, error) {
	idx, err := InterfaceIndex(dev)
	if err != nil {
		return 0, err
	}
	link, err := netlink.LinkByIndex(idx)
	if err != nil {
		return 0, err
	}
	return idx, netlink.LinkSetXdpFdWithFlags(link, prog.FD(), flags)
}

func attachedOrFail(t *testing.T, idx int) uint32 {
	id, err := Attached(idx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestProgramDetach(t *testing.T) {
	needRoot(t)
	ns := vethNetns(t, "d")

	t.Run("close detaches", func(t *testing.T) {
		for _, mode := range []AttachMode{ModeAuto, ModeNative, ModeGeneric} {
			var p *Program
			var idx int
			inNetns(t, ns, func() (err error) {
				if idx, err = InterfaceIndex("x0"); err != nil {
					return err
				}
				p, err = Attach(idx, 4, AttachOptions{Mode: mode})
				return err
			})
			var id uint32
			inNetns(t, ns, func() (err error) { id, err = Attached(idx); return err })
			if id == 0 || id != p.ID() {
				t.Fatalf("mode %s: device carries program %d, attached %d", mode, id, p.ID())
			}
			if !ipLinkXDP(t, ns, "x0") {
				t.Fatalf("mode %s: ip link shows no xdp after Attach", mode)
			}
			// Close from this (root-namespace) goroutine: Program
			// remembers its namespace.
			if err := p.Close(); err != nil {
				t.Fatalf("mode %s: close: %v", mode, err)
			}
			if ipLinkXDP(t, ns, "x0") {
				t.Fatalf("mode %s: ip link still shows xdp after Close", mode)
			}
		}
	})

	t.Run("stale program after crash", func(t *testing.T) {
		inNetns(t, ns, func() error {
			idx, err := InterfaceIndex("x0")
			if err != nil {
				return err
			}
			p, err := Attach(idx, 1, AttachOptions{})
			if err != nil {
				return err
			}
			// A live program of this process is never stale.
			if removed, err := DetachStale(idx); removed || err != nil {
				return errors.Join(errors.New("DetachStale removed a live program"), err)
			}
			// Simulated SIGKILL: the fds go away, nobody detaches.
			live.Lock()
			delete(live.ids, p.id)
			live.Unlock()
			p.closeFDs()
			if id, _ := Attached(idx); id == 0 {
				return errors.New("program vanished without detach; cannot simulate a crash")
			}
			removed, err := DetachStale(idx)
			if err != nil {
				return err
			}
			if !removed {
				return errors.New("DetachStale did not recognise the leftover redirect program")
			}
			if id, _ := Attached(idx); id != 0 {
				return errors.New("program still attached after DetachStale")
			}
			// Nothing left: DetachStale is a no-op.
			if removed, err := DetachStale(idx); removed || err != nil {
				return errors.Join(errors.New("DetachStale on a clean device removed something"), err)
			}
			return nil
		})
		if ipLinkXDP(t, ns, "x0") {
			t.Fatal("ip link still shows xdp")
		}
	})

	t.Run("foreign program", func(t *testing.T) {
		foreign := passProgram(t, "foreign_pass")
		inNetns(t, ns, func() error {
			idx, err := attachFd("x0", foreign, unix.XDP_FLAGS_DRV_MODE)
			if err != nil {
				return err
			}
			fid, _ := Attached(idx)
			_, err = Attach(idx, 1, AttachOptions{})
			if !errors.Is(err, ErrProgramAttached) {
				return errors.New("Attach over a foreign program: want ErrProgramAttached, got " + errString(err))
			}
			if msg := err.Error(); !strings.Contains(msg, "x0") || !strings.Contains(msg, "foreign_pass") {
				return errors.New("error does not name device and program: " + msg)
			}
			if id, _ := Attached(idx); id != fid {
				return errors.New("refused Attach changed the device's program")
			}
			if removed, err := DetachStale(idx); removed || err != nil {
				return errors.Join(errors.New("DetachStale removed a foreign program"), err)
			}
			if id, _ := Attached(idx); id != fid {
				return errors.New("foreign program gone after DetachStale")
			}
			p, err := Attach(idx, 1, AttachOptions{Force: true})
			if err != nil {
				return err
			}
			if id, _ := Attached(idx); id != p.ID() {
				return errors.New("forced Attach did not replace the program")
			}
			if err := p.Close(); err != nil {
				return err
			}
			if id, _ := Attached(idx); id != 0 {
				return errors.New("program left after Close")
			}
			return nil
		})
	})
}

// TestProgramDetachOtherBuild: a program with one of cbacd's names but
// other bytecode (another cbacd build, or an earlier one's library
// program) is removed as stale only when no process holds it; a foreign
// program is never removed, held or not.
func TestProgramDetachOtherBuild(t *testing.T) {
	needRoot(t)
	ns := vethNetns(t, "o")
	for _, tc := range []struct {
		name  string
		stale bool // removed once orphaned
	}{{ProgramName, true}, {"xsk_ebpf", true}, {"foreign_pass", false}} {
		other := passProgram(t, tc.name)
		inNetns(t, ns, func() error {
			idx, err := attachFd("x0", other, unix.XDP_FLAGS_SKB_MODE)
			if err != nil {
				return err
			}
			id, _ := Attached(idx)
			// Held (this test stands for the running build): left alone.
			if removed, err := DetachStale(idx); removed || err != nil {
				return errors.Join(errors.New(tc.name+": DetachStale removed a held program"), err)
			}
			if _, err := Attach(idx, 1, AttachOptions{}); !errors.Is(err, ErrProgramAttached) {
				return errors.New(tc.name + ": Attach over a held program: want ErrProgramAttached, got " + errString(err))
			}
			// Orphaned: the holder is gone, the device still carries it.
			other.Close()
			if got, _ := Attached(idx); got != id {
				return errors.New(tc.name + ": program vanished with its fd; cannot simulate a crash")
			}
			removed, err := DetachStale(idx)
			if err != nil {
				return err
			}
			if removed != tc.stale {
				return fmt.Errorf("%s orphaned: DetachStale removed = %v, want %v", tc.name, removed, tc.stale)
			}
			if got, _ := Attached(idx); (got == 0) != tc.stale {
				return fmt.Errorf("%s orphaned: device carries program %d after DetachStale", tc.name, got)
			}
			return detachLink(idx)
		})
	}
}

func TestFdinfoHolds(t *testing.T) {
	dir := t.TempDir()
	write := func(path, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, path), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("self/fdinfo/3", "prog_id:\t7\n") // not a process directory
	write("12/fdinfo/4", "pos:\t0\nflags:\t02000002\nprog_type:\t6\nprog_id:\t42\n")
	write("13/fdinfo/5", "map_id:\t7\n")
	os.MkdirAll(filepath.Join(dir, "14"), 0o755) // no fdinfo: gone meanwhile
	for _, tc := range []struct {
		id   uint32
		want bool
	}{{42, true}, {4, false}, {7, false}} {
		got, err := fdinfoHolds(dir, fmt.Sprintf("prog_id:\t%d\n", tc.id))
		if err != nil || got != tc.want {
			t.Errorf("program %d: held = %v, %v; want %v", tc.id, got, err, tc.want)
		}
	}
	if _, err := fdinfoHolds(filepath.Join(dir, "none"), "x"); err == nil {
		t.Error("missing proc directory: want an error")
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestDeviceHelpers(t *testing.T) {
	needRoot(t)
	ns := vethNetns(t, "h")
	inNetns(t, ns, func() error {
		n, err := QueueCount("x0")
		if err != nil {
			return err
		}
		if n != 4 {
			return errors.New("QueueCount(x0) with 4 rx queues = " + itoa(n))
		}
		on, err := TxChecksumOffload("x1")
		if err != nil {
			return err
		}
		if !on {
			return errors.New("veth starts with tx checksum offload off; test cannot show the change")
		}
		if err := DisableTxChecksumOffload("x1"); err != nil {
			return err
		}
		if on, err = TxChecksumOffload("x1"); err != nil || on {
			return errors.Join(errors.New("tx checksum offload still on"), err)
		}
		return nil
	})
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestMissingDevice: every entry point names the device (or index) and
// matches ErrNoDevice. Runs in the root namespace but changes nothing there.
func TestMissingDevice(t *testing.T) {
	needRoot(t)
	const dev = "cbacxsk-nodev"
	checks := []struct {
		name string
		err  func() error
		want string
	}{
		{"InterfaceIndex", func() error { _, err := InterfaceIndex(dev); return err }, dev},
		{"QueueCount", func() error { _, err := QueueCount(dev); return err }, dev},
		{"DisableTxChecksumOffload", func() error { return DisableTxChecksumOffload(dev) }, dev},
		{"TxChecksumOffload", func() error { _, err := TxChecksumOffload(dev); return err }, dev},
		{"Attach", func() error { _, err := Attach(1<<30, 1, AttachOptions{}); return err }, "ifindex 1073741824"},
		{"DetachStale", func() error { _, err := DetachStale(1 << 30); return err }, "ifindex 1073741824"},
		{"NewSocket", func() error {
			u, err := NewUMEM(64, FrameSize2K)
			if err != nil {
				return err
			}
			defer u.Close()
			s, err := NewSocket(u, 1<<30, 0, SocketConfig{FillSize: 64, CompletionSize: 64, RxSize: 64, TxSize: 64})
			if err == nil {
				s.Close()
			}
			return err
		}, "ifindex 1073741824"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			err := c.err()
			if !errors.Is(err, ErrNoDevice) {
				t.Fatalf("err = %v, want ErrNoDevice", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not name %q", err, c.want)
			}
			t.Logf("%v", err)
		})
	}
	if _, err := InterfaceIndex("bad/name"); err == nil {
		t.Fatal("InterfaceIndex accepted a name with '/'")
	}
}

// TestSharedUMEMRules: the second socket of a UMEM binds shared, two
// sockets cannot take one (device, queue), the UMEM outlives its sockets.
func TestSharedUMEMRules(t *testing.T) {
	needRoot(t)
	ns := vethNetns(t, "s")
	u, err := NewUMEM(256, FrameSize2K)
	if err != nil {
		t.Fatal(err)
	}
	cfg := SocketConfig{FillSize: 64, CompletionSize: 64, RxSize: 64, TxSize: 64}
	var s0, s1, s2 *Socket
	inNetns(t, ns, func() (err error) {
		i0, err := InterfaceIndex("x0")
		if err != nil {
			return err
		}
		i1, err := InterfaceIndex("x1")
		if err != nil {
			return err
		}
		if s0, err = NewSocket(u, i0, 0, cfg); err != nil {
			return err
		}
		if s1, err = NewSocket(u, i1, 0, cfg); err != nil {
			return err
		}
		if s2, err = NewSocket(u, i0, 1, cfg); err != nil {
			return err
		}
		if _, err := NewSocket(u, i0, 0, cfg); err == nil {
			return errors.New("second socket on x0 queue 0 accepted")
		}
		return nil
	})
	if !s1.NeedWakeup() || !s2.NeedWakeup() {
		t.Error("shared sockets did not inherit need_wakeup")
	}
	if err := u.Close(); !errors.Is(err, ErrUMEMInUse) {
		t.Fatalf("UMEM.Close with open sockets: %v", err)
	}
	// Closing the registering socket leaves the UMEM usable by the others
	// and by new sockets (they share through a remaining socket).
	if err := s0.Close(); err != nil {
		t.Fatal(err)
	}
	inNetns(t, ns, func() error {
		i0, _ := InterfaceIndex("x0")
		s, err := NewSocket(u, i0, 0, cfg)
		if err != nil {
			return err
		}
		s0 = s
		return nil
	})
	for _, s := range []*Socket{s0, s1, s2} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKernelPathNoAllocs: the batch calls allocate nothing when they enter
// the kernel too (sendto kicks, ppoll).
func TestKernelPathNoAllocs(t *testing.T) {
	needRoot(t)
	ns := vethNetns(t, "z")
	u, err := NewUMEM(256, FrameSize2K)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	var s *Socket
	var p *Program
	inNetns(t, ns, func() error {
		idx, err := InterfaceIndex("x0")
		if err != nil {
			return err
		}
		if p, err = Attach(idx, 1, AttachOptions{}); err != nil {
			return err
		}
		if s, err = NewSocket(u, idx, 0, SocketConfig{FillSize: 128, CompletionSize: 128, RxSize: 128, TxSize: 128}); err != nil {
			return err
		}
		return p.Register(0, s.FD())
	})
	defer p.Close()
	defer s.Close()
	fill := make([]uint64, 64)
	for i := range fill {
		fill[i] = u.FrameAddr(i)
	}
	s.Fill(fill)
	frame := udpFrame()
	tx := make([]Desc, 8)
	for i := range tx {
		a := u.FrameAddr(128 + i)
		copy(u.Bytes()[a:], frame)
		tx[i] = Desc{Addr: a, Len: uint32(len(frame))}
	}
	rx := make([]Desc, 0, 64)
	comp := make([]uint64, 0, 64)
	socks := []*Socket{s}
	pfds := make([]unix.PollFd, 1)
	allocs := testing.AllocsPerRun(100, func() {
		s.Transmit(tx)
		s.Poll(0)
		Poll(socks, pfds, 0)
		comp = s.Complete(comp[:0])
		rx = s.Receive(rx[:0])
		s.Fill(fill[:0])
	})
	if allocs != 0 {
		t.Fatalf("allocs per batch with kernel calls = %v, want 0", allocs)
	}
	if c := s.Counters(); c.TxKicks == 0 {
		t.Fatalf("no kicks made: %+v", c)
	}
	// x0's frames went to x1 and were dropped there (unknown MAC); the
	// kernel completed them.
	deadline := time.Now().Add(2 * time.Second)
	total := len(comp)
	for total == 0 && time.Now().Before(deadline) {
		s.Poll(10)
		comp = s.Complete(comp[:0])
		total += len(comp)
	}
	if total == 0 {
		t.Fatalf("no TX completions; counters %+v", s.Counters())
	}
}
