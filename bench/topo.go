package bench

// The load-test topology: three network namespaces joined by veth pairs,
// leaner than the lab (no bridges on the path, so the generator's and the
// sink's cost stays small):
//
//	<p>in   eth0 10.10.10.5/24 + 10.10.10.2/24 via 10.10.10.1   generator (UDP,
//	        TCP clients), SMTP server on 10.10.10.2:25
//	        gen1 --------------------------------------------+  (ceiling pair)
//	          |  eth0 <-> in0                                |
//	<p>dut  in0 (10.10.10.1/24)   [ contender ]   out0 (172.22.1.16/24)
//	          |  out0 <-> eth0                               |
//	<p>out  eth0 172.22.1.1/24 + 172.22.1.100/24, lo 203.0.113.1  sink1
//	        sink (UDP to 203.0.113.0/24 dropped at ingress), TCP server,
//	        SMTP clients, SYN flood generator
//
// in0 and out0 keep the seed's device names and MACs, so cbacd runs the
// seed configuration on them unchanged (plus static [[arp]] entries). Every
// contender runs on the same veths in turn; the DUT namespace is reset
// between contenders. The generator pair gen1 <-> sink1 bypasses the DUT to
// measure the generator's own ceiling.
//
// CPU placement (2 cores): the generator (trafgen, the Go clients and
// servers) runs on GenCPU; the DUT's ingress processing (RPS on in0 and
// out0), its forwarding softirq, the sink's receive (triggered from the
// DUT's transmit) and cbacd's worker run on DUTCPU.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"cbac/internal/netns"
	"cbac/lab"
)

// Namespace roles.
const (
	RoleIn  = "in"  // inside hosts: generator, SMTP server
	RoleDUT = "dut" // device under test: in0, out0
	RoleOut = "out" // outside: sink, TCP server, SMTP client, flood
)

// Fixed addresses and MACs of the topology.
const (
	InsideMAC    = "02:00:0a:0a:0a:01" // in0
	OutsideMAC   = "02:00:ac:16:01:10" // out0
	InHostMAC    = "02:00:0a:0a:0a:05" // <p>in eth0
	OutHostMAC   = "02:00:ac:16:01:01" // <p>out eth0
	GenPairMAC   = "02:00:0a:0a:0a:06" // <p>in gen1
	SinkPairMAC  = "02:00:ac:16:01:02" // <p>out sink1
	HostAddr     = "10.10.10.5"        // inside host; NAT 172.22.1.111
	MailAddr     = "10.10.10.2"        // mail server; NAT 172.22.1.110
	HostGlobal   = "172.22.1.111"
	MailGlobal   = "172.22.1.110"
	UpstreamAddr = "172.22.1.1"   // the seed's default route next hop
	ClientAddr   = "172.22.1.100" // outside SMTP client
	RemoteAddr   = "203.0.113.1"  // beyond the upstream: UDP sink, TCP server
	InsideIface  = "10.10.10.1"
	OutsideIface = "172.22.1.16"
)

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,24}$`)

// Topology is one instance of the load-test namespaces.
type Topology struct {
	Prefix         string
	GenCPU, DUTCPU int
}

// NS returns the namespace name of role.
func (t *Topology) NS(role string) string { return t.Prefix + role }

// Namespaces lists the topology's namespace names.
func (t *Topology) Namespaces() []string {
	return []string{t.NS(RoleIn), t.NS(RoleDUT), t.NS(RoleOut)}
}

// Up builds the topology, removing a stale one with the same prefix first.
// On failure it removes what it built.
func (t *Topology) Up(ctx context.Context) error {
	if !prefixRE.MatchString(t.Prefix) {
		return fmt.Errorf("topology prefix %q: want 1-24 characters of [A-Za-z0-9_.-]", t.Prefix)
	}
	for _, tool := range []string{"ip", "nft", "tc", "ethtool", "trafgen", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is required (apt-get install iproute2 nftables ethtool netsniff-ng util-linux): %w", tool, err)
		}
	}
	t.Down()
	if err := t.up(ctx); err != nil {
		t.Down()
		return fmt.Errorf("topology %s: %w", t.Prefix, err)
	}
	return nil
}

func (t *Topology) up(ctx context.Context) error {
	in, dut, out := t.NS(RoleIn), t.NS(RoleDUT), t.NS(RoleOut)
	var b strings.Builder
	for _, ns := range t.Namespaces() {
		fmt.Fprintf(&b, "netns add %s\n", ns)
	}
	if err := lab.RunIP(ctx, b.String()); err != nil {
		return err
	}
	for _, ns := range t.Namespaces() {
		// No IPv6: router and neighbour solicitations would clutter the
		// counters the benchmark reads.
		if err := t.sysctl(ctx, ns, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
			return err
		}
	}
	script := fmt.Sprintf(`link set lo up
link add in0 address %s type veth peer name eth0 address %s netns %s
link add out0 address %s type veth peer name eth0 address %s netns %s
link set in0 up
link set out0 up
`, InsideMAC, InHostMAC, in, OutsideMAC, OutHostMAC, out)
	if err := lab.RunIP(ctx, script, "-n", dut); err != nil {
		return err
	}
	script = fmt.Sprintf(`link set lo up
link add gen1 address %s type veth peer name sink1 address %s netns %s
link set eth0 up
link set gen1 up
addr add %s/24 dev eth0
addr add %s/24 dev eth0
route add default via %s dev eth0
neigh replace %s lladdr %s dev eth0 nud permanent
`, GenPairMAC, SinkPairMAC, out, HostAddr, MailAddr, InsideIface, InsideIface, InsideMAC)
	if err := lab.RunIP(ctx, script, "-n", in); err != nil {
		return err
	}
	script = fmt.Sprintf(`link set lo up
link set eth0 up
link set sink1 up
addr add %s/24 dev eth0
addr add %s/24 dev eth0
addr add %s/32 dev lo
route add 10.10.10.0/24 via %s dev eth0
neigh replace %s lladdr %s dev eth0 nud permanent
neigh replace %s lladdr %s dev eth0 nud permanent
neigh replace %s lladdr %s dev eth0 nud permanent
`, UpstreamAddr, ClientAddr, RemoteAddr, OutsideIface,
		OutsideIface, OutsideMAC, MailGlobal, OutsideMAC, HostGlobal, OutsideMAC)
	if err := lab.RunIP(ctx, script, "-n", out); err != nil {
		return err
	}
	// Software checksums on the hosts: a partial (offloaded) checksum would
	// reach cbacd unfinished over AF_XDP. No TSO/GSO/GRO: every frame on
	// the wire is one packet, for every contender.
	for _, h := range []struct{ ns, dev string }{{in, "eth0"}, {out, "eth0"}, {in, "gen1"}, {out, "sink1"}} {
		if err := t.run(ctx, h.ns, "ethtool", "-K", h.dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off"); err != nil {
			return err
		}
	}
	if err := t.sysctl(ctx, in, "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1", "net.core.somaxconn=4096", "net.ipv4.tcp_max_syn_backlog=4096"); err != nil {
		return err
	}
	if err := t.sysctl(ctx, out, "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1", "net.core.somaxconn=4096", "net.ipv4.tcp_max_syn_backlog=4096"); err != nil {
		return err
	}
	// The DUT's ingress runs on the DUT core for every contender: RPS steers
	// in0's and out0's receive processing (the kernel's forwarding, or
	// generic XDP and the AF_XDP copy for cbacd) to DUTCPU. The generator
	// pair's sink does the same, so the ceiling is measured like the DUT runs.
	mask := fmt.Sprintf("%x", 1<<t.DUTCPU)
	if err := t.run(ctx, dut, "sh", "-c", "echo "+mask+" > /sys/class/net/in0/queues/rx-0/rps_cpus && echo "+mask+" > /sys/class/net/out0/queues/rx-0/rps_cpus"); err != nil {
		return err
	}
	if err := t.run(ctx, out, "sh", "-c", "echo "+mask+" > /sys/class/net/sink1/queues/rx-0/rps_cpus"); err != nil {
		return err
	}
	// The sink: UDP towards 203.0.113.0/24 is dropped at ingress (cheap, no
	// ICMP port unreachable); the ceiling pair drops everything.
	sink := `table netdev cbacbench_sink {
  chain eth0 { type filter hook ingress device "eth0" priority 0; ip daddr 203.0.113.0/24 meta l4proto udp drop; }
  chain sink1 { type filter hook ingress device "sink1" priority 0; drop; }
}
`
	return t.nft(ctx, out, sink)
}

// Down removes the namespaces (and every link in them). Safe to call twice.
func (t *Topology) Down() error {
	if !prefixRE.MatchString(t.Prefix) {
		return fmt.Errorf("topology prefix %q is invalid", t.Prefix)
	}
	var b strings.Builder
	for _, ns := range t.Namespaces() {
		if netns.Exists(ns) {
			fmt.Fprintf(&b, "netns delete %s\n", ns)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := lab.RunIP(ctx, b.String(), "-force")
	for _, ns := range t.Namespaces() {
		if netns.Exists(ns) {
			err = errors.Join(err, fmt.Errorf("namespace %s left behind", ns))
		}
	}
	return err
}

// Command returns `ip netns exec NS argv...`.
func (t *Topology) Command(ctx context.Context, role string, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", t.NS(role)}, argv...)...)
}

func (t *Topology) run(ctx context.Context, ns string, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s in %s: %w: %s", strings.Join(argv, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (t *Topology) sysctl(ctx context.Context, ns string, kv ...string) error {
	return t.run(ctx, ns, append([]string{"sysctl", "-q", "-w"}, kv...)...)
}

func (t *Topology) nft(ctx context.Context, ns, script string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft in %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// LinkStats are a device's kernel counters.
type LinkStats struct {
	RxPackets, TxPackets, RxDropped, TxDropped uint64
}

// Stats reads the counters of dev in the namespace of role, from
// /proc/thread-self/net/dev on a thread inside the namespace (no process
// started: a trial's window is timed by these reads).
func (t *Topology) Stats(ctx context.Context, role, dev string) (LinkStats, error) {
	var st LinkStats
	err := netns.InNetns(t.NS(role), func() error {
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			name, rest, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) != dev {
				continue
			}
			fs := strings.Fields(rest)
			if len(fs) < 12 {
				break
			}
			v := func(i int) uint64 { n, _ := strconv.ParseUint(fs[i], 10, 64); return n }
			st = LinkStats{RxPackets: v(1), RxDropped: v(3), TxPackets: v(9), TxDropped: v(11)}
			return nil
		}
		return fmt.Errorf("no device %s", dev)
	})
	if err != nil {
		return st, fmt.Errorf("link stats %s in %s: %w", dev, t.NS(role), err)
	}
	return st, nil
}

// enterNetns locks the calling goroutine to its thread, moves the thread
// into the namespace and pins it to cpu (-1: no pinning). The goroutine
// must exit without unlocking: the thread then dies with it, so no other
// goroutine ever runs in the namespace by accident.
func enterNetns(name string, cpu int) error {
	runtime.LockOSThread()
	fd, err := unix.Open(netns.Path(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", name, err)
	}
	if cpu >= 0 {
		var set unix.CPUSet
		set.Set(cpu)
		unix.SchedSetaffinity(0, &set)
	}
	return nil
}

// startLocked starts cmd from a goroutine locked to its OS thread until cmd
// has exited, and returns the channel cmd.Wait's result arrives on. The
// kernel sends Pdeathsig when the thread that forked the child ends, not
// the process (a known Go runtime behaviour), and the goroutines that enter a namespace
// end their thread (enterNetns): started from an ordinary goroutine, a
// child would get its death signal mid-run whenever the runtime had handed
// the forking thread to one of them.
func startLocked(cmd *exec.Cmd) (chan error, error) {
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}

// onlineCPUs is the machine's CPU list for taskset -c ("0-1").
func onlineCPUs() string {
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b))
	}
	return fmt.Sprintf("0-%d", runtime.NumCPU()-1)
}

// PinProcess pins every thread of process pid (0: this process) to cpu.
// Threads created later inherit the mask of their creator.
func PinProcess(pid, cpu int) error {
	if pid == 0 {
		pid = os.Getpid()
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpu)
	var errs []error
	for _, e := range ents {
		var tid int
		if _, err := fmt.Sscan(e.Name(), &tid); err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("pin thread %d to cpu %d: %w", tid, cpu, err))
		}
	}
	return errors.Join(errs...)
}
