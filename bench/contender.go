package bench

// The contenders: what runs in the DUT namespace between in0 and out0.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cbac/control"
	"cbac/examples"
	"cbac/lab"
)

// Kind is what a contender runs.
type Kind int

const (
	KindCBACD   Kind = iota // cbacd, the seed policy
	KindLinux               // Linux ip_forward, no filtering, no NAT
	KindNFT                 // nftables conntrack + the seed's static NAT + ACL 101 equivalent
	KindBareXDP             // cbacd with an empty policy: the AF_XDP forwarder alone
)

// Contender is one device under test.
type Contender struct {
	Name string
	Kind Kind
	// NAT: the contender translates 10.10.10.5 <-> 172.22.1.111 and
	// 10.10.10.2 <-> 172.22.1.110 (what the outside sees).
	NAT bool
	// SeedThresholds keeps the seed's DoS thresholds (cbacd only); otherwise
	// they are raised so that a load test does not measure the deliberately
	// tripping half-open guard (the SYN flood scenario keeps them).
	SeedThresholds bool
	// BulkData (scenario 7) opens port 2525 of the mail server as well:
	// cbacd inspects it as plain tcp on the OUT-IN rule, with an extra line
	// in ACL 101, and its SMTP max_data is practically unlimited; nftables
	// accepts it in the forward chain.
	BulkData bool
	// InspectedBuffer, if > 0, sets cbacd's dataplane.inspected_buffer.
	InspectedBuffer int
	// Intercept (cbacd) adds ACL 120 (172.22.1.110 port 25) and
	// [tcp_intercept] with it in intercept mode; Synproxy (nftables)
	// answers SYNs to 172.22.1.110:25 with the kernel's synproxy.
	Intercept, Synproxy bool
	// XDPMode overrides Options.XDPMode for a cbacd contender.
	XDPMode string
	// Placement of cbacd's threads: "" is the bench's (started under
	// taskset on the DUT core, -cpus DUT core, every thread pinned there
	// again before each trial); PlacementDefault is cbacd's own default
	// (no taskset, no -cpus: the scheduler places the worker); anything
	// else is passed as -cpus, without taskset.
	Placement string
	// Spin, if not empty, is passed as cbacd -spin (else Options.Spin).
	Spin string
	// OnRequest: the contender runs only where -contenders names it.
	OnRequest bool
	Describe  string
}

// PlacementDefault runs cbacd with its default worker placement.
const PlacementDefault = "default"

// pinnedByBench reports whether the bench pins cbacd's threads itself.
func (c Contender) pinnedByBench() bool { return c.Placement == "" }

// Contenders in the order they run and are reported.
var Contenders = []Contender{
	{Name: "cbacd", Kind: KindCBACD, NAT: true,
		Describe: "cbacd, seed policy (static NAT, ACL 101 in on outside, inspection IN-OUT tcp/udp/icmp, OUT-IN smtp), DoS thresholds raised"},
	{Name: "cbacd-native", Kind: KindCBACD, NAT: true, XDPMode: "native",
		Describe: "cbacd, seed policy, native XDP on the veths: XDP and the copy into the UMEM run in the veth's NAPI on the sending core (what an XDP-capable NIC driver gives); the DUT core's cost omits them"},
	{Name: "nftables", Kind: KindNFT, NAT: true,
		Describe: "Linux nftables: conntrack, the seed's static NAT (dnat/snat), ACL 101 + ct state established,related"},
	{Name: "linux-fwd", Kind: KindLinux,
		Describe: "Linux ip_forward: routing only, no conntrack, no NAT"},
	{Name: "xdp-bare", Kind: KindBareXDP,
		Describe: "cbacd with an empty policy (no ACL, no inspection, no NAT): the AF_XDP forwarder alone, the ceiling"},
	{Name: "xdp-bare-native", Kind: KindBareXDP, XDPMode: "native", OnRequest: true,
		Describe: "cbacd with an empty policy, native XDP on the veths: the AF_XDP forwarder alone in native mode"},
}

// seedFloodContender is cbacd with the seed's thresholds, for the SYN flood.
var seedFloodContender = Contender{Name: "cbacd", Kind: KindCBACD, NAT: true, SeedThresholds: true,
	Describe: "cbacd, seed policy with the seed's DoS thresholds (max-incomplete 400/500, one-minute 400/500, 50 half-open per host)"}

// staticARP are the neighbours cbacd knows without asking.
const staticARP = `
[[arp]]
address = "172.22.1.1"
mac = "02:00:ac:16:01:01"
[[arp]]
address = "172.22.1.100"
mac = "02:00:ac:16:01:01"
[[arp]]
address = "10.10.10.5"
mac = "02:00:0a:0a:0a:05"
[[arp]]
address = "10.10.10.2"
mac = "02:00:0a:0a:0a:05"
`

// CBACDConfig returns the configuration cbacd runs as contender c: the seed
// file (its devices are in0/out0 already) with static ARP entries, and for
// the load tests the DoS thresholds raised (and, BulkData, port 2525). The
// bare forwarder gets the two interfaces, the default route and nothing
// else.
func CBACDConfig(c Contender, maxSessions int) ([]byte, error) {
	dp := fmt.Sprintf("\n[dataplane]\nmax_sessions = %d\n", maxSessions)
	if c.InspectedBuffer > 0 {
		dp += fmt.Sprintf("inspected_buffer = %d\n", c.InspectedBuffer)
	}
	if c.Kind == KindBareXDP {
		return []byte(`hostname = "xdp-bare"
[[interface]]
name = "Ethernet2/0"
device = "out0"
address = "172.22.1.16/24"
[[interface]]
name = "Ethernet2/1"
device = "in0"
address = "10.10.10.1/24"
[[route]]
prefix = "0.0.0.0/0"
next_hop = "172.22.1.1"
` + staticARP + dp), nil
	}
	s := string(examples.Seed3640)
	if !c.SeedThresholds {
		for _, r := range [][2]string{
			{"one_minute = { low = 400, high = 500 }", "one_minute = { low = 4000000, high = 5000000 }"},
			{"max_incomplete = { low = 400, high = 500 }", "max_incomplete = { low = 4000000, high = 5000000 }"},
			{"tcp_max_incomplete_host = 50 ", "tcp_max_incomplete_host = 250 "},
		} {
			if !strings.Contains(s, r[0]) {
				return nil, fmt.Errorf("seed configuration: %q not found", r[0])
			}
			s = strings.Replace(s, r[0], r[1], 1)
		}
	}
	if c.BulkData {
		// As dataplane/smtp_bench_test.go's benchSeed.
		for _, r := range [][2]string{
			{"smtp = { max_data = 20000000 }", "smtp = { max_data = 9000000000000000000 }\ntcp = {}"},
			{`"permit tcp any host 172.22.1.110 eq smtp",`, `"permit tcp any host 172.22.1.110 eq smtp",` + "\n" +
				fmt.Sprintf(`"permit tcp any host 172.22.1.110 eq %d",`, DataPlainPort)},
		} {
			if !strings.Contains(s, r[0]) {
				return nil, fmt.Errorf("seed configuration: %q not found", r[0])
			}
			s = strings.Replace(s, r[0], r[1], 1)
		}
	}
	tail := ""
	if c.Intercept {
		const lists = "[access_lists]\n"
		if !strings.Contains(s, lists) {
			return nil, fmt.Errorf("seed configuration: %q not found", lists)
		}
		s = strings.Replace(s, lists, lists+`120 = ["permit tcp any host 172.22.1.110 eq smtp"]`+"\n", 1)
		tail = "\n[tcp_intercept]\nlist = \"120\"\nmode = \"intercept\"\n"
	}
	return []byte(s + staticARP + dp + tail), nil
}

// synfloodContenders are scenario 10's: cbacd with tcp intercept (generic
// and native XDP) and the kernel's equivalent, nftables synproxy; all with
// the static NAT and port 2525 open for the established bulk stream.
var synfloodContenders = []Contender{
	{Name: "cbacd-intercept", Kind: KindCBACD, NAT: true, BulkData: true, Intercept: true,
		Describe: "cbacd, seed policy plus ip tcp intercept (list 120: 172.22.1.110 port 25, intercept mode, stateless SYN cookies)"},
	{Name: "cbacd-intercept-native", Kind: KindCBACD, NAT: true, BulkData: true, Intercept: true, XDPMode: "native",
		Describe: "the same, native XDP on the veths (their NAPI threaded and pinned to the DUT core in this scenario: the XDP program and its answers are in the DUT core's cost)"},
	{Name: "nft-synproxy", Kind: KindNFT, NAT: true, BulkData: true, Synproxy: true,
		Describe: "nftables synproxy (mss 1460 wscale 7 timestamp sack-perm) on the forward path for 172.22.1.110:25, the nftables contender's static NAT and forward rules"},
}

// nftSynproxyRuleset is the nftables synproxy contender, after the
// nftables synproxy documentation: SYNs to 172.22.1.110:25 are not
// tracked (raw prerouting), so they are routed as addressed (a route for
// 172.22.1.110 via the mail server, proxy ARP on out0) and reach the
// forward hook, where synproxy answers untracked SYNs and the client's
// ACK (conntrack invalid) with its cookie; synproxy's own SYN to the
// server leaves through the output hook, where it is translated as
// prerouting translates everything else. The SYN/ACKs it sends are counted
// in the output hook. %s is the ports the forward chain admits.
const nftSynproxyRuleset = `table ip cbacbench {
  counter synacks { }
  chain raw {
    type filter hook prerouting priority raw; policy accept;
    ip daddr 172.22.1.110 tcp dport 25 tcp flags & (fin|syn|rst|ack) == syn notrack
  }
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 172.22.1.110 dnat to 10.10.10.2
    ip daddr 172.22.1.111 dnat to 10.10.10.5
  }
  chain out {
    type nat hook output priority -100; policy accept;
    ip daddr 172.22.1.110 dnat to 10.10.10.2
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.10.10.2 snat to 172.22.1.110
    ip saddr 10.10.10.5 snat to 172.22.1.111
  }
  chain forward_filter {
    type filter hook forward priority filter; policy drop;
    iifname "out0" ip daddr 172.22.1.110 tcp dport 25 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
    ct state invalid drop
    ct state established,related accept
    iifname "out0" ct original ip daddr 172.22.1.110 tcp dport %s accept
    iifname "in0" meta l4proto { tcp, udp, icmp } accept
  }
  chain count_out {
    type filter hook output priority filter; policy accept;
    tcp sport 25 tcp flags & (syn|ack) == syn|ack counter name "synacks"
  }
}
`

// nftRuleset is the nftables contender: the seed's policy in netfilter
// terms. ACL 101 ("permit tcp any host 172.22.1.110 eq smtp", in on the
// outside) is matched on the original (global) destination; traffic from
// the inside is admitted as IN-OUT inspects it (tcp, udp, icmp) and its
// replies by conntrack state. %s is the ports ACL 101 permits (scenario 7
// adds 2525).
const nftRuleset = `table ip cbacbench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr 172.22.1.110 dnat to 10.10.10.2
    ip daddr 172.22.1.111 dnat to 10.10.10.5
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.10.10.2 snat to 172.22.1.110
    ip saddr 10.10.10.5 snat to 172.22.1.111
  }
  chain forward_filter {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "out0" ct original ip daddr 172.22.1.110 tcp dport %s accept
    iifname "in0" meta l4proto { tcp, udp, icmp } accept
  }
}
`

// running is a started contender.
type running struct {
	c      Contender
	t      *Topology
	cmd    *exec.Cmd
	exited chan error
	sock   string
	logf   *os.File
	pid    int
}

// startContender prepares the DUT namespace for c and starts it.
func (b *Bench) startContender(ctx context.Context, c Contender) (*running, error) {
	t := b.topo
	dut := t.NS(RoleDUT)
	// Reset: no addresses, no routes, no forwarding, no rules.
	reset := "addr flush dev in0\naddr flush dev out0\nroute flush table main\nneigh flush all\n"
	if err := lab.RunIP(ctx, reset, "-n", dut); err != nil {
		return nil, err
	}
	if err := t.sysctl(ctx, dut, "net.ipv4.ip_forward=0", "net.ipv4.conf.out0.proxy_arp=0"); err != nil {
		return nil, err
	}
	if err := t.run(ctx, dut, "nft", "flush", "ruleset"); err != nil {
		return nil, err
	}
	r := &running{c: c, t: t}
	switch c.Kind {
	case KindLinux, KindNFT:
		script := fmt.Sprintf(`addr add %s/24 dev in0
addr add %s/24 dev out0
route add default via %s dev out0
neigh replace %s lladdr %s dev out0 nud permanent
neigh replace %s lladdr %s dev out0 nud permanent
neigh replace %s lladdr %s dev in0 nud permanent
neigh replace %s lladdr %s dev in0 nud permanent
`, InsideIface, OutsideIface, UpstreamAddr, UpstreamAddr, OutHostMAC, ClientAddr, OutHostMAC,
			HostAddr, InHostMAC, MailAddr, InHostMAC)
		switch {
		case c.Synproxy:
			// 172.22.1.110 is routed to the mail server (synproxy runs on
			// the forward path); proxy ARP answers for it.
			script += fmt.Sprintf("route add %s/32 via %s dev in0\naddr add %s/32 dev out0\n", MailGlobal, MailAddr, HostGlobal)
		case c.Kind == KindNFT:
			// The DUT answers ARP for the inside globals, as the router does.
			script += fmt.Sprintf("addr add %s/32 dev out0\naddr add %s/32 dev out0\n", MailGlobal, HostGlobal)
		}
		if err := lab.RunIP(ctx, script, "-n", dut); err != nil {
			return nil, err
		}
		if err := t.sysctl(ctx, dut, "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"); err != nil {
			return nil, err
		}
		if c.Kind == KindNFT {
			ports := "25"
			if c.BulkData {
				ports = fmt.Sprintf("{ 25, %d }", DataPlainPort)
			}
			rules := nftRuleset
			if c.Synproxy {
				rules = nftSynproxyRuleset
				// Conntrack marks the client's ACK invalid for synproxy
				// (no loose pickup); proxy ARP answers for 172.22.1.110,
				// which is routed, not local.
				if err := t.sysctl(ctx, dut, "net.netfilter.nf_conntrack_tcp_loose=0", "net.ipv4.conf.out0.proxy_arp=1",
					"net.ipv4.tcp_syncookies=1", "net.ipv4.tcp_timestamps=1"); err != nil {
					return nil, err
				}
			}
			if err := t.nft(ctx, dut, fmt.Sprintf(rules, ports)); err != nil {
				return nil, err
			}
		}
		return r, nil
	}
	return r, b.startCBACD(ctx, r)
}

func (b *Bench) startCBACD(ctx context.Context, r *running) error {
	cfg, err := CBACDConfig(r.c, b.opts.MaxSessions)
	if err != nil {
		return err
	}
	mode := r.c.XDPMode
	if mode == "" {
		mode = b.opts.XDPMode
	}
	name := r.c.Name
	if r.c.SeedThresholds {
		name += "-seedthresholds"
	}
	if r.c.BulkData {
		name += "-bulkdata"
	}
	b.starts++
	name = fmt.Sprintf("%s-%d", name, b.starts)
	path := filepath.Join(b.work, name+".toml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return err
	}
	r.sock = filepath.Join(b.work, name+".sock")
	r.logf, err = os.Create(filepath.Join(b.work, name+".log"))
	if err != nil {
		return err
	}
	// Its process starts on the DUT core when the bench pins it, else on
	// every CPU (this process is pinned to the generator core and a child
	// inherits that).
	cpus := onlineCPUs()
	if r.c.pinnedByBench() {
		cpus = strconv.Itoa(b.topo.DUTCPU)
	}
	argv := []string{"netns", "exec", b.topo.NS(RoleDUT), "taskset", "-c", cpus,
		b.opts.CBACD, "-c", path, "-socket", r.sock, "-workers", "1", "-xdp-mode", mode}
	switch r.c.Placement {
	case "":
		argv = append(argv, "-cpus", strconv.Itoa(b.topo.DUTCPU))
	case PlacementDefault:
	default:
		argv = append(argv, "-cpus", r.c.Placement)
	}
	if spin := cmp.Or(r.c.Spin, b.opts.Spin); spin != "" {
		argv = append(argv, "-spin", spin)
	}
	r.cmd = exec.Command("ip", argv...)
	r.cmd.Stdout, r.cmd.Stderr = r.logf, r.logf
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	r.exited, err = startLocked(r.cmd)
	if err != nil {
		r.logf.Close()
		return fmt.Errorf("start cbacd: %w", err)
	}
	if err := r.waitReady(ctx, path); err != nil {
		r.stop()
		return err
	}
	return nil
}

var restartRE = regexp.MustCompile(`%SYS-5-RESTART`)

// waitReady waits for the control socket and the worker, then pins every
// thread of cbacd to the DUT core.
func (r *running) waitReady(ctx context.Context, cfgPath string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("unix", r.sock, 200*time.Millisecond); err == nil {
			c.Close()
			if log, _ := os.ReadFile(r.logf.Name()); restartRE.Match(log) {
				break
			}
		}
		select {
		case err := <-r.exited:
			log, _ := os.ReadFile(r.logf.Name())
			return fmt.Errorf("cbacd (%s) exited during start: %v: %s", cfgPath, err, bytes.TrimSpace(log))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cbacd did not become ready within 30s (log %s)", r.logf.Name())
		}
	}
	// `ip netns exec` execs cbacd in place: the child's pid is cbacd's.
	r.pid = r.cmd.Process.Pid
	// The worker pins itself as it starts running, just after the log line.
	time.Sleep(300 * time.Millisecond)
	if !r.c.pinnedByBench() {
		return nil
	}
	return PinProcess(r.pid, r.t.DUTCPU)
}

// stop stops the contender (cbacd: SIGTERM, SIGKILL after 10 s) and leaves
// the DUT namespace to the next reset.
func (r *running) stop() error {
	if r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	defer r.logf.Close()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return nil
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
		return errors.New("cbacd did not stop within 10s: killed")
	}
}

// cbacdCommand runs a cbacctl command against the contender.
func (r *running) cbacdCommand(ctx context.Context, cmd string) (string, error) {
	if r.sock == "" {
		return "", errors.New("not cbacd")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var b bytes.Buffer
	err := control.Client(ctx, r.sock, cmd, &b)
	return b.String(), err
}

var sessionsRE = regexp.MustCompile(`Sessions: (\d+) in use of (\d+), (\d+) half-open; (\d+) created, (\d+) deleted`)

// sessionStats returns cbacd's live and half-open session counts.
func (r *running) sessionStats(ctx context.Context) (live, halfOpen, created int, err error) {
	out, err := r.cbacdCommand(ctx, "show ip inspect statistics")
	if err != nil {
		return 0, 0, 0, err
	}
	m := sessionsRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("show ip inspect statistics: unexpected output %q", out)
	}
	live, _ = strconv.Atoi(m[1])
	halfOpen, _ = strconv.Atoi(m[3])
	created, _ = strconv.Atoi(m[4])
	return live, halfOpen, created, nil
}
