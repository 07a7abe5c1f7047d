// Package config turns a cbacd TOML file into a validated Config: typed,
// resolved values (netip, time.Duration, acl.Entry), IOS defaults filled
// in, document order kept. It is control-plane code: nothing on the packet
// path imports it. Errors name the file, the line when it can be found and
// the key path (see Error).
//
// Reference file: examples/seed-3640.toml (docs/behaviour.md "Configuration").
package config

import (
	"net"
	"net/netip"
	"time"

	"cbac/acl"
)

// IOS defaults ("show ip inspect all" on a router with no "ip inspect"
// global commands; the seed prints exactly these).
const (
	DefaultAuditTrail           = false
	DefaultAlert                = true
	DefaultThresholdLow         = 400
	DefaultThresholdHigh        = 500
	DefaultTCPMaxIncompleteHost = 50
	DefaultTCPBlockTime         = 0
	DefaultTCPSynWait           = 30 * time.Second
	DefaultTCPFinWait           = 5 * time.Second
	DefaultTCPIdle              = 3600 * time.Second
	DefaultUDPIdle              = 30 * time.Second
	DefaultDNSTimeout           = 5 * time.Second
	DefaultICMPTimeout          = 10 * time.Second
	DefaultSMTPMaxData          = 20000000 // "ip inspect name X smtp max-data"

	DefaultHostname        = "Router"
	DefaultControlSocket   = "/run/cbacd.sock"
	DefaultFrames          = 16384
	DefaultRingSize        = 2048
	DefaultMaxSessions     = 1048576
	DefaultInspectedBuffer = 262144 // bytes per inspected SMTP session (replay copy; bounds its window)
	DefaultAlertRate       = 10
	DefaultMaxDatagrams    = 16 // "ip virtual-reassembly max-reassemblies"
	DefaultMaxFragments    = 32 // "ip virtual-reassembly max-fragments"
	DefaultReassemblyTime  = 3 * time.Second
)

// A Config is a loaded, validated configuration. Slices keep the order of
// the document.
type Config struct {
	// File is the name the configuration was loaded from (for messages).
	File       string
	Hostname   string
	Inspect    Inspect
	Interfaces []Interface
	Routes     []Route
	StaticNAT  []StaticNAT
	// AccessLists are the [access_lists] in document order.
	AccessLists []AccessList
	ARP         []ARPEntry
	Control     Control
	Dataplane   Dataplane
	Logging     Logging
	Reassembly  Reassembly
	Metrics     Metrics
	// TCPIntercept is [tcp_intercept] (ip tcp intercept); Enabled is
	// false when the file has none.
	TCPIntercept TCPIntercept

	// lines maps key paths to source lines, for Validate's messages; nil
	// for a Config built in code.
	lines map[string]int
}

// Inspect holds the global "ip inspect" settings and the inspection rules.
type Inspect struct {
	AuditTrail bool
	Alert      bool
	// OneMinute: "ip inspect one-minute low|high" (new sessions per minute).
	OneMinute Threshold
	// MaxIncomplete: "ip inspect max-incomplete low|high" (half-open sessions).
	MaxIncomplete Threshold
	// TCPMaxIncompleteHost and TCPBlockTime: "ip inspect tcp
	// max-incomplete host N block-time M". Block time 0 deletes the host's
	// oldest half-open session instead of blocking the host.
	TCPMaxIncompleteHost int
	TCPBlockTime         time.Duration
	TCPSynWait           time.Duration
	TCPFinWait           time.Duration
	TCPIdle              time.Duration
	UDPIdle              time.Duration
	DNSTimeout           time.Duration
	// Rules are the "ip inspect name" rules in document order.
	Rules []Rule
}

// Threshold is a low/high pair: above High, cbac turns aggressive until the
// count falls below Low.
type Threshold struct {
	Low, High int
}

// Protocol is an inspection protocol keyword.
type Protocol string

// The protocols an inspection rule may name (docs/behaviour.md "Configuration").
const (
	ProtoTCP   Protocol = "tcp"
	ProtoUDP   Protocol = "udp"
	ProtoICMP  Protocol = "icmp"
	ProtoFTP   Protocol = "ftp"
	ProtoHTTP  Protocol = "http"
	ProtoSMTP  Protocol = "smtp"
	ProtoESMTP Protocol = "esmtp"
)

// IsSMTP reports whether p is smtp or esmtp.
func (p Protocol) IsSMTP() bool { return p == ProtoSMTP || p == ProtoESMTP }

// A Rule is one "ip inspect name NAME ..." set.
type Rule struct {
	Name      string
	Protocols []ProtocolRule // document order
}

// Protocol returns the rule's entry for p.
func (r *Rule) Protocol(p Protocol) (*ProtocolRule, bool) {
	for i := range r.Protocols {
		if r.Protocols[i].Protocol == p {
			return &r.Protocols[i], true
		}
	}
	return nil, false
}

// ProtocolRule is one protocol of a rule with its settings resolved: alert
// and audit trail default to the global settings, the timeout to the
// protocol's idle time (tcp, ftp, http, smtp, esmtp: tcp idle time; udp:
// udp idle time; icmp: 10 s).
type ProtocolRule struct {
	Protocol   Protocol
	Alert      bool
	AuditTrail bool
	Timeout    time.Duration
	// MaxData (smtp, esmtp): message bytes allowed per session.
	MaxData uint64
	// Allow (smtp, esmtp): verbs allowed beyond the protocol's legal set,
	// upper case, e.g. STARTTLS, BDAT.
	Allow []string
	// JavaList (http): "java-list ACL", the standard access list of the
	// servers ("friendly sites") whose Java applets may pass; "" blocks
	// the applets of every server (IOS without a java-list).
	JavaList string
}

// NATRole is an interface's "ip nat inside|outside".
type NATRole uint8

// NAT roles.
const (
	NATNone NATRole = iota
	NATInside
	NATOutside
)

func (r NATRole) String() string {
	switch r {
	case NATInside:
		return "inside"
	case NATOutside:
		return "outside"
	}
	return "none"
}

// An Interface is one [[interface]]: an IOS name bound to a Linux device.
type Interface struct {
	Name   string // IOS name, e.g. Ethernet2/0
	Device string // Linux device cbacd binds, e.g. out0
	// Address is the interface address with its prefix length
	// (172.22.1.16/24); Address.Masked() is the connected network.
	Address netip.Prefix
	// MAC overrides the device's own address; nil when not configured.
	MAC               net.HardwareAddr
	NAT               NATRole
	AccessGroupIn     string // ACL name, "" when not set
	AccessGroupOut    string
	InspectIn         string // rule name, "" when not set
	InspectOut        string
	VirtualReassembly bool
}

// A Route is a static route. NextHop is invalid (zero) when only Interface
// is given; Interface is "" when only NextHop is.
type Route struct {
	Prefix    netip.Prefix
	NextHop   netip.Addr
	Interface string
}

// StaticNAT is "ip nat inside source static LOCAL GLOBAL".
type StaticNAT struct {
	InsideLocal, InsideGlobal netip.Addr
}

// An AccessList is a named list of parsed entries; acl.Compile(Name,
// Entries) gives the packet-path form.
type AccessList struct {
	Name    string
	Entries []acl.Entry
}

// IsStandard reports whether the list is a standard one written as
// extended entries: each entry "permit|deny ip SRC any [log]", matching
// the source address only (what "cbacd import-ios" writes for an IOS
// standard list). A java-list must be one.
func (a *AccessList) IsStandard() bool {
	for _, e := range a.Entries {
		if !e.AnyProtocol || e.Dst != acl.Any || e.Established || e.SrcPort.Op != acl.PortAny ||
			e.DstPort.Op != acl.PortAny || e.ICMP.HasType {
			return false
		}
	}
	return true
}

// Compile returns the compiled, immutable list.
func (a *AccessList) Compile() *acl.List { return acl.Compile(a.Name, a.Entries) }

// An ARPEntry is a static neighbour. Interface is resolved from the
// connected prefix holding Address when the file does not name it.
type ARPEntry struct {
	Address   netip.Addr
	MAC       net.HardwareAddr
	Interface string
}

// Control is the control socket.
type Control struct {
	Socket string
}

// Dataplane sizes the AF_XDP workers.
type Dataplane struct {
	Workers     int // 0: one per RX queue / CPU
	Frames      int // UMEM frames
	RingSize    int // descriptors per ring, a power of two
	MaxSessions int
	// FailOpen passes traffic when cbacd stops (default: fail closed).
	FailOpen bool
	// InspectedBuffer is the per-session replay copy of forwarded but
	// unacknowledged payload of inspected sessions, in bytes.
	InspectedBuffer int
	// InspectedSessions caps the SMTP sessions inspected at once (open
	// connections; a closed one keeps no inspection state); 0, the
	// default: only max_sessions does.
	InspectedSessions int
}

// Logging configures event output.
type Logging struct {
	Syslog    string // "udp://127.0.0.1:514", "" for none
	AlertRate int    // alert lines per second
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the TCP address (host:port) the endpoint serves
	// /metrics on; "" (the default) serves none. The host is required:
	// the endpoint has no authentication, so it is meant for a loopback
	// or management address (SuggestedMetricsListen).
	Listen string
}

// SuggestedMetricsListen is the address the documentation suggests for
// [metrics] listen. Prometheus's registry of exporter ports (9100-9999)
// is full; 19643 lies outside it and below Linux's ephemeral range.
const SuggestedMetricsListen = "127.0.0.1:19643"

// Reassembly configures virtual reassembly.
type Reassembly struct {
	MaxDatagrams int
	MaxFragments int
	Timeout      time.Duration
}

// Interface returns the interface called name.
func (c *Config) Interface(name string) (*Interface, bool) {
	for i := range c.Interfaces {
		if c.Interfaces[i].Name == name {
			return &c.Interfaces[i], true
		}
	}
	return nil, false
}

// Rule returns the inspection rule called name.
func (c *Config) Rule(name string) (*Rule, bool) {
	for i := range c.Inspect.Rules {
		if c.Inspect.Rules[i].Name == name {
			return &c.Inspect.Rules[i], true
		}
	}
	return nil, false
}

// AccessList returns the access list called name.
func (c *Config) AccessList(name string) (*AccessList, bool) {
	for i := range c.AccessLists {
		if c.AccessLists[i].Name == name {
			return &c.AccessLists[i], true
		}
	}
	return nil, false
}
