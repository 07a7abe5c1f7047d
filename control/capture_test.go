package control_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
)

// captureLab is a control server over one running worker with in-memory
// rings; the test injects frames on its ports.
type captureLab struct {
	s  *control.Server
	q  []*dataplane.FakeQueue
	mu sync.Mutex // one injector at a time (FakeQueue.Inject is single-producer)
}

func newCaptureLab(t *testing.T) *captureLab {
	b, err := os.ReadFile("../examples/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse("seed-3640.toml", b)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := control.Compile(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs.MaxSessions = 1024
	const frameSize, frames = 2048, 512
	umem := make([]byte, frameSize*frames)
	lab := &captureLab{}
	var qs []dataplane.Queue
	for range rs.Ifaces {
		q := dataplane.NewFakeQueue(umem, frameSize, 64)
		lab.q = append(lab.q, q)
		qs = append(qs, q)
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: frameSize, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		t.Fatal(err)
	}
	lab.s = control.NewServer(dp, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	dp.SetRunning(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		for ctx.Err() == nil {
			dp.Workers[0].Step(int64(time.Since(start)))
			for _, q := range lab.q {
				q.Drain(func([]byte) {})
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return lab
}

func (l *captureLab) inject(port int, f []byte) {
	l.mu.Lock()
	l.q[port].Inject(f)
	l.mu.Unlock()
}

// deniedSYN is a SYN from the outside client to 172.22.1.110:80, which
// ACL 101 denies on Ethernet2/0 (port 0).
func deniedSYN(t testing.TB, dst []byte) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IPv4(172, 22, 1, 100).To4(), DstIP: net.IPv4(172, 22, 1, 110).To4()}
	tcp := &layers.TCP{SrcPort: 40001, DstPort: 80, Seq: 1, SYN: true, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 1, 0x64}, DstMAC: net.HardwareAddr(dst),
		EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, eth, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type readResult struct {
	ifaces []control.CaptureInterface
	pkts   []control.CapturePacket
	sum    control.CaptureSummary
	err    error
}

func collect(r io.Reader, onPacket func()) readResult {
	var res readResult
	res.sum, res.err = control.ReadCapture(r,
		func(i control.CaptureInterface) error { res.ifaces = append(res.ifaces, i); return nil },
		func(p *control.CapturePacket) error {
			q := *p
			q.Data = append([]byte(nil), p.Data...)
			res.pkts = append(res.pkts, q)
			if onPacket != nil {
				onPacket()
			}
			return nil
		})
	return res
}

// `capture drops count 2 reason inbound-acl-deny` streams the interfaces,
// then exactly two ACL-denied frames with their reason and a wall-clock
// time, then the end record; runts dropped meanwhile are not taken. The
// stream read one byte at a time gives the same result.
func TestCaptureDropsStream(t *testing.T) {
	lab := newCaptureLab(t)
	mac := lab.s.DP.Ruleset().Ifaces[0].MAC
	syn := deniedSYN(t, mac[:])
	pr, pw := io.Pipe()
	var raw bytes.Buffer
	got := make(chan readResult, 1)
	go func() { got <- collect(io.TeeReader(pr, &raw), nil); io.Copy(io.Discard, pr) }()
	done := make(chan error, 1)
	go func() {
		done <- lab.s.Exec(context.Background(), "capture drops count 2 reason inbound-acl-deny", pw)
		pw.Close()
	}()
	var res readResult
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case res = <-got:
			break wait
		case <-deadline:
			var st dataplane.Stats
			lab.s.DP.Do(0, func(w *dataplane.Worker) { st = w.Stats })
			t.Fatalf("no end of capture within 10 s: drops %v rx %v", st.Drops, st.RxPackets)
		case <-time.After(5 * time.Millisecond):
			lab.inject(0, []byte{1, 2, 3})
			lab.inject(0, syn)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	wantIfaces := []control.CaptureInterface{{"out0", "Ethernet2/0"}, {"in0", "Ethernet2/1"}}
	if len(res.ifaces) != 2 || res.ifaces[0] != wantIfaces[0] || res.ifaces[1] != wantIfaces[1] {
		t.Errorf("interfaces %v, want %v", res.ifaces, wantIfaces)
	}
	if len(res.pkts) != 2 || res.sum.Frames != 2 {
		t.Fatalf("%d packets, end record %+v; want 2", len(res.pkts), res.sum)
	}
	syn = syn[:14+20+20] // the dataplane cuts the Ethernet padding
	for _, p := range res.pkts {
		if p.Comment != "inbound ACL deny" || p.Port != 0 || p.Dir != dataplane.CaptureDrop || p.Len != len(syn) ||
			!bytes.Equal(p.Data, syn) || time.Since(p.Time).Abs() > time.Minute {
			t.Errorf("packet %+v, want the denied SYN %x on port 0 now", p, syn)
		}
	}
	// Every split point: one byte per read gives the same records.
	again := collect(iotest.OneByteReader(bytes.NewReader(raw.Bytes())), nil)
	if again.err != nil || len(again.pkts) != 2 || again.sum != res.sum || !bytes.Equal(again.pkts[1].Data, res.pkts[1].Data) ||
		again.pkts[1].Comment != res.pkts[1].Comment || !again.pkts[1].Time.Equal(res.pkts[1].Time) {
		t.Errorf("byte-by-byte read differs: %+v", again)
	}
	// Cut anywhere before the end record: an error, never a panic or a summary.
	for n := 0; n < raw.Len(); n++ {
		if r := collect(bytes.NewReader(raw.Bytes()[:n]), nil); r.err == nil {
			t.Fatalf("stream cut at %d of %d read without error", n, raw.Len())
		}
	}
}

// Over the socket: an interface capture without a count runs until the
// client is interrupted; the client then still gets the end record, and
// the daemon has no capture left running.
func TestCaptureClientInterrupt(t *testing.T) {
	lab := newCaptureLab(t)
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	go lab.s.Serve(sctx, l)

	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	var res readResult
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		res.sum, res.err = control.CaptureClient(ctx, sock, "capture interface out0",
			func(control.CaptureInterface) error { return nil },
			func(p *control.CapturePacket) error {
				if p.Dir != dataplane.CaptureIn || p.Port != 0 || p.Comment != "" {
					t.Errorf("packet %+v, want received on port 0 without comment", p)
				}
				res.pkts = append(res.pkts, *p)
				interrupt() // Ctrl-C after the first frame
				return nil
			})
	}()
	deadline := time.After(10 * time.Second)
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-deadline:
			t.Fatal("capture client did not return within 10 s")
		case <-time.After(5 * time.Millisecond):
			lab.inject(0, []byte{7, 7, 7, 7})
		}
	}
	if res.err != nil || len(res.pkts) == 0 || res.sum.Frames != uint64(len(res.pkts)) {
		t.Fatalf("client: %v, %d packets, end %+v", res.err, len(res.pkts), res.sum)
	}
	// The capture stopped: a new one can start.
	var c *dataplane.Capture
	for i := 0; i < 500; i++ {
		if c, err = lab.s.DP.StartCapture(dataplane.CaptureFilter{Port: 0, Snap: 64}); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("capture still running after the client left: %v", err)
	}
	lab.s.DP.StopCapture(c)
}

// Bad capture commands are refused with a reason; the daemon's error line
// reaches the client as an error.
func TestCaptureErrors(t *testing.T) {
	s := execServer(t)
	for line, want := range map[string]string{
		"capture drops reason nosuch":              "inbound-ACL-deny", // the list of reasons
		"capture interface eth9":                   `no interface "eth9"`,
		"capture interface":                        "needs an interface",
		"capture drops snaplen 0":                  "snap length 0",
		"capture drops snaplen 99999":              "snaplen 99999",
		"capture drops count":                      "needs a value",
		"capture drops frobnicate 1":               "unknown capture option",
		"capture interface Ethernet2/0 reason tcp": "unknown capture option",
	} {
		t.Run(line, func(t *testing.T) {
			var out strings.Builder
			err := s.Exec(context.Background(), line, &out)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: %v, want an error with %q", line, err, want)
			}
		})
	}
	_, err := control.ReadCapture(strings.NewReader("% no interface \"eth9\"\n"), nil, nil)
	if err == nil || err.Error() != `no interface "eth9"` {
		t.Errorf("error line read as %v", err)
	}
	_, err = control.ReadCapture(strings.NewReader("CBAC-CAPTURE 1\nZ\x00\x00\x00\x00"), nil, nil)
	if !errors.Is(err, control.ErrCaptureStream) {
		t.Errorf("unknown record: %v", err)
	}
}

func TestParseReasons(t *testing.T) {
	for in, want := range map[string]uint64{
		"inbound-ACL-deny": 1 << dataplane.DropACLIn,
		"INBOUND_acl_deny": 1 << dataplane.DropACLIn,
		"inbound ACL deny": 1 << dataplane.DropACLIn,
		"runt":             1 << dataplane.DropRunt,
		"arp-unresolved":   1 << dataplane.DropARPUnresolved,
		"tcp-out":          1 << dataplane.DropTCPOutOfWindow,
		"inspected-stream": 1<<dataplane.DropStreamOutOfOrder | 1<<dataplane.DropStreamBufferFull,
	} {
		got, err := control.ParseReasons(in)
		if err != nil || got != want {
			t.Errorf("%q: %#x, %v; want %#x", in, got, err, want)
		}
	}
	tcp, err := control.ParseReasons("tcp")
	if err != nil || tcp&(1<<dataplane.DropTCPBadFlags) == 0 || tcp&(1<<dataplane.DropTCPBadRST) == 0 || tcp&(1<<dataplane.DropACLIn) != 0 {
		t.Errorf("tcp: %#x, %v", tcp, err)
	}
	for _, bad := range []string{"", "none", "nosuch"} {
		if _, err := control.ParseReasons(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The reader survives any input: no panic, bounded records.
func FuzzReadCapture(f *testing.F) {
	f.Add([]byte("CBAC-CAPTURE 1\nI\x00\x00\x00\x06\x04out0\x00P\x00\x00\x00\x12\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01xE\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("% error\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		control.ReadCapture(bytes.NewReader(b), func(control.CaptureInterface) error { return nil },
			func(p *control.CapturePacket) error {
				if p.Len < len(p.Data) {
					t.Fatalf("packet longer than its length: %+v", p)
				}
				return nil
			})
	})
}
