package iosconfig_test

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"cbac/acl"
	"cbac/config"
	"cbac/iosconfig"
)

// base is appended to each case: two interfaces so that references,
// routes and NAT have something to land on. Its lines come after the
// case's own, so the case's line numbers start at 1.
const base = `!
interface Ethernet0/0
 ip address 192.0.2.1 255.255.255.0
 ip nat outside
interface Ethernet0/1
 ip address 10.0.0.1 255.255.255.0
 ip nat inside
`

var baseMap = map[string]string{"Ethernet0/0": "out0", "Ethernet0/1": "in0"}

func entries(t *testing.T, texts ...string) []acl.Entry {
	t.Helper()
	var es []acl.Entry
	for _, s := range texts {
		e, err := acl.ParseEntry(s)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

func rule(c *config.Config, name string) *config.Rule {
	r, _ := c.Rule(name)
	return r
}

// TestConstructs translates one construct at a time. notes are prefixes
// of the expected report lines; security counts the security-relevant
// ones (exit status 2 of cbacd import-ios).
func TestConstructs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ios      string
		notes    []string
		security int
		check    func(t *testing.T, c *config.Config)
	}{
		{
			name: "hostname",
			ios:  "hostname edge-1\n",
			check: func(t *testing.T, c *config.Config) {
				if c.Hostname != "edge-1" {
					t.Errorf("hostname %q", c.Hostname)
				}
			},
		},
		{
			name: "inspect globals",
			ios: `ip inspect audit-trail
ip inspect alert-off
ip inspect max-incomplete high 1100
ip inspect max-incomplete low 900
ip inspect one-minute high 700
ip inspect one-minute low 600
ip inspect tcp max-incomplete host 40 block-time 2
ip inspect tcp synwait-time 20
ip inspect tcp finwait-time 3
ip inspect tcp idle-time 1800
ip inspect udp idle-time 20
ip inspect dns-timeout 4
`,
			check: func(t *testing.T, c *config.Config) {
				in := c.Inspect
				in.Rules = nil
				want := config.Inspect{
					AuditTrail: true, Alert: false,
					OneMinute: config.Threshold{Low: 600, High: 700}, MaxIncomplete: config.Threshold{Low: 900, High: 1100},
					TCPMaxIncompleteHost: 40, TCPBlockTime: 2 * time.Minute,
					TCPSynWait: 20 * time.Second, TCPFinWait: 3 * time.Second, TCPIdle: 1800 * time.Second,
					UDPIdle: 20 * time.Second, DNSTimeout: 4 * time.Second,
				}
				if !reflect.DeepEqual(in, want) {
					t.Errorf("inspect %+v, want %+v", in, want)
				}
			},
		},
		{
			name:     "threshold low above the default high",
			ios:      "ip inspect max-incomplete low 600\n",
			notes:    []string{"line 1: `ip inspect max-incomplete low 600`: SECURITY, not translated: low threshold 600 is above high threshold 500"},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				if c.Inspect.MaxIncomplete != (config.Threshold{Low: 400, High: 500}) {
					t.Errorf("max-incomplete %+v", c.Inspect.MaxIncomplete)
				}
			},
		},
		{
			name:     "timer out of range",
			ios:      "ip inspect tcp synwait-time 0\n",
			notes:    []string{"line 1: `ip inspect tcp synwait-time 0`: SECURITY, not translated: value \"0\" out of IOS's range"},
			security: 1,
		},
		{
			name: "inspect rule options",
			ios: `ip inspect name R tcp alert off audit-trail on timeout 300
ip inspect name R udp timeout 15
ip inspect name R smtp max-data 30000 alert on
ip inspect name E esmtp
`,
			check: func(t *testing.T, c *config.Config) {
				r := rule(c, "R")
				if r == nil || len(r.Protocols) != 3 {
					t.Fatalf("rule R: %+v", r)
				}
				tcp, udp, smtp := r.Protocols[0], r.Protocols[1], r.Protocols[2]
				if tcp.Alert || !tcp.AuditTrail || tcp.Timeout != 300*time.Second {
					t.Errorf("tcp %+v", tcp)
				}
				if udp.Timeout != 15*time.Second || !udp.Alert {
					t.Errorf("udp %+v", udp)
				}
				if smtp.Protocol != config.ProtoSMTP || smtp.MaxData != 30000 || !smtp.Alert {
					t.Errorf("smtp %+v", smtp)
				}
				if e := rule(c, "E"); e == nil || e.Protocols[0].Protocol != config.ProtoESMTP || e.Protocols[0].MaxData != config.DefaultSMTPMaxData {
					t.Errorf("rule E: %+v", e)
				}
			},
		},
		{
			name: "unsupported protocol, and a rule left empty",
			ios: `ip inspect name R h323
ip inspect name R tcp
ip inspect name ONLY sip
interface Ethernet0/2
 ip address 172.16.0.1 255.255.0.0
 ip inspect ONLY in
`,
			notes: []string{
				"line 1: `ip inspect name R h323`: SECURITY, not translated: cbac does not inspect \"h323\"",
				"line 3: `ip inspect name ONLY sip`: SECURITY, not translated",
				"line 6: `ip inspect ONLY in`: SECURITY, not translated: inspection rule ONLY is not defined",
			},
			security: 3,
			check: func(t *testing.T, c *config.Config) {
				if r := rule(c, "R"); r == nil || len(r.Protocols) != 1 || r.Protocols[0].Protocol != config.ProtoTCP {
					t.Errorf("rule R: %+v", r)
				}
				if rule(c, "ONLY") != nil {
					t.Error("rule ONLY imported with no protocol")
				}
				if f, _ := c.Interface("Ethernet0/2"); f == nil || f.InspectIn != "" {
					t.Errorf("Ethernet0/2: %+v", f)
				}
			},
		},
		{
			name:     "smtp and esmtp in one rule",
			ios:      "ip inspect name M esmtp\nip inspect name M smtp\n",
			notes:    []string{"line 2: `ip inspect name M smtp`: SECURITY, not translated: IOS refuses smtp and esmtp in one rule; line 1 is kept"},
			security: 1,
		},
		{
			name:  "a protocol given twice: the last line wins, as in IOS",
			ios:   "ip inspect name R tcp\nip inspect name R tcp timeout 60\n",
			notes: []string{"line 1: `ip inspect name R tcp`: replaced by line 2"},
			check: func(t *testing.T, c *config.Config) {
				if r := rule(c, "R"); len(r.Protocols) != 1 || r.Protocols[0].Timeout != time.Minute {
					t.Errorf("rule R: %+v", r)
				}
			},
		},
		{
			name: "http java-list naming a standard list",
			ios:  "ip inspect name W http java-list 10 alert off\naccess-list 10 permit 203.0.113.1\naccess-list 10 permit 198.51.100.0 0.0.0.255\n",
			check: func(t *testing.T, c *config.Config) {
				r := rule(c, "W")
				if r == nil || r.Protocols[0].Protocol != config.ProtoHTTP || r.Protocols[0].JavaList != "10" || r.Protocols[0].Alert {
					t.Fatalf("rule W: %+v", r)
				}
				if a, ok := c.AccessList("10"); !ok || !a.IsStandard() || len(a.Entries) != 2 {
					t.Errorf("access list 10: %+v", a)
				}
			},
		},
		{
			name: "http java-list naming a named standard list",
			ios:  "ip inspect name W http java-list FRIENDS\nip access-list standard FRIENDS\n permit host 203.0.113.1\n",
			check: func(t *testing.T, c *config.Config) {
				if r := rule(c, "W"); r == nil || r.Protocols[0].JavaList != "FRIENDS" {
					t.Fatalf("rule W: %+v", r)
				}
			},
		},
		{
			name:  "http java-list placeholder: every applet blocked, as without java_list",
			ios:   "ip inspect name W http java-list 10\n",
			notes: []string{"line 1: `ip inspect name W http java-list 10`: java-list 10 names no access list: IOS then blocks every Java applet, as cbac does without java_list; translated without it"},
			check: func(t *testing.T, c *config.Config) {
				if r := rule(c, "W"); r == nil || r.Protocols[0].Protocol != config.ProtoHTTP || r.Protocols[0].JavaList != "" {
					t.Errorf("rule W: %+v", r)
				}
			},
		},
		{
			name:     "http java-list naming an extended list",
			ios:      "ip inspect name W http java-list 101\naccess-list 101 permit ip any any\n",
			notes:    []string{"line 1: `ip inspect name W http java-list 101`: SECURITY, partly translated: java-list 101 is not a standard access list (Java blocking works with standard lists only): inspects http without it, blocking every Java applet"},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				if r := rule(c, "W"); r == nil || r.Protocols[0].JavaList != "" {
					t.Errorf("rule W: %+v", r)
				}
			},
		},
		{
			name: "interface settings",
			ios: `ip inspect name IN tcp
ip inspect name OUT udp
access-list 101 permit ip any any
access-list 102 deny ip any any
interface Ethernet0/2
 description DMZ: mail relays
 mac-address 0200.0000.0a01
 ip address 172.16.0.1 255.255.0.0
 ip access-group 101 in
 ip access-group 102 out
 ip inspect IN in
 ip inspect OUT out
 ip virtual-reassembly
 no shutdown
`,
			check: func(t *testing.T, c *config.Config) {
				f, _ := c.Interface("Ethernet0/2")
				if f == nil {
					t.Fatal("Ethernet0/2 not imported")
				}
				want := config.Interface{
					Name: "Ethernet0/2", Device: "dmz0", Address: netip.MustParsePrefix("172.16.0.1/16"),
					MAC:           []byte{2, 0, 0, 0, 0x0a, 1},
					AccessGroupIn: "101", AccessGroupOut: "102", InspectIn: "IN", InspectOut: "OUT", VirtualReassembly: true,
				}
				if !reflect.DeepEqual(*f, want) {
					t.Errorf("interface %+v\nwant %+v", *f, want)
				}
				if f, _ := c.Interface("Ethernet0/0"); f.NAT != config.NATOutside {
					t.Errorf("Ethernet0/0 nat %v", f.NAT)
				}
			},
		},
		{
			name: "interfaces not imported",
			ios: `interface Loopback0
 ip address 192.168.255.1 255.255.255.255
interface Serial0/0
 ip address 172.17.0.1 255.255.255.252
 shutdown
interface Serial0/1
 no ip address
interface Dialer0
 ip address negotiated
 ip access-group 101 in
access-list 101 permit ip any any
`,
			notes: []string{
				"lines 1-2: `interface Loopback0`: loopback interfaces have no device in cbac: not imported",
				"lines 3-5: `interface Serial0/0`: shut down: not imported",
				"lines 6-7: `interface Serial0/1`: no IPv4 address: not imported",
				"lines 8-10: `interface Dialer0`: SECURITY, not translated: no IPv4 address",
			},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				if len(c.Interfaces) != 2 {
					t.Errorf("%d interfaces imported, want the base's 2", len(c.Interfaces))
				}
			},
		},
		{
			name:     "access group of an undefined list",
			ios:      "interface Ethernet0/0\n ip access-group 199 in\n",
			notes:    []string{"line 2: ` ip access-group 199 in`"[0:8] + "`ip access-group 199 in`: SECURITY, not translated: access list 199 is not defined"},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				if f, _ := c.Interface("Ethernet0/0"); f.AccessGroupIn != "" {
					t.Errorf("access group %q kept", f.AccessGroupIn)
				}
			},
		},
		{
			name: "static routes",
			ios: `ip route 0.0.0.0 0.0.0.0 192.0.2.254
ip route 0.0.0.0 0.0.0.0 10.0.0.254 250
ip route 10.9.0.0 255.255.0.0 Ethernet0/1
ip route 10.8.0.0 255.255.0.0 Ethernet0/1 10.0.0.8
ip route 172.16.0.0 255.240.0.0 Null0
ip route 172.20.0.0 255.255.0.0 198.18.0.1
ip route 10.7.0.1 255.255.0.0 10.0.0.7
`,
			notes: []string{
				"line 2: `ip route 0.0.0.0 0.0.0.0 10.0.0.254 250`: line 1 routes this prefix",
				"line 5: `ip route 172.16.0.0 255.240.0.0 Null0`: null route",
				"line 6: `ip route 172.20.0.0 255.255.0.0 198.18.0.1`: next hop 198.18.0.1 is not on a connected network",
				"line 7: `ip route 10.7.0.1 255.255.0.0 10.0.0.7`: prefix has host bits set",
			},
			check: func(t *testing.T, c *config.Config) {
				want := []config.Route{
					{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.0.2.254")},
					{Prefix: netip.MustParsePrefix("10.9.0.0/16"), Interface: "Ethernet0/1"},
					{Prefix: netip.MustParsePrefix("10.8.0.0/16"), NextHop: netip.MustParseAddr("10.0.0.8"), Interface: "Ethernet0/1"},
				}
				if !reflect.DeepEqual(c.Routes, want) {
					t.Errorf("routes %+v\nwant %+v", c.Routes, want)
				}
			},
		},
		{
			name: "static NAT",
			ios: `ip nat inside source static 10.0.0.2 192.0.2.10
ip nat inside source static 10.0.0.3 192.0.2.10
ip nat inside source static tcp 10.0.0.4 25 192.0.2.11 25
ip nat inside source list 1 interface Ethernet0/0 overload
ip nat pool P 192.0.2.20 192.0.2.30 netmask 255.255.255.0
ip nat inside source static 10.0.0.5 192.0.2.1
ip nat inside source static 10.0.0.6 192.0.2.12 extendable
`,
			notes: []string{
				"line 2: `ip nat inside source static 10.0.0.3 192.0.2.10`: SECURITY, not translated: conflicts with line 1",
				"line 3: `ip nat inside source static tcp 10.0.0.4 25 192.0.2.11 25`: SECURITY, not translated: port or network static NAT",
				"line 4: `ip nat inside source list 1 interface Ethernet0/0 overload`: SECURITY, not translated: dynamic NAT / PAT",
				"line 5: `ip nat pool P 192.0.2.20 192.0.2.30 netmask 255.255.255.0`: SECURITY, not translated",
				"line 6: `ip nat inside source static 10.0.0.5 192.0.2.1`: SECURITY, not translated: inside global 192.0.2.1 is the address of Ethernet0/0",
			},
			security: 5,
			check: func(t *testing.T, c *config.Config) {
				want := []config.StaticNAT{
					{InsideLocal: netip.MustParseAddr("10.0.0.2"), InsideGlobal: netip.MustParseAddr("192.0.2.10")},
					{InsideLocal: netip.MustParseAddr("10.0.0.6"), InsideGlobal: netip.MustParseAddr("192.0.2.12")},
				}
				if !reflect.DeepEqual(c.StaticNAT, want) {
					t.Errorf("nat %+v\nwant %+v", c.StaticNAT, want)
				}
			},
		},
		{
			name: "numbered extended list",
			ios: `access-list 101 remark mail
access-list 101 permit tcp any host 192.0.2.10 eq smtp
access-list 101 deny   udp any any eq snmp log
access-list 101 permit tcp any any eq www precedence critical
access-list 101 permit icmp any any echo-reply
`,
			notes:    []string{"line 4: `access-list 101 permit tcp any any eq www precedence critical`: SECURITY, not translated: cbac's access lists cannot express this entry: \"precedence\""},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				a, _ := c.AccessList("101")
				want := entries(t, "permit tcp any host 192.0.2.10 eq smtp", "deny udp any any eq snmp log", "permit icmp any any echo-reply")
				if a == nil || !reflect.DeepEqual(a.Entries, want) {
					t.Errorf("list 101 %+v", a)
				}
			},
		},
		{
			name: "named extended list, sequence numbers and remarks",
			ios: `ip access-list extended EDGE
 remark the relay
 20 permit tcp any host 192.0.2.10 eq smtp
 10 permit icmp any any echo-reply
 deny ip any any log-input
 remark end
`,
			notes: []string{"line 5: `deny ip any any log-input`: log-input logged as log"},
			check: func(t *testing.T, c *config.Config) {
				a, _ := c.AccessList("EDGE")
				want := entries(t, "permit icmp any any echo-reply", "permit tcp any host 192.0.2.10 eq smtp", "deny ip any any log")
				if a == nil || !reflect.DeepEqual(a.Entries, want) {
					t.Errorf("list EDGE %+v", a)
				}
			},
		},
		{
			name: "standard lists become extended ones matching the source",
			ios: `access-list 10 permit 10.0.0.0 0.0.0.255
access-list 10 deny   host 10.0.1.1 log
access-list 10 permit 10.0.2.2
ip access-list standard MGMT
 permit any
`,
			check: func(t *testing.T, c *config.Config) {
				a, _ := c.AccessList("10")
				want := entries(t, "permit ip 10.0.0.0 0.0.0.255 any", "deny ip host 10.0.1.1 any log", "permit ip host 10.0.2.2 any")
				if a == nil || !reflect.DeepEqual(a.Entries, want) {
					t.Errorf("list 10 %+v", a)
				}
				if m, _ := c.AccessList("MGMT"); m == nil || !reflect.DeepEqual(m.Entries, entries(t, "permit ip any any")) {
					t.Errorf("list MGMT %+v", m)
				}
			},
		},
		{
			name:     "a list that is not IP",
			ios:      "access-list 700 permit 0000.0c00.0000 0000.00ff.ffff\n",
			notes:    []string{"line 1: `access-list 700 permit 0000.0c00.0000 0000.00ff.ffff`: SECURITY, not translated: access list \"700\" is not an IP access list"},
			security: 1,
		},
		{
			name: "tcp intercept: every line",
			ios: `ip tcp intercept list 120
ip tcp intercept mode intercept
ip tcp intercept max-incomplete low 500
ip tcp intercept max-incomplete high 600
ip tcp intercept one-minute low 700
ip tcp intercept one-minute high 800
ip tcp intercept drop-mode oldest
ip tcp intercept watch-timeout 20
ip tcp intercept finrst-timeout 7
ip tcp intercept connection-timeout 3600
access-list 120 permit tcp any host 10.0.0.5 eq smtp
`,
			check: func(t *testing.T, c *config.Config) {
				want := config.TCPIntercept{Enabled: true, List: "120", Mode: config.InterceptModeIntercept,
					MaxIncomplete: config.Threshold{Low: 500, High: 600}, OneMinute: config.Threshold{Low: 700, High: 800},
					DropMode: "oldest", WatchTimeout: 20 * time.Second, FinRstTimeout: 7 * time.Second, ConnectionTimeout: time.Hour}
				if c.TCPIntercept != want {
					t.Errorf("tcp_intercept %+v, want %+v", c.TCPIntercept, want)
				}
				if a, _ := c.AccessList("120"); a == nil || !reflect.DeepEqual(a.Entries, entries(t, "permit tcp any host 10.0.0.5 eq 25")) {
					t.Errorf("list 120 %+v", a)
				}
			},
		},
		{
			name: "tcp intercept: IOS defaults",
			ios:  "ip tcp intercept list 120\naccess-list 120 permit tcp any 10.0.0.0 0.0.0.255\n",
			check: func(t *testing.T, c *config.Config) {
				want := config.TCPIntercept{Enabled: true, List: "120", Mode: config.InterceptModeIntercept,
					MaxIncomplete: config.Threshold{Low: 900, High: 1100}, OneMinute: config.Threshold{Low: 900, High: 1100},
					DropMode: "oldest", WatchTimeout: 30 * time.Second, FinRstTimeout: 5 * time.Second, ConnectionTimeout: 24 * time.Hour}
				if c.TCPIntercept != want {
					t.Errorf("tcp_intercept %+v, want %+v", c.TCPIntercept, want)
				}
			},
		},
		{
			name:  "tcp intercept: the last line for a setting wins",
			ios:   "ip tcp intercept list 120\nip tcp intercept connection-timeout 10\nip tcp intercept connection-timeout 20\naccess-list 120 permit tcp any any\n",
			notes: []string{"line 2: `ip tcp intercept connection-timeout 10`: replaced by line 3"},
			check: func(t *testing.T, c *config.Config) {
				if c.TCPIntercept.ConnectionTimeout != 20*time.Second {
					t.Errorf("connection_timeout %v", c.TCPIntercept.ConnectionTimeout)
				}
			},
		},
		{
			name: "tcp intercept without a list intercepts nothing",
			ios:  "ip tcp intercept mode intercept\nip tcp intercept connection-timeout 60\n",
			notes: []string{
				"line 1: `ip tcp intercept mode intercept`: IOS intercepts nothing without `ip tcp intercept list`",
				"line 2: `ip tcp intercept connection-timeout 60`: IOS intercepts nothing without",
			},
			check: func(t *testing.T, c *config.Config) {
				if c.TCPIntercept.Enabled {
					t.Errorf("tcp_intercept %+v", c.TCPIntercept)
				}
			},
		},
		{
			name: "tcp intercept of an undefined list",
			ios:  "ip tcp intercept list 130\nip tcp intercept mode intercept\n",
			notes: []string{
				"line 1: `ip tcp intercept list 130`: SECURITY, not translated: access list 130 is not defined",
				"line 2: `ip tcp intercept mode intercept`: the intercept list (line 1) is not translated",
			},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				if c.TCPIntercept.Enabled {
					t.Errorf("tcp_intercept %+v", c.TCPIntercept)
				}
			},
		},
		{
			name: "tcp intercept: unknown words and values out of range",
			ios: "ip tcp intercept list 120\nip tcp intercept mode passive\nip tcp intercept watch-timeout 0\n" +
				"ip tcp intercept first-timeout 5\nip tcp intercept drop-mode newest\nip tcp intercept list 10\naccess-list 120 permit tcp any any\n",
			notes: []string{
				"line 2: `ip tcp intercept mode passive`: SECURITY, not translated: mode \"passive\": IOS's modes are intercept and watch",
				"line 3: `ip tcp intercept watch-timeout 0`: SECURITY, not translated: value \"0\" out of IOS's range 1-2147483",
				"line 4: `ip tcp intercept first-timeout 5`: SECURITY, not translated: this ip tcp intercept setting is not supported",
				"line 5: `ip tcp intercept drop-mode newest`: SECURITY, not translated: drop-mode \"newest\"",
				"line 6: `ip tcp intercept list 10`: SECURITY, not translated: IOS takes an extended access list number",
			},
			security: 5,
			check: func(t *testing.T, c *config.Config) {
				if !c.TCPIntercept.Enabled || c.TCPIntercept.List != "120" || c.TCPIntercept.Mode != config.InterceptModeIntercept || c.TCPIntercept.WatchTimeout != 30*time.Second {
					t.Errorf("tcp_intercept %+v", c.TCPIntercept)
				}
			},
		},
		{
			name:     "tcp intercept: a value the loader refuses",
			ios:      "ip tcp intercept list 120\nip tcp intercept max-incomplete low 2000\naccess-list 120 permit tcp any any\n",
			notes:    []string{"line 2: `ip tcp intercept max-incomplete low 2000`: SECURITY, partly translated: cbacd refuses max_incomplete (low threshold 2000 is above high threshold 1100)"},
			security: 1,
			check: func(t *testing.T, c *config.Config) {
				if !c.TCPIntercept.Enabled || c.TCPIntercept.MaxIncomplete != (config.Threshold{Low: 900, High: 1100}) {
					t.Errorf("tcp_intercept %+v", c.TCPIntercept)
				}
			},
		},
		{
			name: "static ARP",
			ios:  "arp 10.0.0.20 0011.2233.4455 ARPA\narp 198.18.0.1 0011.2233.4466 ARPA\n",
			notes: []string{
				"line 2: `arp 198.18.0.1 0011.2233.4466 ARPA`: 198.18.0.1 is on no imported interface's network",
			},
			check: func(t *testing.T, c *config.Config) {
				if len(c.ARP) != 1 || c.ARP[0].Address != netip.MustParseAddr("10.0.0.20") || c.ARP[0].MAC.String() != "00:11:22:33:44:55" || c.ARP[0].Interface != "Ethernet0/1" {
					t.Errorf("arp %+v", c.ARP)
				}
			},
		},
		{
			name: "a banner's text is not read as commands",
			ios:  "banner motd ^C\nip tcp intercept list 1\naccess-list 1 permit any\n^C\nbanner exec #one line#\n",
			check: func(t *testing.T, c *config.Config) {
				if len(c.AccessLists) != 0 {
					t.Errorf("banner text imported: %+v", c.AccessLists)
				}
			},
		},
		{
			name:  "an unclosed banner swallows nothing",
			ios:   "banner motd ^C\naccess-list 1 permit any\n",
			notes: []string{"line 1: `banner motd ^C`: banner whose delimiter never closes"},
			check: func(t *testing.T, c *config.Config) {
				if len(c.AccessLists) != 1 {
					t.Errorf("access list after the banner lost: %+v", c.AccessLists)
				}
			},
		},
		{
			name: "CRLF line ends and a pasted exec prompt",
			ios:  "edge#show running-config\r\nhostname crlf\r\naccess-list 101 permit tcp any any eq 25\r\n",
			check: func(t *testing.T, c *config.Config) {
				if c.Hostname != "crlf" || len(c.AccessLists) != 1 {
					t.Errorf("hostname %q, lists %+v", c.Hostname, c.AccessLists)
				}
			},
		},
		{
			name:  "unknown commands are reported, not security-relevant",
			ios:   "ip sla 5\n icmp-echo 192.0.2.254\n",
			notes: []string{"lines 1-2: `ip sla 5`: not recognised by the importer, ignored"},
		},
		{
			name:     "text that is not UTF-8",
			ios:      "access-list 101 remark caf\xe9\naccess-list 1\xff permit any\n",
			notes:    []string{"line 1: `access-list 101 remark caf\xe9`: SECURITY, not translated: not valid UTF-8"},
			security: 2,
		},
		{
			name: "zone-based firewall",
			ios:  "zone security inside\nzone-pair security in-out source inside destination outside\n service-policy type inspect P\n",
			notes: []string{
				"line 1: `zone security inside`: SECURITY, not translated: zone-based firewall",
				"lines 2-3: `zone-pair security in-out source inside destination outside`: SECURITY, not translated",
			},
			security: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			devices := map[string]string{}
			if strings.Contains(tc.ios, "Ethernet0/2") {
				devices["Ethernet0/2"] = "dmz0"
			}
			for k, v := range baseMap {
				devices[k] = v
			}
			res, err := iosconfig.Import(strings.NewReader(tc.ios+base), iosconfig.Options{Devices: devices})
			if err != nil {
				t.Fatal(err)
			}
			c := load(t, res)
			rep := report(t, res)
			for _, want := range tc.notes {
				found := false
				for _, n := range res.Notes {
					found = found || strings.HasPrefix(n.String(), want)
				}
				if !found {
					t.Errorf("no note %q in the report:\n%s", want, rep)
				}
			}
			if got := res.Security(); got != tc.security {
				t.Errorf("%d security-relevant notes, want %d:\n%s", got, tc.security, rep)
			}
			checkAccounted(t, res)
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}

// TestMapping: an imported interface without a device, a -map entry for
// an interface the file does not have, and one device for two interfaces
// are errors that name them; "-" leaves an interface out.
func TestMapping(t *testing.T) {
	in := base
	for _, tc := range []struct {
		name    string
		devices map[string]string
		want    string
	}{
		{"none", nil, "interfaces need a Linux device: Ethernet0/0 (line 2), Ethernet0/1 (line 5); give -map Ethernet0/0=DEVICE,Ethernet0/1=DEVICE"},
		{"one missing", map[string]string{"ethernet0/0": "out0"}, "interfaces need a Linux device: Ethernet0/1 (line 5)"},
		{"unknown", map[string]string{"Ethernet0/0": "a", "Ethernet0/1": "b", "Ethernet9/9": "c"}, "-map names interfaces the configuration does not have: Ethernet9/9 (it has: Ethernet0/0, Ethernet0/1)"},
		{"shared", map[string]string{"Ethernet0/0": "a", "Ethernet0/1": "a"}, "-map gives one device to several interfaces: a (Ethernet0/0, Ethernet0/1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iosconfig.Import(strings.NewReader(in), iosconfig.Options{Devices: tc.devices})
			var me *iosconfig.MappingError
			if !errors.As(err, &me) || !errors.Is(err, iosconfig.ErrMapping) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	res, err := iosconfig.Import(strings.NewReader(in), iosconfig.Options{Devices: map[string]string{"Ethernet0/0": "out0", "Ethernet0/1": "-"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("x", res.TOML)
	if err != nil || len(c.Interfaces) != 1 || c.Interfaces[0].Device != "out0" {
		t.Errorf("with Ethernet0/1=-: %v %+v", err, c)
	}
	if !strings.HasPrefix(res.Notes[0].String(), "lines 5-7: `interface Ethernet0/1`: SECURITY, not translated: left out by -map") {
		t.Errorf("notes %v", res.Notes)
	}
}

// TestLongLine: a line beyond MaxLine is an error naming it.
func TestLongLine(t *testing.T) {
	in := "hostname a\n" + strings.Repeat("x", iosconfig.MaxLine+1) + "\n"
	_, err := iosconfig.Import(strings.NewReader(in), iosconfig.Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "line 2: longer than") {
		t.Errorf("error %v", err)
	}
}

// TestInterceptFollowsLoader: "mode watch" and "drop-mode random" are
// translated as IOS means them, and cbac's loader decides: a value it
// accepts is in the configuration with no note; a value it refuses is
// left out with a SECURITY, partly translated note giving the loader's
// reason, and cbacd's default applies.
func TestInterceptFollowsLoader(t *testing.T) {
	for _, tc := range []struct {
		ios, key, value, def string
		got                  func(c *config.Config) string
	}{
		{"ip tcp intercept mode watch", "mode", "watch", "intercept", func(c *config.Config) string { return string(c.TCPIntercept.Mode) }},
		{"ip tcp intercept drop-mode random", "drop_mode", "random", "oldest", func(c *config.Config) string { return c.TCPIntercept.DropMode }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			loadErr := interceptRefuses(tc.key, tc.value)
			ios := "ip tcp intercept list 120\n" + tc.ios + "\naccess-list 120 permit tcp any any\n"
			res, err := iosconfig.Import(strings.NewReader(ios+base), iosconfig.Options{Devices: baseMap})
			if err != nil {
				t.Fatal(err)
			}
			c := load(t, res)
			checkAccounted(t, res)
			if !strings.Contains(string(res.TOML), tc.key+` = "`+tc.value+`"  # line 2: `+tc.ios) {
				t.Errorf("the TOML does not carry %s:\n%s", tc.ios, res.TOML)
			}
			if loadErr == nil {
				if got := tc.got(c); got != tc.value || res.Security() != 0 || len(res.Notes) != 0 {
					t.Errorf("%s = %q, notes %v; want %q and no notes", tc.key, got, res.Notes, tc.value)
				}
				return
			}
			var ce *config.Error
			if !errors.As(loadErr, &ce) {
				t.Fatalf("loader error %v is not a *config.Error", loadErr)
			}
			want := "line 2: `" + tc.ios + "`: SECURITY, partly translated: cbacd refuses " + tc.key + " (" + ce.Err.Error() + ")"
			if len(res.Notes) != 1 || !strings.HasPrefix(res.Notes[0].String(), want) || res.Security() != 1 {
				t.Errorf("notes %v, want one starting %q", res.Notes, want)
			}
			if got := tc.got(c); got != tc.def || !c.TCPIntercept.Enabled {
				t.Errorf("%s = %q (enabled %v), want the default %q", tc.key, got, c.TCPIntercept.Enabled, tc.def)
			}
		})
	}
}

// interceptRefuses returns the loader's error for key = "value" in a
// [tcp_intercept] table that is otherwise valid, or nil.
func interceptRefuses(key, value string) error {
	_, err := config.Parse("t.toml", []byte("[access_lists]\n120 = [\"permit tcp any any\"]\n[tcp_intercept]\nlist = \"120\"\n"+
		key+" = \""+value+"\"\n"))
	return err
}
