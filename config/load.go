package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"cbac/acl"
)

// The file's shape. Pointers tell an absent key (IOS default) from a zero
// value; every key the file may hold is a field here, so anything the
// decoder leaves undecoded is an unknown key.
type (
	fileConfig struct {
		Hostname    *string             `toml:"hostname"`
		Inspect     fileInspect         `toml:"inspect"`
		Interface   []fileInterface     `toml:"interface"`
		Route       []fileRoute         `toml:"route"`
		NAT         fileNAT             `toml:"nat"`
		AccessLists map[string][]string `toml:"access_lists"`
		ARP         []fileARP           `toml:"arp"`
		Control     fileControl         `toml:"control"`
		Dataplane   fileDataplane       `toml:"dataplane"`
		Logging     fileLogging         `toml:"logging"`
		Reassembly  fileReassembly      `toml:"reassembly"`
		Metrics     fileMetrics         `toml:"metrics"`
		Intercept   fileTCPIntercept    `toml:"tcp_intercept"`
	}
	fileInspect struct {
		AuditTrail           *bool               `toml:"audit_trail"`
		Alert                *bool               `toml:"alert"`
		OneMinute            fileThreshold       `toml:"one_minute"`
		MaxIncomplete        fileThreshold       `toml:"max_incomplete"`
		TCPMaxIncompleteHost *int                `toml:"tcp_max_incomplete_host"`
		TCPBlockTime         duration            `toml:"tcp_block_time"`
		TCPSynWait           duration            `toml:"tcp_synwait_time"`
		TCPFinWait           duration            `toml:"tcp_finwait_time"`
		TCPIdle              duration            `toml:"tcp_idle_time"`
		UDPIdle              duration            `toml:"udp_idle_time"`
		DNSTimeout           duration            `toml:"dns_timeout"`
		Rules                map[string]fileRule `toml:"rules"`
	}
	fileThreshold struct {
		Low  *int `toml:"low"`
		High *int `toml:"high"`
	}
	fileRule struct {
		TCP   *fileProtocol `toml:"tcp"`
		UDP   *fileProtocol `toml:"udp"`
		ICMP  *fileProtocol `toml:"icmp"`
		FTP   *fileProtocol `toml:"ftp"`
		HTTP  *fileHTTP     `toml:"http"`
		SMTP  *fileSMTP     `toml:"smtp"`
		ESMTP *fileSMTP     `toml:"esmtp"`
	}
	fileProtocol struct {
		Alert      *bool    `toml:"alert"`
		AuditTrail *bool    `toml:"audit_trail"`
		Timeout    duration `toml:"timeout"`
	}
	fileHTTP struct {
		Alert      *bool    `toml:"alert"`
		AuditTrail *bool    `toml:"audit_trail"`
		Timeout    duration `toml:"timeout"`
		JavaList   *string  `toml:"java_list"`
	}
	fileSMTP struct {
		Alert      *bool    `toml:"alert"`
		AuditTrail *bool    `toml:"audit_trail"`
		Timeout    duration `toml:"timeout"`
		MaxData    *int64   `toml:"max_data"`
		Allow      []string `toml:"allow"`
	}
	fileInterface struct {
		Name              string `toml:"name"`
		Device            string `toml:"device"`
		Address           string `toml:"address"`
		MAC               string `toml:"mac"`
		NAT               string `toml:"nat"`
		AccessGroupIn     string `toml:"access_group_in"`
		AccessGroupOut    string `toml:"access_group_out"`
		InspectIn         string `toml:"inspect_in"`
		InspectOut        string `toml:"inspect_out"`
		VirtualReassembly bool   `toml:"virtual_reassembly"`
	}
	fileRoute struct {
		Prefix    string `toml:"prefix"`
		NextHop   string `toml:"next_hop"`
		Interface string `toml:"interface"`
	}
	fileNAT struct {
		Static []fileStatic `toml:"static"`
	}
	fileStatic struct {
		InsideLocal  string `toml:"inside_local"`
		InsideGlobal string `toml:"inside_global"`
	}
	fileARP struct {
		Address   string `toml:"address"`
		MAC       string `toml:"mac"`
		Interface string `toml:"interface"`
	}
	fileControl struct {
		Socket *string `toml:"socket"`
	}
	fileDataplane struct {
		Workers         *int  `toml:"workers"`
		Frames          *int  `toml:"frames"`
		RingSize        *int  `toml:"ring_size"`
		MaxSessions     *int  `toml:"max_sessions"`
		FailOpen        *bool `toml:"fail_open"`
		InspectedBuffer *int  `toml:"inspected_buffer"`
		// InspectedSessions: see Dataplane.InspectedSessions.
		InspectedSessions *int `toml:"inspected_sessions"`
	}
	fileLogging struct {
		Syslog    *string `toml:"syslog"`
		AlertRate *int    `toml:"alert_rate"`
	}
	fileMetrics struct {
		Listen *string `toml:"listen"`
	}
	fileReassembly struct {
		MaxDatagrams *int     `toml:"max_datagrams"`
		MaxFragments *int     `toml:"max_fragments"`
		Timeout      duration `toml:"timeout"`
	}
)

// badDuration starts the message of a duration the decoder refused.
const badDuration = "invalid duration"

// duration is a TOML timer: a Go duration string ("30s", "0m", "1h") or an
// integer number of seconds, as IOS counts them.
type duration struct {
	d   time.Duration
	set bool
}

func (d *duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf(`%s %q: want a duration such as "30s" or an integer number of seconds`, badDuration, x)
		}
		d.d = p
	case int64:
		if x > math.MaxInt64/int64(time.Second) || x < math.MinInt64/int64(time.Second) {
			return fmt.Errorf("%s %d: out of range", badDuration, x)
		}
		d.d = time.Duration(x) * time.Second
	default:
		return fmt.Errorf(`%s: want a string such as "30s" or an integer number of seconds`, badDuration)
	}
	d.set = true
	return nil
}

func (d duration) or(def time.Duration) time.Duration {
	if d.set {
		return d.d
	}
	return def
}

func boolOr(p *bool, def bool) bool {
	if p != nil {
		return *p
	}
	return def
}

func intOr(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}

func stringOr(p *string, def string) string {
	if p != nil {
		return *p
	}
	return def
}

// Load reads and validates the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a configuration; name is the file name that
// errors carry. The error lists every problem found (up to 20), each an
// *Error, in line order.
func Parse(name string, data []byte) (*Config, error) {
	var f fileConfig
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, decodeError(name, err)
	}
	p := &problems{file: name, lines: locate(string(data))}
	paths := indexPaths(p.lines)
	unknownKeys(p, paths, md.Undecoded())
	foldedKeys(p, paths, md.Keys())
	c := resolve(p, &f, md.Keys())
	c.File, c.lines = name, p.lines
	c.validate(p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// unknownKeys reports each undecoded key, at every place it appears, once
// per table (the keys inside an unknown table are not repeated).
func unknownKeys(p *problems, paths map[string][]string, keys []toml.Key) {
	undecoded := map[string]bool{}
	for _, k := range keys {
		undecoded[strings.Join(k, ".")] = true
	}
	reported := map[string]bool{}
	for _, k := range keys {
		s := strings.Join(k, ".")
		if len(k) > 1 && undecoded[strings.Join(k[:len(k)-1], ".")] || reported[s] {
			continue
		}
		reported[s] = true
		err := errorf(ErrUnknownKey, "unknown key %q", k[len(k)-1])
		for _, path := range paths[s] {
			p.add(path, err)
		}
		if len(paths[s]) == 0 {
			p.add(s, err)
		}
	}
}

// foldedKeys reports keys that the decoder matched to a field only by
// ignoring case ("Hostname"): every key cbacd defines is lower case; only
// the names of rules and access lists are the user's.
func foldedKeys(p *problems, paths map[string][]string, keys []toml.Key) {
	for _, k := range keys {
		for i, part := range k {
			user := i == 2 && k[0] == "inspect" && k[1] == "rules" || i == 1 && k[0] == "access_lists"
			if !user && part != strings.ToLower(part) {
				err := errorf(ErrUnknownKey, "unknown key %q (keys are lower case)", part)
				for _, path := range paths[strings.Join(k[:i+1], ".")] {
					p.add(path, err)
				}
				break
			}
		}
	}
}

// indexPaths maps each unindexed key path ("interface.name") to its
// indexed forms ("interface[0].name", ...) in line order.
func indexPaths(lines map[string]int) map[string][]string {
	paths := map[string][]string{}
	for path := range lines {
		k := stripIndexes(path)
		paths[k] = append(paths[k], path)
	}
	for _, ps := range paths {
		sort.Slice(ps, func(i, j int) bool { return lines[ps[i]] < lines[ps[j]] })
	}
	return paths
}

func stripIndexes(path string) string {
	if !strings.Contains(path, "[") {
		return path
	}
	var b strings.Builder
	skip := false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '[':
			skip = true
		case c == ']':
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// resolve turns the decoded file into a Config with defaults applied,
// reporting values that do not parse (addresses, MACs, ACL entries).
func resolve(p *problems, f *fileConfig, keys []toml.Key) *Config {
	in := &f.Inspect
	c := &Config{
		Hostname: stringOr(f.Hostname, DefaultHostname),
		Inspect: Inspect{
			AuditTrail:           boolOr(in.AuditTrail, DefaultAuditTrail),
			Alert:                boolOr(in.Alert, DefaultAlert),
			OneMinute:            Threshold{intOr(in.OneMinute.Low, DefaultThresholdLow), intOr(in.OneMinute.High, DefaultThresholdHigh)},
			MaxIncomplete:        Threshold{intOr(in.MaxIncomplete.Low, DefaultThresholdLow), intOr(in.MaxIncomplete.High, DefaultThresholdHigh)},
			TCPMaxIncompleteHost: intOr(in.TCPMaxIncompleteHost, DefaultTCPMaxIncompleteHost),
			TCPBlockTime:         in.TCPBlockTime.or(DefaultTCPBlockTime),
			TCPSynWait:           in.TCPSynWait.or(DefaultTCPSynWait),
			TCPFinWait:           in.TCPFinWait.or(DefaultTCPFinWait),
			TCPIdle:              in.TCPIdle.or(DefaultTCPIdle),
			UDPIdle:              in.UDPIdle.or(DefaultUDPIdle),
			DNSTimeout:           in.DNSTimeout.or(DefaultDNSTimeout),
		},
		Control: Control{Socket: stringOr(f.Control.Socket, DefaultControlSocket)},
		Dataplane: Dataplane{
			Workers:           intOr(f.Dataplane.Workers, 0),
			Frames:            intOr(f.Dataplane.Frames, DefaultFrames),
			RingSize:          intOr(f.Dataplane.RingSize, DefaultRingSize),
			MaxSessions:       intOr(f.Dataplane.MaxSessions, DefaultMaxSessions),
			FailOpen:          boolOr(f.Dataplane.FailOpen, false),
			InspectedBuffer:   intOr(f.Dataplane.InspectedBuffer, DefaultInspectedBuffer),
			InspectedSessions: intOr(f.Dataplane.InspectedSessions, 0),
		},
		Logging: Logging{
			Syslog:    stringOr(f.Logging.Syslog, ""),
			AlertRate: intOr(f.Logging.AlertRate, DefaultAlertRate),
		},
		Reassembly: Reassembly{
			MaxDatagrams: intOr(f.Reassembly.MaxDatagrams, DefaultMaxDatagrams),
			MaxFragments: intOr(f.Reassembly.MaxFragments, DefaultMaxFragments),
			Timeout:      f.Reassembly.Timeout.or(DefaultReassemblyTime),
		},
		Metrics: Metrics{Listen: stringOr(f.Metrics.Listen, "")},
	}
	c.TCPIntercept = resolveIntercept(&f.Intercept, hasTable(keys, "tcp_intercept"))
	for _, name := range orderedNames(keys, []string{"inspect", "rules"}, f.Inspect.Rules) {
		c.Inspect.Rules = append(c.Inspect.Rules, resolveRule(p, c, name, f.Inspect.Rules[name], keys))
	}
	for _, name := range orderedNames(keys, []string{"access_lists"}, f.AccessLists) {
		c.AccessLists = append(c.AccessLists, resolveACL(p, name, f.AccessLists[name]))
	}
	for i, fi := range f.Interface {
		key := "interface[" + strconv.Itoa(i) + "]"
		ifc := Interface{
			Name: fi.Name, Device: fi.Device,
			AccessGroupIn: fi.AccessGroupIn, AccessGroupOut: fi.AccessGroupOut,
			InspectIn: fi.InspectIn, InspectOut: fi.InspectOut,
			VirtualReassembly: fi.VirtualReassembly,
		}
		if fi.Address != "" {
			pfx, err := netip.ParsePrefix(fi.Address)
			if err != nil || !pfx.Addr().Is4() {
				p.add(key+".address", errorf(ErrValue, "bad interface address %q: want IPv4 address/prefix length, e.g. 10.10.10.1/24", fi.Address))
			} else {
				ifc.Address = pfx
			}
		}
		ifc.MAC = parseMAC(p, key+".mac", fi.MAC)
		switch fi.NAT {
		case "":
		case "inside":
			ifc.NAT = NATInside
		case "outside":
			ifc.NAT = NATOutside
		default:
			p.add(key+".nat", errorf(ErrValue, `bad nat role %q: want "inside" or "outside"`, fi.NAT))
		}
		c.Interfaces = append(c.Interfaces, ifc)
	}
	for i, fr := range f.Route {
		key := "route[" + strconv.Itoa(i) + "]"
		r := Route{Interface: fr.Interface}
		if pfx, err := netip.ParsePrefix(fr.Prefix); err != nil || !pfx.Addr().Is4() {
			p.add(key+".prefix", errorf(ErrValue, "bad route prefix %q: want IPv4 network/prefix length, e.g. 0.0.0.0/0", fr.Prefix))
		} else {
			r.Prefix = pfx
		}
		if fr.NextHop != "" {
			r.NextHop = parseIPv4(p, key+".next_hop", fr.NextHop)
		}
		c.Routes = append(c.Routes, r)
	}
	for i, fs := range f.NAT.Static {
		key := "nat.static[" + strconv.Itoa(i) + "]"
		c.StaticNAT = append(c.StaticNAT, StaticNAT{
			InsideLocal:  parseIPv4(p, key+".inside_local", fs.InsideLocal),
			InsideGlobal: parseIPv4(p, key+".inside_global", fs.InsideGlobal),
		})
	}
	for i, fa := range f.ARP {
		key := "arp[" + strconv.Itoa(i) + "]"
		c.ARP = append(c.ARP, ARPEntry{
			Address:   parseIPv4(p, key+".address", fa.Address),
			MAC:       parseMAC(p, key+".mac", fa.MAC),
			Interface: fa.Interface,
		})
	}
	return c
}

// orderedNames returns the keys of m in document order: TOML tables are
// maps, so the order comes from the decoder's key list (md.Keys()).
func orderedNames[V any](keys []toml.Key, prefix []string, m map[string]V) []string {
	var names []string
	seen := map[string]bool{}
	for _, k := range keys {
		if len(k) != len(prefix)+1 || !hasPrefix(k, prefix) {
			continue
		}
		name := k[len(prefix)]
		if _, ok := m[name]; ok && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	var rest []string // not expected: keys the list missed, sorted
	for name := range m {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}

// hasTable reports whether the file defines table name (a key under it,
// or the table itself, empty).
func hasTable(keys []toml.Key, name string) bool {
	for _, k := range keys {
		if k[0] == name {
			return true
		}
	}
	return false
}

func hasPrefix(k toml.Key, prefix []string) bool {
	for i, s := range prefix {
		if k[i] != s {
			return false
		}
	}
	return true
}

func resolveRule(p *problems, c *Config, name string, fr fileRule, keys []toml.Key) Rule {
	r := Rule{Name: name}
	in := &c.Inspect
	for _, proto := range orderedProtocols(keys, name, &fr) {
		pr := ProtocolRule{Protocol: proto, Alert: in.Alert, AuditTrail: in.AuditTrail, Timeout: in.TCPIdle}
		switch proto {
		case ProtoUDP:
			pr.Timeout = in.UDPIdle
		case ProtoICMP:
			pr.Timeout = DefaultICMPTimeout
		}
		var fp fileProtocol
		switch proto {
		case ProtoTCP:
			fp = *fr.TCP
		case ProtoUDP:
			fp = *fr.UDP
		case ProtoICMP:
			fp = *fr.ICMP
		case ProtoFTP:
			fp = *fr.FTP
		case ProtoHTTP:
			fh := fr.HTTP
			fp = fileProtocol{Alert: fh.Alert, AuditTrail: fh.AuditTrail, Timeout: fh.Timeout}
			if fh.JavaList != nil {
				pr.JavaList = *fh.JavaList
				if pr.JavaList == "" {
					p.add("inspect.rules."+name+".http.java_list", errorf(ErrValue,
						"java_list is empty: name a standard access list, or leave java_list out to block the applets of every server"))
				}
			}
		case ProtoSMTP, ProtoESMTP:
			fs := fr.SMTP
			if proto == ProtoESMTP {
				fs = fr.ESMTP
			}
			fp = fileProtocol{Alert: fs.Alert, AuditTrail: fs.AuditTrail, Timeout: fs.Timeout}
			pr.MaxData = DefaultSMTPMaxData
			if fs.MaxData != nil {
				key := "inspect.rules." + name + "." + string(proto) + ".max_data"
				if *fs.MaxData <= 0 {
					p.add(key, errorf(ErrValue, "max_data %d: must be positive", *fs.MaxData))
				} else {
					pr.MaxData = uint64(*fs.MaxData)
				}
			}
			for _, v := range fs.Allow {
				pr.Allow = append(pr.Allow, strings.ToUpper(v))
			}
		}
		pr.Alert = boolOr(fp.Alert, pr.Alert)
		pr.AuditTrail = boolOr(fp.AuditTrail, pr.AuditTrail)
		pr.Timeout = fp.Timeout.or(pr.Timeout)
		r.Protocols = append(r.Protocols, pr)
	}
	return r
}

// orderedProtocols lists the protocols a rule sets, in document order.
func orderedProtocols(keys []toml.Key, rule string, fr *fileRule) []Protocol {
	set := map[string]bool{
		"tcp": fr.TCP != nil, "udp": fr.UDP != nil, "icmp": fr.ICMP != nil, "ftp": fr.FTP != nil,
		"http": fr.HTTP != nil, "smtp": fr.SMTP != nil, "esmtp": fr.ESMTP != nil,
	}
	names := orderedNames(keys, []string{"inspect", "rules", rule}, set)
	out := make([]Protocol, 0, len(names))
	for _, n := range names {
		if set[n] {
			out = append(out, Protocol(n))
		}
	}
	return out
}

func resolveACL(p *problems, name string, texts []string) AccessList {
	a := AccessList{Name: name}
	for i, text := range texts {
		e, err := acl.ParseEntry(text)
		if err != nil {
			key := "access_lists." + name + "[" + strconv.Itoa(i) + "]"
			p.add(key, errorf(ErrACL, "access list %s entry %d %q: %w", name, i+1, text, err))
			continue
		}
		a.Entries = append(a.Entries, e)
	}
	return a
}

func parseIPv4(p *problems, key, s string) netip.Addr {
	if s == "" {
		return netip.Addr{} // required keys are checked by validate
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		p.add(key, errorf(ErrValue, "bad IPv4 address %q", s))
		return netip.Addr{}
	}
	return a
}

func parseMAC(p *problems, key, s string) net.HardwareAddr {
	if s == "" {
		return nil
	}
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		p.add(key, errorf(ErrValue, "bad MAC address %q: want six hex bytes, e.g. 02:00:00:00:00:01", s))
		return nil
	}
	return m
}
