package appinspect

import (
	"testing"

	"cbac/packet"
)

// FuzzFTPSegmentation feeds a client transcript and a server transcript
// (after a login) through the inspector twice: whole, and cut at the
// points the input gives, each segment sent twice (a retransmission).
// Both runs must agree on whether the session was reset and deliver the
// same bytes to each receiver (assembled by sequence number), with the
// same announcements.
func FuzzFTPSegmentation(f *testing.F) {
	f.Add([]byte("PORT 10,10,10,5,200,10\r\nEPRT |1|10.10.10.5|5000|\r\n"), []byte("227 (203,0,113,1,1,2)\r\n229 (|||6000|)\r\n"), []byte{3, 7, 1, 11})
	f.Add([]byte("PORT 192,0,2,1,0,25\r\n"), []byte("200 ok\r\n"), []byte{1})
	f.Add([]byte("USER x\r\nPORT 10,10,10,5,4,1\r\n"), []byte("331 x\r\n230-a\r\n227 (1,2,3,4,5,6)\r\n230 b\r\n"), []byte{2, 2})
	f.Fuzz(func(t *testing.T, cmds, replies, cuts []byte) {
		if len(cmds) > 2048 || len(replies) > 2048 {
			return
		}
		a := fuzzFTPRun(t, cmds, replies, nil)
		b := fuzzFTPRun(t, cmds, replies, cuts)
		if a.reset != b.reset || a.toSrv != b.toSrv || a.toCli != b.toCli || a.expects != b.expects {
			t.Fatalf("whole vs cut %v:\nreset %v %v\nserver %q\n       %q\nclient %q\n       %q\nexpects %q\n        %q",
				cuts, a.reset, b.reset, a.toSrv, b.toSrv, a.toCli, b.toCli, a.expects, b.expects)
		}
	})
}

type fuzzFTPResult struct {
	reset        bool
	toSrv, toCli string
	expects      string
}

func fuzzFTPRun(t *testing.T, cmds, replies, cuts []byte) (r fuzzFTPResult) {
	c := newConv(t, insideHost, insideGlob, outsideSrv, outsideSrv, 1460, 1)
	login(c)
	send := func(d uint8, b []byte) bool {
		ci := 0
		for len(b) > 0 {
			// Whole: full-sized segments (the scratch holds one of
			// maxTestSend bytes, as the dataplane's holds a frame's).
			n := min(len(b), maxTestSend)
			if len(cuts) > 0 {
				n = min(n, int(cuts[ci%len(cuts)])%64+1)
				ci++
			}
			c.size, c.dup = n, 2
			if c.send(d, string(b[:n])) == Reset {
				return false
			}
			b = b[n:]
		}
		return true
	}
	if !send(0, cmds) || !send(1, replies) {
		r.reset = true
	}
	// What a FIN flushes: anything still held.
	for d := uint8(0); d < 2 && !r.reset; d++ {
		v := c.f.Segment(d, c.seq[d], packet.ACK|packet.FIN, nil, c.buf, 1<<16)
		if v.Action == Rewrite {
			c.rx[d].put(v.Seq, v.Out)
		}
	}
	r.toSrv, r.toCli = c.rx[0].stream(), c.rx[1].stream()
	for _, e := range c.expects {
		r.expects += e.Kind.String() + ":" + string(rune(e.Port)) + ";"
	}
	if r.reset {
		// Until the refusal, the receivers may have got different
		// prefixes (a cut segment forwards its earlier lines first):
		// compare only the verdict.
		r.toSrv, r.toCli, r.expects = "", "", ""
	}
	return r
}
