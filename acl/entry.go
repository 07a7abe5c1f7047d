// Package acl implements IOS extended IP access lists: the entry parser
// (ParseEntry), the compiled immutable list (Compile) and its per-packet
// Match, the implicit final "deny ip any any", IOS service names, and the
// "show access-lists" text.
//
// Entry is the parsed form, kept for printing and comparison; List holds a
// separate compiled form with masks and port bounds precomputed, so that
// Match is a branch-light linear scan without allocation.
package acl

import (
	"strconv"
	"strings"
)

// An Address is an IOS address and wildcard ("A W"): bits set in Wildcard
// are ignored. Addr is stored with the wildcard bits cleared, as IOS does
// ("10.10.10.1 0.0.0.255" is shown as "10.10.10.0 0.0.0.255"). "any" is
// Wildcard 0xffffffff; "host A" is Wildcard 0. Addresses are host order.
type Address struct {
	Addr, Wildcard uint32
}

// Any is the address "any".
var Any = Address{Addr: 0, Wildcard: 0xffffffff}

// Host returns the address "host A".
func Host(a uint32) Address { return Address{Addr: a} }

// PortOp is the comparison of a port specifier.
type PortOp uint8

// Port operators, as IOS spells them.
const (
	PortAny   PortOp = iota // no port specifier: any port
	PortEq                  // eq N
	PortNeq                 // neq N
	PortLt                  // lt N: port < N
	PortGt                  // gt N: port > N
	PortRange               // range Lo Hi: Lo <= port <= Hi
)

var portOpNames = [...]string{"", "eq", "neq", "lt", "gt", "range"}

func (op PortOp) String() string {
	if int(op) < len(portOpNames) {
		return portOpNames[op]
	}
	return "PortOp(" + strconv.Itoa(int(op)) + ")"
}

// Ports is a port specifier. Eq, Neq, Lt and Gt use Lo; Range uses Lo and Hi.
type Ports struct {
	Op     PortOp
	Lo, Hi uint16
}

// ICMPMatch is the optional ICMP message of an icmp entry.
type ICMPMatch struct {
	HasType, HasCode bool
	Type, Code       uint8
}

// An Entry is one parsed access-list entry. Entries are comparable: two
// texts that IOS shows the same way parse to equal entries.
type Entry struct {
	Permit bool
	// AnyProtocol is set for "ip"; Protocol is then 0. Otherwise Protocol
	// is the IP protocol number (tcp 6, udp 17, icmp 1, ...).
	AnyProtocol bool
	Protocol    uint8
	Src, Dst    Address
	// SrcPort and DstPort are set only for tcp and udp.
	SrcPort, DstPort Ports
	// ICMP is set only for icmp.
	ICMP ICMPMatch
	// Established (tcp only) matches segments with ACK or RST set: replies
	// of connections opened from the other side.
	Established bool
	// Log asks for a %SEC-6-IPACCESSLOGP line when the entry matches.
	Log bool
}

// HasL4 reports whether the entry looks at layer-4 information (ports,
// established, ICMP type). It decides how non-initial fragments match.
func (e Entry) HasL4() bool {
	return e.SrcPort.Op != PortAny || e.DstPort.Op != PortAny || e.Established || e.ICMP.HasType
}

// String returns the entry in IOS canonical form, as "show access-lists"
// prints it: protocol, ports and ICMP messages by name when IOS has one,
// "any" and "host A" for the full and empty wildcards.
func (e Entry) String() string {
	var b strings.Builder
	b.Grow(64)
	if e.Permit {
		b.WriteString("permit ")
	} else {
		b.WriteString("deny ")
	}
	if e.AnyProtocol {
		b.WriteString("ip")
	} else if name, ok := ProtocolName(e.Protocol); ok {
		b.WriteString(name)
	} else {
		b.WriteString(strconv.Itoa(int(e.Protocol)))
	}
	writeAddress(&b, e.Src)
	writePorts(&b, e.Protocol, e.SrcPort)
	writeAddress(&b, e.Dst)
	writePorts(&b, e.Protocol, e.DstPort)
	if e.ICMP.HasType {
		b.WriteByte(' ')
		if name, ok := icmpKeyword(e.ICMP.Type, e.ICMP.Code, e.ICMP.HasCode); ok {
			b.WriteString(name)
		} else {
			b.WriteString(strconv.Itoa(int(e.ICMP.Type)))
			if e.ICMP.HasCode {
				b.WriteByte(' ')
				b.WriteString(strconv.Itoa(int(e.ICMP.Code)))
			}
		}
	}
	if e.Established {
		b.WriteString(" established")
	}
	if e.Log {
		b.WriteString(" log")
	}
	return b.String()
}

func writeAddress(b *strings.Builder, a Address) {
	switch a.Wildcard {
	case 0xffffffff:
		b.WriteString(" any")
	case 0:
		b.WriteString(" host ")
		b.WriteString(FormatIPv4(a.Addr))
	default:
		b.WriteByte(' ')
		b.WriteString(FormatIPv4(a.Addr))
		b.WriteByte(' ')
		b.WriteString(FormatIPv4(a.Wildcard))
	}
}

func writePorts(b *strings.Builder, proto uint8, p Ports) {
	if p.Op == PortAny {
		return
	}
	b.WriteByte(' ')
	b.WriteString(p.Op.String())
	writePort(b, proto, p.Lo)
	if p.Op == PortRange {
		writePort(b, proto, p.Hi)
	}
}

func writePort(b *strings.Builder, proto uint8, port uint16) {
	b.WriteByte(' ')
	if name, ok := PortName(proto, port); ok {
		b.WriteString(name)
		return
	}
	b.WriteString(strconv.Itoa(int(port)))
}

// FormatIPv4 formats a host-order IPv4 address as dotted decimal.
func FormatIPv4(a uint32) string {
	var buf [15]byte
	n := 0
	for i := 3; i >= 0; i-- {
		n += len(strconv.AppendUint(buf[n:n], uint64(a>>(8*uint(i))&0xff), 10))
		if i > 0 {
			buf[n] = '.'
			n++
		}
	}
	return string(buf[:n])
}
