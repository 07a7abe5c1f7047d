package config

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"cbac/acl"
)

func TestSeedLoads(t *testing.T) {
	c, err := Load("testdata/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "testdata/seed-3640.toml" || c.Hostname != "3640-123" {
		t.Errorf("file %q hostname %q", c.File, c.Hostname)
	}
	in := c.Inspect
	wantInspect := Inspect{
		AuditTrail: false, Alert: true,
		OneMinute: Threshold{400, 500}, MaxIncomplete: Threshold{400, 500},
		TCPMaxIncompleteHost: 50, TCPBlockTime: 0,
		TCPSynWait: 30 * time.Second, TCPFinWait: 5 * time.Second,
		TCPIdle: 3600 * time.Second, UDPIdle: 30 * time.Second, DNSTimeout: 5 * time.Second,
	}
	rules := in.Rules
	in.Rules = nil
	if !reflect.DeepEqual(in, wantInspect) {
		t.Errorf("inspect globals\n got %+v\nwant %+v", in, wantInspect)
	}

	// Rules and protocols keep the document order, not the map order.
	if len(rules) != 2 || rules[0].Name != "IN-OUT" || rules[1].Name != "OUT-IN" {
		t.Fatalf("rules %+v", rules)
	}
	wantProtos := []struct {
		p       Protocol
		timeout time.Duration
	}{{ProtoTCP, 3600 * time.Second}, {ProtoUDP, 30 * time.Second}, {ProtoFTP, 3600 * time.Second},
		{ProtoHTTP, 3600 * time.Second}, {ProtoICMP, 10 * time.Second}}
	if len(rules[0].Protocols) != len(wantProtos) {
		t.Fatalf("IN-OUT protocols %+v", rules[0].Protocols)
	}
	for i, w := range wantProtos {
		got := rules[0].Protocols[i]
		want := ProtocolRule{Protocol: w.p, Alert: true, AuditTrail: false, Timeout: w.timeout}
		if got.Protocol != want.Protocol || got.Alert != want.Alert || got.AuditTrail != want.AuditTrail ||
			got.Timeout != want.Timeout || got.MaxData != 0 || len(got.Allow) != 0 {
			t.Errorf("IN-OUT protocol %d: got %+v want %+v", i, got, want)
		}
	}
	smtp, ok := rules[1].Protocol(ProtoSMTP)
	if !ok || len(rules[1].Protocols) != 1 || smtp.MaxData != 20000000 || !smtp.Alert || smtp.AuditTrail ||
		smtp.Timeout != 3600*time.Second || len(smtp.Allow) != 0 {
		t.Errorf("OUT-IN: %+v", rules[1].Protocols)
	}

	wantIfaces := []Interface{
		{Name: "Ethernet2/0", Device: "out0", Address: netip.MustParsePrefix("172.22.1.16/24"), NAT: NATOutside,
			AccessGroupIn: "101", InspectIn: "OUT-IN", VirtualReassembly: true},
		{Name: "Ethernet2/1", Device: "in0", Address: netip.MustParsePrefix("10.10.10.1/24"), NAT: NATInside,
			InspectIn: "IN-OUT", VirtualReassembly: true},
	}
	if len(c.Interfaces) != 2 {
		t.Fatalf("interfaces %+v", c.Interfaces)
	}
	for i, w := range wantIfaces {
		g := c.Interfaces[i]
		if g.MAC != nil {
			t.Errorf("interface %d MAC %v, want none", i, g.MAC)
		}
		g.MAC = nil
		if g.Name != w.Name || g.Device != w.Device || g.Address != w.Address || g.NAT != w.NAT ||
			g.AccessGroupIn != w.AccessGroupIn || g.AccessGroupOut != w.AccessGroupOut ||
			g.InspectIn != w.InspectIn || g.InspectOut != w.InspectOut || g.VirtualReassembly != w.VirtualReassembly {
			t.Errorf("interface %d\n got %+v\nwant %+v", i, g, w)
		}
	}
	if len(c.Routes) != 1 || c.Routes[0] != (Route{Prefix: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("172.22.1.1")}) {
		t.Errorf("routes %+v", c.Routes)
	}
	wantNAT := []StaticNAT{
		{netip.MustParseAddr("10.10.10.2"), netip.MustParseAddr("172.22.1.110")},
		{netip.MustParseAddr("10.10.10.5"), netip.MustParseAddr("172.22.1.111")},
	}
	if len(c.StaticNAT) != 2 || c.StaticNAT[0] != wantNAT[0] || c.StaticNAT[1] != wantNAT[1] {
		t.Errorf("nat %+v", c.StaticNAT)
	}
	if len(c.AccessLists) != 1 || c.AccessLists[0].Name != "101" || len(c.AccessLists[0].Entries) != 1 {
		t.Fatalf("access lists %+v", c.AccessLists)
	}
	want, _ := acl.ParseEntry("permit tcp any host 172.22.1.110 eq smtp")
	if c.AccessLists[0].Entries[0] != want {
		t.Errorf("acl 101 entry %v", c.AccessLists[0].Entries[0])
	}
	l := c.AccessLists[0].Compile()
	tu := acl.Tuple{Proto: acl.ProtoTCP, Src: 0x01020304, Dst: 0xac16016e, SrcPort: 4000, DstPort: 25}
	if i, permit := l.Match(&tu); i != 0 || !permit {
		t.Errorf("compiled 101 does not permit smtp to 172.22.1.110: %d %v", i, permit)
	}

	// Keys the seed does not set: cbac defaults.
	if len(c.ARP) != 0 || c.Control.Socket != "/run/cbacd.sock" {
		t.Errorf("arp %v socket %q", c.ARP, c.Control.Socket)
	}
	if c.Dataplane != (Dataplane{Workers: 0, Frames: 16384, RingSize: 2048, MaxSessions: 1048576, FailOpen: false, InspectedBuffer: 262144}) {
		t.Errorf("dataplane %+v", c.Dataplane)
	}
	if c.Logging != (Logging{Syslog: "", AlertRate: 10}) {
		t.Errorf("logging %+v", c.Logging)
	}
	if c.Reassembly != (Reassembly{MaxDatagrams: 16, MaxFragments: 32, Timeout: 3 * time.Second}) {
		t.Errorf("reassembly %+v", c.Reassembly)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate on the loaded seed: %v", err)
	}
}

// The seed is a contract: its two copies in the repository are identical.
func TestSeedCopiesUnchanged(t *testing.T) {
	ours, err := os.ReadFile("testdata/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile("../examples/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, shipped) {
		t.Error("examples/seed-3640.toml differs from config/testdata/seed-3640.toml")
	}
}

func TestShowInspectAllSeed(t *testing.T) {
	c, err := Load("testdata/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.ShowInspectAll(&b); err != nil {
		t.Fatal(err)
	}
	golden, err := os.ReadFile("testdata/show-ip-inspect-all.golden")
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(golden) {
		t.Fatalf("show ip inspect all differs from the seed\n--- got\n%s--- want\n%s", b.String(), golden)
	}
}

func TestShowInspectAllOther(t *testing.T) {
	src := `
hostname = "r2"
[inspect]
audit_trail = true
alert = false
tcp_block_time = "2m"
[inspect.rules.MAIL]
esmtp = { max_data = 1000, allow = ["starttls", "BDAT"], alert = true, timeout = 120 }
udp = { audit_trail = false }
[inspect.rules.ALL]
icmp = { timeout = "20s" }
tcp = {}
http = { java_list = "10" }
[[interface]]
name = "Gi0/0"
device = "eth0"
address = "192.0.2.1/24"
inspect_out = "ALL"
access_group_out = "OUT"
[[interface]]
name = "Gi0/1"
device = "eth1"
address = "198.51.100.1/24"
[[interface]]
name = "Gi0/2"
device = "eth2"
address = "203.0.113.1/24"
inspect_in = "MAIL"
[access_lists]
OUT = ["permit ip any any"]
10 = ["permit ip host 203.0.113.1 any", "deny ip 198.51.100.0 0.0.0.255 any log"]
`
	c, err := Parse("r2.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Rule("ALL"); r != nil {
		if h, ok := r.Protocol(ProtoHTTP); !ok || h.JavaList != "10" {
			t.Fatalf("http of ALL: %+v", h)
		}
	}
	var b bytes.Buffer
	c.ShowInspectAll(&b)
	want := `Session audit trail is enabled
Session alert is disabled
one-minute (sampling period) thresholds are [400:500] connections
max-incomplete sessions thresholds are [400:500]
max-incomplete tcp connections per host is 50. Block-time 2 minute.
tcp synwait-time is 30 sec -- tcp finwait-time is 5 sec
tcp idle-time is 3600 sec -- udp idle-time is 30 sec
dns-timeout is 5 sec
Inspection Rule Configuration
  Inspection name MAIL
    esmtp max-data 1000 allow STARTTLS BDAT alert is on audit-trail is on timeout 120
    udp alert is off audit-trail is off timeout 30
  Inspection name ALL
    icmp alert is off audit-trail is on timeout 20
    tcp alert is off audit-trail is on timeout 3600
    http java-list 10 alert is off audit-trail is on timeout 3600
Interface Configuration
  Interface Gi0/2
    Inbound inspection rule is MAIL
      esmtp max-data 1000 allow STARTTLS BDAT alert is on audit-trail is on timeout 120
      udp alert is off audit-trail is off timeout 30
    Outgoing inspection rule is not set
    Inbound access list is not set
    Outgoing access list is not set
  Interface Gi0/0
    Inbound inspection rule is not set
    Outgoing inspection rule is ALL
      icmp alert is off audit-trail is on timeout 20
      tcp alert is off audit-trail is on timeout 3600
      http java-list 10 alert is off audit-trail is on timeout 3600
    Inbound access list is not set
    Outgoing access list is OUT
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	// show ip inspect config: the same without the interfaces.
	var cb bytes.Buffer
	c.ShowInspectConfig(&cb)
	if w := want[:strings.Index(want, "Interface Configuration\n")]; cb.String() != w {
		t.Fatalf("show ip inspect config: got\n%s\nwant\n%s", cb.String(), w)
	}
}

func TestDefaultsAndExtensions(t *testing.T) {
	src := `
[[interface]]
name = "e0"
device = "out0"
address = "172.22.1.16/24"
mac = "02:00:00:00:00:01"
[[interface]]
name = "e1"
device = "in0"
address = "10.10.10.1/24"
[[route]]
prefix = "192.168.0.0/16"
next_hop = "10.10.10.9"
interface = "e1"
[[arp]]
address = "172.22.1.1"
mac = "02:00:00:00:00:aa"
[[arp]]
address = "10.10.10.2"
mac = "02-00-00-00-00-bb"
interface = "e1"
[control]
socket = "/tmp/c.sock"
[dataplane]
workers = 2
frames = 4096
ring_size = 512
max_sessions = 1000
fail_open = true
inspected_buffer = 4096
inspected_sessions = 500
[logging]
syslog = "udp://127.0.0.1:514"
alert_rate = 5
[reassembly]
max_datagrams = 8
max_fragments = 4
timeout = "1s"
`
	c, err := Parse("ext.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != DefaultHostname || len(c.Inspect.Rules) != 0 || c.Inspect.TCPIdle != DefaultTCPIdle {
		t.Errorf("defaults: %q %+v", c.Hostname, c.Inspect)
	}
	if c.Interfaces[0].MAC.String() != "02:00:00:00:00:01" || c.Interfaces[1].MAC != nil {
		t.Errorf("mac %v %v", c.Interfaces[0].MAC, c.Interfaces[1].MAC)
	}
	if r := c.Routes[0]; r.Interface != "e1" || r.NextHop != netip.MustParseAddr("10.10.10.9") {
		t.Errorf("route %+v", r)
	}
	if c.ARP[0].Interface != "e0" || c.ARP[1].Interface != "e1" || c.ARP[1].MAC.String() != "02:00:00:00:00:bb" {
		t.Errorf("arp %+v", c.ARP)
	}
	if c.Control.Socket != "/tmp/c.sock" ||
		c.Dataplane != (Dataplane{2, 4096, 512, 1000, true, 4096, 500}) ||
		c.Logging != (Logging{"udp://127.0.0.1:514", 5}) ||
		c.Reassembly != (Reassembly{8, 4, time.Second}) {
		t.Errorf("runtime sections %+v %+v %+v %+v", c.Control, c.Dataplane, c.Logging, c.Reassembly)
	}
}

func TestValidateBuiltConfig(t *testing.T) {
	c, err := Load("testdata/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	c.Inspect.Rules[1].Protocols = append(c.Inspect.Rules[1].Protocols,
		ProtocolRule{Protocol: ProtoESMTP, Timeout: time.Hour, MaxData: 1})
	c.Interfaces[1].AccessGroupOut = "nope"
	err = c.Validate()
	if !errors.Is(err, ErrSMTPAndESMTP) || !errors.Is(err, ErrUndefined) {
		t.Fatalf("Validate: %v", err)
	}
	// The Config came from a file: lines are known (a key the file does not
	// have is reported at its table).
	if !strings.Contains(err.Error(), "testdata/seed-3640.toml:52: interface[1].access_group_out") {
		t.Errorf("no line for interface[1]: %v", err)
	}
	built := &Config{Hostname: "x", Inspect: Inspect{OneMinute: Threshold{1, 1}, MaxIncomplete: Threshold{1, 1},
		TCPMaxIncompleteHost: 1, TCPSynWait: time.Second, TCPFinWait: time.Second, TCPIdle: time.Second,
		UDPIdle: time.Second, DNSTimeout: 0}}
	err = built.Validate()
	if err == nil || !strings.Contains(err.Error(), "config: inspect.dns_timeout: dns_timeout is 0s: must be positive") {
		t.Fatalf("built config: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-3640.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	for _, tc := range badCases {
		f.Add([]byte(tc.pre + badBase + tc.text))
	}
	f.Add([]byte("a = [[[[1]]]]\nb = { c = { d = 1 } }\n'x.y' = \"\"\"q\"\"\"\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			if c != nil {
				t.Fatal("config and error")
			}
			if !strings.HasPrefix(err.Error(), "fuzz.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		var b bytes.Buffer
		c.ShowInspectAll(&b)
	})
}
