package acl

import (
	"bytes"
	"strconv"
	"testing"
)

func mustCompile(t testing.TB, name string, texts ...string) *List {
	t.Helper()
	entries := make([]Entry, len(texts))
	for i, s := range texts {
		e, err := ParseEntry(s)
		if err != nil {
			t.Fatalf("ParseEntry(%q): %v", s, err)
		}
		entries[i] = e
	}
	return Compile(name, entries)
}

func tcp(src, dst string, sport, dport uint16, flags uint8) Tuple {
	return Tuple{Proto: ProtoTCP, Src: ip(src), Dst: ip(dst), SrcPort: sport, DstPort: dport, TCPFlags: flags}
}

func TestMatchSeedACL(t *testing.T) {
	// access-list 101 on the outside interface (seed): only SMTP to the
	// mail server's inside-global address.
	l := mustCompile(t, "101", "permit tcp any host 172.22.1.110 eq smtp")
	tests := []struct {
		name   string
		tuple  Tuple
		index  int
		permit bool
	}{
		{"smtp to mail server", tcp("198.51.100.7", "172.22.1.110", 40000, 25, TCPFlagSYN), 0, true},
		{"http to mail server", tcp("198.51.100.7", "172.22.1.110", 40000, 80, TCPFlagSYN), 1, false},
		{"smtp to other host", tcp("198.51.100.7", "172.22.1.111", 40000, 25, TCPFlagSYN), 1, false},
		{"udp 25 to mail server", Tuple{Proto: ProtoUDP, Src: ip("1.1.1.1"), Dst: ip("172.22.1.110"), DstPort: 25}, 1, false},
		{"icmp to mail server", Tuple{Proto: ProtoICMP, Src: ip("1.1.1.1"), Dst: ip("172.22.1.110"), ICMPType: 8}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, p := l.Match(&tc.tuple)
			if i != tc.index || p != tc.permit {
				t.Fatalf("Match = %d, %v; want %d, %v", i, p, tc.index, tc.permit)
			}
		})
	}
	if l.Len() != 1 || l.Name() != "101" || l.Entry(0).String() != "permit tcp any host 172.22.1.110 eq smtp" {
		t.Fatalf("list accessors: %d %q %q", l.Len(), l.Name(), l.Entry(0))
	}
}

func TestMatch(t *testing.T) {
	l := mustCompile(t, "OUTSIDE",
		"deny ip host 10.0.0.66 any log",                       // 0
		"permit tcp any 192.168.1.0 0.0.0.255 established",     // 1
		"deny tcp any any range 6000 6063",                     // 2
		"permit tcp any eq ftp-data any gt 1023",               // 3
		"permit udp any eq domain any neq 53",                  // 4
		"permit tcp any host 172.22.1.110 lt 26",               // 5
		"permit icmp any any echo-reply",                       // 6
		"permit icmp any any packet-too-big",                   // 7
		"deny icmp any any unreachable",                        // 8
		"permit 47 10.1.0.0 0.0.255.255 any",                   // 9
		"permit ip 10.2.0.0 0.0.0.255 0.0.0.1 255.255.255.254", // 10: odd destinations
		"deny tcp 10.3.0.0 0.0.255.255 any eq telnet",          // 11
		"permit tcp 10.3.0.0 0.0.255.255 any",                  // 12
	)
	tests := []struct {
		name   string
		tuple  Tuple
		index  int
		permit bool
	}{
		{"host denied before anything", tcp("10.0.0.66", "192.168.1.5", 1, 2, TCPFlagACK), 0, false},
		{"established ACK", tcp("8.8.8.8", "192.168.1.5", 443, 50000, TCPFlagACK), 1, true},
		{"established RST", tcp("8.8.8.8", "192.168.1.5", 443, 50000, TCPFlagRST), 1, true},
		{"established refuses SYN", tcp("8.8.8.8", "192.168.1.5", 443, 50000, TCPFlagSYN), 13, false},
		{"range low edge", tcp("8.8.8.8", "1.1.1.1", 1, 6000, TCPFlagSYN), 2, false},
		{"range high edge", tcp("8.8.8.8", "1.1.1.1", 1, 6063, TCPFlagSYN), 2, false},
		{"above range", tcp("8.8.8.8", "1.1.1.1", 1, 6064, TCPFlagSYN), 13, false},
		{"source port eq and gt", tcp("8.8.8.8", "1.1.1.1", 20, 1024, TCPFlagSYN), 3, true},
		{"gt is strict", tcp("8.8.8.8", "1.1.1.1", 20, 1023, TCPFlagSYN), 13, false},
		{"neq excludes", Tuple{Proto: ProtoUDP, Src: ip("9.9.9.9"), Dst: ip("1.1.1.1"), SrcPort: 53, DstPort: 53}, 13, false},
		{"neq includes", Tuple{Proto: ProtoUDP, Src: ip("9.9.9.9"), Dst: ip("1.1.1.1"), SrcPort: 53, DstPort: 5353}, 4, true},
		{"lt is strict", tcp("8.8.8.8", "172.22.1.110", 1, 26, TCPFlagSYN), 13, false},
		{"lt below", tcp("8.8.8.8", "172.22.1.110", 1, 25, TCPFlagSYN), 5, true},
		{"icmp type", Tuple{Proto: ProtoICMP, Src: ip("1.1.1.1"), Dst: ip("2.2.2.2"), ICMPType: 0}, 6, true},
		{"icmp type and code", Tuple{Proto: ProtoICMP, Src: ip("1.1.1.1"), Dst: ip("2.2.2.2"), ICMPType: 3, ICMPCode: 4}, 7, true},
		{"icmp other code", Tuple{Proto: ProtoICMP, Src: ip("1.1.1.1"), Dst: ip("2.2.2.2"), ICMPType: 3, ICMPCode: 1}, 8, false},
		{"icmp unlisted type", Tuple{Proto: ProtoICMP, Src: ip("1.1.1.1"), Dst: ip("2.2.2.2"), ICMPType: 8}, 13, false},
		{"protocol number", Tuple{Proto: 47, Src: ip("10.1.200.3"), Dst: ip("2.2.2.2")}, 9, true},
		{"protocol number mismatch", Tuple{Proto: 50, Src: ip("10.1.200.3"), Dst: ip("2.2.2.2")}, 13, false},
		{"non-contiguous wildcard odd", Tuple{Proto: 50, Src: ip("10.2.0.9"), Dst: ip("7.7.7.7")}, 10, true},
		{"non-contiguous wildcard even", Tuple{Proto: 50, Src: ip("10.2.0.9"), Dst: ip("7.7.7.8")}, 13, false},
		{"deny with port", tcp("10.3.1.1", "5.5.5.5", 1000, 23, TCPFlagSYN), 11, false},
		{"falls to permit", tcp("10.3.1.1", "5.5.5.5", 1000, 22, TCPFlagSYN), 12, true},
		{"implicit deny", Tuple{Proto: ProtoUDP, Src: ip("1.1.1.1"), Dst: ip("2.2.2.2"), SrcPort: 1, DstPort: 2}, 13, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, p := l.Match(&tc.tuple)
			if i != tc.index || p != tc.permit {
				t.Fatalf("Match = %d, %v; want %d, %v", i, p, tc.index, tc.permit)
			}
		})
	}
}

func TestMatchNonInitialFragments(t *testing.T) {
	l := mustCompile(t, "FRAG",
		"deny tcp any host 10.0.0.1 eq telnet", // 0: L4 deny: skipped by non-initial fragments
		"permit tcp any host 10.0.0.1 eq smtp", // 1: L4 permit: matches on L3 alone
		"deny ip any host 10.0.0.2",            // 2: L3 deny: matches
		"permit udp any host 10.0.0.3 eq 53",   // 3
		"permit icmp any host 10.0.0.4 echo",   // 4
	)
	frag := func(proto uint8, dst string) Tuple {
		return Tuple{Proto: proto, Src: ip("1.1.1.1"), Dst: ip(dst), NonInitialFragment: true}
	}
	tests := []struct {
		name   string
		tuple  Tuple
		index  int
		permit bool
	}{
		{"tcp fragment passes deny-with-port to permit-with-port", frag(ProtoTCP, "10.0.0.1"), 1, true},
		{"L3 deny applies", frag(ProtoTCP, "10.0.0.2"), 2, false},
		{"udp fragment", frag(ProtoUDP, "10.0.0.3"), 3, true},
		{"icmp fragment", frag(ProtoICMP, "10.0.0.4"), 4, true},
		{"protocol still checked", frag(ProtoUDP, "10.0.0.4"), 5, false},
		{"addresses still checked", frag(ProtoTCP, "10.0.0.9"), 5, false},
		{"initial fragment is checked in full", tcp("1.1.1.1", "10.0.0.1", 1, 23, 0), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, p := l.Match(&tc.tuple)
			if i != tc.index || p != tc.permit {
				t.Fatalf("Match = %d, %v; want %d, %v", i, p, tc.index, tc.permit)
			}
		})
	}
}

func TestMatchEdgePorts(t *testing.T) {
	l := mustCompile(t, "E", "permit tcp any any lt 0", "permit tcp any any gt 65535", "permit tcp any eq 0 any eq 65535")
	for _, port := range []uint16{0, 1, 65534, 65535} {
		tu := tcp("1.1.1.1", "2.2.2.2", 5, port, 0)
		if i, _ := l.Match(&tu); i != 3 {
			t.Errorf("port %d matched entry %d; lt 0 and gt 65535 match nothing", port, i)
		}
	}
	tu := tcp("1.1.1.1", "2.2.2.2", 0, 65535, 0)
	if i, p := l.Match(&tu); i != 2 || !p {
		t.Errorf("eq 0 / eq 65535: got %d %v", i, p)
	}
}

func TestEmptyList(t *testing.T) {
	l := Compile("EMPTY", nil)
	tu := tcp("1.1.1.1", "2.2.2.2", 1, 2, 0)
	if i, p := l.Match(&tu); i != 0 || p {
		t.Fatalf("empty list: %d %v, want implicit deny 0", i, p)
	}
}

func TestShow(t *testing.T) {
	l := mustCompile(t, "101",
		"permit tcp any host 172.22.1.110 eq 25",
		"permit icmp any any 0",
		"deny ip any any log",
	)
	var b bytes.Buffer
	if err := l.Show(&b, []uint64{3, 1}); err != nil {
		t.Fatal(err)
	}
	want := "Extended IP access list 101\n" +
		"    10 permit tcp any host 172.22.1.110 eq smtp (3 matches)\n" +
		"    20 permit icmp any any echo-reply (1 match)\n" +
		"    30 deny ip any any log\n"
	if b.String() != want {
		t.Fatalf("Show:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCompileCopiesEntries(t *testing.T) {
	e, _ := ParseEntry("permit ip any any")
	entries := []Entry{e}
	l := Compile("X", entries)
	entries[0].Permit = false
	if !l.Entry(0).Permit {
		t.Fatal("Compile kept a reference to the caller's slice")
	}
}

func benchList(b testing.TB) *List {
	texts := make([]string, 0, 21)
	for i := 0; i < 20; i++ {
		texts = append(texts, "deny tcp any host 10.0.0."+strconv.Itoa(i+1)+" range 1000 2000")
	}
	texts = append(texts, "permit tcp any host 172.22.1.110 eq smtp")
	return mustCompile(b, "BENCH", texts...)
}

func TestMatchAllocs(t *testing.T) {
	l := benchList(t)
	tu := tcp("198.51.100.7", "172.22.1.110", 40000, 25, TCPFlagSYN)
	var idx int
	allocs := testing.AllocsPerRun(1000, func() {
		idx, _ = l.Match(&tu)
	})
	if allocs != 0 {
		t.Fatalf("Match allocates %.1f times per call", allocs)
	}
	if idx != 20 {
		t.Fatalf("matched %d, want 20", idx)
	}
}

// BenchmarkMatch scans 20 non-matching entries and matches the 21st.
func BenchmarkMatch(b *testing.B) {
	l := benchList(b)
	tu := tcp("198.51.100.7", "172.22.1.110", 40000, 25, TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		if i, _ := l.Match(&tu); i != 20 {
			b.Fatal(i)
		}
	}
}

// BenchmarkMatchSeed is the seed's one-entry ACL 101.
func BenchmarkMatchSeed(b *testing.B) {
	l := mustCompile(b, "101", "permit tcp any host 172.22.1.110 eq smtp")
	tu := tcp("198.51.100.7", "172.22.1.110", 40000, 25, TCPFlagSYN)
	b.ReportAllocs()
	for b.Loop() {
		l.Match(&tu)
	}
}
