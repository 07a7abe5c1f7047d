package bench

// The packet generator: trafgen (netsniff-ng) pinned to the generator core,
// sending from its TX_RING through the kernel's qdisc path, where a token
// bucket (tc tbf) sets the offered rate. trafgen's own rate option switches
// it to one sendto(2) per packet, which tops out far below what the DUT
// forwards; shaping the ring's output keeps the generator fast.
//
// What was offered and what was delivered are counted by the kernel: the
// generator device's tx packets (+ tx dropped) and the sink device's rx
// packets.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// path is where a stream of frames goes: generated on GenDev in the
// namespace of GenRole, counted on SinkDev in the namespace of SinkRole.
type path struct {
	GenRole, GenDev   string
	SinkRole, SinkDev string
	DstMAC, SrcMAC    string
}

var (
	// throughDUT: from the inside host through in0 ... out0 to the sink.
	throughDUT = path{RoleIn, "eth0", RoleOut, "eth0", InsideMAC, InHostMAC}
	// ceilingPair: the generator straight into the sink, no DUT.
	ceilingPair = path{RoleIn, "gen1", RoleOut, "sink1", SinkPairMAC, GenPairMAC}
)

// wireLen is the frame length trafgen writes for an RFC 2544 frame size
// (which counts the 4-byte FCS the veth never carries).
func wireLen(frameSize int) int { return frameSize - 4 }

// flowPeriods splits n flows into a source-port period p1 and a
// destination-port period p2 with gcd(p1, p2) = 1 and p1*p2 = n: trafgen
// increments both fields every packet, so the pair repeats after exactly n
// packets and every flow is distinct.
func flowPeriods(n int) (p1, p2 int, err error) {
	if n <= 0 {
		return 0, 0, fmt.Errorf("flows %d: want at least 1", n)
	}
	if n <= 60000 {
		return n, 1, nil
	}
	for p2 = 2; p2 <= 60000; p2++ {
		if n%p2 == 0 && n/p2 <= 60000 && gcd(n/p2, p2) == 1 {
			return n / p2, p2, nil
		}
	}
	return 0, 0, fmt.Errorf("flows %d: cannot split into coprime port ranges", n)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// udpConfig is the trafgen configuration of NATed UDP: from the inside host
// 10.10.10.5 to 203.0.113.1 (beyond the default route), frameSize bytes
// (RFC 2544 size, FCS included) over flows distinct port pairs.
func udpConfig(p path, frameSize, flows int) (string, error) {
	p1, p2, err := flowPeriods(flows)
	if err != nil {
		return "", err
	}
	pad := wireLen(frameSize) - 14 - 20 - 8
	if pad < 0 {
		return "", fmt.Errorf("frame size %d too small", frameSize)
	}
	sp, dp := "1024", "9"
	if p1 > 1 {
		sp = fmt.Sprintf("dinc(1024, %d)", 1024+p1-1)
	}
	if p2 > 1 {
		dp = fmt.Sprintf("dinc(9, %d)", 9+p2-1)
	}
	return fmt.Sprintf("{ eth(da=%s, sa=%s), ipv4(sa=%s, da=%s, ttl=64), udp(sp=%s, dp=%s), fill(0x00, %d) }\n",
		p.DstMAC, p.SrcMAC, HostAddr, RemoteAddr, sp, dp, pad), nil
}

// synFloodFrameLen is the length of synFloodConfig's frames (Ethernet,
// IPv4 and TCP headers, no options, no padding).
const synFloodFrameLen = 14 + 20 + 20

// synFloodConfig is the SYN flood: random sources in 198.18.0.0/16 (the
// RFC 2544 benchmarking range) and random ports and sequence numbers,
// towards 172.22.1.110:25 from the outside.
func synFloodConfig() string {
	return fmt.Sprintf("{ eth(da=%s, sa=%s), ipv4(sa=198.18.0.0, sa[2]=drnd(), sa[3]=drnd(), da=%s, ttl=64), "+
		"tcp(sp=drnd(1024, 65535), dp=25, seq=drnd(), syn, win=64240) }\n", OutsideMAC, OutHostMAC, MailGlobal)
}

// generator is a running trafgen. trafgen forks its sending process, so
// it runs in a process group of its own and is stopped as a group.
type generator struct {
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	stopOnce sync.Once
}

// startGenerator writes cfg and starts trafgen on the generator core.
func (b *Bench) startGenerator(ctx context.Context, role, dev, name, cfg string) (*generator, error) {
	file := filepath.Join(b.work, name+".trafgen")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(b.work, "trafgen.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	// -q: the qdisc path (the shaper is a qdisc); -P 1: one process; -Q: leave
	// IRQ affinities alone; -C: no CPU statistics.
	argv := []string{"netns", "exec", b.topo.NS(role), "taskset", "-c", strconv.Itoa(b.topo.GenCPU)}
	if name == "synflood" {
		// The attacker is another machine: on the generator's core the
		// hosts' own work (the legitimate clients, the bulk stream, their
		// kernels' receive) goes first, and the flood takes the rest.
		argv = append(argv, "nice", "-n", "19")
	}
	cmd := exec.Command("ip", append(argv, "trafgen", "-o", dev, "-i", file, "-P", "1", "-q", "-Q", "-C")...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = b.work // trafgen writes its preprocessed configuration beside it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	exited, err := startLocked(cmd)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start trafgen: %w", err)
	}
	g := &generator{cmd: cmd, done: make(chan struct{})}
	go func() { g.err = <-exited; logf.Close(); close(g.done) }()
	b.track(g)
	return g, nil
}

// running reports whether trafgen is still sending.
func (g *generator) running() bool {
	select {
	case <-g.done:
		return false
	default:
		return true
	}
}

// stop interrupts trafgen's process group, kills it after 1 s, and waits.
// Safe to call more than once.
func (g *generator) stop() {
	g.stopOnce.Do(func() {
		pg := -g.cmd.Process.Pid
		syscall.Kill(pg, syscall.SIGINT)
		select {
		case <-g.done:
		case <-time.After(time.Second):
		}
		// The forked sender may outlive its parent: the group goes.
		syscall.Kill(pg, syscall.SIGKILL)
		<-g.done
	})
}

// shape sets the offered rate of dev (pps of wireLen-byte frames) with a
// token bucket; rate <= 0 removes it (as fast as trafgen sends).
func (b *Bench) shape(ctx context.Context, role, dev string, pps float64, frameSize int) error {
	ns := b.topo.NS(role)
	if pps <= 0 {
		exec.CommandContext(ctx, "tc", "-n", ns, "qdisc", "del", "dev", dev, "root").Run()
		return nil
	}
	l := wireLen(frameSize)
	bits := uint64(pps * float64(l) * 8)
	burst := int(pps * float64(l) / 2000) // half a millisecond
	if burst < 4*1514 {
		burst = 4 * 1514
	}
	limit := 4 * burst
	if limit < 65536 {
		limit = 65536
	}
	out, err := exec.CommandContext(ctx, "tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", fmt.Sprintf("%dbit", bits), "burst", strconv.Itoa(burst), "limit", strconv.Itoa(limit)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tc tbf on %s in %s: %w: %s", dev, ns, err, out)
	}
	return nil
}
