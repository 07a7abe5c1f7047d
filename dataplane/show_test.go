package dataplane_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"cbac/config"
	"cbac/control"
	"cbac/packet"
)

// The control plane's show commands against a dataplane's live state (docs/behaviour.md
// "What operators see"): an established SMTP session, a closing tcp session and a half-open one,
// with virtual time for the Created / Last heard columns.
func TestShowLive(t *testing.T) {
	toml := seedSmall(t)
	r := newRun(t, toml)
	t0 := r.now
	at := func(d time.Duration) { r.now = t0 + int64(d) }

	smtp := outsideIn(r, 40000) // session 1
	smtp.open()
	at(1 * time.Second)
	closing := insideOut(r, 33000, "198.51.100.7", 22) // session 2
	closing.open()
	closing.fromB(packet.ACK|packet.PSH, []byte("SSH-2.0-x\r\n"))
	at(2 * time.Second)
	closing.fromA(packet.ACK|packet.FIN, nil)
	at(3 * time.Second)
	half := insideOut(r, 33001, "198.51.100.8", 443) // session 3
	half.fromA(packet.SYN, nil)
	smtp.fromB(packet.ACK|packet.PSH, []byte("220 mail ESMTP\r\n"))
	at(4 * time.Second)
	smtp.fromA(packet.ACK|packet.PSH, []byte("HELO a\r\n"))
	at(5 * time.Second)
	r.step()

	var b bytes.Buffer
	control.ShowSessions(&b, control.Sessions(r.dp), true)
	want := `Established Sessions
 Session 00000001 (172.22.1.100:40000)=>(172.22.1.110:25) smtp SIS_OPEN
  Created 00:00:05, Last heard 00:00:01
  Bytes sent (initiator:responder) [8:16]
Half-open Sessions
 Session 00000003 (10.10.10.5:33001)=>(198.51.100.8:443) tcp SIS_OPENING
  Created 00:00:02, Last heard 00:00:02
  Bytes sent (initiator:responder) [0:0]
Terminating Sessions
 Session 00000002 (10.10.10.5:33000)=>(198.51.100.7:22) tcp SIS_CLOSING
  Created 00:00:04, Last heard 00:00:03
  Bytes sent (initiator:responder) [0:11]
`
	if b.String() != want {
		t.Errorf("show ip inspect sessions detail:\n%s\nwant\n%s", b.String(), want)
	}

	// Through the control server, as cbacctl asks.
	c, err := config.Parse("test.toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(r.dp, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	exec := func(line string) string {
		t.Helper()
		var out bytes.Buffer
		if err := srv.Exec(context.Background(), line, &out); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		return out.String()
	}
	if got := exec("sh ip insp sess detail"); got != want {
		t.Errorf("Exec show ip inspect sessions detail:\n%s", got)
	}
	brief := `Established Sessions
 Session 00000001 (172.22.1.100:40000)=>(172.22.1.110:25) smtp SIS_OPEN
Half-open Sessions
 Session 00000003 (10.10.10.5:33001)=>(198.51.100.8:443) tcp SIS_OPENING
Terminating Sessions
 Session 00000002 (10.10.10.5:33000)=>(198.51.100.7:22) tcp SIS_CLOSING
`
	if got := exec("show ip inspect sessions"); got != brief {
		t.Errorf("show ip inspect sessions:\n%s\nwant\n%s", got, brief)
	}

	// NAT: one line per translated session, then the static entries.
	nat := exec("show ip nat translations")
	wantNAT := []string{
		"Pro Inside global         Inside local          Outside local         Outside global",
		"tcp 172.22.1.110:25       10.10.10.2:25         172.22.1.100:40000    172.22.1.100:40000",
		"tcp 172.22.1.111:33000    10.10.10.5:33000      198.51.100.7:22       198.51.100.7:22",
		"tcp 172.22.1.111:33001    10.10.10.5:33001      198.51.100.8:443      198.51.100.8:443",
		"--- 172.22.1.110          10.10.10.2            ---                   ---",
		"--- 172.22.1.111          10.10.10.5            ---                   ---",
	}
	if got := strings.Split(strings.TrimSuffix(nat, "\n"), "\n"); strings.Join(got, "\n") != strings.Join(wantNAT, "\n") {
		t.Errorf("show ip nat translations:\n%s\nwant\n%s", nat, strings.Join(wantNAT, "\n"))
	}

	// ACL 101 match counts: one permitted SYN so far; two denied packets
	// count on the implicit deny, which IOS does not print.
	for _, dport := range []uint16{80, 443} {
		f := flow{srcMAC: pmac(macClient), dstMAC: pmac(macOut0), src: ip4("172.22.1.100"), dst: ip4("172.22.1.110"), sport: 40001, dport: dport}
		if out := r.send(portOut, writeTCP(make([]byte, 128), &f, 1, 0, packet.SYN, nil)); len(out[portIn]) != 0 {
			t.Fatal("ACL 101 let a SYN to port", dport, "through")
		}
	}
	acl := exec("show access-lists")
	wantACL := "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp (1 match)\n"
	if acl != wantACL {
		t.Errorf("show access-lists:\n%q\nwant\n%q", acl, wantACL)
	}
	if st := control.StatsTotal(r.dp); st.ACLHits[0][1] != 2 {
		t.Errorf("implicit deny hits %d, want 2", st.ACLHits[0][1])
	}
	// A second permitted SYN: "matches".
	more := outsideIn(r, 40002)
	more.fromA(packet.SYN, nil)
	if acl := exec("show access-lists 101"); !strings.Contains(acl, "eq smtp (2 matches)") {
		t.Errorf("show access-lists 101:\n%s", acl)
	}
	exec("clear access-list counters")
	if acl := exec("show access-lists"); acl != "Extended IP access list 101\n    10 permit tcp any host 172.22.1.110 eq smtp\n" {
		t.Errorf("after clear access-list counters:\n%s", acl)
	}

	// clear ip inspect session: the session goes, its traffic with it.
	if got := exec("clear ip inspect session 1"); got != "1 session(s) cleared\n" {
		t.Errorf("clear: %q", got)
	}
	if smtp.exists() {
		t.Error("session 1 still there after clear")
	}
	if n := smtp.segA(smtp.na, smtp.nb, packet.ACK|packet.PSH, []byte("QUIT\r\n")); n != 0 {
		t.Error("cleared session's traffic still forwarded")
	}
	if got := exec("clear ip inspect session all"); got != "3 session(s) cleared\n" {
		t.Errorf("clear all: %q", got)
	}
	if live, half := r.w.SessionCount(); live != 0 || half != 0 {
		t.Errorf("after clear all: %d sessions, %d half-open", live, half)
	}
}
