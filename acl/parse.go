package acl

import (
	"strconv"
	"strings"
)

// A ParseError reports the word of an entry that could not be parsed.
// Word counts from 1 ("permit" is word 1); Text is empty when the entry
// ended where a word was expected.
type ParseError struct {
	Word   int
	Text   string
	Reason string
}

func (e *ParseError) Error() string {
	if e.Text == "" {
		return "word " + strconv.Itoa(e.Word) + " (end of entry): " + e.Reason
	}
	return "word " + strconv.Itoa(e.Word) + " " + strconv.Quote(e.Text) + ": " + e.Reason
}

// parser walks the words of one entry.
type parser struct {
	words []string
	i     int
}

func (p *parser) more() bool { return p.i < len(p.words) }

// peek returns the next word in lower case (IOS keywords are
// case-insensitive), or "" at the end.
func (p *parser) peek() string {
	if p.i < len(p.words) {
		return strings.ToLower(p.words[p.i])
	}
	return ""
}

// errorf reports the word at index i (0-based).
func (p *parser) errAt(i int, reason string) error {
	text := ""
	if i < len(p.words) {
		text = p.words[i]
	}
	return &ParseError{Word: i + 1, Text: text, Reason: reason}
}

// ParseEntry parses one IOS extended access-list entry:
//
//	permit|deny PROTO SRC [PORTS] DST [PORTS] [ICMP-MESSAGE] [established] [log]
//
// PROTO is ip, tcp, udp, icmp, another IOS protocol keyword (gre, esp, ahp,
// ospf, eigrp, igmp, pim, ipinip, nos, pcp) or a number 0-255 (6, 17 and 1
// are the same as tcp, udp and icmp; 0 is protocol 0, not "ip"). Addresses
// are "any", "host A" or "A WILDCARD"; PORTS (tcp and udp only) are
// "eq|neq|lt|gt P" or "range P P" with P a number or an IOS service name of
// that protocol; ICMP-MESSAGE (icmp only) is "TYPE [CODE]" or an IOS
// message name; established is tcp only. Keywords are case-insensitive.
// The error is a *ParseError naming the offending word.
func ParseEntry(text string) (Entry, error) {
	p := parser{words: strings.Fields(text)}
	var e Entry

	switch p.peek() {
	case "permit":
		e.Permit = true
	case "deny":
	default:
		return Entry{}, p.errAt(p.i, "expected permit or deny")
	}
	p.i++

	if err := p.protocol(&e); err != nil {
		return Entry{}, err
	}
	ported := e.Protocol == ProtoTCP || e.Protocol == ProtoUDP
	var err error
	if e.Src, err = p.address(); err != nil {
		return Entry{}, err
	}
	if ported {
		if e.SrcPort, err = p.ports(e.Protocol); err != nil {
			return Entry{}, err
		}
	}
	if e.Dst, err = p.address(); err != nil {
		return Entry{}, err
	}
	if ported {
		if e.DstPort, err = p.ports(e.Protocol); err != nil {
			return Entry{}, err
		}
	}
	if e.Protocol == ProtoICMP && !e.AnyProtocol {
		if e.ICMP, err = p.icmp(); err != nil {
			return Entry{}, err
		}
	}
	if e.Protocol == ProtoTCP && !e.AnyProtocol && p.peek() == "established" {
		e.Established = true
		p.i++
	}
	if p.peek() == "log" {
		e.Log = true
		p.i++
	}
	if p.peek() == "established" && !e.Established {
		return Entry{}, p.errAt(p.i, "established applies to tcp only")
	}
	if p.more() {
		return Entry{}, p.errAt(p.i, "expected "+p.trailer(&e))
	}
	return e, nil
}

// trailer describes what may still follow the destination of e, for the
// error about an unexpected word there.
func (p *parser) trailer(e *Entry) string {
	var opts []string
	if !e.Log {
		if !e.AnyProtocol && !e.Established && e.DstPort.Op == PortAny &&
			(e.Protocol == ProtoTCP || e.Protocol == ProtoUDP) {
			opts = append(opts, "eq", "neq", "lt", "gt", "range")
		}
		if !e.AnyProtocol && e.Protocol == ProtoICMP && !e.ICMP.HasType {
			opts = append(opts, "an icmp type")
		}
		if !e.AnyProtocol && e.Protocol == ProtoTCP && !e.Established {
			opts = append(opts, "established")
		}
		opts = append(opts, "log")
	}
	if len(opts) == 0 {
		return "the end of the entry"
	}
	return strings.Join(opts, ", ") + " or the end of the entry"
}

func (p *parser) protocol(e *Entry) error {
	w := p.peek()
	if w == "" {
		return p.errAt(p.i, "expected a protocol: ip, tcp, udp, icmp or a number 0-255")
	}
	if w == "ip" {
		e.AnyProtocol = true
	} else if proto, ok := lookupProtocol(w); ok {
		e.Protocol = proto
	} else if n, ok := number(w, 255); ok {
		e.Protocol = uint8(n)
	} else {
		return p.errAt(p.i, "expected a protocol: ip, tcp, udp, icmp or a number 0-255")
	}
	p.i++
	return nil
}

// address parses "any", "host A" or "A WILDCARD".
func (p *parser) address() (Address, error) {
	const want = "expected any, host or an address"
	switch w := p.peek(); w {
	case "":
		return Address{}, p.errAt(p.i, want)
	case "any":
		p.i++
		return Any, nil
	case "host":
		p.i++
		a, ok := ParseIPv4(p.peek())
		if !ok {
			return Address{}, p.errAt(p.i, "expected an IPv4 address after host")
		}
		p.i++
		return Address{Addr: a}, nil
	default:
		a, ok := ParseIPv4(w)
		if !ok {
			return Address{}, p.errAt(p.i, want)
		}
		p.i++
		wc, ok := ParseIPv4(p.peek())
		if !ok {
			return Address{}, p.errAt(p.i, "expected a wildcard mask after the address")
		}
		p.i++
		return Address{Addr: a &^ wc, Wildcard: wc}, nil
	}
}

// ports parses an optional port specifier; PortAny when the next word is
// not a port operator.
func (p *parser) ports(proto uint8) (Ports, error) {
	var ps Ports
	switch p.peek() {
	case "eq":
		ps.Op = PortEq
	case "neq":
		ps.Op = PortNeq
	case "lt":
		ps.Op = PortLt
	case "gt":
		ps.Op = PortGt
	case "range":
		ps.Op = PortRange
	default:
		return Ports{}, nil
	}
	p.i++
	var err error
	if ps.Lo, err = p.port(proto); err != nil {
		return Ports{}, err
	}
	if ps.Op == PortRange {
		if ps.Hi, err = p.port(proto); err != nil {
			return Ports{}, err
		}
		if ps.Hi < ps.Lo {
			return Ports{}, p.errAt(p.i-1, "range end is below its start "+strconv.Itoa(int(ps.Lo)))
		}
	}
	return ps, nil
}

func (p *parser) port(proto uint8) (uint16, error) {
	w := p.peek()
	if n, ok := number(w, 65535); ok {
		p.i++
		return uint16(n), nil
	}
	if port, ok := LookupPort(proto, w); ok {
		p.i++
		return port, nil
	}
	name, _ := ProtocolName(proto)
	return 0, p.errAt(p.i, "expected a port number 0-65535 or a "+name+" service name")
}

// icmp parses an optional ICMP message: a name, or a type and optional code.
func (p *parser) icmp() (ICMPMatch, error) {
	w := p.peek()
	if n, ok := lookupICMP(w); ok {
		p.i++
		return ICMPMatch{HasType: true, Type: n.typ, HasCode: n.hasCode, Code: n.code}, nil
	}
	t, ok := number(w, 255)
	if !ok {
		if w != "" && w != "log" && w != "established" && (w[0] >= '0' && w[0] <= '9') {
			return ICMPMatch{}, p.errAt(p.i, "expected an icmp type 0-255")
		}
		return ICMPMatch{}, nil
	}
	p.i++
	m := ICMPMatch{HasType: true, Type: uint8(t)}
	w = p.peek()
	if c, ok := number(w, 255); ok {
		p.i++
		m.HasCode, m.Code = true, uint8(c)
	} else if w != "" && w[0] >= '0' && w[0] <= '9' {
		return ICMPMatch{}, p.errAt(p.i, "expected an icmp code 0-255")
	}
	return m, nil
}

// number parses a decimal number 0..max (no sign, no leading '+').
func number(w string, max int) (int, bool) {
	if w == "" || len(w) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

// ParseIPv4 parses a dotted-decimal IPv4 address into host order. Leading
// zeros are refused (as net/netip does) so that "010.0.0.1" is not read as
// either octal or decimal.
func ParseIPv4(s string) (uint32, bool) {
	var a uint32
	part, digits, dots := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && part == 0 {
				return 0, false
			}
			part = part*10 + int(c-'0')
			digits++
			if part > 255 {
				return 0, false
			}
		case c == '.' && digits > 0 && dots < 3:
			a = a<<8 | uint32(part)
			part, digits = 0, 0
			dots++
		default:
			return 0, false
		}
	}
	if dots != 3 || digits == 0 {
		return 0, false
	}
	return a<<8 | uint32(part), true
}
