package metrics_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
	"cbac/metrics"
)

var (
	macIn0  = net.HardwareAddr{0x02, 0xcb, 0, 0, 0, 0x01}
	macOut0 = net.HardwareAddr{0x02, 0xcb, 0, 0, 0, 0x10}
	macHost = net.HardwareAddr{0x02, 0, 0, 0, 0x0a, 0x05}
)

const (
	portOut = 0 // Ethernet2/0, out0
	portIn  = 1 // Ethernet2/1, in0
)

// seed is the seed configuration with fixed interface MACs and the
// upstream router's MAC static (no ARP resolution needed); with lowHalfOpen,
// max-incomplete thresholds of 1/2, so that three half-open sessions turn
// aggressive mode on.
func seed(t testing.TB, lowHalfOpen bool) []byte {
	t.Helper()
	b, err := os.ReadFile("../examples/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range [][2]string{
		{`device = "out0"`, `device = "out0"` + "\nmac = \"02:cb:00:00:00:10\""},
		{`device = "in0"`, `device = "in0"` + "\nmac = \"02:cb:00:00:00:01\""},
		{`max_incomplete = { low = 400, high = 500 }`, `max_incomplete = { low = 1, high = 2 }`},
	} {
		if !lowHalfOpen && strings.HasPrefix(r[0], "max_incomplete") {
			continue
		}
		if !strings.Contains(s, r[0]) {
			t.Fatalf("seed lacks %q", r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	s += "\n[[arp]]\naddress = \"172.22.1.1\"\nmac = \"02:00:00:00:01:01\"\n"
	return []byte(s)
}

type fixture struct {
	dp  *dataplane.Dataplane
	srv *control.Server
	q   []*dataplane.FakeQueue
	now int64
}

func newFixture(t testing.TB, toml []byte) *fixture {
	t.Helper()
	c, err := config.Parse("seed.toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := control.Compile(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	const fs = 2048
	umem := make([]byte, fs*2048)
	f := &fixture{now: int64(time.Hour)}
	var qs []dataplane.Queue
	for range rs.Ifaces {
		q := dataplane.NewFakeQueue(umem, fs, 256)
		f.q = append(f.q, q)
		qs = append(qs, q)
	}
	f.dp, err = dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: fs, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = control.NewServer(f.dp, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return f
}

// send injects frames on port and runs one batch 1 ms after the last.
func (f *fixture) send(t testing.TB, port int, frames ...[]byte) {
	t.Helper()
	for _, fr := range frames {
		if !f.q[port].Inject(fr) {
			t.Fatal("inject failed")
		}
	}
	f.now += int64(time.Millisecond)
	f.dp.Workers[0].Step(f.now)
	for _, q := range f.q {
		q.Drain(func([]byte) {})
	}
}

func syn(t *testing.T, sport uint16, dst string) []byte {
	t.Helper()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("10.10.10.5").To4(), DstIP: net.ParseIP(dst).To4(), Id: 1}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: 443, Seq: 1000, SYN: true, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		&layers.Ethernet{SrcMAC: macHost, DstMAC: macIn0, EthernetType: layers.EthernetTypeIPv4}, ip, tcp); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// scrape GETs /metrics from url and parses the text format.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want (label=value pairs), and whether exactly one matched.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
	var v float64
	n := 0
metric:
	for _, m := range fam.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue metric
			}
		}
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Untyped != nil:
			v = m.Untyped.GetValue()
		}
		n++
	}
	return v, n == 1
}

func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := value(fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: no single series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// The metrics a scrape returns are the dataplane's counters after known
// traffic: drops by reason, interface counters, sessions by protocol and
// state, half-open, aggressive mode, NAT translations, pools, busy time,
// reloads and the configuration generation.
func TestScrape(t *testing.T) {
	f := newFixture(t, seed(t, true))
	ts := httptest.NewServer(metrics.Handler(metrics.Source{DP: f.dp, Server: f.srv}))
	defer ts.Close()

	fams := scrape(t, ts.URL)
	wantValue(t, fams, 0, "cbac_drops_total", "reason", "runt_frame")
	wantValue(t, fams, 0, "cbac_inspect_aggressive")
	wantValue(t, fams, 1, "cbac_config_generation")
	freeBefore, _ := value(fams, "cbac_pool_free", "pool", "umem_frames", "worker", "0")

	// 7 runt frames and 3 IPv6 frames on out0; 1 ms later 2 SYNs from the
	// inside host (2 half-open, calm), then a third (aggressive: 3 > 2).
	runt := make([]byte, 10)
	v6 := make([]byte, 60)
	copy(v6, macOut0)
	v6[12], v6[13] = 0x86, 0xdd
	f.send(t, portOut, runt, runt, runt, runt, runt, runt, runt, v6, v6, v6)
	f.send(t, portIn, syn(t, 40001, "203.0.113.1"), syn(t, 40002, "203.0.113.2"))
	fams = scrape(t, ts.URL)
	wantValue(t, fams, 7, "cbac_drops_total", "reason", "runt_frame")
	wantValue(t, fams, 3, "cbac_drops_total", "reason", "not_ipv4_or_arp")
	wantValue(t, fams, 0, "cbac_drops_total", "reason", "tcp_out_of_window")
	wantValue(t, fams, 10, "cbac_interface_receive_packets_total", "interface", "Ethernet2/0", "device", "out0")
	wantValue(t, fams, 2, "cbac_interface_receive_packets_total", "interface", "Ethernet2/1", "device", "in0")
	wantValue(t, fams, 2, "cbac_interface_transmit_packets_total", "interface", "Ethernet2/0", "device", "out0")
	wantValue(t, fams, 2, "cbac_sessions", "protocol", "tcp", "state", "SIS_OPENING")
	wantValue(t, fams, 0, "cbac_sessions", "protocol", "tcp", "state", "SIS_OPEN")
	wantValue(t, fams, 2, "cbac_sessions_half_open")
	wantValue(t, fams, 2, "cbac_sessions_created_total")
	wantValue(t, fams, 2, "cbac_nat_translations") // 10.10.10.5 is 172.22.1.111 outside
	wantValue(t, fams, 0, "cbac_inspect_aggressive")
	wantValue(t, fams, 0, "cbac_inspect_violations_total", "protocol", "smtp", "kind", "invalid_command")
	// Two batches 1 ms apart: the interval after the first (which had
	// frames) was busy; the interval after the second not yet measured.
	wantValue(t, fams, 0.001, "cbac_worker_busy_seconds_total", "worker", "0")
	wantValue(t, fams, 0.001, "cbac_worker_run_seconds_total", "worker", "0")
	if free, ok := value(fams, "cbac_pool_free", "pool", "umem_frames", "worker", "0"); !ok || free > freeBefore || free <= 0 {
		t.Errorf("umem frames free %v (before %v): want fewer, some left", free, freeBefore)
	}

	// The third SYN's batch (busy since the second's), an empty batch 1 ms
	// later (busy: it follows the third's) and one 7 ms after that (idle).
	f.send(t, portIn, syn(t, 40003, "203.0.113.3"))
	f.now += int64(time.Millisecond)
	f.dp.Workers[0].Step(f.now)
	f.now += int64(7 * time.Millisecond)
	f.dp.Workers[0].Step(f.now)
	fams = scrape(t, ts.URL)
	wantValue(t, fams, 1, "cbac_inspect_aggressive")
	wantValue(t, fams, 0.003, "cbac_worker_busy_seconds_total", "worker", "0")
	wantValue(t, fams, 0.010, "cbac_worker_run_seconds_total", "worker", "0")
	wantValue(t, fams, 0.3, "cbac_worker_busy_ratio", "worker", "0")

	// A reload that fails and one that works.
	f.srv.Load = func() (*config.Config, error) { return nil, io.ErrUnexpectedEOF }
	if err := f.srv.Reload("test"); err == nil {
		t.Fatal("failing reload succeeded")
	}
	f.srv.Load = func() (*config.Config, error) { return config.Parse("seed.toml", seed(t, true)) }
	if err := f.srv.Reload("test"); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, ts.URL)
	wantValue(t, fams, 1, "cbac_reloads_total", "result", "success")
	wantValue(t, fams, 1, "cbac_reloads_total", "result", "failure")
	wantValue(t, fams, 2, "cbac_config_generation")

	// Every drop reason has its series, each label distinct.
	seen := map[string]bool{}
	for r := dataplane.Reason(1); r < dataplane.NumReasons; r++ {
		l := metrics.ReasonLabel(r)
		if seen[l] {
			t.Errorf("reason label %q twice", l)
		}
		seen[l] = true
		if _, ok := value(fams, "cbac_drops_total", "reason", l); !ok {
			t.Errorf("no series for drop reason %q", l)
		}
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("Go runtime or process metrics missing")
	}
}

// Listen binds the real socket (an error at once for a bad address) and
// serves while the workers run: a scrape goes through each worker's
// mailbox between its batches.
func TestListenRunning(t *testing.T) {
	f := newFixture(t, seed(t, true))
	if _, err := metrics.Listen("127.0.0.1:notaport", metrics.Source{DP: f.dp}, nil); err == nil {
		t.Fatal("bad address accepted")
	}
	s, err := metrics.Listen("127.0.0.1:0", metrics.Source{DP: f.dp, Server: f.srv}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	f.dp.SetRunning(true)
	go func() {
		defer close(done)
		now := f.now
		for {
			select {
			case <-stop:
				return
			default:
			}
			now += int64(time.Microsecond)
			f.dp.Workers[0].Step(now)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for range 5 {
		if !f.q[portOut].Inject(make([]byte, 10)) {
			t.Fatal("inject failed")
		}
	}
	var got float64
	for i := 0; i < 100 && got != 5; i++ { // until the worker has run the batch
		fams := scrape(t, "http://"+s.Addr.String())
		got, _ = value(fams, "cbac_drops_total", "reason", "runt_frame")
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
	f.dp.SetRunning(false)
	if got != 5 {
		t.Errorf("runt drops %v through the running worker, want 5", got)
	}
}

func TestLabels(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SMTP_INVALID_COMMAND", "invalid_command"},
		{"SMTP_RETRANSMIT_DIFFERS", "retransmit_differs"},
		{"FTP_PRIV_PORT", "priv_port"},
	} {
		if got := metrics.ViolationLabel(tc.in); got != tc.want {
			t.Errorf("ViolationLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for r, want := range map[dataplane.Reason]string{
		dataplane.DropHostBlocked:    "host_blocked_max_incomplete_host",
		dataplane.DropNoSession:      "tcp_non_syn_without_session",
		dataplane.DropIPChecksum:     "ipv4_header_checksum",
		dataplane.DropHandoffFull:    "worker_hand_over_ring_full",
		dataplane.DropToUs:           "to_router_not_answered",
		dataplane.DropSMTPPoolFull:   "inspected_sessions_at_limit",
		dataplane.DropTCPOutOfWindow: "tcp_out_of_window",
	} {
		if got := metrics.ReasonLabel(r); got != want {
			t.Errorf("ReasonLabel(%v) = %q, want %q", r, got, want)
		}
	}
}

// promtool check metrics finds no problem in the exposition (names, units,
// HELP, types). Skips without promtool (Debian package prometheus); the
// integration test runs it on a real cbacd's scrape too.
func TestPromtoolLint(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	f := newFixture(t, seed(t, true))
	f.send(t, portIn, syn(t, 40001, "203.0.113.1"))
	ts := httptest.NewServer(metrics.Handler(metrics.Source{DP: f.dp, Server: f.srv}))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	// The check can fail: a counter without _total is reported.
	cmd = exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader("# HELP cbac_bad Bad.\n# TYPE cbac_bad counter\ncbac_bad 1\n")
	if out, err := cmd.CombinedOutput(); err == nil && !strings.Contains(string(out), "_total") {
		t.Errorf("promtool accepted a counter without _total: %s", out)
	}
}

// TestScrapeIntercept: cookie SYN/ACKs are counted by sender; the
// worker's are counted, the XDP program's (none in memory) are 0.
func TestScrapeIntercept(t *testing.T) {
	f := newFixture(t, append(seed(t, false), "\n[tcp_intercept]\nlist = \"101\"\n"...))
	ts := httptest.NewServer(metrics.Handler(metrics.Source{DP: f.dp, Server: f.srv}))
	defer ts.Close()
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.ParseIP("198.51.100.7").To4(), DstIP: net.ParseIP("172.22.1.110").To4(), Id: 1}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 25, Seq: 1000, SYN: true, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 1, 1}, DstMAC: macOut0, EthernetType: layers.EthernetTypeIPv4}, ip, tcp); err != nil {
		t.Fatal(err)
	}
	f.send(t, portOut, buf.Bytes())
	fams := scrape(t, ts.URL)
	wantValue(t, fams, 1, "cbac_tcp_intercept_synacks_total", "worker", "0", "sender", "worker")
	wantValue(t, fams, 0, "cbac_tcp_intercept_synacks_total", "worker", "0", "sender", "xdp")
}
