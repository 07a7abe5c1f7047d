package iosconfig

import (
	"net"
	"net/netip"
	"strings"
)

// An iface is one "interface NAME" block.
type iface struct {
	name   string
	c      cite
	blks   []block // IOS merges blocks that name the same interface
	device string

	addr     netip.Prefix
	addrC    cite
	noAddr   bool // "no ip address", "ip address dhcp", ...
	shutdown bool
	mac      string
	macC     cite
	nat      string
	natC     cite
	aclIn    string
	aclInC   cite
	aclOut   string
	aclOutC  cite
	inspIn   string
	inspInC  cite
	inspOut  string
	inspOutC cite
	vr       bool
	vrC      cite
	// other translated lines (description, no shutdown), cited as comments
	extra []cite
	// security settings seen, for the note when the interface is left out
	guarded bool
	// omitted says why the interface is not imported ("" when it is).
	omitted string
	// notes about the block's lines, reported when it is imported
	notes []Note
}

// Interface sub-commands that have no meaning for cbac.
var ifaceIgnored = []struct{ words, reason string }{
	{"duplex", "physical layer setting, ignored"},
	{"half-duplex", "physical layer setting, ignored"},
	{"full-duplex", "physical layer setting, ignored"},
	{"speed", "physical layer setting, ignored"},
	{"media-type", "physical layer setting, ignored"},
	{"negotiation", "physical layer setting, ignored"},
	{"clock", "physical layer setting, ignored"},
	{"clockrate", "physical layer setting, ignored"},
	{"bandwidth", "routing metric, ignored"},
	{"delay", "routing metric, ignored"},
	{"load-interval", "statistics setting, ignored"},
	{"keepalive", "link keepalive, ignored"},
	{"no keepalive", "link keepalive, ignored"},
	{"mtu", "set the MTU on the Linux device, ignored"},
	{"ip mtu", "set the MTU on the Linux device, ignored"},
	{"ip tcp adjust-mss", "cbac does not rewrite the MSS, ignored"},
	{"no ip redirects", "cbac sends no ICMP redirects: nothing to translate"},
	{"ip redirects", "cbac sends no ICMP redirects, ignored"},
	{"no ip unreachables", "cbac sends no ICMP unreachables: nothing to translate"},
	{"ip unreachables", "cbac sends no ICMP unreachables, ignored"},
	{"no ip proxy-arp", "cbac answers ARP only for its own and NAT addresses: nothing to translate"},
	{"ip proxy-arp", "cbac does no proxy ARP, ignored"},
	{"ip route-cache", "forwarding mechanism, ignored"},
	{"no ip route-cache", "forwarding mechanism, ignored"},
	{"ip mroute-cache", "multicast, ignored"},
	{"no ip mroute-cache", "multicast, ignored"},
	{"no ip directed-broadcast", "cbac forwards no directed broadcasts: nothing to translate"},
	{"no cdp", "CDP, ignored"},
	{"cdp", "CDP, ignored"},
	{"no mop", "MOP, ignored"},
	{"encapsulation", "cbac sees what the Linux device delivers (use a VLAN device for dot1Q), ignored"},
	{"ip ospf", "dynamic routing, ignored"},
	{"ip policy", "policy routing: cbac has static routes only; not translated"},
	{"ip helper-address", "DHCP relay, ignored"},
}

// Interface sub-commands that filter traffic in IOS and have no cbac
// equivalent.
var ifaceSecurity = []struct{ words, reason string }{
	{"ip verify", "unicast RPF: cbac has no reverse-path check"},
	{"ip ips", "IOS IPS: cbac has no signature IPS"},
	{"ip audit", "IOS IDS: cbac has no signature IDS"},
	{"zone-member", "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"crypto", "IPsec: cbac has no IPsec"},
	{"ip nat enable", "NAT virtual interface: cbac has inside/outside static NAT only"},
	{"ip auth-proxy", "authentication proxy: cbac has none"},
	{"ip admission", "authentication proxy: cbac has none"},
	{"service-policy type inspect", "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"ip urlfilter", "URL filtering: cbac has none"},
}

// iface translates an "interface NAME" block.
func (t *translator) iface(b *block) {
	h := &b.head
	if len(h.words) != 2 {
		t.noteBlock(b, false, "interface name with blanks: not translated")
		return
	}
	f := t.findIface(h.words[1])
	if f == nil {
		f = &iface{name: h.words[1], c: citeOf(h), blks: []block{*b}}
		t.ifaces = append(t.ifaces, f)
		t.ifaceByName[strings.ToLower(f.name)] = f
	} else {
		// IOS merges a second block for the same interface.
		f.extra = append(f.extra, citeOf(h))
		f.blks = append(f.blks, *b)
	}
	// The notes about its lines wait: a left-out interface is reported
	// once, for its whole block.
	n := len(t.notes)
	for i := range b.body {
		t.ifaceLine(f, &b.body[i])
	}
	f.notes = append(f.notes, t.notes[n:]...)
	t.notes = t.notes[:n]
}

func (t *translator) findIface(name string) *iface {
	return t.ifaceByName[strings.ToLower(name)]
}

func (t *translator) ifaceLine(f *iface, l *line) {
	c := citeOf(l)
	n := len(l.words)
	switch {
	case l.is("ip", "address") && n == 4:
		a, ok1 := ipv4(l.words[2])
		bits, ok2 := maskBits(l.words[3])
		if !ok1 || !ok2 || bits == 0 {
			t.note(l, false, "bad address or mask: not translated")
			return
		}
		t.replaced(f.addrC, l)
		f.addr, f.addrC, f.noAddr = netip.PrefixFrom(a, bits), c, false
	case l.is("ip", "address") && n == 5 && strings.EqualFold(l.words[4], "secondary"):
		t.note(l, false, "cbac has one address per interface: secondary address not translated")
	case l.is("ip", "address"), l.is("ip", "unnumbered"):
		t.note(l, false, "cbac needs a static address on each interface: not translated")
		f.noAddr = true
	case l.is("no", "ip", "address") && n == 3:
		t.replaced(f.addrC, l)
		f.noAddr, f.addr, f.addrC = true, netip.Prefix{}, cite{}
		f.extra = append(f.extra, c)
	case l.is("shutdown") && n == 1:
		f.shutdown = true
		f.extra = append(f.extra, c)
	case l.is("no", "shutdown") && n == 2:
		f.shutdown = false
		f.extra = append(f.extra, c)
	case l.is("description"):
		f.extra = append(f.extra, c)
	case l.is("mac-address") && n == 2:
		m, err := net.ParseMAC(l.words[1])
		if err != nil || len(m) != 6 || m[0]&1 != 0 {
			t.note(l, false, "not a unicast MAC address: not translated (the device's own address is used)")
			return
		}
		t.replaced(f.macC, l)
		f.mac, f.macC = m.String(), c
	case l.is("ip", "nat") && n == 3 && (l.word(2) == "inside" || l.word(2) == "outside"):
		t.replaced(f.natC, l)
		f.nat, f.natC, f.guarded = l.word(2), c, true
	case l.is("ip", "access-group") && (n == 3 || n == 4):
		dir := "out" // IOS's default direction
		if n == 4 {
			dir = l.word(3)
		}
		switch dir {
		case "in":
			t.replaced(f.aclInC, l)
			f.aclIn, f.aclInC = l.words[2], c
		case "out":
			t.replaced(f.aclOutC, l)
			f.aclOut, f.aclOutC = l.words[2], c
		default:
			t.note(l, true, "direction must be in or out")
		}
		f.guarded = true
	case l.is("ip", "inspect") && n == 4 && (l.word(3) == "in" || l.word(3) == "out"):
		if l.word(3) == "in" {
			t.replaced(f.inspInC, l)
			f.inspIn, f.inspInC = l.words[2], c
		} else {
			t.replaced(f.inspOutC, l)
			f.inspOut, f.inspOutC = l.words[2], c
		}
		f.guarded = true
	case l.is("ip", "virtual-reassembly") && n == 1:
		t.replaced(f.vrC, l)
		f.vr, f.vrC = true, c
	case l.is("ip", "virtual-reassembly"):
		t.reassembly(f, l)
	case l.is("ip", "access-group"), l.is("ip", "inspect"), l.is("ip", "nat"):
		t.note(l, true, "malformed: not translated")
		f.guarded = true
	default:
		for _, s := range ifaceSecurity {
			if l.is(strings.Fields(s.words)...) {
				t.note(l, true, s.reason)
				f.guarded = true
				return
			}
		}
		for _, s := range ifaceIgnored {
			if l.is(strings.Fields(s.words)...) {
				t.note(l, false, s.reason)
				return
			}
		}
		t.note(l, false, "not recognised by the importer, ignored (check that it is not a filtering setting)")
	}
}

// reassembly translates "ip virtual-reassembly [max-reassemblies N]
// [max-fragments N] [timeout S] [drop-fragments]": the limits are global
// in cbac ([reassembly]); the first interface that sets one gives it.
func (t *translator) reassembly(f *iface, l *line) {
	w := l.words[2:]
	var limits []func()
	for i := 0; i < len(w); i++ {
		kw := strings.ToLower(w[i])
		val := ""
		if i+1 < len(w) {
			val = w[i+1]
		}
		var dst *intVal
		var max int64
		switch kw {
		case "max-reassemblies":
			dst, max = &t.reasmDatagrams, 4096
		case "max-fragments":
			dst, max = &t.reasmFrags, 64
		case "timeout":
			dst, max = &t.reasmTO, 5
		case "drop-fragments":
			t.note(l, true, "drop-fragments: cbac has no setting that drops all fragments; not translated")
			return
		default:
			t.note(l, false, "option "+quote(w[i])+" not supported: not translated")
			return
		}
		n, ok := number(val, 1, max)
		if !ok {
			t.note(l, false, kw+" "+quote(val)+" out of range 1-"+itoa(int(max))+": not translated")
			return
		}
		if dst.set && dst.v != n {
			t.note(l, false, kw+" differs from line "+itoa(dst.c.n)+" (cbac's reassembly limits are global): not translated")
			return
		}
		i++
		limits = append(limits, func() { *dst = intVal{v: n, c: citeOf(l), set: true} })
	}
	for _, set := range limits {
		set()
	}
	t.replaced(f.vrC, l)
	f.vr, f.vrC = true, citeOf(l)
}
