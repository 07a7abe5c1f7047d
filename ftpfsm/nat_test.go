package ftpfsm

import (
	"strings"
	"testing"
)

// TestNATStream joins the pieces as the glue will: announcements found in
// a segmented stream are rewritten for static NAT, each length change goes
// into a Shift, and every byte outside the texts keeps its identity across
// Forward and Back, with sequence numbers that wrap past 2^32.
func TestNATStream(t *testing.T) {
	steps := join(login(), []step{
		C("TYPE I\r\nPORT 10,10,10,5,4,1\r\n"), S("200 OK\r\n"),
		C("RETR a\r\nEPRT |1|10.10.10.5|50000|\r\n"), S("200 OK\r\n"),
		C("port 10,10,10,5,255,255\r\nPORT 10,10,10,5,0,1\r\nEPRT !1!10.10.10.5!1024!\r\nQUIT\r\n"),
	})
	for _, split := range []splitter{whole, bytewise, randomSplit(7)} {
		o := play(t, steps, split)
		if len(o.canns) != 5 {
			t.Fatalf("%d announcements", len(o.canns))
		}
		const isn = ^uint32(0) - 40
		var sh Shift
		var out []byte
		origOf := map[int]int{} // new offset -> original offset, outside texts
		prev := 0
		copyPlain := func(from, to int) {
			for p := from; p < to; p++ {
				origOf[len(out)] = p
				out = append(out, o.client[p])
			}
		}
		for _, a := range o.canns {
			if a.refused != AlertNone {
				continue
			}
			copyPlain(prev, a.start)
			var buf [MaxText]byte
			an := Announcement{Kind: a.kind, Delim: a.delim, Start: a.start, End: a.end}
			text, _ := Replacement(&buf, &an, insideGlobal, a.port)
			if !sh.Add(isn+uint32(a.start), a.end-a.start, len(text)) {
				t.Fatal("Add refused")
			}
			out = append(out, text...)
			prev = a.end
		}
		copyPlain(prev, len(o.client))
		want := strings.NewReplacer("10,10,10,5,", "172,22,1,111,", "10.10.10.5", "172.22.1.111").Replace(
			"USER alice\r\nPASS secret\r\nTYPE I\r\nPORT 10,10,10,5,4,1\r\nRETR a\r\nEPRT |1|10.10.10.5|50000|\r\n" +
				"port 10,10,10,5,255,255\r\nxxxxxxxxxxxxxxxxxxx\r\nEPRT !1!10.10.10.5!1024!\r\nQUIT\r\n")
		if string(out) != want {
			t.Fatalf("translated stream\n got %q\nwant %q", out, want)
		}
		for q, p := range origOf {
			if f, ok := sh.Forward(isn + uint32(p)); !ok || f != isn+uint32(q) {
				t.Fatalf("Forward(orig %d) = %d, byte is at %d", p, f-isn, q)
			}
			if b, ok := sh.Back(isn + uint32(q)); !ok || b != isn+uint32(p) {
				t.Fatalf("Back(new %d) = %d, byte was at %d", q, b-isn, p)
			}
		}
		if end, _ := sh.Forward(isn + uint32(len(o.client))); end != isn+uint32(len(out)) {
			t.Fatalf("end of stream maps to %d, want %d", end-isn, len(out))
		}
	}
}
