package acl

import (
	"bufio"
	"io"
	"strconv"
)

// TCP flag bits of Tuple.TCPFlags (RFC 9293 section 3.1).
const (
	TCPFlagFIN uint8 = 0x01
	TCPFlagSYN uint8 = 0x02
	TCPFlagRST uint8 = 0x04
	TCPFlagPSH uint8 = 0x08
	TCPFlagACK uint8 = 0x10
)

// A Tuple is what Match looks at in a packet. Addresses are host order.
// SrcPort and DstPort are meaningful for tcp and udp, TCPFlags for tcp,
// ICMPType and ICMPCode for icmp. NonInitialFragment is set for fragments
// with a non-zero offset, which carry no layer-4 header: their port, flag
// and ICMP fields are ignored.
type Tuple struct {
	Proto              uint8
	Src, Dst           uint32
	SrcPort, DstPort   uint16
	TCPFlags           uint8
	ICMPType, ICMPCode uint8
	NonInitialFragment bool
}

// rule flags of the compiled form.
const (
	ruleAnyProto uint8 = 1 << iota
	rulePermit
	ruleL4          // looks at ports, TCP flags or ICMP type
	ruleSrcNeq      // source port range is negated
	ruleDstNeq      // destination port range is negated
	ruleEstablished // ACK or RST must be set
	ruleICMPType
	ruleICMPCode
)

// rule is the compiled form of an Entry: masks and inclusive port bounds
// precomputed so that Match only compares. An empty port range is lo > hi.
type rule struct {
	src, srcMask     uint32 // match when addr&mask == src
	dst, dstMask     uint32
	srcLo, srcHi     uint16
	dstLo, dstHi     uint16
	proto            uint8
	flags            uint8
	icmpType, icmpCo uint8
}

// A List is a compiled, immutable access list. It is safe for concurrent
// use by any number of workers.
type List struct {
	name    string
	entries []Entry
	rules   []rule
}

// Compile builds the immutable list name from entries (copied).
func Compile(name string, entries []Entry) *List {
	l := &List{
		name:    name,
		entries: append([]Entry(nil), entries...),
		rules:   make([]rule, len(entries)),
	}
	for i := range l.entries {
		l.rules[i] = compileEntry(&l.entries[i])
	}
	return l
}

func compileEntry(e *Entry) rule {
	r := rule{
		src: e.Src.Addr &^ e.Src.Wildcard, srcMask: ^e.Src.Wildcard,
		dst: e.Dst.Addr &^ e.Dst.Wildcard, dstMask: ^e.Dst.Wildcard,
		proto: e.Protocol,
	}
	if e.AnyProtocol {
		r.flags |= ruleAnyProto
	}
	if e.Permit {
		r.flags |= rulePermit
	}
	if e.HasL4() {
		r.flags |= ruleL4
	}
	var neq bool
	r.srcLo, r.srcHi, neq = portBounds(e.SrcPort)
	if neq {
		r.flags |= ruleSrcNeq
	}
	r.dstLo, r.dstHi, neq = portBounds(e.DstPort)
	if neq {
		r.flags |= ruleDstNeq
	}
	if e.Established {
		r.flags |= ruleEstablished
	}
	if e.ICMP.HasType {
		r.flags |= ruleICMPType
		r.icmpType = e.ICMP.Type
	}
	if e.ICMP.HasCode {
		r.flags |= ruleICMPCode
		r.icmpCo = e.ICMP.Code
	}
	return r
}

// portBounds returns the inclusive range a specifier matches (lo > hi:
// nothing) and whether the match is negated.
func portBounds(p Ports) (lo, hi uint16, neq bool) {
	switch p.Op {
	case PortEq:
		return p.Lo, p.Lo, false
	case PortNeq:
		return p.Lo, p.Lo, true
	case PortLt:
		if p.Lo == 0 {
			return 1, 0, false
		}
		return 0, p.Lo - 1, false
	case PortGt:
		if p.Lo == 0xffff {
			return 1, 0, false
		}
		return p.Lo + 1, 0xffff, false
	case PortRange:
		return p.Lo, p.Hi, false
	}
	return 0, 0xffff, false
}

// Name returns the list's name ("101").
func (l *List) Name() string { return l.name }

// Len returns the number of configured entries (the implicit deny is not
// counted).
func (l *List) Len() int { return len(l.entries) }

// Entry returns entry i (0-based).
func (l *List) Entry(i int) Entry { return l.entries[i] }

// Match returns the index of the first entry that matches t and whether it
// permits. index == Len() is the implicit final "deny ip any any".
//
// Non-initial fragments (IOS "Access Control Lists and IP Fragments"): an
// entry that looks only at layer 3 matches them as any packet. An entry with
// layer-4 conditions (ports, established, ICMP type) cannot be evaluated on
// them; if its layer-3 part (protocol and addresses) matches, a permit entry
// matches (the fragment is permitted; the initial fragment carried the
// decision) and a deny entry is skipped, so the scan goes on to the next
// entry. This is the IOS rule and the choice made here.
//
// Match does not allocate.
func (l *List) Match(t *Tuple) (index int, permit bool) {
	rules := l.rules
	for i := range rules {
		r := &rules[i]
		if t.Src&r.srcMask != r.src || t.Dst&r.dstMask != r.dst {
			continue
		}
		if r.flags&ruleAnyProto == 0 && t.Proto != r.proto {
			continue
		}
		if r.flags&ruleL4 != 0 {
			if t.NonInitialFragment {
				if r.flags&rulePermit == 0 {
					continue
				}
				return i, true
			}
			if !r.matchL4(t) {
				continue
			}
		}
		return i, r.flags&rulePermit != 0
	}
	return len(rules), false
}

func (r *rule) matchL4(t *Tuple) bool {
	in := t.SrcPort >= r.srcLo && t.SrcPort <= r.srcHi
	if in == (r.flags&ruleSrcNeq != 0) {
		return false
	}
	return r.matchL4Fixed(t)
}

// matchL4Fixed is matchL4 without the source port: the conditions on the
// destination port, the TCP flags and the ICMP message.
func (r *rule) matchL4Fixed(t *Tuple) bool {
	in := t.DstPort >= r.dstLo && t.DstPort <= r.dstHi
	if in == (r.flags&ruleDstNeq != 0) {
		return false
	}
	if r.flags&ruleEstablished != 0 && t.TCPFlags&(TCPFlagACK|TCPFlagRST) == 0 {
		return false
	}
	if r.flags&ruleICMPType != 0 && t.ICMPType != r.icmpType {
		return false
	}
	if r.flags&ruleICMPCode != 0 && t.ICMPCode != r.icmpCo {
		return false
	}
	return true
}

// MatchEverySource is Match for every source address and source port at
// once: t's Src and SrcPort are ignored. ok reports that Match returns the
// same index and permit for every tuple that differs from t only in Src
// and SrcPort; when it is false, index is the first entry whose
// conditions other than the source can hold (the one that splits the
// sources). An entry with a source port specifier that no port satisfies
// never matches and is passed over, as Match passes over it.
//
// It lets a decision that looks only at the destination (an XDP program
// answering SYNs by destination) be taken ahead of the packets: ok is
// sound, not complete (two sources may reach the same entry through
// different entries' conditions that ok does not try to prove equal).
func (l *List) MatchEverySource(t *Tuple) (index int, permit, ok bool) {
	rules := l.rules
	for i := range rules {
		r := &rules[i]
		if t.Dst&r.dstMask != r.dst {
			continue
		}
		if r.flags&ruleAnyProto == 0 && t.Proto != r.proto {
			continue
		}
		permit = r.flags&rulePermit != 0
		everyPort := true
		if r.flags&ruleL4 != 0 {
			if t.NonInitialFragment {
				// Ports and flags are not looked at (Match).
				if !permit {
					continue
				}
			} else {
				if !r.matchL4Fixed(t) {
					continue
				}
				full := r.srcLo == 0 && r.srcHi == 0xffff
				empty := r.srcLo > r.srcHi
				if r.flags&ruleSrcNeq != 0 {
					full, empty = empty, full
				}
				if empty {
					continue
				}
				everyPort = full
			}
		}
		return i, permit, r.srcMask == 0 && everyPort
	}
	return len(rules), false, true
}

// Show writes the list as IOS "show access-lists" does, with sequence
// numbers 10, 20, ... and matches[i] as entry i's count ("(N matches)",
// omitted when zero, as IOS does; matches may be shorter than the list):
//
//	Extended IP access list 101
//	    10 permit tcp any host 172.22.1.110 eq smtp (3 matches)
func (l *List) Show(w io.Writer, matches []uint64) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("Extended IP access list ")
	bw.WriteString(l.name)
	bw.WriteByte('\n')
	for i := range l.entries {
		bw.WriteString("    ")
		bw.WriteString(strconv.Itoa((i + 1) * 10))
		bw.WriteByte(' ')
		bw.WriteString(l.entries[i].String())
		if i < len(matches) && matches[i] > 0 {
			bw.WriteString(" (")
			bw.WriteString(strconv.FormatUint(matches[i], 10))
			if matches[i] == 1 {
				bw.WriteString(" match)")
			} else {
				bw.WriteString(" matches)")
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
