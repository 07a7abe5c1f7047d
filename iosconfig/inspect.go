package iosconfig

import "strings"

// IOS accepts timers of 1 to 2147483 seconds and thresholds up to 2^31-1.
const (
	maxSeconds   = 2147483
	maxThreshold = 2147483647
)

// A rule is one "ip inspect name NAME": its protocols in order.
type rule struct {
	name   string
	protos []*proto
}

// A proto is one "ip inspect name NAME PROTO [options]" line.
type proto struct {
	name         string // tcp, udp, icmp, ftp, http, smtp, esmtp
	alert, audit *bool
	timeout      int64  // seconds, 0 when not set
	maxData      int64  // smtp, esmtp; 0 when not set
	javaList     string // http: "java-list ACL"; checked by resolve
	c            cite
}

// inspect translates a global "ip inspect ..." line.
func (t *translator) inspect(l *line) {
	w := l.words[2:]
	arg := func(i int) string {
		if i < len(w) {
			return strings.ToLower(w[i])
		}
		return ""
	}
	set := func(v *intVal, s string, min, max int64) {
		n, ok := number(s, min, max)
		if !ok {
			t.note(l, true, "value "+quote(s)+" out of IOS's range "+itoa(int(min))+"-"+itoa(int(max))+": not translated")
			return
		}
		t.replaced(v.c, l)
		*v = intVal{v: n, c: citeOf(l), set: true}
	}
	switch {
	case len(w) == 1 && arg(0) == "audit-trail":
		t.replaced(t.auditTrail.c, l)
		t.auditTrail = boolVal{v: true, c: citeOf(l), set: true}
	case len(w) == 1 && arg(0) == "alert-off":
		t.replaced(t.alert.c, l)
		t.alert = boolVal{v: false, c: citeOf(l), set: true}
	case len(w) == 3 && (arg(0) == "max-incomplete" || arg(0) == "one-minute") && (arg(1) == "high" || arg(1) == "low"):
		v := map[string]*intVal{
			"max-incomplete high": &t.maxIncHigh, "max-incomplete low": &t.maxIncLow,
			"one-minute high": &t.oneMinHigh, "one-minute low": &t.oneMinLow,
		}[arg(0)+" "+arg(1)]
		set(v, w[2], 1, maxThreshold)
	case arg(0) == "tcp" && arg(1) == "max-incomplete" && arg(2) == "host" && (len(w) == 4 || len(w) == 6 && arg(4) == "block-time"):
		if len(w) == 6 {
			n, ok := number(w[5], 0, 35791)
			if !ok {
				t.note(l, true, "block-time "+quote(w[5])+" out of IOS's range 0-35791: not translated")
				return
			}
			if _, ok := number(w[3], 1, 250); ok {
				if t.blockTime.c != t.hostMax.c {
					t.replaced(t.blockTime.c, l)
				}
				t.blockTime = intVal{v: n, c: citeOf(l), set: true}
			}
		}
		set(&t.hostMax, w[3], 1, 250)
	case len(w) == 3 && arg(0) == "tcp" && arg(1) == "synwait-time":
		set(&t.synWait, w[2], 1, maxSeconds)
	case len(w) == 3 && arg(0) == "tcp" && arg(1) == "finwait-time":
		set(&t.finWait, w[2], 1, maxSeconds)
	case len(w) == 3 && arg(0) == "tcp" && arg(1) == "idle-time":
		set(&t.tcpIdle, w[2], 1, maxSeconds)
	case len(w) == 3 && arg(0) == "udp" && arg(1) == "idle-time":
		set(&t.udpIdle, w[2], 1, maxSeconds)
	case len(w) == 2 && arg(0) == "dns-timeout":
		set(&t.dnsTimeout, w[1], 1, maxSeconds)
	case arg(0) == "name" && len(w) >= 3:
		t.inspectName(l, w[1], w[2:])
	default:
		t.note(l, true, "this ip inspect setting is not supported by cbac")
	}
}

// inspectName translates "ip inspect name NAME PROTO [options]".
func (t *translator) inspectName(l *line, name string, w []string) {
	p := &proto{name: strings.ToLower(w[0]), c: citeOf(l)}
	switch p.name {
	case "tcp", "udp", "icmp", "ftp", "http", "smtp", "esmtp":
	default:
		t.note(l, true, "cbac does not inspect "+quote(w[0])+" (it inspects tcp, udp, icmp, ftp, http, smtp, esmtp)")
		return
	}
	var dropped []string
	for i := 1; i < len(w); i++ {
		kw := strings.ToLower(w[i])
		val := ""
		if i+1 < len(w) {
			val = w[i+1]
		}
		switch {
		case kw == "alert" || kw == "audit-trail":
			b, ok := onOff(val)
			if !ok {
				t.note(l, true, kw+" wants on or off: not translated")
				return
			}
			if kw == "alert" {
				p.alert = &b
			} else {
				p.audit = &b
			}
			i++
		case kw == "timeout":
			n, ok := number(val, 1, maxSeconds)
			if !ok {
				t.note(l, true, "timeout "+quote(val)+" out of range 1-"+itoa(maxSeconds)+": not translated")
				return
			}
			p.timeout = n
			i++
		case kw == "max-data" && (p.name == "smtp" || p.name == "esmtp"):
			n, ok := number(val, 1, 1<<62)
			if !ok {
				t.note(l, true, "max-data "+quote(val)+" is not a positive number: not translated")
				return
			}
			p.maxData = n
			i++
		case kw == "java-list" && p.name == "http" && val != "":
			p.javaList = val
			i++
		case kw == "urlfilter" && p.name == "http":
			dropped = append(dropped, "urlfilter (cbac has no URL filtering)")
		case kw == "router-traffic":
			// Only traffic to or from the router itself, which cbacd
			// neither sends nor receives.
			t.note(l, false, "router-traffic dropped: cbacd originates and terminates no traffic; the rest is translated")
		default:
			t.note(l, true, "option "+quote(w[i])+" is not supported by cbac")
			return
		}
	}
	if len(dropped) > 0 {
		t.notes = append(t.notes, Note{Line: l.n, End: l.n, Text: l.text, Security: true, Partial: true,
			Reason: "inspects " + p.name + " without " + strings.Join(dropped, ", ")})
	}
	r := t.rule(name)
	for i, q := range r.protos {
		switch {
		case q.name == p.name:
			// IOS keeps the last command for a protocol.
			t.replaced(q.c, l)
			r.protos[i] = p
			return
		case (q.name == "smtp" || q.name == "esmtp") && (p.name == "smtp" || p.name == "esmtp"):
			t.note(l, true, "IOS refuses smtp and esmtp in one rule; line "+itoa(q.c.n)+" is kept")
			return
		}
	}
	r.protos = append(r.protos, p)
}

func (t *translator) rule(name string) *rule {
	if r := t.ruleByName[name]; r != nil {
		return r
	}
	r := &rule{name: name}
	t.rules = append(t.rules, r)
	t.ruleByName[name] = r
	return r
}

func (t *translator) findRule(name string) *rule {
	return t.ruleByName[name]
}
