package iosconfig

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A cite is an input line that a translated value comes from.
type cite struct {
	n    int
	text string
}

func citeOf(l *line) cite { return cite{l.n, l.text} }

// Parsed values keep the line they come from.
type (
	intVal struct {
		v int64
		c cite
		// set is false for an IOS default.
		set bool
	}
	boolVal struct {
		v   bool
		c   cite
		set bool
	}
)

// translator holds the parsed configuration between the passes: run
// parses every block, mapDevices binds interfaces to devices, resolve
// checks cross references (dropping, with a note, what cbac would
// refuse), emit writes the TOML.
type translator struct {
	lines []line
	opt   Options
	notes []Note
	quiet []int

	hostname *cite
	hostVal  string
	// Global "ip inspect" settings.
	auditTrail, alert                   boolVal
	oneMinLow, oneMinHigh               intVal
	maxIncLow, maxIncHigh               intVal
	hostMax, blockTime                  intVal // block time in minutes
	synWait, finWait, tcpIdle, udpIdle  intVal // seconds
	dnsTimeout                          intVal
	rules                               []*rule
	intercept                           intercept
	ifaces                              []*iface
	routes                              []*route
	nats                                []*natStatic
	acls                                []*accessList
	arps                                []*arpEntry
	reasmDatagrams, reasmFrags, reasmTO intVal

	// Indexes, so that large inputs take linear time.
	ifaceByName map[string]*iface // lower-case name
	ruleByName  map[string]*rule
	aclByName   map[string]*accessList
	natLocal    map[netip.Addr]int // line
	natGlobal   map[netip.Addr]int
	arpByAddr   map[netip.Addr]int
	// unclosed[d] is the index from which no line holds banner
	// delimiter d.
	unclosed map[string]int
}

func newTranslator(lines []line, opt Options) *translator {
	return &translator{
		lines: lines, opt: opt,
		ifaceByName: map[string]*iface{}, ruleByName: map[string]*rule{}, aclByName: map[string]*accessList{},
		natLocal: map[netip.Addr]int{}, natGlobal: map[netip.Addr]int{}, arpByAddr: map[netip.Addr]int{},
		unclosed: map[string]int{},
	}
}

// note reports one line.
func (t *translator) note(l *line, security bool, reason string) {
	t.notes = append(t.notes, Note{Line: l.n, End: l.n, Text: l.text, Reason: reason, Security: security})
}

// replaced reports the line of an earlier value that l replaces: IOS
// keeps the last command for a setting.
func (t *translator) replaced(old cite, l *line) {
	if old.n > 0 {
		t.notes = append(t.notes, Note{Line: old.n, End: old.n, Text: old.text, Reason: "replaced by line " + itoa(l.n)})
	}
}

// noteBlock reports a whole block.
func (t *translator) noteBlock(b *block, security bool, reason string) {
	t.notes = append(t.notes, Note{Line: b.head.n, End: b.end(), Text: b.head.text, Reason: reason, Security: security})
}

// quietBlock records lines with no meaning for cbac.
func (t *translator) quietBlock(b *block) {
	t.quiet = append(t.quiet, b.head.n)
	for _, l := range b.body {
		t.quiet = append(t.quiet, l.n)
	}
}

// run splits the input into blocks and translates each.
func (t *translator) run() {
	ls := t.lines
	for i := 0; i < len(ls); {
		l := ls[i]
		if l.text == "" || l.text[0] == '!' || isHeader(&l) {
			t.quiet = append(t.quiet, l.n)
			i++
			continue
		}
		if l.indent {
			// An indented line under no block (or after a "!"): IOS
			// would not print it so.
			t.note(&l, false, "indented line outside any block, ignored")
			i++
			continue
		}
		if l.is("banner") {
			if j, ok := t.bannerEnd(ls, i); ok {
				for k := i; k <= j; k++ {
					t.quiet = append(t.quiet, ls[k].n)
				}
				i = j + 1
				continue
			}
			t.note(&l, false, "banner whose delimiter never closes: the lines after it are read as commands")
			i++
			continue
		}
		b := block{head: l}
		j := i + 1
		for j < len(ls) && ls[j].indent {
			b.body = append(b.body, ls[j])
			j++
		}
		i = j
		// Names become TOML strings and keys: text that is not UTF-8
		// cannot be carried over faithfully.
		if !utf8.ValidString(l.text) {
			t.noteBlock(&b, securityCommand(&l), "not valid UTF-8: not translated")
			continue
		}
		body := b.body[:0]
		for _, s := range b.body {
			if utf8.ValidString(s.text) {
				body = append(body, s)
			} else {
				t.note(&s, l.is("interface") || l.is("ip", "access-list"), "not valid UTF-8: not translated")
			}
		}
		b.body = body
		t.block(&b)
	}
}

// securityCommand reports whether a top-level line filters or
// translates traffic in IOS.
func securityCommand(l *line) bool {
	return l.is("ip", "inspect") || l.is("ip", "nat") || l.is("access-list") || l.is("ip", "access-list") ||
		l.is("ip", "tcp", "intercept") || l.is("interface")
}

// isHeader reports the lines "show running-config" prints before the
// configuration, and an exec prompt pasted with it.
func isHeader(l *line) bool {
	if l.text == "Building configuration..." || l.is("Current", "configuration") || l.is("Last", "configuration", "change") {
		return true
	}
	// "3640-123#show running-config", "Router#sh run", a lone "Router#".
	if i := strings.IndexByte(l.words[0], '#'); i > 0 && !l.indent {
		rest := strings.ToLower(l.words[0][i+1:] + " " + l.rest(1))
		return strings.TrimSpace(rest) == "" || strings.HasPrefix(rest, "sh")
	}
	return false
}

// bannerEnd returns the index of the line that closes the banner that
// starts at ls[i]: "banner motd ^C" (IOS prints ETX as ^C) up to the next
// ^C, or any other delimiter character.
func (t *translator) bannerEnd(ls []line, i int) (int, bool) {
	l := &ls[i]
	if len(l.words) < 2 {
		return i, true
	}
	arg := l.rest(2)
	if len(l.words) == 2 { // "banner ^C..." without a type is motd
		arg = l.rest(1)
	}
	if arg == "" {
		return i, true // "banner exec" alone: nothing follows
	}
	delim := arg[:1]
	if strings.HasPrefix(arg, "^C") {
		delim = "^C"
	}
	if strings.Contains(arg[len(delim):], delim) {
		return i, true
	}
	if u, ok := t.unclosed[delim]; ok && u <= i+1 {
		return 0, false
	}
	for j := i + 1; j < len(ls); j++ {
		if strings.Contains(ls[j].text, delim) {
			return j, true
		}
	}
	t.unclosed[delim] = i + 1
	return 0, false
}

// block translates one top-level command and its sub-commands.
func (t *translator) block(b *block) {
	h := &b.head
	switch {
	case h.is("version"), h.is("service"), h.is("no", "service"), h.is("end"),
		h.is("boot-start-marker"), h.is("boot-end-marker"), h.is("line"):
		t.quietBlock(b)
		return
	case h.is("hostname"):
		if len(h.words) == 2 {
			if t.hostname != nil {
				t.replaced(*t.hostname, h)
			}
			c := citeOf(h)
			t.hostname, t.hostVal = &c, h.words[1]
		} else {
			t.note(h, false, "hostname takes one word: not translated")
		}
	case h.is("interface"):
		t.iface(b)
		return
	case h.is("ip", "inspect"):
		t.inspect(h)
	case h.is("ip", "route"):
		t.route(h)
	case h.is("ip", "nat"):
		t.nat(h)
	case h.is("access-list"):
		t.numberedACL(h)
	case h.is("ip", "access-list"):
		t.namedACL(b)
		return
	case h.is("ip", "tcp", "intercept"):
		t.tcpIntercept(h)
	case h.is("arp"):
		t.arp(h)
	default:
		t.other(b)
		return
	}
	for i := range b.body {
		t.note(&b.body[i], false, "unexpected sub-command of `"+h.text+"`, ignored")
	}
}

// Reasons for commands that are not translated, by their first words.
// Security-relevant ones filter or translate traffic in IOS.
var otherCommands = []struct {
	words    string
	security bool
	reason   string
}{
	{"ip access-group", true, "an access group outside an interface block is not a cbac setting"},
	{"zone", true, "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"zone-pair", true, "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"class-map type inspect", true, "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"policy-map type inspect", true, "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"parameter-map type inspect", true, "zone-based firewall: cbac implements CBAC (ip inspect) only"},
	{"ip ips", true, "IOS IPS: cbac has no signature IPS"},
	{"ip audit", true, "IOS IDS (ip audit): cbac has no signature IDS"},
	{"crypto pki", false, "router certificates: not a firewall setting, ignored"},
	{"crypto key", false, "router keys: not a firewall setting, ignored"},
	{"crypto", true, "IPsec: cbac has no IPsec; traffic IOS would encrypt is not protected"},
	{"ip urlfilter", true, "URL filtering: cbac has none"},
	{"ip auth-proxy", true, "authentication proxy: cbac has none"},
	{"ip admission", true, "authentication proxy: cbac has none"},
	{"ip port-map", true, "port-to-application mapping: cbac inspects each protocol on its well-known port only"},
	{"ip tcp", false, "the router's own TCP: cbacd terminates no TCP, ignored"},
	{"ip classless", false, "cbac always routes classless: nothing to translate"},
	{"ip subnet-zero", false, "cbac always allows subnet zero: nothing to translate"},
	{"ip cef", false, "forwarding mechanism: cbac forwards in its own dataplane, ignored"},
	{"no ip cef", false, "forwarding mechanism: cbac forwards in its own dataplane, ignored"},
	{"ip routing", false, "cbac always routes: nothing to translate"},
	{"ip http", false, "the router's web server: not a firewall setting, ignored"},
	{"no ip http", false, "the router's web server: not a firewall setting, ignored"},
	{"ip ssh", false, "router login: not a firewall setting, ignored"},
	{"ip domain", false, "the router's DNS resolver: not a firewall setting, ignored"},
	{"ip domain-name", false, "the router's DNS resolver: not a firewall setting, ignored"},
	{"ip domain-lookup", false, "the router's DNS resolver: not a firewall setting, ignored"},
	{"no ip domain-lookup", false, "the router's DNS resolver: not a firewall setting, ignored"},
	{"ip scp", false, "the router's file transfer: not a firewall setting, ignored"},
	{"ip ftp", false, "the router's file transfer: not a firewall setting, ignored"},
	{"ip tftp", false, "the router's file transfer: not a firewall setting, ignored"},
	{"boot", false, "router boot image: not a firewall setting, ignored"},
	{"config-register", false, "router boot setting: not a firewall setting, ignored"},
	{"hw-module", false, "router hardware: not a firewall setting, ignored"},
	{"no ip domain", false, "the router's DNS resolver: not a firewall setting, ignored"},
	{"ip name-server", false, "the router's DNS resolver: not a firewall setting, ignored"},
	{"ip host", false, "the router's host table: not a firewall setting, ignored"},
	{"ip dhcp", false, "DHCP server: not a firewall setting, ignored"},
	{"no ip dhcp", false, "DHCP server: not a firewall setting, ignored"},
	{"no ip ips", false, "IOS IPS default: nothing to translate"},
	{"no ip audit", false, "IOS IDS default: nothing to translate"},
	{"no ip bootp", false, "router services: not a firewall setting, ignored"},
	{"no ip finger", false, "router services: not a firewall setting, ignored"},
	{"ip default-gateway", false, "used only when IOS does not route: not translated"},
	{"enable", false, "router login: cbacd has no login, ignored"},
	{"username", false, "router login: cbacd has no login, ignored"},
	{"aaa", false, "router login (AAA): cbacd has no login, ignored"},
	{"no aaa", false, "router login (AAA): cbacd has no login, ignored"},
	{"router", false, "dynamic routing: cbac has static routes only; not translated"},
	{"logging", false, "router logging: set [logging] by hand, ignored"},
	{"no logging", false, "router logging: ignored"},
	{"snmp-server", false, "SNMP: not a firewall setting, ignored"},
	{"ntp", false, "time: not a firewall setting, ignored"},
	{"clock", false, "time: not a firewall setting, ignored"},
	{"cdp", false, "CDP: not a firewall setting, ignored"},
	{"no cdp", false, "CDP: not a firewall setting, ignored"},
	{"ftp-server", false, "the router's FTP server: not a firewall setting, ignored"},
	{"no ftp-server", false, "not a firewall setting, ignored"},
	{"tftp-server", false, "the router's TFTP server: not a firewall setting, ignored"},
	{"resource", false, "router resource manager: not a firewall setting, ignored"},
	{"voice-card", false, "voice hardware: not a firewall setting, ignored"},
	{"voice-port", false, "voice hardware: not a firewall setting, ignored"},
	{"dial-peer", false, "voice: not a firewall setting, ignored"},
	{"controller", false, "WAN controller: not a firewall setting, ignored"},
	{"control-plane", false, "router control plane: not a firewall setting, ignored"},
	{"mgcp", false, "voice: not a firewall setting, ignored"},
	{"scheduler", false, "router scheduler: not a firewall setting, ignored"},
	{"archive", false, "router configuration archive: not a firewall setting, ignored"},
	{"memory", false, "router memory: not a firewall setting, ignored"},
	{"license", false, "router license: not a firewall setting, ignored"},
	{"vtp", false, "switching: not a firewall setting, ignored"},
	{"spanning-tree", false, "switching: not a firewall setting, ignored"},
	{"vlan", false, "switching: not a firewall setting, ignored"},
	{"ip forward-protocol", false, "broadcast forwarding: cbac forwards no broadcasts, ignored"},
}

// other reports a command the importer does not translate.
func (t *translator) other(b *block) {
	h := &b.head
	for _, o := range otherCommands {
		if h.is(strings.Fields(o.words)...) {
			t.noteBlock(b, o.security, o.reason)
			return
		}
	}
	t.noteBlock(b, false, "not recognised by the importer, ignored (check that it is not a filtering setting)")
}

// number parses a decimal number in [min, max].
func number(s string, min, max int64) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, false
	}
	return n, true
}

// ipv4 parses a dotted quad.
func ipv4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Is4()
}

// maskBits returns the prefix length of a contiguous dotted mask.
func maskBits(s string) (int, bool) {
	a, ok := ipv4(s)
	if !ok {
		return 0, false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	bits := 0
	for bits < 32 && v&(1<<(31-bits)) != 0 {
		bits++
	}
	if bits < 32 && v<<bits != 0 {
		return 0, false // holes: not a mask
	}
	return bits, true
}

// onOff parses "on" or "off".
func onOff(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	return false, false
}
