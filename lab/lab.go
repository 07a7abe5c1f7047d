// Package lab builds the seed network (docs/behaviour.md "The seed network") out of Linux
// network namespaces, so that cbacd runs end to end with no hardware:
//
//	<p>upstream 172.22.1.1/24 (+ 203.0.113.1/32 on lo, "the internet")
//	<p>client   172.22.1.100/24
//	      |  eth0 <-> port in <p>osw (bridge br0)
//	<p>osw  br0 --- fw <-> out0 in <p>fw
//	                          [ cbacd: owns out0 and in0 via AF_XDP ]
//	<p>isw  br0 --- fw <-> in0  in <p>fw
//	      |  eth0 <-> port in <p>isw (bridge br0)
//	<p>mail     10.10.10.2/24 via 10.10.10.1   (outside: 172.22.1.110)
//	<p>host     10.10.10.5/24 via 10.10.10.1   (outside: 172.22.1.111)
//
// The switch ports fw (the peers of out0 and in0) carry an XDP program
// that passes every frame: with cbacd in native XDP mode, frames it sends
// back out the device they came in on need it (peerxdp.go).
//
// out0 and in0 carry no addresses: the kernel in <p>fw never routes
// between them, cbacd does. Every link lives inside one of the lab's
// namespaces (interface names are per namespace, so they carry no prefix);
// nothing is added to the root namespace, and deleting the namespaces
// removes everything. IPv6 is disabled in the lab so that router and
// neighbour solicitations do not clutter the firewall's counters.
//
// Setup uses iproute2 (`ip`) through os/exec: this is control-plane code.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// DefaultPrefix names the namespaces of the lab that `cbacd lab` builds.
const DefaultPrefix = "cbac-"

// Devices of the firewall namespace, as the seed configuration binds them.
const (
	OutsideDevice = "out0" // Ethernet2/0, 172.22.1.16/24, nat outside
	InsideDevice  = "in0"  // Ethernet2/1, 10.10.10.1/24, nat inside
)

// Namespace roles. Hosts run traffic; switches hold a bridge; RoleFW holds
// out0 and in0 and is where cbacd runs.
const (
	RoleFW       = "fw"
	RoleOutside  = "osw" // outside switch
	RoleInside   = "isw" // inside switch
	RoleUpstream = "upstream"
	RoleClient   = "client"
	RoleMail     = "mail"
	RoleHost     = "host"
)

// Roles lists every namespace role of the lab, firewall first.
var Roles = []string{RoleFW, RoleOutside, RoleInside, RoleUpstream, RoleClient, RoleMail, RoleHost}

// RemoteAddr is an address beyond the upstream router (on its loopback):
// traffic to it from the inside follows the seed's default route.
var RemoteAddr = netip.MustParseAddr("203.0.113.1")

// Host is one host namespace of the lab.
type Host struct {
	Role     string
	Device   string       // the host's interface, "eth0"
	Addr     netip.Prefix // address and connected prefix on Device
	MAC      string       // fixed, so static [[arp]] entries and replays can name it
	Gateway  netip.Addr   // default route next hop; invalid if none
	Switch   string       // role of the switch namespace it hangs off
	Global   netip.Addr   // its address as seen outside (static NAT); invalid if none
	Function string       // what it stands for in the seed network
}

// Hosts lists the lab's host namespaces in a fixed order.
var Hosts = []Host{
	{Role: RoleUpstream, Device: "eth0", Addr: netip.MustParsePrefix("172.22.1.1/24"), MAC: "02:00:ac:16:01:01",
		Switch: RoleOutside, Function: "upstream router, the seed's default route next hop"},
	{Role: RoleClient, Device: "eth0", Addr: netip.MustParsePrefix("172.22.1.100/24"), MAC: "02:00:ac:16:01:64",
		Switch: RoleOutside, Function: "outside client"},
	{Role: RoleMail, Device: "eth0", Addr: netip.MustParsePrefix("10.10.10.2/24"), MAC: "02:00:0a:0a:0a:02",
		Gateway: netip.MustParseAddr("10.10.10.1"), Global: netip.MustParseAddr("172.22.1.110"),
		Switch: RoleInside, Function: "mail server"},
	{Role: RoleHost, Device: "eth0", Addr: netip.MustParsePrefix("10.10.10.5/24"), MAC: "02:00:0a:0a:0a:05",
		Gateway: netip.MustParseAddr("10.10.10.1"), Global: netip.MustParseAddr("172.22.1.111"),
		Switch: RoleInside, Function: "inside host"},
}

// Fixed MACs of the firewall's devices (02:00 + the interface address).
const (
	OutsideMAC = "02:00:ac:16:01:10" // out0, 172.22.1.16
	InsideMAC  = "02:00:0a:0a:0a:01" // in0, 10.10.10.1
)

// commandTimeout bounds every ip invocation.
const commandTimeout = 20 * time.Second

// ErrBadPrefix: the prefix would make unsafe or unusable namespace names.
var ErrBadPrefix = errors.New("lab: prefix must be 1-32 characters of [A-Za-z0-9_.-]")

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Lab is one instance of the seed network, its namespaces named Prefix+role.
type Lab struct {
	Prefix string
	// Queues is the number of RX and TX queues of out0, in0 and their
	// peers (0 or 1: one queue). A veth delivers a frame on the RX queue
	// numbered like the peer's TX queue the sender picked, so with Queues > 1
	// flows spread over cbacd's per-queue workers.
	Queues int
}

// New returns a lab whose namespaces are named prefix+role. Nothing is
// created before Up.
func New(prefix string) *Lab {
	return &Lab{Prefix: prefix}
}

// NS returns the namespace name of role ("fw", "osw", "isw", "upstream",
// "client", "mail", "host").
func (l *Lab) NS(role string) string { return l.Prefix + role }

// Exec returns a command that runs argv inside the namespace of role
// (`ip netns exec NS argv...`). ctx kills it.
func (l *Lab) Exec(ctx context.Context, role string, argv ...string) *exec.Cmd {
	args := append([]string{"netns", "exec", l.NS(role)}, argv...)
	return exec.CommandContext(ctx, "ip", args...)
}

// Up builds the lab. It first removes a stale lab with the same prefix (the
// lab's namespaces left by a crash), so it is idempotent. On failure it
// removes what it built.
func (l *Lab) Up(ctx context.Context) error {
	if !prefixRE.MatchString(l.Prefix) {
		return fmt.Errorf("lab %q: %w", l.Prefix, ErrBadPrefix)
	}
	if l.Queues < 0 || l.Queues > 64 {
		return fmt.Errorf("lab %s: queues %d: want 0 to 64", l.Prefix, l.Queues)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("lab: iproute2 is required (apt-get install iproute2): %w", err)
	}
	if err := l.Down(); err != nil {
		return fmt.Errorf("lab %s: remove stale lab: %w", l.Prefix, err)
	}
	if err := l.up(ctx); err != nil {
		if derr := l.Down(); derr != nil {
			err = errors.Join(err, derr)
		}
		return fmt.Errorf("lab %s: up: %w", l.Prefix, err)
	}
	return nil
}

func (l *Lab) up(ctx context.Context) error {
	var b strings.Builder
	for _, r := range Roles {
		fmt.Fprintf(&b, "netns add %s\n", l.NS(r))
	}
	if err := RunIP(ctx, b.String()); err != nil {
		return fmt.Errorf("create namespaces: %w", err)
	}
	for _, r := range Roles {
		if err := disableIPv6(l.NS(r)); err != nil {
			return err
		}
	}

	// The firewall: out0 and in0, their peers named "fw" in the switches.
	queues := ""
	if l.Queues > 1 {
		queues = fmt.Sprintf(" numtxqueues %d numrxqueues %d", l.Queues, l.Queues)
	}
	b.Reset()
	b.WriteString("link set lo up\n")
	fmt.Fprintf(&b, "link add %s%s address %s type veth peer name fw%s netns %s\n", OutsideDevice, queues, OutsideMAC, queues, l.NS(RoleOutside))
	fmt.Fprintf(&b, "link add %s%s address %s type veth peer name fw%s netns %s\n", InsideDevice, queues, InsideMAC, queues, l.NS(RoleInside))
	fmt.Fprintf(&b, "link set %s up\nlink set %s up\n", OutsideDevice, InsideDevice)
	if err := RunIP(ctx, b.String(), "-n", l.NS(RoleFW)); err != nil {
		return fmt.Errorf("firewall links: %w", err)
	}

	// The switches: a bridge joining the firewall's peer and the hosts.
	for _, sw := range []string{RoleOutside, RoleInside} {
		b.Reset()
		b.WriteString("link set lo up\nlink add br0 type bridge\nlink set fw master br0\nlink set fw up\n")
		for _, h := range Hosts {
			if h.Switch != sw {
				continue
			}
			fmt.Fprintf(&b, "link add %s type veth peer name %s address %s netns %s\n", h.Role, h.Device, h.MAC, l.NS(h.Role))
			fmt.Fprintf(&b, "link set %s master br0\nlink set %s up\n", h.Role, h.Role)
		}
		b.WriteString("link set br0 up\n")
		if err := RunIP(ctx, b.String(), "-n", l.NS(sw)); err != nil {
			return fmt.Errorf("switch %s: %w", l.NS(sw), err)
		}
		// cbacd's frames sent back out the device they came in on
		// (XDP_TX) reach a native-mode veth's peer only through a program
		// of the peer's own (peerxdp.go).
		if err := AttachPeerXDP(l.NS(sw), "fw"); err != nil {
			return err
		}
	}

	// The hosts: address, default route, software checksums.
	for _, h := range Hosts {
		b.Reset()
		b.WriteString("link set lo up\n")
		if h.Role == RoleUpstream {
			fmt.Fprintf(&b, "addr add %s/32 dev lo\n", RemoteAddr)
		}
		fmt.Fprintf(&b, "addr add %s dev %s\nlink set %s up\n", h.Addr, h.Device, h.Device)
		if h.Gateway.IsValid() {
			fmt.Fprintf(&b, "route add default via %s dev %s\n", h.Gateway, h.Device)
		}
		if err := RunIP(ctx, b.String(), "-n", l.NS(h.Role)); err != nil {
			return fmt.Errorf("host %s: %w", l.NS(h.Role), err)
		}
		if err := disableOffloads(l.NS(h.Role), h.Device); err != nil {
			return err
		}
	}
	return nil
}

// Down removes every namespace of the lab (and with them every link it
// made). Namespaces that do not exist are skipped, so Down is safe to call
// twice or after a failed Up. Sockets from Listen/Dial and processes from
// Exec belong to the caller; a namespace they keep alive disappears from
// /var/run/netns at once and from the kernel when they close.
func (l *Lab) Down() error {
	if !prefixRE.MatchString(l.Prefix) {
		return fmt.Errorf("lab %q: %w", l.Prefix, ErrBadPrefix)
	}
	var b strings.Builder
	for _, name := range l.Namespaces() {
		fmt.Fprintf(&b, "netns delete %s\n", name)
	}
	if b.Len() == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	// -force: go on after an error, so one busy namespace does not keep
	// the others.
	if err := RunIP(ctx, b.String(), "-force"); err != nil {
		return fmt.Errorf("lab %s: down: %w", l.Prefix, err)
	}
	if left := l.Namespaces(); len(left) > 0 {
		return fmt.Errorf("lab %s: down: namespaces left: %s", l.Prefix, strings.Join(left, " "))
	}
	return nil
}

// Namespaces returns the lab's namespaces that exist now.
func (l *Lab) Namespaces() []string {
	var out []string
	for _, r := range Roles {
		if _, err := os.Stat(filepath.Join(netnsDir, l.NS(r))); err == nil {
			out = append(out, l.NS(r))
		}
	}
	return out
}

// Describe prints the lab's hosts and how to reach them.
func (l *Lab) Describe(w io.Writer) {
	fmt.Fprintf(w, "cbac lab %q: the seed network in network namespaces\n", l.Prefix)
	fmt.Fprintf(w, "  %-16s %s (%s) and %s (%s), no addresses: cbacd owns them\n",
		l.NS(RoleFW), OutsideDevice, OutsideMAC, InsideDevice, InsideMAC)
	for _, h := range Hosts {
		line := fmt.Sprintf("  %-16s %s %s (%s)", l.NS(h.Role), h.Device, h.Addr, h.MAC)
		if h.Gateway.IsValid() {
			line += " via " + h.Gateway.String()
		}
		if h.Role == RoleUpstream {
			line += ", lo " + RemoteAddr.String() + " (web server on port 80 when cbacd lab runs; FTP server on " + FTPAddr + ":21 too, with python3-pyftpdlib)"
		}
		line += ": " + h.Function
		if h.Global.IsValid() {
			line += ", outside as " + h.Global.String()
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintf(w, "  %-16s bridge br0: port fw (to out0), upstream, client\n", l.NS(RoleOutside))
	fmt.Fprintf(w, "  %-16s bridge br0: port fw (to in0), mail, host\n", l.NS(RoleInside))
	client, host, osw := l.NS(RoleClient), l.NS(RoleHost), l.NS(RoleOutside)
	try := []struct{ what, cmd string }{
		{"send a mail through the firewall (SMTP inspection, static NAT)",
			"ip netns exec " + client + " swaks --server 172.22.1.110 --from a@outside.example --to postmaster@lab.example"},
		{"the inside host fetches a page from the outside (inspected by IN-OUT, NATed to 172.22.1.111)",
			"ip netns exec " + host + " curl http://" + RemoteAddr.String() + "/"},
		{"the inside host fetches a file by active FTP (IN-OUT inspects ftp: PORT translated, the data connection let in)",
			"ip netns exec " + host + " curl --ftp-port - ftp://" + FTPAddr + "/" + FTPFile},
		{"the inside host pings the outside by the default route",
			"ip netns exec " + host + " ping -c 3 " + RemoteAddr.String()},
		{"blocked by access-list 101 (curl gives up after 3 seconds)",
			"ip netns exec " + client + " curl -m 3 http://172.22.1.110/"},
		{"watch the outside wire",
			"ip netns exec " + osw + " tshark -ni fw"},
		{"a shell on a host",
			"ip netns exec " + client + " bash"},
	}
	fmt.Fprintln(w, "Try:")
	for _, t := range try {
		fmt.Fprintf(w, "  # %s\n  %s\n", t.what, t.cmd)
	}
}

// RunIP runs `ip [opts] -batch -` with script on stdin, bounded in time
// (the lab's and the benchmark's topology scripts). ip stops at the first
// failing line (unless -force) and names it.
func RunIP(ctx context.Context, script string, opts ...string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	args := append(append([]string(nil), opts...), "-batch", "-")
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// disableIPv6 turns IPv6 off in namespace ns, for existing and new links.
// A kernel without IPv6 has nothing to turn off.
func disableIPv6(ns string) error {
	for _, key := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
		err := writeSysctl(ns, key, "1")
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// MustMAC parses one of the lab's fixed MAC strings.
func MustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}
