package dataplane

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"cbac/acl"
	"cbac/flowtable"
	"cbac/inspect"
	"cbac/nat"
	"cbac/packet"
	"cbac/smtpfsm"
	"cbac/vfr"
)

// A Ruleset is the immutable, compiled policy the workers run: interfaces,
// routes, NAT, ACLs and inspection rules. Workers load it once per batch from
// an atomic.Pointer, so a reload swaps it without stopping traffic
// (the packet path reads one immutable snapshot per batch). Build one by filling the exported fields and calling
// Compile; never change it afterwards.
type Ruleset struct {
	Hostname    string
	Ifaces      []Iface // index is the port number used everywhere on the packet path
	Routes      []Route // static routes; connected routes are derived from Ifaces
	NAT         *nat.Table
	ACLs        []*acl.List
	Rules       []*Rule
	StaticARP   []StaticNeighbor
	Thresholds  inspect.Thresholds
	Timers      Timers
	MaxSessions int
	// InspectedSessions caps the sessions inspected at the application
	// layer (SMTP) at once, shared among the workers; 0: only the session
	// table's capacity does. Each holds an inspection state and a replay
	// buffer of StreamBuffer bytes until its connection closes.
	InspectedSessions int
	StreamBuffer      int
	// AlertRate caps alert and log events per second (rate limiting happens
	// when the control plane formats them).
	AlertRate int
	// Reassembly limits "ip virtual-reassembly" (docs/behaviour.md "Virtual reassembly").
	Reassembly Reassembly
	// Intercept is "ip tcp intercept"; nil: off.
	Intercept *Intercept

	// gen numbers the rule sets a dataplane installs (New 1, each Swap
	// one more): the XDP program's cookie destinations carry it
	// (xdpcookie.go).
	gen uint32

	// Derived by Compile.
	routes  []Route // connected + static, longest prefix first
	classes []int64 // expiry class -> timeout (ns)
	classOf map[int64]uint8
	// Expiry classes of the fixed timers.
	ClassSynWait, ClassFinWait, ClassDNS uint8
	// Expiry classes of intercepted sessions: finrst-timeout and
	// connection-timeout; watch-timeout of watched ones (watch mode).
	interceptFinRst, interceptConn, interceptWatch uint8
	// ftpData is the policy of FTP data sessions, by pinhole flags
	// (pinAlert, pinAudit): tcp idle time.
	ftpData [4]ProtoPolicy
}

// Intercept is "ip tcp intercept" (intercept.go, watch.go).
type Intercept struct {
	List int // index into Ruleset.ACLs: the connections to protect
	Mode InterceptMode
	// DropRandom: aggressive mode deletes a random incomplete connection
	// (drop-mode random) instead of the oldest.
	DropRandom bool
	// Watch is watch mode's time for a connection to be established
	// (watch-timeout).
	Watch time.Duration
	// FinRst is how long an intercepted connection stays after its close;
	// Connection its idle timeout (when shorter than its rule's).
	FinRst, Connection time.Duration
	// MaxIncomplete (connections waiting for the server) and OneMinute
	// (connection requests in the last minute): above High, each new
	// connection deletes an incomplete one (drop mode), until both are
	// below Low. Each worker applies its share. Auto mode sends cookies
	// from MaxIncomplete.High on, until below its Low.
	MaxIncomplete, OneMinute InterceptThreshold
}

// InterceptMode is "ip tcp intercept mode".
type InterceptMode uint8

const (
	// InterceptCookies: every protected SYN is answered with a cookie.
	InterceptCookies InterceptMode = iota
	// InterceptWatch: protected SYNs pass; a connection not established
	// within Watch is reset.
	InterceptWatch
	// InterceptAuto: protected SYNs pass while the incomplete
	// connections stay below MaxIncomplete.High, cookies from then on
	// until they fall below MaxIncomplete.Low.
	InterceptAuto
)

// InterceptThreshold is a low/high pair of "ip tcp intercept".
type InterceptThreshold struct{ Low, High int }

// Reassembly sizes the per-worker virtual reassembly table.
type Reassembly struct {
	MaxDatagrams, MaxFragments int
	Timeout                    time.Duration
}

// Timers are the global "ip inspect" timers.
type Timers struct {
	SynWait, FinWait, TCPIdle, UDPIdle, ICMP, DNS time.Duration
}

// NATRole is the interface's "ip nat inside|outside".
type NATRole uint8

const (
	NATNone NATRole = iota
	NATInside
	NATOutside
)

// Iface is one configured interface bound to one device.
type Iface struct {
	Name              string // IOS name, e.g. Ethernet2/0
	Device            string // Linux device, e.g. out0
	MAC               packet.MAC
	Addr              uint32
	PrefixLen         uint8
	NAT               NATRole
	ACLIn             int // index into Ruleset.ACLs, -1 for none
	ACLOut            int
	InspectIn         *Rule
	InspectOut        *Rule
	VirtualReassembly bool
}

// Route is a static route ("ip route PREFIX MASK NEXTHOP"); Port is derived
// from the connected prefix that holds NextHop when not given (-1).
type Route struct {
	Prefix    uint32
	PrefixLen uint8
	NextHop   uint32 // 0: connected (deliver to the destination itself)
	Port      int
}

// StaticNeighbor is a configured ARP entry.
type StaticNeighbor struct {
	Addr uint32
	MAC  packet.MAC
	Port int
}

// Inspected protocols, as named in "ip inspect name NAME PROTO".
type ProtoKind uint8

const (
	InspectTCP ProtoKind = iota + 1
	InspectUDP
	InspectICMP
	InspectFTP
	InspectHTTP
	InspectSMTP
	InspectESMTP
	// InspectFTPData is no rule's protocol: the kind of a data connection
	// an FTP control session admitted (ftp.go).
	InspectFTPData
)

var protoKindNames = [...]string{"", "tcp", "udp", "icmp", "ftp", "http", "smtp", "esmtp", "ftp-data"}

func (k ProtoKind) String() string {
	if int(k) < len(protoKindNames) {
		return protoKindNames[k]
	}
	return "?"
}

// Well-known ports of the application inspectors (docs/behaviour.md
// "HTTP inspection", "FTP, HTTP and TCP intercept"). HTTP is inspected on
// port 80 only, as IOS does without port mapping.
const (
	portFTP  = 21
	portSMTP = 25
	portDNS  = 53
	portHTTP = 80
)

// ProtoPolicy is one protocol line of an inspection rule.
type ProtoPolicy struct {
	Kind    ProtoKind
	Alert   bool
	Audit   bool
	Timeout time.Duration // idle timeout of sessions it creates
	SMTP    smtpfsm.Policy
	// JavaList (http): 1 + the index into Ruleset.ACLs of the java-list,
	// the standard list of the servers whose Java applets pass; 0: none,
	// every server's applets are blocked (http.go).
	JavaList int
	class    uint8
}

// Rule is a compiled "ip inspect name".
type Rule struct {
	Name                            string
	Policies                        []ProtoPolicy
	tcp, udp, icmp, smtp, ftp, http int8 // index into Policies, -1 if absent
}

// Match returns the protocol policy that inspects a packet of IP protocol
// proto to port dport, or nil. An application protocol wins over plain tcp
// for its well-known port.
func (r *Rule) Match(proto uint8, dport uint16) *ProtoPolicy {
	if r == nil {
		return nil
	}
	i := int8(-1)
	switch proto {
	case packet.ProtoTCP:
		switch {
		case dport == portSMTP && r.smtp >= 0:
			i = r.smtp
		case dport == portFTP && r.ftp >= 0:
			i = r.ftp
		case dport == portHTTP && r.http >= 0:
			i = r.http
		default:
			i = r.tcp
		}
	case packet.ProtoUDP:
		i = r.udp
	case packet.ProtoICMP:
		i = r.icmp
	}
	if i < 0 {
		return nil
	}
	return &r.Policies[i]
}

// ErrRuleset is wrapped by every Compile error.
var ErrRuleset = errors.New("invalid ruleset")

// Compile validates the ruleset and derives what the packet path needs.
func (rs *Ruleset) Compile() error {
	if len(rs.Ifaces) == 0 || len(rs.Ifaces) > maxPorts {
		return fmt.Errorf("%w: %d interfaces (1 to %d)", ErrRuleset, len(rs.Ifaces), maxPorts)
	}
	if rs.NAT == nil {
		t, err := nat.NewTable(nil)
		if err != nil {
			return err
		}
		rs.NAT = t
	}
	if rs.MaxSessions <= 0 {
		rs.MaxSessions = 1 << 20
	}
	if rs.MaxSessions > flowtable.MaxCapacity {
		return fmt.Errorf("%w: max_sessions %d (at most %d)", ErrRuleset, rs.MaxSessions, flowtable.MaxCapacity)
	}
	if rs.InspectedSessions < 0 {
		rs.InspectedSessions = 0
	}
	if rs.StreamBuffer <= 0 {
		rs.StreamBuffer = 262144 // config.DefaultInspectedBuffer
	}
	if rs.AlertRate <= 0 {
		rs.AlertRate = 10
	}
	if rs.Reassembly.MaxDatagrams <= 0 {
		rs.Reassembly.MaxDatagrams = 16
	}
	if rs.Reassembly.MaxFragments <= 0 {
		rs.Reassembly.MaxFragments = 32
	}
	if rs.Reassembly.Timeout <= 0 {
		rs.Reassembly.Timeout = 3 * time.Second
	}
	if rs.Reassembly.MaxDatagrams > vfr.MaxDatagrams || rs.Reassembly.MaxFragments > vfr.MaxFragments {
		return fmt.Errorf("%w: reassembly limits %d datagrams, %d fragments (at most %d, %d)", ErrRuleset,
			rs.Reassembly.MaxDatagrams, rs.Reassembly.MaxFragments, vfr.MaxDatagrams, vfr.MaxFragments)
	}
	t := &rs.Timers
	for _, d := range []*time.Duration{&t.SynWait, &t.FinWait, &t.TCPIdle, &t.UDPIdle, &t.ICMP, &t.DNS} {
		if *d <= 0 {
			return fmt.Errorf("%w: timers must be positive", ErrRuleset)
		}
	}
	rs.classOf = make(map[int64]uint8)
	rs.classes = rs.classes[:0]
	rs.ClassSynWait = rs.class(t.SynWait)
	rs.ClassFinWait = rs.class(t.FinWait)
	rs.ClassDNS = rs.class(t.DNS)
	for i := range rs.ftpData {
		f := uint8(i)
		rs.ftpData[i] = ProtoPolicy{Kind: InspectFTPData, Alert: f&pinAlert != 0, Audit: f&pinAudit != 0,
			Timeout: t.TCPIdle, class: rs.class(t.TCPIdle)}
	}
	rs.interceptWatch = rs.ClassSynWait
	if ic := rs.Intercept; ic != nil {
		if ic.List < 0 || ic.List >= len(rs.ACLs) || ic.FinRst <= 0 || ic.Connection <= 0 || ic.Mode > InterceptAuto ||
			(ic.Mode == InterceptWatch && ic.Watch <= 0) {
			return fmt.Errorf("%w: tcp intercept: list %d of %d, mode %d, timeouts %v, %v and %v", ErrRuleset, ic.List, len(rs.ACLs), ic.Mode, ic.FinRst, ic.Connection, ic.Watch)
		}
		rs.interceptFinRst = rs.class(ic.FinRst)
		rs.interceptConn = rs.class(ic.Connection)
		if ic.Mode == InterceptWatch {
			rs.interceptWatch = rs.class(ic.Watch)
		}
	}
	for _, r := range rs.Rules {
		r.tcp, r.udp, r.icmp, r.smtp, r.ftp, r.http = -1, -1, -1, -1, -1, -1
		for i := range r.Policies {
			p := &r.Policies[i]
			if p.Timeout <= 0 {
				switch p.Kind {
				case InspectUDP:
					p.Timeout = t.UDPIdle
				case InspectICMP:
					p.Timeout = t.ICMP
				default:
					p.Timeout = t.TCPIdle
				}
			}
			p.class = rs.class(p.Timeout)
			if p.JavaList < 0 || p.JavaList > len(rs.ACLs) || p.JavaList > 0 && p.Kind != InspectHTTP {
				return fmt.Errorf("%w: rule %s: %s java-list index %d of %d access lists", ErrRuleset, r.Name, p.Kind, p.JavaList-1, len(rs.ACLs))
			}
			switch p.Kind {
			case InspectTCP:
				r.tcp = int8(i)
			case InspectUDP:
				r.udp = int8(i)
			case InspectICMP:
				r.icmp = int8(i)
			case InspectFTP:
				r.ftp = int8(i)
			case InspectHTTP:
				r.http = int8(i)
			case InspectSMTP, InspectESMTP:
				if r.smtp >= 0 {
					return fmt.Errorf("%w: rule %s: smtp and esmtp cannot be configured together", ErrRuleset, r.Name)
				}
				p.SMTP.ESMTP = p.Kind == InspectESMTP
				r.smtp = int8(i)
			}
		}
	}
	if len(rs.classes) > maxClasses {
		return fmt.Errorf("%w: %d distinct timeouts (at most %d)", ErrRuleset, len(rs.classes), maxClasses)
	}
	for i, f := range rs.Ifaces {
		for _, a := range []int{f.ACLIn, f.ACLOut} {
			if a >= len(rs.ACLs) {
				return fmt.Errorf("%w: interface %s: access list index %d", ErrRuleset, f.Name, a)
			}
		}
		if f.PrefixLen > 32 {
			return fmt.Errorf("%w: interface %s: prefix length %d", ErrRuleset, f.Name, f.PrefixLen)
		}
		_ = i
	}
	rs.routes = rs.routes[:0]
	for i, f := range rs.Ifaces {
		rs.routes = append(rs.routes, Route{Prefix: f.Addr & mask(f.PrefixLen), PrefixLen: f.PrefixLen, Port: i})
	}
	for _, r := range rs.Routes {
		if r.Port < 0 {
			p, ok := rs.connectedPort(r.NextHop)
			if !ok {
				return fmt.Errorf("%w: route %s/%d: next hop %s is not on a connected network",
					ErrRuleset, packet.IPString(r.Prefix), r.PrefixLen, packet.IPString(r.NextHop))
			}
			r.Port = p
		}
		r.Prefix &= mask(r.PrefixLen)
		rs.routes = append(rs.routes, r)
	}
	sort.SliceStable(rs.routes, func(a, b int) bool { return rs.routes[a].PrefixLen > rs.routes[b].PrefixLen })
	for i := range rs.StaticARP {
		n := &rs.StaticARP[i]
		if n.Port < 0 {
			p, ok := rs.connectedPort(n.Addr)
			if !ok {
				return fmt.Errorf("%w: arp %s is not on a connected network", ErrRuleset, packet.IPString(n.Addr))
			}
			n.Port = p
		}
	}
	return nil
}

const (
	maxPorts   = 8
	maxClasses = 32
)

func (rs *Ruleset) class(d time.Duration) uint8 {
	ns := int64(d)
	if c, ok := rs.classOf[ns]; ok {
		return c
	}
	c := uint8(len(rs.classes))
	rs.classes = append(rs.classes, ns)
	rs.classOf[ns] = c
	return c
}

// Classes returns the expiry class timeouts in nanoseconds.
func (rs *Ruleset) Classes() []int64 { return rs.classes }

func (rs *Ruleset) connectedPort(a uint32) (int, bool) {
	for i, f := range rs.Ifaces {
		if a&mask(f.PrefixLen) == f.Addr&mask(f.PrefixLen) {
			return i, true
		}
	}
	return 0, false
}

func mask(n uint8) uint32 {
	if n == 0 {
		return 0
	}
	return ^uint32(0) << (32 - n)
}

// lookupRoute returns the egress port and the next hop for dst: the longest
// matching prefix; a connected route's next hop is dst itself.
func (rs *Ruleset) lookupRoute(dst uint32) (port int, nextHop uint32, ok bool) {
	for i := range rs.routes {
		r := &rs.routes[i]
		if dst&mask(r.PrefixLen) == r.Prefix {
			if r.NextHop == 0 {
				return r.Port, dst, true
			}
			return r.Port, r.NextHop, true
		}
	}
	return 0, 0, false
}

// localPort reports whether a is one of the router's interface addresses.
func (rs *Ruleset) localPort(a uint32) (int, bool) {
	for i := range rs.Ifaces {
		if rs.Ifaces[i].Addr == a {
			return i, true
		}
	}
	return 0, false
}
