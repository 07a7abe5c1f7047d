package dataplane_test

import (
	"bytes"
	"testing"

	"cbac/packet"
)

// FTP through the full pipeline: the control channel (inspected by
// appinspect.FTP, with a length-changing rewrite behind it so that every
// segment is shifted and every ACK mapped back) and a data connection
// admitted by a pinhole (an ftp-data session: plain TCP tracking), to
// compare with BenchmarkPlainTCPData1460.

// ftpBenchSeed is benchSeed with ftp in OUT-IN and the control connection
// to the inside server permitted by ACL 101.
func ftpBenchSeed(t testing.TB) []byte {
	s := string(benchSeed(t))
	s = replaceOnce(t, s, "smtp = { max_data = 9000000000000000000 }", "smtp = { max_data = 9000000000000000000 }\nftp = {}")
	s = replaceOnce(t, s, `"permit tcp any host 172.22.1.110 eq smtp",`,
		`"permit tcp any host 172.22.1.110 eq smtp",`+"\n"+`"permit tcp any host 172.22.1.110 eq ftp",`)
	return []byte(s)
}

// ftpLogin logs an outside client in to the inside server.
func ftpLogin(c *smtpConv) {
	c.reply("220 ready\r\n")
	c.send("USER anonymous\r\n", "USER anonymous\r\n")
	c.reply("331 pass\r\n")
	c.send("PASS x@\r\n", "PASS x@\r\n")
	c.reply("230 ok\r\n")
}

// newFTPControlBench is a logged-in control connection after a 227 whose
// text grew by 2 (10,10,10,2 -> 172,22,1,110): client segments of one
// command each, a server segment with the 8 replies; the client
// acknowledges in the numbering it sees (2 ahead of the server's).
func newFTPControlBench(tb testing.TB) *smtpBench {
	h := newHarness(tb, compile(tb, ftpBenchSeed(tb)))
	c := openTCPConv(tb, h, 41100, 21, -1)
	ftpLogin(c)
	c.send("PASV\r\n", "PASV\r\n")
	pasv := []byte("227 Entering Passive Mode (10,10,10,2,195,80).\r\n")
	_, cli := c.exchange(portIn, c.fromServer(c.sseq, c.cseq, packet.ACK|packet.PSH, 65535, -1, pasv))
	if len(cli) != 1 || !bytes.Contains(cli[0], []byte("(172,22,1,110,195,80)")) {
		tb.Fatalf("227 not rewritten: %d frames; drops %v", len(cli), smtpDrops(h))
	}
	c.sseq += uint32(len(pasv))
	b := newBench(c, []byte("CWD /pub/mirror/debian\r\n"), bytes.Repeat([]byte("250 ok\r\n"), benchBatch))
	b.ackShift = 2
	return b
}

// newFTPDataBench is a passive data connection (ftp-data session) carrying
// 1460-byte segments from the outside client to the inside server.
func newFTPDataBench(tb testing.TB) *smtpBench {
	h := newHarness(tb, compile(tb, ftpBenchSeed(tb)))
	c := openTCPConv(tb, h, 41101, 21, -1)
	ftpLogin(c)
	c.send("EPSV\r\n", "EPSV\r\n")
	c.reply("229 Entering Extended Passive Mode (|||50001|)\r\n")
	d := openTCPConv(tb, h, 41102, 50001, -1)
	return newBench(d, benchBody(1460), nil)
}

func BenchmarkFTPControl(b *testing.B)  { newFTPControlBench(b).run(b) }
func BenchmarkFTPData1460(b *testing.B) { newFTPDataBench(b).run(b) }

// The FTP control channel and the data connection allocate nothing per
// packet.
func TestFTPPipelineAllocs(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(testing.TB) *smtpBench
	}{
		{"ftp control", newFTPControlBench},
		{"ftp data", newFTPDataBench},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.new(t)
			for i := 0; i < 8; i++ {
				if n := b.iteration(); n != b.frames {
					t.Fatalf("iteration %d: %d of %d frames; drops %v", i, n, b.frames, smtpDrops(b.h))
				}
			}
			if n := testing.AllocsPerRun(100, func() { b.iteration() }); n != 0 {
				t.Fatalf("%v allocations per iteration", n)
			}
		})
	}
}
