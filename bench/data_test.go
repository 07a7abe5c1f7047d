package bench

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// chunkReader returns s in reads of the given sizes, cycling.
type chunkReader struct {
	s     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.s) == 0 {
		return 0, io.EOF
	}
	k := min(c.sizes[c.i%len(c.sizes)], len(p), len(c.s))
	c.i++
	n := copy(p, c.s[:k])
	c.s = c.s[n:]
	return n, nil
}

// readBody finds the end of data wherever the reads split it, and returns
// what followed.
func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int64
		rest     string
	}{
		{"empty", ".\r\nQUIT\r\n", 0, "QUIT\r\n"},
		{"one line", "hello\r\n.\r\n", 7, ""},
		{"stuffed dot", "..x\r\n\r\n.\r\nNOOP\r\n", 7, "NOOP\r\n"},
		{"dot inside a line", "a.\r\nb\r\n.x\r\n.\r\n", 11, ""},
		{"bare LF dot", "a\n.\nb\r\n.\r\nR", 7, "R"},
		{"CR CR LF", "a\r\r\n.\r\n", 4, ""},
	} {
		for _, sizes := range [][]int{{1 << 20}, {1}, {2}, {3}, {4}, {5}, {1, 4}, {3, 1, 2}} {
			buf := make([]byte, 64)
			n, rest, err := readBody(&chunkReader{s: []byte(tc.in), sizes: sizes}, buf)
			// What the last read returned past the end, plus what is unread.
			if err != nil || n != tc.n || !strings.HasPrefix(tc.rest, string(rest)) {
				t.Errorf("%s, reads of %v: %d, %q, %v; want %d, %q", tc.name, sizes, n, rest, err, tc.n, tc.rest)
			}
		}
	}
	buf := make([]byte, 64)
	for _, in := range []string{"", "no end\r\n", "almost\r\n.\r", "a\r\n.x\r\n"} {
		if _, _, err := readBody(strings.NewReader(in), buf); err != io.ErrUnexpectedEOF {
			t.Errorf("%q: %v, want unexpected EOF", in, err)
		}
	}
}

// Random bodies, dense in CRs, LFs and dots, in random reads: the length
// is the offset of the end.
func TestReadBodyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		b := []byte("\r\n") // the end of the DATA line
		size := rng.IntN(3000)
		for len(b) < size {
			b = append(b, ".\r\nab"[rng.IntN(5)])
		}
		b = append(b, "\r\n"...)
		// Stuff the dot of every end made by chance, as a client would.
		for j := 0; j < len(b); j++ {
			k := bytes.Index(b, []byte(dataEnd))
			if k < 0 {
				break
			}
			b = append(b[:k+3], b[k+2:]...)
		}
		body := b[2:]
		in := append(append([]byte(nil), body...), ".\r\nafter"...)
		sizes := []int{1 + rng.IntN(7), 1 + rng.IntN(300)}
		n, rest, err := readBody(&chunkReader{s: in, sizes: sizes}, make([]byte, 512))
		if err != nil || n != int64(len(body)) || !strings.HasPrefix("after", string(rest)) {
			t.Fatalf("body of %d bytes, reads of %v: %d, %q, %v", len(body), sizes, n, rest, err)
		}
	}
}

func TestDataBlock(t *testing.T) {
	if len(dataBlock)%dataLineLen != 0 {
		t.Fatalf("block of %d bytes", len(dataBlock))
	}
	for i := 0; i < len(dataBlock); i += dataLineLen {
		line := dataBlock[i : i+dataLineLen]
		if line[0] == '.' || !bytes.HasSuffix(line, []byte("\r\n")) || bytes.IndexAny(line[:dataLineLen-2], "\r\n.") >= 0 {
			t.Fatalf("line %d: %q", i/dataLineLen, line)
		}
	}
	if dataBodyLen(100) != 64 || dataBodyLen(10) != 64 || dataBodyLen(20<<20) != 20<<20 {
		t.Errorf("dataBodyLen: %d %d %d", dataBodyLen(100), dataBodyLen(10), dataBodyLen(20<<20))
	}
}

// The clients against the sinks over loopback: a multi-block body, the
// counts checked at both ends, a second transaction on the same SMTP
// connection.
func TestDataSinks(t *testing.T) {
	smtpLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer smtpLn.Close()
	tcpLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpLn.Close()
	go serveSMTPSink(smtpLn)
	go serveDiscard(tcpLn)
	dial := func(ln net.Listener) *dataConn {
		c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return newDataConn(c)
	}
	const n = 3*dataBlockLen + 5*dataLineLen
	d := dial(smtpLn)
	defer d.c.Close()
	if err := smtpSetup(d); err != nil {
		t.Fatal(err)
	}
	if err := smtpSend(d, n); err != nil {
		t.Fatal(err)
	}
	// RSET and a second, one-line transaction.
	for _, c := range [][2]string{{"RSET", "250"}, {"MAIL FROM:<a@b>", "250"}, {"RCPT TO:<c@d>", "250"}, {"DATA", "354"}} {
		if err := d.command(c[0], c[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := smtpSend(d, dataLineLen); err != nil {
		t.Fatal(err)
	}
	if err := d.command("VRFY x", "500"); err != nil {
		t.Fatal(err)
	}
	if err := smtpFinish(d); err != nil {
		t.Fatal(err)
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		t.Errorf("after QUIT: %v, want EOF", err)
	}

	p := dial(tcpLn)
	defer p.c.Close()
	if err := tcpSend(p, n); err != nil {
		t.Fatal(err)
	}
	// The client notices a count that does not match.
	p = dial(tcpLn)
	defer p.c.Close()
	if _, err := p.c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := tcpSend(p, dataLineLen); err == nil || !strings.Contains(err.Error(), `"65"`) {
		t.Errorf("sink counted 65 bytes for 64: %v", err)
	}
}

// Reads of half what was asked (the bufio.Reader in front of the socket
// returns what it holds) lose nothing.
func TestReadBodyShortReads(t *testing.T) {
	in := strings.Repeat("abc\r\n", 1000) + ".\r\n"
	n, _, err := readBody(iotest.HalfReader(strings.NewReader(in)), make([]byte, 4096))
	if err != nil || n != 5000 {
		t.Fatalf("%d, %v", n, err)
	}
}

func TestParseDrops(t *testing.T) {
	out := "Sessions: 1 in use of 10, 0 half-open; 1 created, 0 deleted\n" +
		"Drops:\n  inspected stream buffer full         12\n  tcp out of window                    3\n" +
		"XDP sockets (kernel counters):\n  worker 0 out0 rx_dropped 0\n"
	m := parseDrops(out)
	if len(m) != 2 || m["inspected stream buffer full"] != 12 || m["tcp out of window"] != 3 {
		t.Errorf("parseDrops: %v", m)
	}
	if m := parseDrops("Drops:\n  none\n"); len(m) != 0 {
		t.Errorf("no drops: %v", m)
	}
}

// Rounds add up: bytes and packets sum, costs weigh by packets.
func TestDataTransferAdd(t *testing.T) {
	var d DataTransfer
	d.add(DataTransfer{Port: 25, Bytes: 1e9, Seconds: 2, Packets: 1000, DataPackets: 800,
		Cost: CPUCost{DUTNs: 100, ProcessNs: 60, SoftirqNs: 40, CoreUtil: 1}, CBACDDrops: map[string]uint64{"x": 1}})
	d.add(DataTransfer{Port: 25, Bytes: 1e9, Seconds: 6, Packets: 3000, DataPackets: 2400,
		Cost: CPUCost{DUTNs: 200, ProcessNs: 120, SoftirqNs: 80, CoreUtil: 0.5}, CBACDDrops: map[string]uint64{"x": 2, "y": 5}})
	if d.Bytes != 2e9 || d.Seconds != 8 || d.Packets != 4000 || d.DataPackets != 3200 || d.Gbps != 2 {
		t.Errorf("sums: %+v", d)
	}
	// (100*1000 + 200*3000) / 4000 = 175 ns per packet; 175*4000/3200 per data frame.
	if d.Cost.DUTNs != 175 || d.Cost.ProcessNs != 105 || d.Cost.SoftirqNs != 70 || d.DataFrameNs != 218.75 || d.Cost.CoreUtil != 0.625 {
		t.Errorf("costs: %+v, %v ns/frame", d.Cost, d.DataFrameNs)
	}
	if d.CBACDDrops["x"] != 3 || d.CBACDDrops["y"] != 5 {
		t.Errorf("drops: %v", d.CBACDDrops)
	}
}
