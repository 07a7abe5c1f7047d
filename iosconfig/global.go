package iosconfig

import (
	"net"
	"net/netip"
	"strings"
)

// A route is "ip route PREFIX MASK NEXTHOP|INTERFACE [NEXTHOP] [DISTANCE]".
type route struct {
	prefix   netip.Prefix
	nextHop  netip.Addr
	iface    string
	distance int64
	c        cite
	l        line
	dropped  bool
}

// route translates "ip route ...".
func (t *translator) route(l *line) {
	w := l.words[2:]
	if len(w) < 3 {
		t.note(l, false, "incomplete route: not translated")
		return
	}
	if strings.EqualFold(w[0], "vrf") {
		t.note(l, false, "VRF routes: cbac has one routing table; not translated")
		return
	}
	a, ok1 := ipv4(w[0])
	bits, ok2 := maskBits(w[1])
	if !ok1 || !ok2 {
		t.note(l, false, "bad prefix or mask: not translated")
		return
	}
	p := netip.PrefixFrom(a, bits)
	if p.Masked() != p {
		t.note(l, false, "prefix has host bits set (IOS: inconsistent address and mask): not translated")
		return
	}
	r := &route{prefix: p, distance: 1, c: citeOf(l), l: *l}
	rest := w[2:]
	if nh, ok := ipv4(rest[0]); ok {
		r.nextHop, rest = nh, rest[1:]
	} else {
		r.iface, rest = rest[0], rest[1:]
		if len(rest) > 0 {
			if nh, ok := ipv4(rest[0]); ok {
				r.nextHop, rest = nh, rest[1:]
			}
		}
	}
	var dropped []string
	for i := 0; i < len(rest); i++ {
		switch kw := strings.ToLower(rest[i]); {
		case kw == "permanent":
			// cbac's static routes never leave the table.
		case (kw == "name" || kw == "tag") && i+1 < len(rest):
			dropped = append(dropped, kw+" "+rest[i+1])
			i++
		default:
			if n, ok := number(rest[i], 1, 255); ok && i == 0 {
				r.distance = n
				continue
			}
			t.note(l, false, "option "+quote(rest[i])+" not supported: not translated")
			return
		}
	}
	if len(dropped) > 0 {
		t.note(l, false, "translated without "+strings.Join(dropped, ", ")+" (no cbac equivalent)")
	}
	t.routes = append(t.routes, r)
}

// natStatic is "ip nat inside source static LOCAL GLOBAL".
type natStatic struct {
	local, global netip.Addr
	c             cite
	l             line
}

// nat translates "ip nat ..." lines: cbac has one-to-one static NAT of
// inside addresses only.
func (t *translator) nat(l *line) {
	w := l.words[2:]
	if len(w) < 5 || !strings.EqualFold(w[0], "inside") || !strings.EqualFold(w[1], "source") || !strings.EqualFold(w[2], "static") {
		switch {
		case l.is("ip", "nat", "inside", "source"):
			t.note(l, true, "dynamic NAT / PAT: cbac has one-to-one static NAT only")
		case l.is("ip", "nat", "translation"):
			t.note(l, false, "dynamic NAT timers: cbac's NAT is static, ignored")
		default:
			t.note(l, true, "cbac has inside static NAT only")
		}
		return
	}
	local, ok1 := ipv4(w[3])
	global, ok2 := ipv4(w[4])
	if !ok1 || !ok2 {
		t.note(l, true, "port or network static NAT: cbac maps whole addresses one to one only")
		return
	}
	for _, opt := range w[5:] {
		switch strings.ToLower(opt) {
		case "extendable":
			// Lets one local have several static mappings; with one
			// mapping it changes nothing.
		default:
			t.note(l, true, "option "+quote(opt)+" not supported by cbac")
			return
		}
	}
	for _, n := range []int{t.natLocal[local], t.natGlobal[global]} {
		if n > 0 {
			t.note(l, true, "conflicts with line "+itoa(n)+" (cbac maps one inside local to one inside global)")
			return
		}
	}
	t.natLocal[local], t.natGlobal[global] = l.n, l.n
	t.nats = append(t.nats, &natStatic{local: local, global: global, c: citeOf(l), l: *l})
}

// arpEntry is "arp A MAC arpa".
type arpEntry struct {
	addr netip.Addr
	mac  string
	c    cite
	l    line
}

func (t *translator) arp(l *line) {
	w := l.words[1:]
	if len(w) == 3 && strings.EqualFold(w[2], "arpa") {
		w = w[:2]
	}
	if len(w) != 2 {
		t.note(l, false, "only \"arp ADDRESS MAC arpa\" is translated")
		return
	}
	a, ok := ipv4(w[0])
	m, err := net.ParseMAC(w[1])
	if !ok || err != nil || len(m) != 6 || m[0]&1 != 0 {
		t.note(l, false, "bad address or unicast MAC: not translated")
		return
	}
	if n := t.arpByAddr[a]; n > 0 {
		t.note(l, false, "duplicate of line "+itoa(n)+": not translated")
		return
	}
	t.arpByAddr[a] = l.n
	t.arps = append(t.arps, &arpEntry{addr: a, mac: m.String(), c: citeOf(l), l: *l})
}
