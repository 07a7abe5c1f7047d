package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
	"cbac/smtpfsm"
)

// These tests run the cbacctl binary, built once by TestMain, against a
// control server in the test process (the seed configuration over an
// in-memory dataplane): no root needed. Against the real daemon:
// integration/ctl_test.go.

var cbacctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cbacctl-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cbacctlBin = filepath.Join(dir, "cbacctl")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goBin, "build", "-o", cbacctlBin, "cbac/cmd/cbacctl").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build cbacctl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serve runs a control server for the seed configuration on a socket in a
// temporary directory until the test ends.
func serve(t *testing.T) (*control.Server, string) {
	t.Helper()
	b, err := os.ReadFile("../../examples/seed-3640.toml")
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
	rs.MaxSessions, rs.InspectedSessions = 1024, 16
	const frameSize = 2048
	umem := make([]byte, frameSize*512)
	var qs []dataplane.Queue
	for range rs.Ifaces {
		qs = append(qs, dataplane.NewFakeQueue(umem, frameSize, 64))
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: frameSize, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(dp, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sock := filepath.Join(t.TempDir(), "cbacd.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, sock
}

type result struct {
	code           int
	stdout, stderr string
}

func cbacctl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cbacctlBin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("cbacctl %s: %v\nstderr:\n%s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

func TestUsage(t *testing.T) {
	if r := cbacctl(t, "-h"); r.code != 0 || !strings.Contains(r.stderr, "show ip inspect all") || !strings.Contains(r.stderr, "-s string") {
		t.Errorf("-h: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := cbacctl(t); r.code != 2 || !strings.Contains(r.stderr, "usage: cbacctl") {
		t.Errorf("no command: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	if r := cbacctl(t, "-x", "show", "arp"); r.code != 2 {
		t.Errorf("bad flag: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	if r := cbacctl(t, "-s", sock, "show", "arp"); r.code != 1 || !strings.Contains(r.stderr, "cannot reach cbacd at "+sock) {
		t.Errorf("no daemon: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestCommands(t *testing.T) {
	_, sock := serve(t)
	for _, c := range []struct {
		cmd  string
		code int
		want string // a line of stdout
	}{
		{"show ip inspect all", 0, "Session audit trail is disabled"},
		{"sh ip insp stat", 0, "Alert messages: 0 logged, 0 suppressed by rate limiting (alert_rate 10 per second)"},
		{"show access-lists 101", 0, "    10 permit tcp any host 172.22.1.110 eq smtp"},
		{"show arp", 0, "Internet  172.22.1.16              -  "},
		{"frobnicate", 1, "% Invalid input detected at 'frobnicate'"},
		{"show ip inspect bogus", 1, "% Invalid input detected at 'bogus'"},
		{"show ip", 1, `% Incomplete command: "show ip"`},
		{"show access-lists 999", 1, "% access list 999 is not defined"},
		{"clear ip inspect session 42", 1, "% no session 42"},
		{"reload", 1, "% reload is not available here"},
	} {
		t.Run(c.cmd, func(t *testing.T) {
			r := cbacctl(t, append([]string{"-s", sock}, strings.Fields(c.cmd)...)...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, c.want) {
				t.Errorf("stdout lacks %q:\n%s", c.want, r.stdout)
			}
			if c.code == 1 && !strings.Contains(r.stdout, "show ip inspect all") && strings.Contains(c.want, "Invalid") {
				t.Errorf("no command list after a bad command:\n%s", r.stdout)
			}
		})
	}
}

// debug ip inspect smtp streams trace lines until cbacctl is interrupted;
// it then exits 0 and tracing is off.
func TestDebugStream(t *testing.T) {
	srv, sock := serve(t)
	cmd := exec.Command(cbacctlBin, "-s", sock, "debug", "ip", "inspect", "smtp")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("cbacctl closed its output")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no line within 10 s")
		}
		return ""
	}
	if l := next(); l != "INSPECT SMTP Inspection debugging is on" {
		t.Fatalf("first line %q", l)
	}
	ev := &dataplane.Event{Kind: dataplane.EvSMTPTrace, Proto: dataplane.InspectSMTP,
		Trace: smtpfsm.Event{Kind: smtpfsm.EvVerb, Len: 4, MatchLen: 4, State: 9}}
	want := control.TraceLine(ev)
	srv.HandleEvent(ev, time.Now())
	if l := next(); l != want {
		t.Errorf("trace line %q, want %q", l, want)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() { werr <- cmd.Wait() }()
	select {
	case err := <-werr:
		if err != nil {
			t.Errorf("cbacctl after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cbacctl still running 10 s after SIGINT")
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.DP.DebugSMTP.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.DP.DebugSMTP.Load() {
		t.Error("tracing still on after the client left")
	}
}
