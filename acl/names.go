package acl

// IOS keyword tables: IP protocol names, TCP and UDP service (port) names and
// ICMP message names, as IOS 12.3 accepts them in "access-list" and prints
// them in "show access-lists". TCP and UDP have separate tables because IOS
// names some ports differently per protocol (514 is "cmd" for tcp and
// "syslog" for udp, 512 is "exec" / "biff", 513 is "login" / "who") and
// accepts many names for one protocol only ("smtp" is tcp-only, "snmp"
// udp-only).

// IP protocol numbers that have their own keyword.
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// protocolNames are the IOS protocol keywords other than "ip" (any protocol).
var protocolNames = []struct {
	name  string
	proto uint8
}{
	{"icmp", 1},
	{"igmp", 2},
	{"nos", 4},
	{"tcp", 6},
	{"udp", 17},
	{"gre", 47},
	{"esp", 50},
	{"ahp", 51},
	{"eigrp", 88},
	{"ospf", 89},
	{"ipinip", 94},
	{"pim", 103},
	{"pcp", 108},
}

type portName struct {
	name string
	port uint16
}

// tcpPortNames is IOS's "access-list N permit tcp any any eq ?" list.
var tcpPortNames = []portName{
	{"bgp", 179},
	{"chargen", 19},
	{"cmd", 514},
	{"daytime", 13},
	{"discard", 9},
	{"domain", 53},
	{"drip", 3949},
	{"echo", 7},
	{"exec", 512},
	{"finger", 79},
	{"ftp", 21},
	{"ftp-data", 20},
	{"gopher", 70},
	{"hostname", 101},
	{"ident", 113},
	{"irc", 194},
	{"klogin", 543},
	{"kshell", 544},
	{"login", 513},
	{"lpd", 515},
	{"nntp", 119},
	{"pim-auto-rp", 496},
	{"pop2", 109},
	{"pop3", 110},
	{"smtp", 25},
	{"sunrpc", 111},
	{"tacacs", 49},
	{"talk", 517},
	{"telnet", 23},
	{"time", 37},
	{"uucp", 540},
	{"whois", 43},
	{"www", 80},
}

// udpPortNames is IOS's "access-list N permit udp any any eq ?" list.
var udpPortNames = []portName{
	{"biff", 512},
	{"bootpc", 68},
	{"bootps", 67},
	{"discard", 9},
	{"dnsix", 195},
	{"domain", 53},
	{"echo", 7},
	{"isakmp", 500},
	{"mobile-ip", 434},
	{"nameserver", 42},
	{"netbios-dgm", 138},
	{"netbios-ns", 137},
	{"netbios-ss", 139},
	{"non500-isakmp", 4500},
	{"ntp", 123},
	{"pim-auto-rp", 496},
	{"rip", 520},
	{"snmp", 161},
	{"snmptrap", 162},
	{"sunrpc", 111},
	{"syslog", 514},
	{"tacacs", 49},
	{"talk", 517},
	{"tftp", 69},
	{"time", 37},
	{"who", 513},
	{"xdmcp", 177},
}

// icmpName is an IOS ICMP message keyword: a type alone ("echo") or a type
// and code ("port-unreachable" is 3/3).
type icmpName struct {
	name    string
	typ     uint8
	code    uint8
	hasCode bool
}

var icmpNames = []icmpName{
	{"echo-reply", 0, 0, false},
	{"unreachable", 3, 0, false},
	{"net-unreachable", 3, 0, true},
	{"host-unreachable", 3, 1, true},
	{"protocol-unreachable", 3, 2, true},
	{"port-unreachable", 3, 3, true},
	{"packet-too-big", 3, 4, true},
	{"source-route-failed", 3, 5, true},
	{"network-unknown", 3, 6, true},
	{"host-unknown", 3, 7, true},
	{"host-isolated", 3, 8, true},
	{"dod-net-prohibited", 3, 9, true},
	{"dod-host-prohibited", 3, 10, true},
	{"net-tos-unreachable", 3, 11, true},
	{"host-tos-unreachable", 3, 12, true},
	{"administratively-prohibited", 3, 13, true},
	{"host-precedence-unreachable", 3, 14, true},
	{"precedence-unreachable", 3, 15, true},
	{"source-quench", 4, 0, false},
	{"redirect", 5, 0, false},
	{"net-redirect", 5, 0, true},
	{"host-redirect", 5, 1, true},
	{"net-tos-redirect", 5, 2, true},
	{"host-tos-redirect", 5, 3, true},
	{"alternate-address", 6, 0, false},
	{"echo", 8, 0, false},
	{"router-advertisement", 9, 0, false},
	{"router-solicitation", 10, 0, false},
	{"time-exceeded", 11, 0, false},
	{"ttl-exceeded", 11, 0, true},
	{"reassembly-timeout", 11, 1, true},
	{"parameter-problem", 12, 0, false},
	{"general-parameter-problem", 12, 0, true},
	{"option-missing", 12, 1, true},
	{"no-room-for-option", 12, 2, true},
	{"timestamp-request", 13, 0, false},
	{"timestamp-reply", 14, 0, false},
	{"information-request", 15, 0, false},
	{"information-reply", 16, 0, false},
	{"mask-request", 17, 0, false},
	{"mask-reply", 18, 0, false},
	{"traceroute", 30, 0, false},
	{"conversion-error", 31, 0, false},
	{"mobile-redirect", 32, 0, false},
}

// portNames returns the service-name table for a protocol, nil when the
// protocol has no ports.
func portNames(proto uint8) []portName {
	switch proto {
	case ProtoTCP:
		return tcpPortNames
	case ProtoUDP:
		return udpPortNames
	}
	return nil
}

// PortName returns the IOS service name of port for tcp or udp, as
// "show access-lists" prints it, and false when the port has no name.
func PortName(proto uint8, port uint16) (string, bool) {
	for _, p := range portNames(proto) {
		if p.port == port {
			return p.name, true
		}
	}
	return "", false
}

// LookupPort returns the port of an IOS tcp or udp service name.
func LookupPort(proto uint8, name string) (uint16, bool) {
	for _, p := range portNames(proto) {
		if p.name == name {
			return p.port, true
		}
	}
	return 0, false
}

// ProtocolName returns the IOS keyword of an IP protocol number, or false.
func ProtocolName(proto uint8) (string, bool) {
	for _, p := range protocolNames {
		if p.proto == proto {
			return p.name, true
		}
	}
	return "", false
}

func lookupProtocol(name string) (uint8, bool) {
	for _, p := range protocolNames {
		if p.name == name {
			return p.proto, true
		}
	}
	return 0, false
}

func lookupICMP(name string) (icmpName, bool) {
	for _, n := range icmpNames {
		if n.name == name {
			return n, true
		}
	}
	return icmpName{}, false
}

// icmpKeyword returns the IOS keyword for an ICMP type, or type and code.
func icmpKeyword(typ, code uint8, hasCode bool) (string, bool) {
	for _, n := range icmpNames {
		if n.typ == typ && n.hasCode == hasCode && (!hasCode || n.code == code) {
			return n.name, true
		}
	}
	return "", false
}
