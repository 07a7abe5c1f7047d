package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"cbac/config"
	"cbac/dataplane"
)

func seedConfig(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../examples/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// logBuffer collects log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestServer runs toml on a one-worker dataplane over in-memory queues;
// its log goes to the returned buffer.
func newTestServer(t *testing.T, toml []byte) (*Server, *dataplane.Dataplane, *logBuffer) {
	t.Helper()
	c, err := config.Parse("seed.toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs.MaxSessions = 1024 // the table is allocated; the shown value is c's
	const fs = 2048
	umem := make([]byte, fs*1024)
	var qs []dataplane.Queue
	for range rs.Ifaces {
		qs = append(qs, dataplane.NewFakeQueue(umem, fs, 64))
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: fs, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	h, err := NewIOSHandler(&logs, "", "cbacd")
	if err != nil {
		t.Fatal(err)
	}
	return NewServer(dp, c, slog.New(h)), dp, &logs
}

// reloadable gives srv a configuration "file" that the test rewrites.
func reloadable(srv *Server, next *[]byte) {
	srv.Load = func() (*config.Config, error) { return config.Parse("seed.toml", *next) }
}

func execLine(srv *Server, cmd string) (string, error) {
	var b bytes.Buffer
	err := srv.Exec(context.Background(), cmd, &b)
	return b.String(), err
}

// A reload swaps the ruleset and is logged with the new generation; a
// reload that fails keeps the old one running and is logged too
// (docs/behaviour.md "Failure semantics").
func TestReload(t *testing.T) {
	seed := seedConfig(t)
	srv, dp, logs := newTestServer(t, seed)
	next := seed
	reloadable(srv, &next)
	next = []byte(strings.Replace(string(seed), `"permit tcp any host 172.22.1.110 eq smtp",`,
		`"permit tcp any host 172.22.1.110 eq smtp",`+"\n  \"permit tcp any host 172.22.1.110 eq www log\",", 1))
	if out, err := execLine(srv, "reload"); err != nil || out != "configuration reloaded from seed.toml (generation 2)\n" {
		t.Fatalf("reload: %q %v", out, err)
	}
	if !strings.Contains(logs.String(), "%SYS-5-CONFIG_I: Configured from seed.toml by cbacctl (generation 2)\n") {
		t.Errorf("no reload line in the log:\n%s", logs)
	}
	out, _ := execLine(srv, "show access-lists")
	if !strings.Contains(out, "20 permit tcp any host 172.22.1.110 eq www log") {
		t.Errorf("new entry not shown after reload:\n%s", out)
	}
	if out, _ := execLine(srv, "show ip inspect statistics"); !strings.Contains(out, "Configuration: generation 2, from seed.toml\n") {
		t.Errorf("statistics do not show generation 2:\n%s", out)
	}

	old := dp.Ruleset()
	next = []byte("hostname = \n")
	_, err := execLine(srv, "reload")
	if err == nil || !strings.Contains(err.Error(), "old configuration (generation 2) kept") || !strings.Contains(err.Error(), "seed.toml:1") {
		t.Errorf("broken reload: err %v", err)
	}
	if dp.Ruleset() != old || srv.Generation() != 2 {
		t.Errorf("failed reload replaced the ruleset (generation %d)", srv.Generation())
	}
	if !strings.Contains(logs.String(), "%SYS-4-CONFIG_RELOAD_FAILED: Reload of seed.toml by cbacctl failed: seed.toml:1") ||
		!strings.Contains(logs.String(), "generation 2 keeps running\n") {
		t.Errorf("failed reload not logged:\n%s", logs)
	}
	// Several errors: one log line.
	next = []byte(strings.Replace(string(seed), `tcp_synwait_time = "30s"`, `tcp_synwait_time = "0s"`, 1) + "\n[logging]\nfrobnicate = 1\n")
	n := strings.Count(logs.String(), "\n")
	if err := srv.Reload("SIGHUP"); err == nil || !strings.Contains(err.Error(), "\n") {
		t.Fatalf("a file with two errors: %v", err)
	}
	if got := strings.Count(logs.String(), "\n") - n; got != 1 {
		t.Errorf("a reload with two errors logged %d lines, want 1:\n%s", got, logs)
	}
	// A reload may not move interfaces to other devices.
	next = []byte(strings.Replace(string(seed), `device = "out0"`, `device = "eth9"`, 1))
	if err := srv.Reload("SIGHUP"); err == nil || !strings.Contains(err.Error(), "eth9") {
		t.Errorf("reload that changes a device: %v", err)
	}
	if !strings.Contains(logs.String(), "by SIGHUP failed") {
		t.Errorf("failed SIGHUP reload not logged:\n%s", logs)
	}
	if ok, failed, gen := srv.ReloadCounts(); ok != 1 || failed != 3 || gen != 2 {
		t.Errorf("reload counts: %d ok, %d failed, generation %d; want 1, 3, 2", ok, failed, gen)
	}
	if out, _ := execLine(srv, "sh ip insp all"); !strings.HasPrefix(out, "Session audit trail is disabled") {
		t.Errorf("abbreviated show failed: %q", out)
	}
}

// A reload that changes a key read only at start is refused, naming the
// key with both values; nothing of the new file is applied, and the show
// commands keep printing the running values.
func TestReloadStartOnly(t *testing.T) {
	seed := string(seedConfig(t))
	for _, c := range []struct {
		key, add string
	}{
		{"dataplane.workers", "[dataplane]\nworkers = 3"},
		{"dataplane.frames", "[dataplane]\nframes = 4096"},
		{"dataplane.ring_size", "[dataplane]\nring_size = 512"},
		{"dataplane.max_sessions", "[dataplane]\nmax_sessions = 4096"},
		{"dataplane.fail_open", "[dataplane]\nfail_open = true"},
		{"dataplane.inspected_buffer", "[dataplane]\ninspected_buffer = 65536"},
		{"reassembly.max_datagrams", "[reassembly]\nmax_datagrams = 8"},
		{"reassembly.max_fragments", "[reassembly]\nmax_fragments = 16"},
		{"reassembly.timeout", "[reassembly]\ntimeout = \"5s\""},
		{"control.socket", "[control]\nsocket = \"/run/other.sock\""},
		{"logging.syslog", "[logging]\nsyslog = \"udp://127.0.0.1:514\""},
		{"metrics.listen", "[metrics]\nlisten = \"127.0.0.1:19643\""},
	} {
		t.Run(c.key, func(t *testing.T) {
			srv, dp, logs := newTestServer(t, []byte(seed))
			before, _ := execLine(srv, "show ip inspect statistics")
			old := dp.Ruleset()
			// A reloadable change rides along: it must not be applied either.
			next := []byte(strings.Replace(seed, `hostname = "3640-123"`, `hostname = "other"`, 1) + "\n" + c.add + "\n")
			reloadable(srv, &next)
			_, err := execLine(srv, "reload")
			if !errors.Is(err, ErrStartOnly) || !strings.Contains(err.Error(), c.key+" ") {
				t.Fatalf("reload: %v, want ErrStartOnly naming %s", err, c.key)
			}
			if dp.Ruleset() != old || srv.config().Hostname != "3640-123" || srv.Generation() != 1 {
				t.Errorf("refused reload applied something: hostname %q, generation %d", srv.config().Hostname, srv.Generation())
			}
			after, _ := execLine(srv, "show ip inspect statistics")
			if before != after {
				t.Errorf("statistics changed:\n%s\nwas\n%s", after, before)
			}
			if !strings.Contains(logs.String(), "%SYS-4-CONFIG_RELOAD_FAILED") || !strings.Contains(logs.String(), c.key) {
				t.Errorf("refusal not logged with the key:\n%s", logs)
			}
		})
	}
	// dataplane.inspected_sessions is read by the workers as they admit
	// sessions: it applies on reload.
	{
		srv, dp, _ := newTestServer(t, []byte(seed))
		next := []byte(seed + "\n[dataplane]\ninspected_sessions = 100\n")
		reloadable(srv, &next)
		if err := srv.Reload("cbacctl"); err != nil || dp.Ruleset().InspectedSessions != 100 {
			t.Errorf("reload of inspected_sessions: %v, running %d", err, dp.Ruleset().InspectedSessions)
		}
	}
	// The same value written out explicitly is no change.
	srv, _, _ := newTestServer(t, []byte(seed))
	next := []byte(seed + fmt.Sprintf("\n[dataplane]\nmax_sessions = %d\n", config.DefaultMaxSessions))
	reloadable(srv, &next)
	if err := srv.Reload("cbacctl"); err != nil {
		t.Errorf("reload with the default max_sessions spelt out: %v", err)
	}
}

// Alerts over the rate are counted, shown and reported once a minute,
// with a fake clock.
func TestAlertsSuppressed(t *testing.T) {
	srv, _, logs := newTestServer(t, append(seedConfig(t), "\n[logging]\nalert_rate = 2\n"...))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.ReportSuppressed(t0) // the first period starts
	alert := &dataplane.Event{Kind: dataplane.EvStreamDiffers}
	for range 10 {
		srv.HandleEvent(alert, t0)
	}
	// Accounting is never rate limited.
	for range 5 {
		srv.HandleEvent(&dataplane.Event{Kind: dataplane.EvAuditStart, Proto: dataplane.InspectTCP}, t0)
	}
	if n := strings.Count(logs.String(), "%FW-4-SMTP_RETRANSMIT_DIFFERS"); n != 2 {
		t.Errorf("%d alerts logged, want 2 (the rate's burst)", n)
	}
	if n := strings.Count(logs.String(), "%FW-6-SESS_AUDIT_TRAIL_START"); n != 5 {
		t.Errorf("%d audit lines logged, want 5", n)
	}
	out, _ := execLine(srv, "show ip inspect statistics")
	if !strings.Contains(out, "Alert messages: 2 logged, 8 suppressed by rate limiting (alert_rate 2 per second)\n") {
		t.Errorf("statistics lack the alert counts:\n%s", out)
	}
	srv.ReportSuppressed(t0.Add(59 * time.Second))
	if strings.Contains(logs.String(), "SUPPRESSED") {
		t.Fatalf("reported before the period ended:\n%s", logs)
	}
	srv.ReportSuppressed(t0.Add(60 * time.Second))
	want := "%FW-4-ALERTS_SUPPRESSED: 8 alert messages suppressed by rate limiting in the last 60 seconds (alert_rate 2 per second)\n"
	if strings.Count(logs.String(), want) != 1 {
		t.Fatalf("want one line %q in:\n%s", want, logs)
	}
	// Nothing more suppressed: no more reports.
	srv.ReportSuppressed(t0.Add(121 * time.Second))
	srv.ReportSuppressed(t0.Add(200 * time.Second))
	if n := strings.Count(logs.String(), "ALERTS_SUPPRESSED"); n != 1 {
		t.Errorf("%d reports, want 1:\n%s", n, logs)
	}
	// Tokens come back at the rate: one second later two more pass, the
	// rest are counted for the next report.
	t1 := t0.Add(201 * time.Second)
	for range 5 {
		srv.HandleEvent(alert, t1)
	}
	srv.ReportSuppressed(t1.Add(60 * time.Second))
	if !strings.Contains(logs.String(), "%FW-4-ALERTS_SUPPRESSED: 3 alert messages suppressed") {
		t.Errorf("second report missing:\n%s", logs)
	}
	out, _ = execLine(srv, "show ip inspect statistics")
	if !strings.Contains(out, "Alert messages: 4 logged, 11 suppressed") {
		t.Errorf("statistics after the second burst:\n%s", out)
	}
}

// IOS abbreviations reach past the grammar's keywords: "det" is "detail".
func TestAbbreviations(t *testing.T) {
	srv, _, _ := newTestServer(t, seedConfig(t))
	for _, cmd := range []string{"sh ip in se det", "show ip inspect sessions d", "sh ip nat tr", "sh acc"} {
		var b bytes.Buffer
		if err := srv.Exec(context.Background(), cmd, &b); err != nil {
			t.Errorf("%q: %v", cmd, err)
		}
	}
	var b bytes.Buffer
	if err := srv.Exec(context.Background(), "sh ip in se x", &b); err == nil {
		t.Errorf("bad word after sessions accepted")
	}
}
