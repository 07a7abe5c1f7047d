package bench

// Scenario 7: SMTP data throughput, inspected against plain TCP on the same
// contender. One SMTP transaction whose DATA body is N bytes of text lines
// goes from the outside client to the mail server's port 25 (cbacd: SMTP
// inspection, OUT-IN smtp); the same N bytes then go on a plain TCP
// connection to port 2525 (cbacd: OUT-IN tcp, same rule, an extra line in
// ACL 101). The project's target: SMTP inspection costs no more than 10% over
// plain TCP forwarding at 1500-byte frames. The in-memory counterpart is
// dataplane/smtp_bench_test.go.
//
// The mail host runs two sinks in place of the lab's SMTP server (which
// keeps messages in memory): a minimal SMTP server on port 25 that counts
// the body instead of storing it, and a discard server on port 2525 that
// counts what it reads and writes the count back before closing.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"cbac/config"
)

const (
	// DataPlainPort is the mail host's plain TCP port of scenario 7.
	DataPlainPort = 2525
	dataLineLen   = 64      // a body line: 62 characters and CRLF
	dataBlockLen  = 1 << 20 // one write of the body (a multiple of dataLineLen)
	dataReadLen   = 256 << 10
	// dataFrameSize is the wire size of a full segment: MSS 1460 on the
	// veths' 1500-byte MTU (TSO/GSO are off on the hosts).
	dataFrameSize = 1514
	sinkIdle      = 30 * time.Second // a sink's read or write deadline
)

// DataTransfer is one kind of transfer of scenario 7: one timed transfer,
// or the sum of a run's rounds.
type DataTransfer struct {
	Port    int     `json:"port"`
	Bytes   int64   `json:"bytes"` // body bytes, all rounds
	Seconds float64 `json:"seconds"`
	Gbps    float64 `json:"gbit_per_second"` // body bytes (goodput)
	// Packets the DUT forwarded during the transfers, both directions
	// (received by the two hosts); DataPackets: towards the mail host.
	Packets     uint64  `json:"packets"`
	DataPackets uint64  `json:"data_packets"`
	Cost        CPUCost `json:"cost"` // per forwarded packet (Packets)
	// DataFrameNs is the DUT's CPU time (as Cost.DUTNs) per packet
	// towards the mail host: per full frame of body, its ACKs included.
	DataFrameNs float64 `json:"dut_ns_per_data_frame"`
	// CBACDDrops are cbacd's drop counters that grew during the transfers.
	CBACDDrops map[string]uint64 `json:"cbacd_drops,omitempty"`
}

// add accumulates t into d: sums, and costs weighted by packets.
func (d *DataTransfer) add(t DataTransfer) {
	p0, p1 := float64(d.Packets), float64(t.Packets)
	w := func(a, b float64) float64 {
		if p0+p1 == 0 {
			return 0
		}
		return (a*p0 + b*p1) / (p0 + p1)
	}
	util := 0.0
	if d.Seconds+t.Seconds > 0 {
		util = (d.Cost.CoreUtil*d.Seconds + t.Cost.CoreUtil*t.Seconds) / (d.Seconds + t.Seconds)
	}
	d.Cost = CPUCost{DUTNs: w(d.Cost.DUTNs, t.Cost.DUTNs), ProcessNs: w(d.Cost.ProcessNs, t.Cost.ProcessNs),
		SoftirqNs: w(d.Cost.SoftirqNs, t.Cost.SoftirqNs), CoreBusyNs: w(d.Cost.CoreBusyNs, t.Cost.CoreBusyNs), CoreUtil: util}
	d.Port = t.Port
	d.Bytes += t.Bytes
	d.Seconds += t.Seconds
	d.Packets += t.Packets
	d.DataPackets += t.DataPackets
	if d.Seconds > 0 {
		d.Gbps = float64(8*d.Bytes) / d.Seconds / 1e9
	}
	if d.DataPackets > 0 {
		d.DataFrameNs = d.Cost.DUTNs * float64(d.Packets) / float64(d.DataPackets)
	}
	for k, v := range t.CBACDDrops {
		if d.CBACDDrops == nil {
			d.CBACDDrops = map[string]uint64{}
		}
		d.CBACDDrops[k] += v
	}
}

// DataResult is scenario 7 for one contender.
type DataResult struct {
	Contender string `json:"contender"`
	Bytes     int64  `json:"bytes"`  // body size of each transfer
	Rounds    int    `json:"rounds"` // transfers of each kind
	FrameSize int    `json:"frame_size"`
	// Path says what the contender does with each port.
	Path string       `json:"path"`
	SMTP DataTransfer `json:"smtp"`
	TCP  DataTransfer `json:"tcp"`
	// SMTP over TCP: ThroughputRatio of Gbit/s, CostRatio of DUT CPU-ns
	// per forwarded packet, FrameCostRatio of DUT CPU-ns per data frame
	// (the same body bytes: the ratio of the CPU time the transfers took).
	ThroughputRatio float64 `json:"throughput_ratio"`
	CostRatio       float64 `json:"cost_ratio"`
	FrameCostRatio  float64 `json:"frame_cost_ratio"`
	Skipped         string  `json:"skipped,omitempty"`
}

// dataBlock is one write of a body: lines of 62 letters and CRLF, none
// starting with ".".
var dataBlock = func() []byte {
	b := make([]byte, dataBlockLen)
	for i := 0; i < len(b); i += dataLineLen {
		for j := 0; j < dataLineLen-2; j++ {
			b[i+j] = 'a' + byte((i/dataLineLen+j)%26)
		}
		b[i+dataLineLen-2], b[i+dataLineLen-1] = '\r', '\n'
	}
	return b
}()

// dataBodyLen rounds n down to whole lines (at least one).
func dataBodyLen(n int64) int64 {
	n -= n % dataLineLen
	return max(n, dataLineLen)
}

// dataTimeout bounds a transfer of n bytes: 30 s plus n at 4 MiB/s.
func dataTimeout(n int64) time.Duration {
	return 30*time.Second + time.Duration(n/(4<<20))*time.Second
}

// dataConn is a client connection with a reply reader.
type dataConn struct {
	c net.Conn
	r *bufio.Reader
}

func newDataConn(c net.Conn) *dataConn {
	return &dataConn{c: c, r: bufio.NewReaderSize(c, 4<<10)}
}

// reply reads one SMTP reply (its continuation lines too) and returns its
// last line; an error unless its code is code.
func (d *dataConn) reply(code string) (string, error) {
	for i := 0; i < 100; i++ {
		line, err := d.r.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("waiting for %s: %w", code, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if !strings.HasPrefix(line, code) {
			return "", fmt.Errorf("want %s, got %q", code, line)
		}
		if len(line) == 3 || line[3] == ' ' {
			return line, nil
		}
	}
	return "", fmt.Errorf("waiting for %s: reply of more than 100 lines", code)
}

func (d *dataConn) command(line, code string) error {
	if _, err := io.WriteString(d.c, line+"\r\n"); err != nil {
		return err
	}
	_, err := d.reply(code)
	return err
}

// writeBody writes n bytes (whole lines) of body in blocks.
func (d *dataConn) writeBody(n int64) error {
	for n > 0 {
		k := min(n, dataBlockLen)
		if _, err := d.c.Write(dataBlock[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// smtpSetup opens a transaction up to the 354 reply to DATA.
func smtpSetup(d *dataConn) error {
	if _, err := d.reply("220"); err != nil {
		return err
	}
	for _, c := range [][2]string{
		{"HELO client.bench.example", "250"}, // EHLO is no smtp verb (cbacd would mask it)
		{"MAIL FROM:<sender@outside.example>", "250"},
		{"RCPT TO:<postmaster@lab.example>", "250"},
		{"DATA", "354"},
	} {
		if err := d.command(c[0], c[1]); err != nil {
			return fmt.Errorf("%s: %w", c[0], err)
		}
	}
	return nil
}

// smtpSend sends the body and its end and waits for the 250, which must
// count n bytes.
func smtpSend(d *dataConn, n int64) error {
	if err := d.writeBody(n); err != nil {
		return err
	}
	if _, err := io.WriteString(d.c, ".\r\n"); err != nil {
		return err
	}
	line, err := d.reply("250")
	if err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	if want := fmt.Sprintf(" %d bytes", n); !strings.HasSuffix(line, want) {
		return fmt.Errorf("end of data: %q, want%s", line, want)
	}
	return nil
}

func smtpFinish(d *dataConn) error { return d.command("QUIT", "221") }

// tcpSend sends n bytes, half-closes and reads the sink's count until it
// closes.
func tcpSend(d *dataConn, n int64) error {
	if err := d.writeBody(n); err != nil {
		return err
	}
	if err := d.c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(d.r, 64))
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(string(b)); got != strconv.FormatInt(n, 10) {
		return fmt.Errorf("sink counted %q bytes, want %d", got, n)
	}
	return nil
}

// dataEnd ends message data (RFC 5321 4.1.1.4); the CRLF before the dot
// belongs to the body.
const dataEnd = "\r\n.\r\n"

// readBody reads message data from r up to CRLF "." CRLF and returns its
// length (the last CRLF counted, the dot line not; no dot-unstuffing) and
// the bytes read past the end. The CRLF of the DATA command line counts as
// the start of the first line, so an empty body is just ".\r\n".
func readBody(r io.Reader, buf []byte) (n int64, rest []byte, err error) {
	var carry [len(dataEnd) - 1]byte // the stream's last bytes
	nc := copy(carry[:], "\r\n")
	var seen int64 // body bytes read so far
	var win [2 * len(dataEnd)]byte
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			chunk := buf[:k]
			// An end across the previous read and this one comes first.
			w := append(append(win[:0], carry[:nc]...), chunk[:min(k, len(dataEnd)-1)]...)
			if i := bytes.Index(w, []byte(dataEnd)); i >= 0 {
				at := seen - int64(nc) + int64(i) // offset of the end's CR
				return at + 2, chunk[at+int64(len(dataEnd))-seen:], nil
			}
			if i := bytes.Index(chunk, []byte(dataEnd)); i >= 0 {
				return seen + int64(i) + 2, chunk[i+len(dataEnd):], nil
			}
			seen += int64(k)
			if k >= len(carry) {
				nc = copy(carry[:], chunk[k-len(carry):])
			} else {
				all := append(append(win[:0], carry[:nc]...), chunk...)
				nc = copy(carry[:], all[max(0, len(all)-len(carry)):])
			}
		}
		if rerr != nil {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return seen, nil, rerr
		}
	}
}

// serveSMTPSink accepts connections on ln until it is closed: each a
// minimal SMTP server that counts message bodies and discards them.
func serveSMTPSink(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go smtpSink(c)
	}
}

func smtpSink(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	buf := make([]byte, dataReadLen)
	reply := func(s string) error {
		c.SetWriteDeadline(time.Now().Add(sinkIdle))
		_, err := io.WriteString(c, s+"\r\n")
		return err
	}
	if reply("220 sink.lab.example ESMTP cbacbench") != nil {
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(sinkIdle))
		line, err := r.ReadSlice('\n')
		if err != nil {
			return // also a line longer than the buffer: not a client of ours
		}
		verb := strings.ToUpper(strings.TrimSpace(string(line[:min(len(line), 4)])))
		var out string
		switch verb {
		case "EHLO", "HELO":
			out = "250 sink.lab.example"
		case "MAIL", "RCPT", "RSET", "NOOP":
			out = "250 2.0.0 Ok"
		case "DATA":
			if reply("354 End data with <CR><LF>.<CR><LF>") != nil {
				return
			}
			n, rest, err := readBody(deadlineReader{c, r}, buf)
			if err != nil {
				return
			}
			r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), c), 64<<10)
			out = fmt.Sprintf("250 2.0.0 Ok: %d bytes", n)
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			out = "500 5.5.2 Error: command not recognized"
		}
		if reply(out) != nil {
			return
		}
	}
}

// deadlineReader renews c's read deadline before each read from r.
type deadlineReader struct {
	c net.Conn
	r io.Reader
}

func (d deadlineReader) Read(p []byte) (int, error) {
	d.c.SetReadDeadline(time.Now().Add(sinkIdle))
	return d.r.Read(p)
}

// serveDiscard accepts connections on ln until it is closed: each is read
// to its end, then the count of bytes read is written back and the
// connection closed.
func serveDiscard(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, dataReadLen)
			var n int64
			for {
				c.SetReadDeadline(time.Now().Add(sinkIdle))
				k, err := c.Read(buf)
				n += int64(k)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return
				}
			}
			c.SetWriteDeadline(time.Now().Add(sinkIdle))
			fmt.Fprintf(c, "%d\n", n)
		}()
	}
}

// startDataSinks replaces the lab's SMTP server on 10.10.10.2:25 (closed
// by the caller) with the SMTP sink, and adds the discard server on
// 10.10.10.2:2525; the returned function closes both.
func (b *Bench) startDataSinks() (func(), error) {
	smtpLn, err := b.listenIn(RoleIn, net.JoinHostPort(MailAddr, "25"))
	if err != nil {
		return nil, fmt.Errorf("smtp sink: %w", err)
	}
	tcpLn, err := b.listenIn(RoleIn, net.JoinHostPort(MailAddr, strconv.Itoa(DataPlainPort)))
	if err != nil {
		smtpLn.Close()
		return nil, fmt.Errorf("discard sink: %w", err)
	}
	go serveSMTPSink(smtpLn)
	go serveDiscard(tcpLn)
	return func() { smtpLn.Close(); tcpLn.Close() }, nil
}

// dataClient is one kind of transfer: setup (not timed), send (timed),
// finish (not timed, may be nil).
type dataClient struct {
	port          int
	setup, finish func(*dataConn) error
	send          func(*dataConn, int64) error
}

var (
	smtpDataClient = dataClient{port: 25, setup: smtpSetup, send: smtpSend, finish: smtpFinish}
	tcpDataClient  = dataClient{port: DataPlainPort, setup: func(*dataConn) error { return nil }, send: tcpSend}
)

// dataSnapshot is the state around a timed transfer.
type dataSnapshot struct {
	cpu       cpuSample
	toMail    uint64 // frames received by the mail host
	toOutside uint64 // by the outside host
}

func (b *Bench) dataSnapshot(ctx context.Context, r *running) (dataSnapshot, error) {
	var s dataSnapshot
	in, err := b.topo.Stats(ctx, RoleIn, "eth0")
	if err != nil {
		return s, err
	}
	out, err := b.topo.Stats(ctx, RoleOut, "eth0")
	if err != nil {
		return s, err
	}
	s.cpu = takeCPU(b.topo.DUTCPU, r.pid)
	s.toMail, s.toOutside = in.RxPackets, out.RxPackets
	return s, nil
}

type timed struct {
	d   time.Duration
	err error
}

// transfer runs cl from the outside client (172.22.1.100, on a thread in
// the outside namespace) to host, sending n bytes; the DUT's CPU time and
// the hosts' receive counters are read just before and after the timed
// part, cbacd's drop counters around them.
func (b *Bench) transfer(ctx context.Context, r *running, host string, cl dataClient, n int64) (DataTransfer, error) {
	res := DataTransfer{Port: cl.port}
	ready := make(chan error, 1)
	start := make(chan bool, 1)
	done := make(chan timed, 1)
	finished := make(chan error, 1)
	addr := net.JoinHostPort(host, strconv.Itoa(cl.port))
	go func() {
		// Never unlocked: the thread dies with the goroutine.
		if err := enterNetns(b.topo.NS(RoleOut), b.topo.GenCPU); err != nil {
			ready <- err
			return
		}
		dl := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ClientAddr)}}
		c, err := dl.DialContext(ctx, "tcp4", addr)
		if err != nil {
			ready <- err
			return
		}
		defer c.Close()
		defer context.AfterFunc(ctx, func() { c.Close() })()
		c.SetDeadline(time.Now().Add(dataTimeout(n)))
		d := newDataConn(c)
		if err := cl.setup(d); err != nil {
			ready <- fmt.Errorf("%s: %w", addr, err)
			return
		}
		ready <- nil
		if !<-start {
			return
		}
		t0 := time.Now()
		err = cl.send(d, n)
		done <- timed{time.Since(t0), err}
		if err == nil && cl.finish != nil {
			err = cl.finish(d)
		}
		finished <- err
	}()
	if err := <-ready; err != nil {
		return res, err
	}
	drops0, derr := r.cbacdDrops(ctx)
	if derr != nil {
		start <- false
		return res, derr
	}
	s0, err := b.dataSnapshot(ctx, r)
	if err != nil {
		start <- false
		return res, err
	}
	start <- true
	t := <-done
	s1, serr := b.dataSnapshot(ctx, r)
	ferr := <-finished
	if t.err != nil {
		return res, fmt.Errorf("%s: %w", addr, t.err)
	}
	if serr != nil {
		return res, serr
	}
	if ferr != nil {
		return res, fmt.Errorf("%s after the data: %w", addr, ferr)
	}
	drops1, derr := r.cbacdDrops(ctx)
	if derr != nil {
		return res, derr
	}
	var one DataTransfer
	one.Port, one.Bytes, one.Seconds = cl.port, n, t.d.Seconds()
	one.DataPackets = s1.toMail - s0.toMail
	one.Packets = one.DataPackets + (s1.toOutside - s0.toOutside)
	one.Cost = cpuCost(s0.cpu, s1.cpu, one.Packets)
	for k, v := range drops1 {
		if v > drops0[k] {
			if one.CBACDDrops == nil {
				one.CBACDDrops = map[string]uint64{}
			}
			one.CBACDDrops[k] = v - drops0[k]
		}
	}
	res.add(one)
	return res, nil
}

// cbacdDrops reads cbacd's drop counters (nil for the kernel contenders).
func (r *running) cbacdDrops(ctx context.Context) (map[string]uint64, error) {
	if r.sock == "" {
		return nil, nil
	}
	out, err := r.cbacdCommand(ctx, "show ip inspect statistics")
	if err != nil {
		return nil, err
	}
	return parseDrops(out), nil
}

// parseDrops reads the "Drops:" list of show ip inspect statistics: one
// indented "reason count" line per reason.
func parseDrops(out string) map[string]uint64 {
	m := map[string]uint64{}
	_, list, ok := strings.Cut(out, "\nDrops:\n")
	if !ok {
		return m
	}
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		line = strings.TrimSpace(line)
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseUint(line[i+1:], 10, 64); err == nil {
			m[strings.TrimSpace(line[:i])] = v
		}
	}
	return m
}

// dataPath describes what contender c does with ports 25 and 2525, and
// returns the mail host's address as the client reaches it.
func dataPath(c Contender) (desc, host string) {
	switch c.Kind {
	case KindCBACD:
		buf := c.InspectedBuffer
		if buf <= 0 {
			buf = config.DefaultInspectedBuffer
		}
		return fmt.Sprintf("25: OUT-IN smtp inspection (inspected_buffer %d); 2525: OUT-IN tcp inspection; static NAT, ACL 101", buf), MailGlobal
	case KindNFT:
		return "both: conntrack, static NAT, forward filter", MailGlobal
	case KindLinux:
		return "both: routing only, to 10.10.10.2 (no NAT)", MailAddr
	}
	return "both: AF_XDP forwarding, no policy, to 10.10.10.2 (no NAT)", MailAddr
}

// dataThroughput is scenario 7 through r: a warm-up of a tenth of the
// body each way, then rounds of one SMTP transaction and one plain TCP
// transfer, in alternating order.
func (b *Bench) dataThroughput(ctx context.Context, r *running) (res DataResult, err error) {
	n := dataBodyLen(b.opts.DataBytes)
	desc, host := dataPath(r.c)
	res = DataResult{Contender: r.c.Name, Bytes: n, Rounds: max(b.opts.DataRounds, 1), FrameSize: dataFrameSize, Path: desc}
	defer func() {
		if err != nil {
			b.keepCBACDState(ctx, r, "smtp-data-failed-"+r.c.Name)
		}
	}()
	PinProcess(0, b.topo.GenCPU)
	if r.pid > 0 {
		if err := PinProcess(r.pid, b.topo.DUTCPU); err != nil {
			return res, err
		}
	}
	for _, cl := range []dataClient{smtpDataClient, tcpDataClient} {
		if _, err := b.transfer(ctx, r, host, cl, dataBodyLen(n/10)); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	for i := 0; i < res.Rounds; i++ {
		order := []dataClient{smtpDataClient, tcpDataClient}
		if i%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, cl := range order {
			t, err := b.transfer(ctx, r, host, cl, n)
			if err != nil {
				return res, fmt.Errorf("round %d: %w", i+1, err)
			}
			if cl.port == DataPlainPort {
				res.TCP.add(t)
			} else {
				res.SMTP.add(t)
			}
		}
	}
	if res.TCP.Gbps > 0 {
		res.ThroughputRatio = res.SMTP.Gbps / res.TCP.Gbps
	}
	if res.TCP.Cost.DUTNs > 0 {
		res.CostRatio = res.SMTP.Cost.DUTNs / res.TCP.Cost.DUTNs
	}
	if res.TCP.DataFrameNs > 0 {
		res.FrameCostRatio = res.SMTP.DataFrameNs / res.TCP.DataFrameNs
	}
	b.logf("  %-9s %d x %d MiB each: smtp %.2f Gbit/s %.0f ns/packet %.0f ns/frame, tcp %.2f Gbit/s %.0f ns/packet %.0f ns/frame; smtp/tcp %.2fx throughput, %.2fx ns/packet, %.2fx ns/frame",
		r.c.Name, res.Rounds, n>>20, res.SMTP.Gbps, res.SMTP.Cost.DUTNs, res.SMTP.DataFrameNs, res.TCP.Gbps, res.TCP.Cost.DUTNs, res.TCP.DataFrameNs,
		res.ThroughputRatio, res.CostRatio, res.FrameCostRatio)
	return res, nil
}

// keepCBACDState writes cbacd's statistics and sessions into the work
// directory, for whoever looks into a failure.
func (b *Bench) keepCBACDState(ctx context.Context, r *running, prefix string) {
	if r.sock == "" {
		return
	}
	for _, cmd := range []string{"show ip inspect statistics", "show ip inspect sessions detail"} {
		if out, err := r.cbacdCommand(ctx, cmd); err == nil {
			f := filepath.Join(b.work, prefix+"-"+strings.ReplaceAll(cmd, " ", "-")+".txt")
			os.WriteFile(f, []byte(out), 0o644)
		}
	}
}
