package control

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

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

func newTestServer(t *testing.T, toml []byte) (*Server, *dataplane.Dataplane) {
	t.Helper()
	c, err := config.Parse("seed.toml", toml)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Compile(c, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	return NewServer(dp, c, slog.New(slog.NewTextHandler(io.Discard, nil))), dp
}

// A reload swaps the ruleset; a reload that fails keeps the old one
// running (docs/behaviour.md "Failure semantics").
func TestReload(t *testing.T) {
	seed := seedConfig(t)
	srv, dp := newTestServer(t, seed)
	next := seed
	srv.Reload = func() error {
		c, err := config.Parse("seed.toml", next)
		if err != nil {
			return err
		}
		rs, err := Compile(c, nil)
		if err != nil {
			return err
		}
		if err := dp.Swap(rs); err != nil {
			return err
		}
		srv.SetConfig(c)
		return nil
	}
	exec := func(cmd string) (string, error) {
		var b bytes.Buffer
		err := srv.Exec(context.Background(), cmd, &b)
		return b.String(), err
	}
	next = []byte(strings.Replace(string(seed), `"permit tcp any host 172.22.1.110 eq smtp",`,
		`"permit tcp any host 172.22.1.110 eq smtp",`+"\n  \"permit tcp any host 172.22.1.110 eq www log\",", 1))
	if out, err := exec("reload"); err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: %q %v", out, err)
	}
	out, _ := exec("show access-lists")
	if !strings.Contains(out, "20 permit tcp any host 172.22.1.110 eq www log") {
		t.Errorf("new entry not shown after reload:\n%s", out)
	}
	old := dp.Ruleset()
	next = []byte("hostname = \n")
	if _, err := exec("reload"); err == nil || !strings.Contains(err.Error(), "old configuration kept") {
		t.Errorf("broken reload: err %v", err)
	}
	if dp.Ruleset() != old {
		t.Errorf("failed reload replaced the ruleset")
	}
	// A reload may not move interfaces to other devices.
	next = []byte(strings.Replace(string(seed), `device = "out0"`, `device = "eth9"`, 1))
	if _, err := exec("reload"); err == nil {
		t.Errorf("reload that changes a device accepted")
	}
	if ok, failed, gen := srv.ReloadCounts(); ok != 1 || failed != 2 || gen != 2 {
		t.Errorf("reload counts: %d ok, %d failed, generation %d; want 1, 2, 2", ok, failed, gen)
	}
	if out, _ := exec("sh ip insp all"); !strings.HasPrefix(out, "Session audit trail is disabled") {
		t.Errorf("abbreviated show failed: %q", out)
	}
}

// IOS abbreviations reach past the grammar's keywords: "det" is "detail".
func TestAbbreviations(t *testing.T) {
	srv, _ := newTestServer(t, seedConfig(t))
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
