package iosconfig

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cbac/config"
)

// mapDevices binds the interfaces that can be imported to their devices
// and decides which interfaces are left out.
func (t *translator) mapDevices() error {
	e := &MappingError{}
	keys := make([]string, 0, len(t.opt.Devices))
	for k := range t.opt.Devices {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if f := t.findIface(k); f != nil {
			f.device = t.opt.Devices[k]
		} else {
			e.Unknown = append(e.Unknown, k)
		}
	}
	devices := map[string]string{}
	for _, f := range t.ifaces {
		e.Known = append(e.Known, InterfaceRef{f.name, f.c.n})
		switch {
		case f.shutdown:
			f.omitted = "shut down: not imported"
		case strings.HasPrefix(strings.ToLower(f.name), "loopback"):
			f.omitted = "loopback interfaces have no device in cbac: not imported"
		case !f.addr.IsValid():
			f.omitted = "no IPv4 address: not imported"
		case f.device == SkipDevice:
			f.omitted = "left out by -map: not imported"
		case f.device == "":
			e.Missing = append(e.Missing, InterfaceRef{f.name, f.c.n})
		default:
			if o, ok := devices[f.device]; ok {
				e.Shared = append(e.Shared, f.device+" ("+o+", "+f.name+")")
			}
			devices[f.device] = f.name
		}
	}
	if len(e.Missing)+len(e.Unknown)+len(e.Shared) > 0 {
		return e
	}
	return nil
}

// resolve checks what cbac's loader would refuse and what refers to
// something not imported, leaving such values out with a note.
func (t *translator) resolve() {
	var imported []*iface
	for _, f := range t.ifaces {
		if f.omitted == "" {
			for _, o := range imported {
				if o.addr.Overlaps(f.addr) {
					f.omitted = "address " + f.addr.String() + " overlaps " + o.name + "'s " + o.addr.String() + " (IOS refuses this): not imported"
				}
			}
		}
		if f.omitted != "" {
			t.omit(f)
			continue
		}
		t.notes = append(t.notes, f.notes...)
		imported = append(imported, f)
		t.checkACL(&f.aclIn, f.aclInC)
		t.checkACL(&f.aclOut, f.aclOutC)
		t.checkRule(&f.inspIn, f.inspInC)
		t.checkRule(&f.inspOut, f.inspOutC)
	}
	for _, r := range t.rules {
		for _, p := range r.protos {
			t.checkJavaList(p)
		}
	}
	t.checkThreshold(&t.maxIncLow, &t.maxIncHigh)
	t.checkThreshold(&t.oneMinLow, &t.oneMinHigh)
	t.resolveIntercept()
	for _, a := range t.acls {
		if !a.defined {
			for _, e := range a.entries {
				t.note(&line{n: e.c.n, text: e.c.text}, false, "access list "+a.name+" has no entries: not translated")
			}
		}
	}
	onNet := func(r *route) bool {
		for _, f := range imported {
			if f.addr.Masked().Contains(r.nextHop) {
				return true
			}
		}
		return false
	}
	best := map[string]*route{}
	for _, r := range t.routes {
		if r.iface != "" {
			f := t.findIface(r.iface)
			switch {
			case strings.HasPrefix(strings.ToLower(r.iface), "null"):
				t.dropRoute(r, "null route: cbac has no discard route; not translated")
				continue
			case f == nil || f.omitted != "":
				t.dropRoute(r, "interface "+r.iface+" is not imported: not translated")
				continue
			}
			r.iface = f.name
		} else if !onNet(r) {
			t.dropRoute(r, "next hop "+r.nextHop.String()+" is not on a connected network (cbac resolves next hops there only): not translated")
			continue
		}
		k := r.prefix.String()
		if o := best[k]; o != nil {
			if r.distance < o.distance {
				t.dropRoute(o, "replaced by line "+itoa(r.c.n)+" (lower distance): cbac keeps one route per prefix")
				best[k] = r
			} else {
				t.dropRoute(r, "line "+itoa(o.c.n)+" routes this prefix (distance "+itoa(int(o.distance))+"): cbac keeps one route per prefix")
			}
			continue
		}
		best[k] = r
	}
	ifaceAddr := map[netip.Addr]string{}
	for _, f := range imported {
		ifaceAddr[f.addr.Addr()] = f.name
	}
	for _, n := range t.nats {
		if name, ok := ifaceAddr[n.global]; ok {
			t.note(&n.l, true, "inside global "+n.global.String()+" is the address of "+name+": cbac refuses this; not translated")
			n.global = netip.Addr{}
		}
	}
	for _, a := range t.arps {
		ok := false
		for _, f := range imported {
			ok = ok || f.addr.Masked().Contains(a.addr)
		}
		if !ok {
			t.note(&a.l, false, a.addr.String()+" is on no imported interface's network: not translated")
			a.mac = ""
		}
	}
}

// omit reports a left-out interface once for each of its blocks.
func (t *translator) omit(f *iface) {
	reason := f.omitted
	if f.guarded {
		reason += "; its access groups, inspection rules and NAT role are not translated"
	}
	for i := range f.blks {
		t.noteBlock(&f.blks[i], f.guarded && !f.shutdown, reason)
	}
}

func (t *translator) dropRoute(r *route, reason string) {
	r.dropped = true
	t.note(&r.l, false, reason)
}

func (t *translator) checkACL(name *string, c cite) {
	if *name == "" {
		return
	}
	a := t.findACL(*name)
	if a == nil || !a.defined {
		t.note(&line{n: c.n, text: c.text}, true, "access list "+*name+" is not defined (IOS lets every packet through such an access group): not translated")
		*name = ""
	}
}

// checkJavaList keeps an http rule's java-list only if it names a
// defined standard list. Without one, cbac blocks the applets of every
// server: what IOS does with a placeholder java-list (a number with no
// access list behind it), so that case loses nothing.
func (t *translator) checkJavaList(p *proto) {
	if p.javaList == "" {
		return
	}
	l := &line{n: p.c.n, text: p.c.text}
	a := t.findACL(p.javaList)
	switch {
	case a == nil || !a.defined:
		t.note(l, false, "java-list "+p.javaList+" names no access list: IOS then blocks every Java applet, as cbac does without java_list; translated without it")
		p.javaList = ""
	case !a.standard:
		t.notes = append(t.notes, Note{Line: p.c.n, End: p.c.n, Text: p.c.text, Security: true, Partial: true,
			Reason: "java-list " + p.javaList + " is not a standard access list (Java blocking works with standard lists only): inspects http without it, blocking every Java applet"})
		p.javaList = ""
	}
}

func (t *translator) checkRule(name *string, c cite) {
	if *name == "" {
		return
	}
	if r := t.findRule(*name); r == nil || len(r.protos) == 0 {
		t.note(&line{n: c.n, text: c.text}, true, "inspection rule "+*name+" is not defined or has no protocol cbac inspects: not translated")
		*name = ""
	}
}

// checkThreshold drops a low/high pair that cbac would refuse (low above
// high, counting the IOS defaults for a value not set).
func (t *translator) checkThreshold(low, high *intVal) {
	lo, hi := int64(config.DefaultThresholdLow), int64(config.DefaultThresholdHigh)
	if low.set {
		lo = low.v
	}
	if high.set {
		hi = high.v
	}
	if lo <= hi {
		return
	}
	for _, v := range []*intVal{low, high} {
		if v.set {
			t.note(&line{n: v.c.n, text: v.c.text}, true, "low threshold "+itoa(int(lo))+" is above high threshold "+itoa(int(hi))+
				" (IOS defaults 400 and 500 count): cbac refuses this; not translated")
			*v = intVal{}
		}
	}
}

func (t *translator) counts() (ifaces, rules, acls, nats, routes int) {
	for _, f := range t.ifaces {
		if f.omitted == "" {
			ifaces++
		}
	}
	for _, r := range t.rules {
		if len(r.protos) > 0 {
			rules++
		}
	}
	for _, a := range t.acls {
		if a.defined {
			acls++
		}
	}
	for _, n := range t.nats {
		if n.global.IsValid() {
			nats++
		}
	}
	for _, r := range t.routes {
		if !r.dropped {
			routes++
		}
	}
	return
}

// tomlWriter writes the TOML document.
type tomlWriter struct{ b strings.Builder }

// kv writes "key = value  # line N: text; line M: text".
func (w *tomlWriter) kv(key, value string, cites ...cite) {
	w.b.WriteString(key + " = " + value)
	w.comment(cites...)
}

func (w *tomlWriter) comment(cites ...cite) {
	var parts []string
	for _, c := range cites {
		if c.n > 0 {
			parts = append(parts, "line "+itoa(c.n)+": "+commentText(c.text))
		}
	}
	if len(parts) > 0 {
		w.b.WriteString("  # " + strings.Join(parts, "; "))
	}
	w.b.WriteByte('\n')
}

// citation writes a comment line citing c: an input line carried over as
// a comment (a description, a remark).
func (w *tomlWriter) citation(indent string, c cite) {
	w.line(indent + "# line " + itoa(c.n) + ": " + commentText(c.text))
}

func (w *tomlWriter) line(s string) { w.b.WriteString(s + "\n") }

// emit writes the TOML document.
func (t *translator) emit() []byte {
	w := &tomlWriter{}
	name := t.opt.Name
	if name == "" {
		name = "a running-config"
	}
	w.line("# cbacd configuration imported from " + commentText(name) + " by cbacd import-ios.")
	w.line("# Values cite the running-config line they come from; keys without a")
	w.line("# line are IOS defaults. Lines not translated are reported on stderr.")
	var sec []Note
	for _, n := range t.notes {
		if n.Security {
			sec = append(sec, n)
		}
	}
	if len(sec) > 0 {
		sort.SliceStable(sec, func(i, j int) bool { return sec[i].Line < sec[j].Line })
		w.line("#")
		w.line("# NOT TRANSLATED, security-relevant: review before use")
		for _, n := range sec {
			// Not "line N:", which cites a translated line.
			w.line("#   " + commentText(strings.Replace(n.String(), ":", "", 1)))
		}
	}
	w.line("")
	if t.hostname != nil {
		w.kv("hostname", tomlString(t.hostVal), *t.hostname)
		w.line("")
	}

	w.line("[inspect]")
	boolKV := func(key string, v boolVal, def bool) {
		if v.set {
			w.kv(key, strconv.FormatBool(v.v), v.c)
		} else {
			w.kv(key, strconv.FormatBool(def))
		}
	}
	boolKV("audit_trail", t.auditTrail, config.DefaultAuditTrail)
	boolKV("alert", t.alert, config.DefaultAlert)
	pair := func(key string, low, high intVal) {
		lo, hi := int64(config.DefaultThresholdLow), int64(config.DefaultThresholdHigh)
		if low.set {
			lo = low.v
		}
		if high.set {
			hi = high.v
		}
		w.kv(key, "{ low = "+strconv.FormatInt(lo, 10)+", high = "+strconv.FormatInt(hi, 10)+" }", low.c, high.c)
	}
	pair("one_minute", t.oneMinLow, t.oneMinHigh)
	pair("max_incomplete", t.maxIncLow, t.maxIncHigh)
	intKV := func(key string, v intVal, def int64, unit string) {
		n := def
		if v.set {
			n = v.v
		}
		s := strconv.FormatInt(n, 10)
		if unit != "" {
			s = tomlString(s + unit)
		}
		w.kv(key, s, v.c)
	}
	intKV("tcp_max_incomplete_host", t.hostMax, config.DefaultTCPMaxIncompleteHost, "")
	// One IOS line gives both the host limit and the block time.
	intKV("tcp_block_time", t.blockTime, 0, "m")
	intKV("tcp_synwait_time", t.synWait, secs(config.DefaultTCPSynWait), "s")
	intKV("tcp_finwait_time", t.finWait, secs(config.DefaultTCPFinWait), "s")
	intKV("tcp_idle_time", t.tcpIdle, secs(config.DefaultTCPIdle), "s")
	intKV("udp_idle_time", t.udpIdle, secs(config.DefaultUDPIdle), "s")
	intKV("dns_timeout", t.dnsTimeout, secs(config.DefaultDNSTimeout), "s")

	for _, r := range t.rules {
		if len(r.protos) == 0 {
			continue
		}
		w.line("")
		w.line("[inspect.rules." + tomlKey(r.name) + "]")
		for _, p := range r.protos {
			var opts []string
			if p.alert != nil {
				opts = append(opts, "alert = "+strconv.FormatBool(*p.alert))
			}
			if p.audit != nil {
				opts = append(opts, "audit_trail = "+strconv.FormatBool(*p.audit))
			}
			if p.timeout > 0 {
				opts = append(opts, "timeout = "+tomlString(strconv.FormatInt(p.timeout, 10)+"s"))
			}
			if p.maxData > 0 {
				opts = append(opts, "max_data = "+strconv.FormatInt(p.maxData, 10))
			}
			if p.javaList != "" {
				opts = append(opts, "java_list = "+tomlString(p.javaList))
			}
			v := "{}"
			if len(opts) > 0 {
				v = "{ " + strings.Join(opts, ", ") + " }"
			}
			w.kv(p.name, v, p.c)
		}
	}

	for _, f := range t.ifaces {
		if f.omitted != "" {
			continue
		}
		w.line("")
		w.b.WriteString("[[interface]]")
		w.comment(f.c)
		for _, c := range f.extra {
			w.citation("", c)
		}
		w.line("name = " + tomlString(f.name))
		w.line("device = " + tomlString(f.device) + "  # -map")
		w.kv("address", tomlString(f.addr.String()), f.addrC)
		if f.mac != "" {
			w.kv("mac", tomlString(f.mac), f.macC)
		}
		if f.nat != "" {
			w.kv("nat", tomlString(f.nat), f.natC)
		}
		for _, s := range []struct {
			key, v string
			c      cite
		}{
			{"access_group_in", f.aclIn, f.aclInC}, {"access_group_out", f.aclOut, f.aclOutC},
			{"inspect_in", f.inspIn, f.inspInC}, {"inspect_out", f.inspOut, f.inspOutC},
		} {
			if s.v != "" {
				w.kv(s.key, tomlString(s.v), s.c)
			}
		}
		if f.vr {
			w.kv("virtual_reassembly", "true", f.vrC)
		}
	}

	for _, r := range t.routes {
		if r.dropped {
			continue
		}
		w.line("")
		w.b.WriteString("[[route]]")
		w.comment(r.c)
		w.line("prefix = " + tomlString(r.prefix.String()))
		if r.nextHop.IsValid() {
			w.line("next_hop = " + tomlString(r.nextHop.String()))
		}
		if r.iface != "" {
			w.line("interface = " + tomlString(r.iface))
		}
	}

	for _, n := range t.nats {
		if !n.global.IsValid() {
			continue
		}
		w.line("")
		w.b.WriteString("[[nat.static]]")
		w.comment(n.c)
		w.line("inside_local = " + tomlString(n.local.String()))
		w.line("inside_global = " + tomlString(n.global.String()))
	}

	first := true
	for _, a := range t.acls {
		if !a.defined {
			continue
		}
		if first {
			w.line("")
			w.line("[access_lists]")
			first = false
		}
		w.line(tomlKey(a.name) + " = [")
		for _, e := range a.entries {
			if e.text == "" {
				w.citation("  ", e.c)
				continue
			}
			w.b.WriteString("  " + tomlString(e.text) + ",")
			w.comment(e.c)
		}
		w.line("]")
	}

	t.emitIntercept(w)

	for _, a := range t.arps {
		if a.mac == "" {
			continue
		}
		w.line("")
		w.b.WriteString("[[arp]]")
		w.comment(a.c)
		w.line("address = " + tomlString(a.addr.String()))
		w.line("mac = " + tomlString(a.mac))
	}

	if t.reasmDatagrams.set || t.reasmFrags.set || t.reasmTO.set {
		w.line("")
		w.line("[reassembly]")
		if v := t.reasmDatagrams; v.set {
			w.kv("max_datagrams", strconv.FormatInt(v.v, 10), v.c)
		}
		if v := t.reasmFrags; v.set {
			w.kv("max_fragments", strconv.FormatInt(v.v, 10), v.c)
		}
		if v := t.reasmTO; v.set {
			w.kv("timeout", tomlString(strconv.FormatInt(v.v, 10)+"s"), v.c)
		}
	}
	return []byte(w.b.String())
}

func secs(d time.Duration) int64 { return int64(d / time.Second) }

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlKey writes a key bare when TOML allows it, else quoted.
func tomlKey(s string) string {
	if s == "" {
		return `""`
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return tomlString(s)
		}
	}
	return s
}

// commentText makes s safe inside a TOML comment: valid UTF-8, no
// control characters.
func commentText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// quote quotes a word of the input for a message.
func quote(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return strconv.Quote(s)
}
