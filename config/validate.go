package config

import (
	"net"
	"net/url"
	"strconv"
	"time"
)

// Validate checks a Config the way Parse does (docs/behaviour.md "Configuration"): every
// reference defined, thresholds ordered, timers positive, NAT one-to-one
// and clear of interface addresses, names unique. It is for a Config built
// or changed in code; Parse has already run it. Errors carry key paths
// (and lines when the Config came from a file). Like Parse, it fills in
// the Interface of an ARPEntry that names none from the connected prefix.
func (c *Config) Validate() error {
	p := &problems{file: c.File, lines: c.lines}
	if p.file == "" {
		p.file = "config"
	}
	c.validate(p)
	return p.err()
}

func (c *Config) validate(p *problems) {
	if c.Hostname == "" {
		p.add("hostname", errorf(ErrValue, "hostname is empty"))
	}
	c.validateInspect(p)
	c.validateInterfaces(p)
	c.validateRoutes(p)
	c.validateNAT(p)
	c.validateARP(p)
	c.validateRuntime(p)
	c.validateIntercept(p)
}

// positive reports a timer that is zero or negative, or not whole seconds
// (IOS timers count seconds).
func positive(p *problems, key string, d time.Duration) {
	switch {
	case d <= 0:
		p.add(key, errorf(ErrTimer, "%s is %v: must be positive", lastPart(key), d))
	case d%time.Second != 0:
		p.add(key, errorf(ErrTimer, "%s is %v: must be a whole number of seconds", lastPart(key), d))
	}
}

func lastPart(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' {
			return key[i+1:]
		}
	}
	return key
}

func threshold(p *problems, key string, t Threshold) {
	switch {
	case t.Low < 1 || t.High < 1:
		p.add(key, errorf(ErrValue, "thresholds [%d:%d] must be at least 1", t.Low, t.High))
	case t.Low > t.High:
		p.add(key, errorf(ErrThreshold, "low threshold %d is above high threshold %d", t.Low, t.High))
	}
}

func (c *Config) validateInspect(p *problems) {
	in := &c.Inspect
	threshold(p, "inspect.one_minute", in.OneMinute)
	threshold(p, "inspect.max_incomplete", in.MaxIncomplete)
	if n := in.TCPMaxIncompleteHost; n < 1 || n > 250 {
		p.add("inspect.tcp_max_incomplete_host", errorf(ErrValue, "tcp_max_incomplete_host %d: IOS accepts 1-250", n))
	}
	// Block time 0 is allowed: it selects "delete the oldest half-open
	// session" instead of blocking the host.
	if d := in.TCPBlockTime; d < 0 || d%time.Minute != 0 {
		p.add("inspect.tcp_block_time", errorf(ErrTimer, "tcp_block_time is %v: must be zero or a positive whole number of minutes", d))
	}
	positive(p, "inspect.tcp_synwait_time", in.TCPSynWait)
	positive(p, "inspect.tcp_finwait_time", in.TCPFinWait)
	positive(p, "inspect.tcp_idle_time", in.TCPIdle)
	positive(p, "inspect.udp_idle_time", in.UDPIdle)
	positive(p, "inspect.dns_timeout", in.DNSTimeout)

	seen := map[string]bool{}
	for i := range in.Rules {
		r := &in.Rules[i]
		key := "inspect.rules." + r.Name
		if r.Name == "" {
			p.add(key, errorf(ErrValue, "inspection rule has no name"))
		}
		if seen[r.Name] {
			p.add(key, errorf(ErrDuplicate, "inspection rule %s is defined twice", r.Name))
		}
		seen[r.Name] = true
		if len(r.Protocols) == 0 {
			p.add(key, errorf(ErrValue, "inspection rule %s names no protocol", r.Name))
		}
		_, smtp := r.Protocol(ProtoSMTP)
		_, esmtp := r.Protocol(ProtoESMTP)
		if smtp && esmtp {
			p.add(key+".esmtp", errorf(ErrSMTPAndESMTP,
				"inspection rule %s has both smtp and esmtp: IOS refuses both at once; keep esmtp (a superset of smtp) or smtp", r.Name))
		}
		protos := map[Protocol]bool{}
		for j := range r.Protocols {
			pr := &r.Protocols[j]
			pkey := key + "." + string(pr.Protocol)
			switch pr.Protocol {
			case ProtoTCP, ProtoUDP, ProtoICMP, ProtoFTP, ProtoHTTP, ProtoSMTP, ProtoESMTP:
			default:
				p.add(pkey, errorf(ErrValue, "unknown inspection protocol %q", pr.Protocol))
			}
			if protos[pr.Protocol] {
				p.add(pkey, errorf(ErrDuplicate, "protocol %s appears twice in rule %s", pr.Protocol, r.Name))
			}
			protos[pr.Protocol] = true
			positive(p, pkey+".timeout", pr.Timeout)
			if pr.JavaList != "" {
				c.checkJavaList(p, pkey+".java_list", pr.JavaList)
			}
			if !pr.Protocol.IsSMTP() {
				if pr.MaxData != 0 || len(pr.Allow) > 0 {
					p.add(pkey, errorf(ErrValue, "max_data and allow apply to smtp and esmtp only"))
				}
				continue
			}
			if pr.MaxData == 0 {
				p.add(pkey+".max_data", errorf(ErrValue, "max_data must be positive"))
			}
			for k, v := range pr.Allow {
				if !isVerb(v) {
					p.add(pkey+".allow["+strconv.Itoa(k)+"]", errorf(ErrValue, "allow %q: an SMTP verb is 1-16 letters", v))
				}
			}
		}
	}
	names := map[string]bool{}
	for i := range c.AccessLists {
		a := &c.AccessLists[i]
		if a.Name == "" {
			p.add("access_lists", errorf(ErrValue, "access list with an empty name"))
		}
		if names[a.Name] {
			p.add("access_lists."+a.Name, errorf(ErrDuplicate, "access list %s is defined twice", a.Name))
		}
		names[a.Name] = true
	}
}

// checkJavaList reports a java-list that is not a defined standard access
// list (IOS: "Java blocking only works with standard access lists").
func (c *Config) checkJavaList(p *problems, key, name string) {
	a, ok := c.AccessList(name)
	if !ok {
		p.add(key, errorf(ErrUndefined, "java_list %q is not defined in [access_lists]", name))
		return
	}
	if !a.IsStandard() {
		p.add(key, errorf(ErrValue, "java_list %q is not a standard access list: every entry must be \"permit|deny ip SOURCE any\" (it matches the server's address only)", name))
	}
}

func isVerb(v string) bool {
	if len(v) == 0 || len(v) > 16 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func (c *Config) validateInterfaces(p *problems) {
	names := map[string]int{}
	devices := map[string]int{}
	for i := range c.Interfaces {
		ifc := &c.Interfaces[i]
		key := "interface[" + strconv.Itoa(i) + "]"
		if ifc.Name == "" {
			p.add(key+".name", errorf(ErrValue, "interface name is required"))
		} else if j, ok := names[ifc.Name]; ok {
			p.add(key+".name", errorf(ErrDuplicate, "interface name %s is already used by interface[%d]", ifc.Name, j))
		} else {
			names[ifc.Name] = i
		}
		if ifc.Device == "" {
			p.add(key+".device", errorf(ErrValue, "device is required"))
		} else if j, ok := devices[ifc.Device]; ok {
			p.add(key+".device", errorf(ErrDuplicate, "device %s is already used by interface[%d]", ifc.Device, j))
		} else {
			devices[ifc.Device] = i
		}
		if !ifc.Address.IsValid() || !ifc.Address.Addr().Is4() || ifc.Address.Bits() < 1 {
			p.add(key+".address", errorf(ErrValue, "address is required: IPv4 address/prefix length, e.g. 10.10.10.1/24"))
		} else {
			for j := 0; j < i; j++ {
				if o := c.Interfaces[j].Address; o.IsValid() && o.Overlaps(ifc.Address) {
					p.add(key+".address", errorf(ErrValue, "%v overlaps with %s (%v), as IOS refuses", ifc.Address, c.Interfaces[j].Name, o))
				}
			}
		}
		if m := ifc.MAC; m != nil && (len(m) != 6 || m[0]&1 != 0) {
			p.add(key+".mac", errorf(ErrValue, "mac %v is not a unicast Ethernet address", m))
		}
		if ifc.NAT > NATOutside {
			p.add(key+".nat", errorf(ErrValue, "bad nat role %d", ifc.NAT))
		}
		c.checkACL(p, key+".access_group_in", ifc.AccessGroupIn)
		c.checkACL(p, key+".access_group_out", ifc.AccessGroupOut)
		c.checkRule(p, key+".inspect_in", ifc.InspectIn)
		c.checkRule(p, key+".inspect_out", ifc.InspectOut)
	}
}

func (c *Config) checkACL(p *problems, key, name string) {
	if _, ok := c.AccessList(name); name != "" && !ok {
		p.add(key, errorf(ErrUndefined, "access list %q is not defined in [access_lists]", name))
	}
}

func (c *Config) checkRule(p *problems, key, name string) {
	if _, ok := c.Rule(name); name != "" && !ok {
		p.add(key, errorf(ErrUndefined, "inspection rule %q is not defined in [inspect.rules]", name))
	}
}

func (c *Config) checkInterface(p *problems, key, name string) bool {
	if _, ok := c.Interface(name); name != "" && !ok {
		p.add(key, errorf(ErrUndefined, "interface %q is not defined in [[interface]]", name))
		return false
	}
	return true
}

func (c *Config) validateRoutes(p *problems) {
	for i := range c.Routes {
		r := &c.Routes[i]
		key := "route[" + strconv.Itoa(i) + "]"
		switch {
		case !r.Prefix.IsValid() || !r.Prefix.Addr().Is4():
			p.add(key+".prefix", errorf(ErrValue, "prefix is required: IPv4 network/prefix length, e.g. 0.0.0.0/0"))
		case r.Prefix.Masked() != r.Prefix:
			p.add(key+".prefix", errorf(ErrValue, "prefix %v has host bits set (IOS: inconsistent address and mask); the network is %v", r.Prefix, r.Prefix.Masked()))
		}
		if r.NextHop.IsValid() && !r.NextHop.Is4() {
			p.add(key+".next_hop", errorf(ErrValue, "next_hop %v is not IPv4", r.NextHop))
		}
		if !r.NextHop.IsValid() && r.Interface == "" && !p.has(key+".next_hop") {
			p.add(key, errorf(ErrValue, "route %v needs next_hop or interface", r.Prefix))
		}
		c.checkInterface(p, key+".interface", r.Interface)
	}
}

func (c *Config) validateNAT(p *problems) {
	locals := map[[4]byte]int{}
	globals := map[[4]byte]int{}
	for i := range c.StaticNAT {
		s := &c.StaticNAT[i]
		key := "nat.static[" + strconv.Itoa(i) + "]"
		if !s.InsideLocal.Is4() {
			p.add(key+".inside_local", errorf(ErrValue, "inside_local is required: an IPv4 address"))
		} else if j, ok := locals[s.InsideLocal.As4()]; ok {
			p.add(key+".inside_local", errorf(ErrNATConflict, "inside local %v is already mapped to %v by nat.static[%d]: one inside local maps to one inside global",
				s.InsideLocal, c.StaticNAT[j].InsideGlobal, j))
		} else {
			locals[s.InsideLocal.As4()] = i
		}
		if !s.InsideGlobal.Is4() {
			p.add(key+".inside_global", errorf(ErrValue, "inside_global is required: an IPv4 address"))
			continue
		}
		if j, ok := globals[s.InsideGlobal.As4()]; ok {
			p.add(key+".inside_global", errorf(ErrNATConflict, "inside global %v is already mapped from %v by nat.static[%d]: one inside global maps to one inside local",
				s.InsideGlobal, c.StaticNAT[j].InsideLocal, j))
		} else {
			globals[s.InsideGlobal.As4()] = i
		}
		for j := range c.Interfaces {
			if a := c.Interfaces[j].Address; a.IsValid() && a.Addr() == s.InsideGlobal {
				p.add(key+".inside_global", errorf(ErrNATConflict, "inside global %v is the address of interface %s", s.InsideGlobal, c.Interfaces[j].Name))
			}
		}
	}
}

func (c *Config) validateARP(p *problems) {
	seen := map[[4]byte]int{}
	for i := range c.ARP {
		a := &c.ARP[i]
		key := "arp[" + strconv.Itoa(i) + "]"
		if !a.Address.Is4() {
			p.add(key+".address", errorf(ErrValue, "address is required: an IPv4 address"))
			continue
		}
		if j, ok := seen[a.Address.As4()]; ok {
			p.add(key+".address", errorf(ErrDuplicate, "static ARP entry for %v already given by arp[%d]", a.Address, j))
		}
		seen[a.Address.As4()] = i
		if len(a.MAC) != 6 || a.MAC[0]&1 != 0 {
			p.add(key+".mac", errorf(ErrValue, "mac is required: a unicast Ethernet address"))
		}
		if a.Interface != "" {
			if c.checkInterface(p, key+".interface", a.Interface) {
				ifc, _ := c.Interface(a.Interface)
				if ifc.Address.IsValid() && !ifc.Address.Masked().Contains(a.Address) {
					p.add(key+".address", errorf(ErrValue, "%v is not in %s's network %v", a.Address, ifc.Name, ifc.Address.Masked()))
				}
			}
			continue
		}
		// IOS "arp A MAC arpa" names no interface: take the connected one.
		for j := range c.Interfaces {
			if pfx := c.Interfaces[j].Address; pfx.IsValid() && pfx.Masked().Contains(a.Address) {
				a.Interface = c.Interfaces[j].Name
				break
			}
		}
		if a.Interface == "" {
			p.add(key+".address", errorf(ErrValue, "%v is on no interface's network; set interface", a.Address))
		}
	}
}

func atLeast(p *problems, key string, v, min int) {
	if v < min {
		p.add(key, errorf(ErrValue, "%s is %d: must be at least %d", lastPart(key), v, min))
	}
}

func within(p *problems, key string, v, min, max int) {
	if v < min || v > max {
		p.add(key, errorf(ErrValue, "%s is %d: must be from %d to %d", lastPart(key), v, min, max))
	}
}

func (c *Config) validateRuntime(p *problems) {
	if c.Control.Socket == "" {
		p.add("control.socket", errorf(ErrValue, "socket path is empty"))
	}
	d := &c.Dataplane
	atLeast(p, "dataplane.workers", d.Workers, 0)
	atLeast(p, "dataplane.frames", d.Frames, 1)
	// The session table holds at most 2^24-1 sessions per worker.
	within(p, "dataplane.max_sessions", d.MaxSessions, 1, 1<<24-1)
	atLeast(p, "dataplane.inspected_buffer", d.InspectedBuffer, 1)
	atLeast(p, "dataplane.inspected_sessions", d.InspectedSessions, 0)
	if n := d.RingSize; n < 1 || n&(n-1) != 0 {
		p.add("dataplane.ring_size", errorf(ErrValue, "ring_size is %d: must be a power of two (AF_XDP rings)", n))
	}
	if s := c.Logging.Syslog; s != "" {
		u, err := url.Parse(s)
		ok := err == nil && ((u.Scheme == "udp" || u.Scheme == "tcp") && u.Port() != "" && u.Hostname() != "" && u.Path == "" ||
			u.Scheme == "unix" && u.Path != "")
		if !ok {
			p.add("logging.syslog", errorf(ErrValue, `syslog %q: want "udp://host:port", "tcp://host:port" or "unix:///dev/log"`, s))
		}
	}
	atLeast(p, "logging.alert_rate", c.Logging.AlertRate, 1)
	r := &c.Reassembly
	// IOS ranges: "ip virtual-reassembly max-reassemblies 1-4096
	// max-fragments 1-64".
	within(p, "reassembly.max_datagrams", r.MaxDatagrams, 1, 4096)
	within(p, "reassembly.max_fragments", r.MaxFragments, 1, 64)
	positive(p, "reassembly.timeout", r.Timeout)
	if a := c.Metrics.Listen; a != "" {
		if err := checkListen(a); err != nil {
			p.add("metrics.listen", err)
		}
	}
}

// checkListen checks a [metrics] listen address: an IP address (or host
// name) and a port, as net.Listen("tcp", a) takes them. A missing host
// would listen on every address, and the endpoint has no authentication,
// so it must be named ("0.0.0.0:PORT" for all, deliberately).
func checkListen(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return errorf(ErrValue, "listen %q: want HOST:PORT, e.g. %q", a, SuggestedMetricsListen)
	}
	if host == "" {
		return errorf(ErrValue, "listen %q: name the address to listen on (e.g. %q; \"0.0.0.0:%s\" for every address)", a, SuggestedMetricsListen, port)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errorf(ErrValue, "listen %q: port %q is not from 1 to 65535", a, port)
	}
	return nil
}
