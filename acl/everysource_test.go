package acl

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMatchEverySource(t *testing.T) {
	syn := func(dst string, dport uint16) Tuple { return tcp("0.0.0.0", dst, 0, dport, TCPFlagSYN) }
	tests := []struct {
		name    string
		entries []string
		tuple   Tuple
		index   int
		permit  bool
		ok      bool
	}{
		{"seed 101", []string{"permit tcp any host 172.22.1.110 eq smtp"}, syn("172.22.1.110", 25), 0, true, true},
		{"implicit deny", []string{"permit tcp any host 172.22.1.110 eq smtp"}, syn("172.22.1.110", 80), 1, false, true},
		{"deny for every source", []string{"deny tcp any any eq smtp", "permit ip any any"}, syn("172.22.1.110", 25), 0, false, true},
		{"source address first", []string{"deny tcp host 192.0.2.1 any", "permit tcp any host 172.22.1.110 eq smtp"}, syn("172.22.1.110", 25), 0, false, false},
		{"source wildcard first", []string{"permit ip 10.0.0.0 0.255.255.255 any", "permit ip any any"}, syn("172.22.1.110", 25), 0, true, false},
		{"source port", []string{"permit tcp any gt 1023 host 172.22.1.110 eq smtp"}, syn("172.22.1.110", 25), 0, true, false},
		{"source port neq", []string{"permit tcp any neq 20 any"}, syn("172.22.1.110", 25), 0, true, false},
		{"source port range of every port", []string{"permit tcp any range 0 65535 any eq smtp"}, syn("172.22.1.110", 25), 0, true, true},
		{"source port no port passed over", []string{"deny tcp any lt 0 any", "permit tcp any any"}, syn("172.22.1.110", 25), 1, true, true},
		{"other destination passed over", []string{"deny tcp host 192.0.2.1 host 172.22.1.111", "permit tcp any any"}, syn("172.22.1.110", 25), 1, true, true},
		{"other protocol passed over", []string{"deny udp host 192.0.2.1 any", "deny icmp host 192.0.2.1 any", "permit tcp any any eq 25"}, syn("172.22.1.110", 25), 2, true, true},
		{"other port passed over", []string{"deny tcp host 192.0.2.1 any eq www", "permit tcp any any eq 25"}, syn("172.22.1.110", 25), 1, true, true},
		{"established passed over on a SYN", []string{"deny tcp host 192.0.2.1 any established", "permit tcp any any eq 25"}, syn("172.22.1.110", 25), 1, true, true},
		{"established on an ACK", []string{"deny tcp host 192.0.2.1 any established", "permit tcp any any eq 25"},
			tcp("0.0.0.0", "172.22.1.110", 0, 25, TCPFlagACK), 0, false, false},
		{"fragment: deny with ports skipped", []string{"deny tcp any eq 20 any", "permit tcp any any"},
			Tuple{Proto: ProtoTCP, Dst: ip("172.22.1.110"), NonInitialFragment: true}, 1, true, true},
		{"fragment: permit with source port matches", []string{"permit tcp any eq 20 any"},
			Tuple{Proto: ProtoTCP, Dst: ip("172.22.1.110"), NonInitialFragment: true}, 0, true, true},
		{"empty list", nil, syn("172.22.1.110", 25), 0, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustCompile(t, "L", tc.entries...)
			i, p, ok := l.MatchEverySource(&tc.tuple)
			if i != tc.index || p != tc.permit || ok != tc.ok {
				t.Fatalf("MatchEverySource = %d, %v, %v; want %d, %v, %v", i, p, ok, tc.index, tc.permit, tc.ok)
			}
		})
	}
}

// randomEntry writes an entry from a small grammar whose conditions
// overlap the tuples of TestMatchEverySourceAgrees.
func randomEntry(r *rand.Rand) string {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	proto := pick("ip", "tcp", "tcp", "tcp", "udp")
	var b strings.Builder
	b.WriteString(pick("permit", "deny") + " " + proto)
	addr := func() string {
		return " " + pick("any", "any", "host 10.0.0.1", "10.0.0.0 0.0.0.255", "host 172.22.1.110", "172.22.1.0 0.0.0.255", "0.0.0.0 255.255.255.254")
	}
	ports := func() string {
		if proto != "tcp" && proto != "udp" {
			return ""
		}
		return pick("", "", "", " eq 25", " neq 25", " lt 1024", " gt 1023", " range 20 30", " range 0 65535", " lt 0", " gt 65535")
	}
	b.WriteString(addr() + ports() + addr() + ports())
	if proto == "tcp" && r.IntN(4) == 0 {
		b.WriteString(" established")
	}
	if r.IntN(5) == 0 {
		b.WriteString(" log")
	}
	return b.String()
}

// Whenever MatchEverySource says ok, Match agrees with it for random
// sources (and for the edge source ports); it says ok often enough for
// that to mean something.
func TestMatchEverySourceAgrees(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dsts := []uint32{ip("172.22.1.110"), ip("10.0.0.1"), ip("192.0.2.9")}
	oks := 0
	const lists = 2000
	for range lists {
		entries := make([]string, 1+r.IntN(4))
		for i := range entries {
			entries[i] = randomEntry(r)
		}
		l := mustCompile(t, "R", entries...)
		tu := Tuple{Proto: ProtoTCP, Dst: dsts[r.IntN(len(dsts))], DstPort: []uint16{25, 80, 1024}[r.IntN(3)],
			TCPFlags: []uint8{TCPFlagSYN, TCPFlagACK, TCPFlagSYN | TCPFlagACK}[r.IntN(3)]}
		if r.IntN(8) == 0 {
			tu.Proto = ProtoUDP
			tu.TCPFlags = 0
		}
		i, p, ok := l.MatchEverySource(&tu)
		if !ok {
			continue
		}
		oks++
		for k := range 64 {
			s := tu
			s.Src = r.Uint32()
			if k < 8 {
				s.Src = []uint32{0, ip("10.0.0.1"), ip("10.0.0.77"), ip("172.22.1.110"), ip("0.0.0.1"), 0xffffffff, ip("172.22.1.3"), ip("10.0.1.1")}[k]
			}
			s.SrcPort = uint16(r.Uint32())
			if k < 8 {
				s.SrcPort = []uint16{0, 1, 20, 25, 30, 1023, 1024, 65535}[k]
			}
			if j, q := l.Match(&s); j != i || q != p {
				t.Fatalf("list %q, tuple %+v: MatchEverySource %d %v, Match %d %v", entries, s, i, p, j, q)
			}
		}
	}
	if oks < lists/5 {
		t.Errorf("MatchEverySource ok for %d of %d lists: the test proves little", oks, lists)
	}
}
