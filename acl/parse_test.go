package acl

import (
	"errors"
	"strings"
	"testing"
)

func ip(s string) uint32 {
	a, ok := ParseIPv4(s)
	if !ok {
		panic("bad test address " + s)
	}
	return a
}

func TestParseEntry(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		want  Entry
		canon string // "" means the text itself
	}{
		{
			name: "seed entry",
			text: "permit tcp any host 172.22.1.110 eq smtp",
			want: Entry{Permit: true, Protocol: ProtoTCP, Src: Any, Dst: Host(ip("172.22.1.110")),
				DstPort: Ports{Op: PortEq, Lo: 25}},
		},
		{
			name:  "port number printed by name",
			text:  "permit tcp any any eq 80",
			want:  Entry{Permit: true, Protocol: ProtoTCP, Src: Any, Dst: Any, DstPort: Ports{Op: PortEq, Lo: 80}},
			canon: "permit tcp any any eq www",
		},
		{
			name: "deny ip any any",
			text: "deny ip any any",
			want: Entry{AnyProtocol: true, Src: Any, Dst: Any},
		},
		{
			name:  "wildcard masks clear the address bits",
			text:  "permit ip 10.10.10.1 0.0.0.255 172.22.0.0 0.0.255.255 log",
			want:  Entry{Permit: true, AnyProtocol: true, Src: Address{ip("10.10.10.0"), 0xff}, Dst: Address{ip("172.22.0.0"), 0xffff}, Log: true},
			canon: "permit ip 10.10.10.0 0.0.0.255 172.22.0.0 0.0.255.255 log",
		},
		{
			name:  "zero and full wildcards print as host and any",
			text:  "deny udp 1.2.3.4 0.0.0.0 0.0.0.0 255.255.255.255",
			want:  Entry{Protocol: ProtoUDP, Src: Host(ip("1.2.3.4")), Dst: Any},
			canon: "deny udp host 1.2.3.4 any",
		},
		{
			name: "source and destination ports",
			text: "permit tcp any range ftp-data ftp host 10.0.0.1 gt 1023 established log",
			want: Entry{Permit: true, Protocol: ProtoTCP, Src: Any, SrcPort: Ports{Op: PortRange, Lo: 20, Hi: 21},
				Dst: Host(ip("10.0.0.1")), DstPort: Ports{Op: PortGt, Lo: 1023}, Established: true, Log: true},
		},
		{
			name:  "udp names differ from tcp names for 514",
			text:  "permit udp any any eq 514",
			want:  Entry{Permit: true, Protocol: ProtoUDP, Src: Any, Dst: Any, DstPort: Ports{Op: PortEq, Lo: 514}},
			canon: "permit udp any any eq syslog",
		},
		{
			name:  "tcp 514 is cmd",
			text:  "permit tcp any any eq 514",
			want:  Entry{Permit: true, Protocol: ProtoTCP, Src: Any, Dst: Any, DstPort: Ports{Op: PortEq, Lo: 514}},
			canon: "permit tcp any any eq cmd",
		},
		{
			name: "udp service names",
			text: "permit udp any eq bootpc any neq non500-isakmp",
			want: Entry{Permit: true, Protocol: ProtoUDP, Src: Any, SrcPort: Ports{Op: PortEq, Lo: 68},
				Dst: Any, DstPort: Ports{Op: PortNeq, Lo: 4500}},
		},
		{
			name:  "keywords are case-insensitive",
			text:  "PERMIT TCP ANY HOST 10.0.0.1 EQ SMTP LOG",
			want:  Entry{Permit: true, Protocol: ProtoTCP, Src: Any, Dst: Host(ip("10.0.0.1")), DstPort: Ports{Op: PortEq, Lo: 25}, Log: true},
			canon: "permit tcp any host 10.0.0.1 eq smtp log",
		},
		{
			name:  "protocol numbers become names",
			text:  "permit 6 any any lt 1024",
			want:  Entry{Permit: true, Protocol: ProtoTCP, Src: Any, Dst: Any, DstPort: Ports{Op: PortLt, Lo: 1024}},
			canon: "permit tcp any any lt 1024",
		},
		{
			name: "unnamed protocol number",
			text: "deny 132 any any",
			want: Entry{Protocol: 132, Src: Any, Dst: Any},
		},
		{
			name:  "gre keyword",
			text:  "permit 47 any any",
			want:  Entry{Permit: true, Protocol: 47, Src: Any, Dst: Any},
			canon: "permit gre any any",
		},
		{
			name: "icmp message name",
			text: "permit icmp any any echo-reply",
			want: Entry{Permit: true, Protocol: ProtoICMP, Src: Any, Dst: Any, ICMP: ICMPMatch{HasType: true, Type: 0}},
		},
		{
			name: "icmp type and code name",
			text: "permit icmp any any packet-too-big log",
			want: Entry{Permit: true, Protocol: ProtoICMP, Src: Any, Dst: Any,
				ICMP: ICMPMatch{HasType: true, Type: 3, HasCode: true, Code: 4}, Log: true},
		},
		{
			name:  "icmp numbers become names",
			text:  "permit icmp any any 3 3",
			want:  Entry{Permit: true, Protocol: ProtoICMP, Src: Any, Dst: Any, ICMP: ICMPMatch{HasType: true, Type: 3, HasCode: true, Code: 3}},
			canon: "permit icmp any any port-unreachable",
		},
		{
			name: "icmp unnamed type and code",
			text: "deny icmp any any 3 99",
			want: Entry{Protocol: ProtoICMP, Src: Any, Dst: Any, ICMP: ICMPMatch{HasType: true, Type: 3, HasCode: true, Code: 99}},
		},
		{
			name:  "icmp type 8 is echo",
			text:  "permit icmp host 10.10.10.5 any 8",
			want:  Entry{Permit: true, Protocol: ProtoICMP, Src: Host(ip("10.10.10.5")), Dst: Any, ICMP: ICMPMatch{HasType: true, Type: 8}},
			canon: "permit icmp host 10.10.10.5 any echo",
		},
		{
			name:  "extra spaces",
			text:  "  permit   tcp any   any eq   25  ",
			want:  Entry{Permit: true, Protocol: ProtoTCP, Src: Any, Dst: Any, DstPort: Ports{Op: PortEq, Lo: 25}},
			canon: "permit tcp any any eq smtp",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEntry(tc.text)
			if err != nil {
				t.Fatalf("ParseEntry(%q): %v", tc.text, err)
			}
			if got != tc.want {
				t.Fatalf("ParseEntry(%q)\n got %+v\nwant %+v", tc.text, got, tc.want)
			}
			canon := tc.canon
			if canon == "" {
				canon = tc.text
			}
			if s := got.String(); s != canon {
				t.Fatalf("String() = %q, want %q", s, canon)
			}
			again, err := ParseEntry(got.String())
			if err != nil || again != got {
				t.Fatalf("String() does not re-parse to the same entry: %+v, %v", again, err)
			}
		})
	}
}

func TestParseEntryErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		word int
		want string // substring of the error
	}{
		{"empty", "", 1, `word 1 (end of entry): expected permit or deny`},
		{"bad action", "allow ip any any", 1, `word 1 "allow": expected permit or deny`},
		{"bad protocol", "permit tpc any any", 2, `word 2 "tpc": expected a protocol`},
		{"protocol out of range", "permit 256 any any", 2, `word 2 "256": expected a protocol`},
		{"misspelt host", "permit tcp any hots 10.0.0.1", 4, `word 4 "hots": expected any, host or an address`},
		{"missing destination", "permit tcp any", 4, `word 4 (end of entry): expected any, host or an address`},
		{"bad host address", "permit ip host 10.0.0.256 any", 4, `word 4 "10.0.0.256": expected an IPv4 address after host`},
		{"address without wildcard", "permit ip 10.0.0.0 any", 4, `word 4 "any": expected a wildcard mask`},
		{"leading zero", "permit ip host 010.0.0.1 any", 4, `word 4 "010.0.0.1"`},
		{"tcp name under udp", "permit udp any any eq smtp", 6, `word 6 "smtp": expected a port number 0-65535 or a udp service name`},
		{"udp name under tcp", "permit tcp any any eq snmp", 6, `word 6 "snmp": expected a port number 0-65535 or a tcp service name`},
		{"port out of range", "permit tcp any any eq 65536", 6, `word 6 "65536"`},
		{"missing port", "permit tcp any any eq", 6, `word 6 (end of entry): expected a port number`},
		{"reversed range", "permit tcp any any range 80 20", 7, `word 7 "20": range end is below its start 80`},
		{"ports on ip", "permit ip any any eq 80", 5, `word 5 "eq": expected log or the end of the entry`},
		{"established on udp", "permit udp any any established", 5, `word 5 "established": established applies to tcp only`},
		{"ports after established", "permit tcp any any established eq 25", 6, `word 6 "eq": expected log or the end of the entry`},
		{"trailing garbage", "permit tcp any any eq 25 log foo", 8, `word 8 "foo": expected the end`},
		{"icmp type out of range", "permit icmp any any 256", 5, `word 5 "256": expected an icmp type 0-255`},
		{"icmp code out of range", "permit icmp any any 3 300", 6, `word 6 "300": expected an icmp code 0-255`},
		{"code after icmp name", "permit icmp any any echo 0", 6, `word 6 "0": expected log or the end`},
		{"misspelt icmp name", "permit icmp any any ecko", 5, `word 5 "ecko": expected an icmp type, log or the end`},
		{"source ports on icmp", "permit icmp any eq 1 any", 4, `word 4 "eq": expected any, host or an address`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEntry(tc.text)
			if err == nil {
				t.Fatalf("ParseEntry(%q) accepted", tc.text)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Word != tc.word {
				t.Errorf("Word = %d, want %d", pe.Word, tc.word)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestServiceNameTables(t *testing.T) {
	// Every name maps to one port per protocol, and the name printed for a
	// port parses back to that port.
	for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
		seen := map[string]bool{}
		for _, pn := range portNames(proto) {
			if seen[pn.name] {
				t.Errorf("proto %d: name %q twice", proto, pn.name)
			}
			seen[pn.name] = true
			name, ok := PortName(proto, pn.port)
			if !ok {
				t.Fatalf("proto %d: no name for %d", proto, pn.port)
			}
			if p, _ := LookupPort(proto, name); p != pn.port {
				t.Errorf("proto %d: %q -> %d, want %d", proto, name, p, pn.port)
			}
		}
	}
	for _, c := range []struct {
		proto uint8
		name  string
		port  uint16
	}{
		{ProtoTCP, "smtp", 25}, {ProtoTCP, "www", 80}, {ProtoTCP, "ftp-data", 20}, {ProtoTCP, "bgp", 179},
		{ProtoTCP, "exec", 512}, {ProtoTCP, "login", 513}, {ProtoTCP, "cmd", 514},
		{ProtoUDP, "biff", 512}, {ProtoUDP, "who", 513}, {ProtoUDP, "syslog", 514},
		{ProtoUDP, "ntp", 123}, {ProtoUDP, "tftp", 69}, {ProtoUDP, "isakmp", 500},
		{ProtoUDP, "domain", 53}, {ProtoTCP, "domain", 53},
	} {
		if p, ok := LookupPort(c.proto, c.name); !ok || p != c.port {
			t.Errorf("LookupPort(%d, %q) = %d, %v; want %d", c.proto, c.name, p, ok, c.port)
		}
	}
	if _, ok := LookupPort(ProtoUDP, "smtp"); ok {
		t.Error("smtp is not a udp name in IOS")
	}
	if _, ok := LookupPort(ProtoTCP, "syslog"); ok {
		t.Error("syslog is not a tcp name in IOS")
	}
}

func TestParseIPv4(t *testing.T) {
	good := map[string]uint32{"0.0.0.0": 0, "255.255.255.255": 0xffffffff, "172.22.1.110": 0xac16016e, "10.0.0.1": 0x0a000001}
	for s, want := range good {
		if got, ok := ParseIPv4(s); !ok || got != want {
			t.Errorf("ParseIPv4(%q) = %#x, %v", s, got, ok)
		}
		if FormatIPv4(want) != s {
			t.Errorf("FormatIPv4(%#x) = %q", want, FormatIPv4(want))
		}
	}
	for _, s := range []string{"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "1.2.3.", ".1.2.3", "01.2.3.4", "1.2.3.4a", "::1"} {
		if _, ok := ParseIPv4(s); ok {
			t.Errorf("ParseIPv4(%q) accepted", s)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		"permit tcp any host 172.22.1.110 eq smtp",
		"deny ip any any log",
		"permit tcp 10.0.0.0 0.0.0.255 range 1 5 any neq www established",
		"permit udp any eq domain host 1.2.3.4 gt 1023",
		"permit icmp any any echo", "permit icmp any any 3 4 log", "deny 47 any any",
		"permit tcp any hots 1.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEntry(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Word < 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		canon := e.String()
		again, err := ParseEntry(canon)
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, canon, err)
		}
		if again != e {
			t.Fatalf("%q -> %q parses to %+v, want %+v", s, canon, again, e)
		}
		if again.String() != canon {
			t.Fatalf("String not stable: %q vs %q", again.String(), canon)
		}
	})
}
