package integration

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"cbac/lab"
)

// metricsListen is the [metrics] listen of the test: loopback inside the
// lab's firewall namespace, so tests in other namespaces never collide.
const metricsListen = "127.0.0.1:19643"

// TestMetricsAndNotify runs cbacd with [metrics] on and a fake systemd
// notify socket: READY=1 once it runs; traffic through it shows up in the
// scrape (taken from the firewall namespace) with the same drop counts as
// `show ip inspect statistics`; promtool check metrics finds no problem;
// a SIGHUP reload is bracketed by RELOADING=1 (with MONOTONIC_USEC) and
// READY=1 and counted, a failed one too; SIGTERM sends STOPPING=1.
func TestMetricsAndNotify(t *testing.T) {
	needRoot(t)
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool missing: install the Debian package prometheus (apt-get install --no-install-recommends prometheus)")
	}
	l := upLab(t, "m")
	dir := t.TempDir()
	seed, err := os.ReadFile(seedPath(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "cbacd.toml")
	good := append(seed, "\n[metrics]\nlisten = \""+metricsListen+"\"\n"...)
	if err := os.WriteFile(cfg, good, 0o600); err != nil {
		t.Fatal(err)
	}
	// A path socket (not abstract): abstract names belong to a network
	// namespace, and cbacd runs in the lab's.
	notifyPath := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)
	sock := filepath.Join(dir, "cbacd.sock")
	d := startCbacd(t, l, cfg, sock)

	wantNotify(t, notify, "READY=1")

	// Traffic: pings from the inside host to upstream (inspected ICMP,
	// NATed), and two connections ACL 101 denies.
	ctx, cancel := context.WithTimeout(context.Background(), transferLimit)
	defer cancel()
	got, err := l.Ping(ctx, lab.RoleHost, netip.MustParseAddr("172.22.1.1"), 5, 50*time.Millisecond)
	if err != nil || got != 5 {
		t.Fatalf("ping through cbacd: %d of 5 replies (%v)", got, err)
	}
	dialBlocked(t, l, lab.RoleClient, "172.22.1.110:80", "172.22.1.111:25")

	text := scrapeText(t, l)
	fams := parseMetrics(t, text)
	stats := ctl(t, sock, "show", "ip", "inspect", "statistics")
	deny := statValue(stats, "inbound ACL deny")
	if deny < 2 {
		t.Errorf("show ip inspect statistics: inbound ACL deny %d, want at least 2:\n%s", deny, stats)
	}
	if v := metricValue(t, fams, "cbac_drops_total", "reason", "inbound_acl_deny"); v != float64(deny) {
		t.Errorf("cbac_drops_total{reason=inbound_acl_deny} = %v, show ip inspect statistics says %d", v, deny)
	}
	if v := metricValue(t, fams, "cbac_interface_receive_packets_total", "device", lab.InsideDevice); v < 5 {
		t.Errorf("%s received %v packets, want at least the 5 echo requests", lab.InsideDevice, v)
	}
	if v := metricValue(t, fams, "cbac_interface_transmit_packets_total", "device", lab.InsideDevice); v < 5 {
		t.Errorf("%s transmitted %v packets, want at least the 5 echo replies", lab.InsideDevice, v)
	}
	if v := metricValue(t, fams, "cbac_sessions_created_total"); v < 1 {
		t.Errorf("sessions created %v, want at least the ping's", v)
	}
	t.Logf("scrape: %d families, %d bytes; inbound ACL deny %d; in0 rx %v packets",
		len(fams), len(text), deny, metricValue(t, fams, "cbac_interface_receive_packets_total", "device", lab.InsideDevice))
	metricValue(t, fams, "cbac_xdp_socket_rx_dropped_total", "worker", "0", "device", lab.OutsideDevice)
	if v := metricValue(t, fams, "cbac_xdp_syn_shed_total", "worker", "0", "device", lab.OutsideDevice); v != 0 {
		t.Errorf("SYNs shed %v without tcp intercept and without load, want 0", v)
	}
	metricValue(t, fams, "cbac_pool_free", "pool", "umem_frames", "worker", "0")
	if v := metricValue(t, fams, "cbac_config_generation"); v != 1 {
		t.Errorf("config generation %v at start, want 1", v)
	}

	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// A reload that works, then one that does not load.
	reload := func() {
		t.Helper()
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		wantNotify(t, notify, "RELOADING=1")
		wantNotify(t, notify, "READY=1")
	}
	reload()
	if err := os.WriteFile(cfg, []byte("hostname = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload()
	fams = parseMetrics(t, scrapeText(t, l))
	for _, c := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{1, "cbac_reloads_total", []string{"result", "success"}},
		{1, "cbac_reloads_total", []string{"result", "failure"}},
		{2, "cbac_config_generation", nil},
	} {
		if v := metricValue(t, fams, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}

	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("cbacd exit after SIGTERM: %v", err)
	}
	wantNotify(t, notify, "STOPPING=1")
}

// wantNotify reads notify datagrams until one that is not a STATUS= line
// and checks that it starts with want (RELOADING=1 carries MONOTONIC_USEC
// on a second line).
func wantNotify(t *testing.T, c *net.UnixConn, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	for range 10 {
		c.SetReadDeadline(time.Now().Add(readyTimeout))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("notify socket: waiting for %s: %v", want, err)
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "STATUS=") {
			continue
		}
		if !strings.HasPrefix(msg, want) {
			t.Fatalf("notify: got %q, want %s", msg, want)
		}
		if want == "RELOADING=1" && !strings.Contains(msg, "\nMONOTONIC_USEC=") {
			t.Errorf("notify: %q without MONOTONIC_USEC", msg)
		}
		return
	}
	t.Fatalf("notify: no %s among 10 datagrams", want)
}

// scrapeText GETs /metrics from inside the firewall namespace.
func scrapeText(t *testing.T, l *lab.Lab) string {
	t.Helper()
	client := &http.Client{
		Timeout: commandTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return l.Dial(ctx, lab.RoleFW, network, addr)
			},
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + metricsListen + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s %v:\n%s", resp.Status, err, body)
	}
	return string(body)
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// metricValue returns the value of the one series of family name whose
// labels include the given pairs; it fails the test if not exactly one.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	var v float64
	n := 0
	for _, m := range fams[name].GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
			}
			match = match && found
		}
		if !match {
			continue
		}
		n++
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		}
	}
	if n != 1 {
		t.Errorf("%s%v: %d series, want 1", name, labels, n)
	}
	return v
}
