package dataplane_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/flowtable"
	"cbac/packet"
)

// seedACLs is the seed's access list 101, as the file writes it.
const seedACLs = "101 = [\n  " + seedACL101 + "\n]"

// offloadSeed is the seed (with neighbours) with its access lists replaced
// by acls (TOML lines "NAME = [...]"), each edit (old, new) applied once,
// and tail appended.
func offloadSeed(t testing.TB, acls []string, edits []string, tail string) []byte {
	t.Helper()
	s := string(seedWithNeighbours(t, true))
	s = replaceOnce(t, s, seedACLs, strings.Join(acls, "\n"))
	for i := 0; i+1 < len(edits); i += 2 {
		s = replaceOnce(t, s, edits[i], edits[i+1])
	}
	return []byte(s + "\n" + tail)
}

// Edits of the seed for offloadSeed.
var (
	outACL130   = []string{`access_group_in = "101"`, "access_group_in = \"101\"\naccess_group_out = \"130\""}
	noRoute     = []string{"[[route]]\nprefix = \"0.0.0.0/0\"\nnext_hop = \"172.22.1.1\"", ""}
	tcpInbound  = []string{seedSMTPRule, "tcp = {}\n" + seedSMTPRule}
	interceptOn = "[tcp_intercept]\nlist = \"120\"\n"
)

// aclIndex is the index of access list name in rs.ACLs.
func aclIndex(t testing.TB, rs *dataplane.Ruleset, name string) int {
	t.Helper()
	for i, l := range rs.ACLs {
		if l.Name() == name {
			return i
		}
	}
	t.Fatalf("no access list %s", name)
	return -1
}

// hit names an entry by list name ("": no list).
type hit struct {
	list  string
	entry int
}

func (h hit) resolve(t testing.TB, rs *dataplane.Ruleset) dataplane.ACLHit {
	if h.list == "" {
		return dataplane.ACLHit{List: -1}
	}
	return dataplane.ACLHit{List: aclIndex(t, rs, h.list), Entry: h.entry}
}

func TestCookieOffload(t *testing.T) {
	mail := ip4("172.22.1.110")
	remote := ip4("198.51.100.25")
	smtp101 := `101 = ["permit tcp any host 172.22.1.110 eq smtp"]`
	smtp120 := `120 = ["permit tcp any host 172.22.1.110 eq smtp"]`
	any120 := `120 = ["permit tcp any any"]`
	tests := []struct {
		name      string
		toml      []byte
		in        int
		dst       uint32
		dport     uint16
		want      bool
		in_, out_ hit
		icHit     hit
	}{
		{"seed, mail server protected", interceptSeed(t, "", ""), portOut, mail, 25, true, hit{"101", 0}, hit{}, hit{"120", 0}},
		{"seed, other port", interceptSeed(t, "", ""), portOut, mail, 80, false, hit{}, hit{}, hit{}},
		{"established entry before: passed over", offloadSeed(t, []string{
			`101 = ["deny tcp host 198.51.100.9 any established", "permit tcp any host 172.22.1.110 eq smtp"]`, smtp120}, nil, interceptOn),
			portOut, mail, 25, true, hit{"101", 1}, hit{}, hit{"120", 0}},
		{"other destination's source entry before: passed over", offloadSeed(t, []string{
			`101 = ["deny tcp host 198.51.100.9 host 172.22.1.111", "permit tcp any host 172.22.1.110 eq smtp"]`, smtp120}, nil, interceptOn),
			portOut, mail, 25, true, hit{"101", 1}, hit{}, hit{"120", 0}},
		{"source-restricted entry before", offloadSeed(t, []string{
			`101 = ["deny tcp host 198.51.100.9 any", "permit tcp any host 172.22.1.110 eq smtp"]`, smtp120}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"source port condition", offloadSeed(t, []string{
			`101 = ["permit tcp any gt 1023 host 172.22.1.110 eq smtp"]`, smtp120}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"source-restricted intercept entry before", offloadSeed(t, []string{
			smtp101, `120 = ["deny tcp 198.51.100.0 0.0.0.255 any", "permit tcp any any"]`}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"log entry inbound", offloadSeed(t, []string{
			`101 = ["permit tcp any host 172.22.1.110 eq smtp log"]`, smtp120}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"log entry in the intercept list", offloadSeed(t, []string{
			smtp101, `120 = ["permit tcp any host 172.22.1.110 eq smtp log"]`}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"inbound deny", offloadSeed(t, []string{
			`101 = ["deny tcp any host 172.22.1.110 eq smtp", "permit ip any any"]`, smtp120}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"intercept list denies", offloadSeed(t, []string{
			smtp101, `120 = ["deny tcp any any eq smtp", "permit tcp any any"]`}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"intercept list does not match", offloadSeed(t, []string{
			smtp101, `120 = ["permit tcp any host 172.22.1.111 eq smtp"]`}, nil, interceptOn),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"from inside, routed", offloadSeed(t, []string{smtp101, any120}, nil, interceptOn),
			portIn, remote, 25, true, hit{}, hit{}, hit{"120", 0}},
		{"no route", offloadSeed(t, []string{smtp101, any120}, noRoute, interceptOn),
			portIn, remote, 25, false, hit{}, hit{}, hit{}},
		{"tcp not inspected", offloadSeed(t, []string{
			`101 = ["permit tcp any host 172.22.1.110"]`, `120 = ["permit tcp any host 172.22.1.110"]`}, nil, interceptOn),
			portOut, mail, 80, false, hit{}, hit{}, hit{}},
		{"tcp inspected", offloadSeed(t, []string{
			`101 = ["permit tcp any host 172.22.1.110"]`, `120 = ["permit tcp any host 172.22.1.110"]`}, tcpInbound, interceptOn),
			portOut, mail, 80, true, hit{"101", 0}, hit{}, hit{"120", 0}},
		{"outbound ACL for every translated source", offloadSeed(t, []string{
			smtp101, any120, `130 = ["deny udp any any", "permit tcp any any eq smtp"]`}, outACL130, interceptOn),
			portIn, remote, 25, true, hit{}, hit{"130", 1}, hit{"120", 0}},
		{"outbound ACL on the NAT-translated source", offloadSeed(t, []string{
			smtp101, any120, `130 = ["permit tcp host 172.22.1.110 any", "deny tcp any any"]`}, outACL130, interceptOn),
			portIn, remote, 25, false, hit{}, hit{}, hit{}},
		{"router's own address", offloadSeed(t, []string{
			`101 = ["permit tcp any any"]`, any120}, nil, interceptOn),
			portOut, ip4("172.22.1.16"), 25, false, hit{}, hit{}, hit{}},
		{"intercept off", offloadSeed(t, []string{smtp101, smtp120}, nil, ""),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"watch mode", offloadSeed(t, []string{smtp101, smtp120}, nil, interceptOn+"mode = \"watch\"\n"),
			portOut, mail, 25, false, hit{}, hit{}, hit{}},
		{"auto mode (while it sends cookies)", offloadSeed(t, []string{smtp101, smtp120}, nil, interceptOn+"mode = \"auto\"\n"),
			portOut, mail, 25, true, hit{"101", 0}, hit{}, hit{"120", 0}},
		{"no such port", interceptSeed(t, "", ""), 5, mail, 25, false, hit{}, hit{}, hit{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := compile(t, tc.toml)
			got, ok := rs.CookieOffload(tc.in, tc.dst, tc.dport)
			if ok != tc.want {
				t.Fatalf("cookieOffload = %+v, %v; want %v", got, ok, tc.want)
			}
			want := dataplane.CookieHits{In: tc.in_.resolve(t, rs), Out: tc.out_.resolve(t, rs), Intercept: tc.icHit.resolve(t, rs)}
			if got != want {
				t.Errorf("entries %+v, want %+v", got, want)
			}
		})
	}
}

// offloadEntry writes a random access-list entry over the seed's
// addresses and ports.
func offloadEntry(r *rand.Rand) string {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	proto := pick("ip", "tcp", "tcp", "tcp", "udp")
	src := pick("any", "any", "any", "host 172.22.1.100", "172.22.1.0 0.0.0.255", "host 10.10.10.2", "10.10.10.0 0.0.0.255", "host 172.22.1.110")
	dst := pick("any", "any", "host 172.22.1.110", "host 172.22.1.111", "host 10.10.10.2", "host 198.51.100.25", "198.51.100.0 0.0.0.255")
	var sp, dp string
	if proto == "tcp" || proto == "udp" {
		sp = pick("", "", "", "", " gt 1023", " neq 25", " range 0 65535")
		dp = pick("", "", " eq 25", " eq 80", " neq 25", " lt 1024", " range 20 30")
	}
	e := fmt.Sprintf("%s %s %s%s %s%s", pick("permit", "permit", "deny"), proto, src, sp, dst, dp)
	if proto == "tcp" && r.IntN(5) == 0 {
		e += " established"
	}
	if r.IntN(8) == 0 {
		e += " log"
	}
	return e
}

// offloadList writes access list name: 1 to 3 random entries, sometimes
// ending in a permit of all tcp.
func offloadList(r *rand.Rand, name string) string {
	var es []string
	for range 1 + r.IntN(3) {
		es = append(es, fmt.Sprintf("%q", offloadEntry(r)))
	}
	if r.IntN(2) == 0 {
		es = append(es, `"permit tcp any any"`)
	}
	return name + " = [" + strings.Join(es, ", ") + "]"
}

// Whenever cookieOffload says a destination may be answered by the XDP
// program, the worker itself answers a SYN to it from any source with a
// cookie SYN/ACK, and its ACL counters move on exactly the entries
// cookieOffload named: random rulesets (access lists in, out and of the
// intercept list, inspection rules), random sources and source ports.
func TestCookieOffloadAgreesWithPipeline(t *testing.T) {
	r := rand.New(rand.NewPCG(3640, 25))
	dsts := []uint32{ip4("172.22.1.110"), ip4("172.22.1.111"),
		ip4("198.51.100.25"), ip4("10.10.10.2")}
	srcs := []uint32{ip4("172.22.1.100"), ip4("10.10.10.2"),
		ip4("10.10.10.5"), ip4("198.51.100.9")}
	macs := []packet.MAC{smtpMAC(macOut0), smtpMAC(macIn0)}
	trials, answered := 300, 0
	if testing.Short() {
		trials = 60
	}
	for trial := range trials {
		acls := []string{offloadList(r, "101"), offloadList(r, "120")}
		var edits []string
		if r.IntN(2) == 0 {
			acls = append(acls, offloadList(r, "130"))
			edits = append(edits, outACL130...)
		}
		if r.IntN(2) == 0 {
			acls = append(acls, offloadList(r, "131"))
			edits = append(edits, `inspect_in = "IN-OUT"`, "inspect_in = \"IN-OUT\"\naccess_group_in = \"131\"")
		}
		if r.IntN(2) == 0 {
			edits = append(edits, tcpInbound...)
		}
		rs := compile(t, offloadSeed(t, acls, edits, interceptOn))
		in := r.IntN(2)
		dst := dsts[r.IntN(len(dsts))]
		dport := []uint16{25, 80, 21, 1234}[r.IntN(4)]
		hits, ok := rs.CookieOffload(in, dst, dport)
		if !ok {
			continue
		}
		answered++
		h := newHarness(t, rs)
		for k := range 4 {
			src := r.Uint32()
			if k < 2 {
				src = srcs[r.IntN(len(srcs))]
			}
			sport := uint16(r.Uint32())
			if k < 2 {
				sport = []uint16{0, 20, 25, 1023, 1024, 65535}[r.IntN(6)]
			}
			flags := packet.SYN
			if k == 3 {
				flags |= packet.ECE | packet.CWR
			}
			isn := r.Uint32()
			before := make([][]uint64, len(h.w.Stats.ACLHits))
			for i, l := range h.w.Stats.ACLHits {
				before[i] = slices.Clone(l)
			}
			drops := slices.Clone(h.w.Stats.Drops[:])
			syn := icWrite(smtpMAC(macClient), macs[in], src, dst, sport, dport, isn, 0, flags, 64240,
				synOpts(packet.SynOptions{MSS: 1460, WScale: -1}), nil)
			out := h.send(in, syn)
			what := fmt.Sprintf("trial %d (%q, edits %q), SYN %s:%d -> %s:%d on port %d", trial, acls, edits,
				packet.IPString(src), sport, packet.IPString(dst), dport, in)
			if len(out[in]) != 1 || len(out[1-in]) != 0 {
				t.Fatalf("%s: %d frames back, %d on the other port; want a cookie SYN/ACK", what, len(out[in]), len(out[1-in]))
			}
			ip := packet.IPv4(out[in][0][packet.EthernetHeaderLen:])
			tc := packet.TCP(ip.Payload())
			if ip.Src() != dst || ip.Dst() != src || tc.SrcPort() != dport || tc.DstPort() != sport ||
				tc.Flags()&(packet.SYN|packet.ACK|packet.RST|packet.FIN) != packet.SYN|packet.ACK || tc.Ack() != isn+1 {
				t.Fatalf("%s: answer %s:%d -> %s:%d flags %#x ack %d, want the cookie SYN/ACK", what,
					packet.IPString(ip.Src()), tc.SrcPort(), packet.IPString(ip.Dst()), tc.DstPort(), tc.Flags(), tc.Ack())
			}
			hits.Count(before, 1)
			if !slices.EqualFunc(before, h.w.Stats.ACLHits, slices.Equal) {
				t.Fatalf("%s: ACL hits %v, want %v (entries %+v)", what, h.w.Stats.ACLHits, before, hits)
			}
			if !slices.Equal(drops, h.w.Stats.Drops[:]) {
				t.Fatalf("%s: a drop was counted", what)
			}
			for _, ev := range h.evs {
				if ev.Kind == dataplane.EvACLLog {
					t.Fatalf("%s: a log entry matched (entries %+v)", what, hits)
				}
			}
		}
		if live, _ := h.w.SessionCount(); live != 0 {
			t.Errorf("trial %d: %d sessions after cookie SYN/ACKs", trial, live)
		}
		if h.w.Intercept.SYNACKs != 4 {
			t.Errorf("trial %d: %d SYN/ACKs counted, want 4", trial, h.w.Intercept.SYNACKs)
		}
	}
	if answered < trials/10 {
		t.Errorf("cookieOffload said yes in %d of %d trials: the test proves little", answered, trials)
	}
	t.Logf("%d of %d random rulesets offloadable", answered, trials)
}

// closeIC closes c's joined connection with FINs, the client's first,
// without data either way.
func closeIC(c *icConv) {
	c.t.Helper()
	off := c.sISN - c.cookie
	cseq, sseq := c.cISN+1, c.sISN+1
	srv, _ := c.exchange(portOut, c.fromClient(cseq, sseq-off, packet.FIN|packet.ACK, 500, c.clientTS(), nil))
	one(c.t, "client FIN", srv, 1)
	var opts []byte
	if c.ts {
		c.sTS++
		opts = tsOpt(c.sTS, c.cTS)
	}
	_, cli := c.exchange(portIn, c.fromServer(sseq, cseq+1, packet.FIN|packet.ACK, 300, opts, nil))
	one(c.t, "server FIN", cli, 1)
	srv, _ = c.exchange(portOut, c.fromClient(cseq+1, sseq+1-off, packet.ACK, 500, c.clientTS(), nil))
	one(c.t, "last ACK", srv, 1)
}

// cookieFromXDP gives c the cookie SYN/ACK the XDP program would have
// sent for c's SYN (the worker's jar, at the harness clock): the worker
// never sees the SYN.
func cookieFromXDP(c *icConv) {
	c.cookie, c.cookieTS = c.h.w.MakeCookie(c.fromClient(c.cISN, 0, packet.SYN, 64240, c.synOptions(), nil), c.h.now)
}

// dropsDiff is the drop reasons counted between two snapshots.
func dropsDiff(before, after []uint64) map[dataplane.Reason]uint64 {
	d := map[dataplane.Reason]uint64{}
	for i := range after {
		if after[i] != before[i] {
			d[dataplane.Reason(i)] = after[i] - before[i]
		}
	}
	return d
}

// A client reusing its 5-tuple while the closed session of its last
// connection waits out finwait, its SYN answered by the XDP program: the
// cookie ACK replaces the old session and opens the new connection. A
// forged ACK (a cookie that does not check) leaves the old session as it
// was and is the drop TCP tracking made of it before.
func TestInterceptCookieReopensClosed(t *testing.T) {
	for _, ts := range []bool{true, false} {
		t.Run(map[bool]string{true: "timestamps", false: "no options"}[ts], func(t *testing.T) {
			h := newHarness(t, compile(t, interceptSeed(t, "", "finrst_timeout = \"7s\"\n")))
			old := newIC(t, h, 40900, ts)
			old.open()
			closeIC(old)
			h.advance(time.Second)
			key := flowtable.Key{Src: smtpClientIP, Dst: smtpGlobalIP, SrcPort: 40900, DstPort: 25, Proto: packet.ProtoTCP}
			was, ok := h.w.StateOf(key)
			if !ok {
				t.Fatal("no closed session 1 s after the close (finrst_timeout 7s)")
			}

			c := newIC(t, h, 40900, ts)
			c.cISN, c.cTS = 100000, 5000
			cookieFromXDP(c)

			// Forged ACKs: one a cookie's near miss, whose refusal by
			// tracking depends on where the (random) cookie falls in the
			// old connection's numbers; one acknowledging far beyond
			// what the old server side sent (tracking: data never sent).
			tracking := []dataplane.Reason{dataplane.DropTCPOutOfWindow, dataplane.DropTCPAckUnseen, dataplane.DropTCPInvalid}
			for _, f := range []struct {
				ack  uint32
				want []dataplane.Reason
			}{
				{c.cookie + 2, tracking},
				{old.cookie + 1 + 1<<20, []dataplane.Reason{dataplane.DropTCPAckUnseen}},
			} {
				drops := slices.Clone(h.w.Stats.Drops[:])
				srv, cli := c.exchange(portOut, c.fromClient(c.cISN+1, f.ack, packet.ACK, 1000, c.clientTS(), nil))
				one(t, "frames to the server after a forged ACK", srv, 0)
				one(t, "frames to the client after a forged ACK", cli, 0)
				if now, ok := h.w.StateOf(key); !ok || now != was {
					t.Errorf("the forged ACK %d changed or ended the old session (still there: %v)", f.ack, ok)
				}
				d := dropsDiff(drops, h.w.Stats.Drops[:])
				if len(d) != 1 || !slices.ContainsFunc(f.want, func(r dataplane.Reason) bool { return d[r] == 1 }) {
					t.Errorf("forged ACK %d counted as %v, want one of %v", f.ack, d, f.want)
				}
			}

			c.cookieACK(1000, nil)
			c.join(29200, c.scaled(29200))
			if live, half := h.w.SessionCount(); live != 1 || half != 0 {
				t.Errorf("%d sessions, %d half-open after the new handshake, want 1, 0", live, half)
			}
			if st := h.w.Intercept; st.Opened != 2 || st.Joined != 2 || st.SYNACKs != 1 {
				t.Errorf("counters %+v, want 2 opened and joined, 1 SYN/ACK from the worker", st)
			}
			// The new connection carries data.
			greet := []byte("220 mail ESMTP\r\n")
			var opts []byte
			if ts {
				c.sTS++
				opts = tsOpt(c.sTS, c.cTS)
			}
			_, cli := c.exchange(portIn, c.fromServer(c.sISN+1, c.cISN+1, packet.ACK|packet.PSH, 300, opts, greet))
			one(t, "greeting to the client", cli, 1)
			expectSeg(t, "greeting", cli[0], c.cookie+1, c.cISN+1, packet.ACK|packet.PSH)
		})
	}
}

// The reopening is for closed sessions only: a valid cookie ACK on the
// 5-tuple of an open connection is dropped by TCP tracking and changes
// nothing.
func TestInterceptCookieOnOpenSession(t *testing.T) {
	h := newHarness(t, compile(t, interceptSeed(t, "", "")))
	old := newIC(t, h, 40910, false)
	old.open()
	key := flowtable.Key{Src: smtpClientIP, Dst: smtpGlobalIP, SrcPort: 40910, DstPort: 25, Proto: packet.ProtoTCP}
	was, _ := h.w.StateOf(key)
	c := newIC(t, h, 40910, false)
	c.cISN = 100000
	cookieFromXDP(c)
	srv, cli := c.exchange(portOut, c.fromClient(c.cISN+1, c.cookie+1, packet.ACK, 1000, nil, nil))
	one(t, "frames to the server", srv, 0)
	one(t, "frames to the client", cli, 0)
	if now, ok := h.w.StateOf(key); !ok || now != was {
		t.Errorf("a cookie ACK changed or ended an open session (still there: %v)", ok)
	}
	if h.w.Intercept.Opened != 1 {
		t.Errorf("%d connections opened, want 1", h.w.Intercept.Opened)
	}
}
