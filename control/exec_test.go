package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
)

// execServer is a control server over a one-worker dataplane running the
// seed configuration on in-memory queues (a small session table: the
// commands, not the capacity, are under test).
func execServer(tb testing.TB) *control.Server {
	tb.Helper()
	b, err := os.ReadFile("../examples/seed-3640.toml")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := config.Parse("seed-3640.toml", b)
	if err != nil {
		tb.Fatal(err)
	}
	rs, err := control.Compile(c, nil)
	if err != nil {
		tb.Fatal(err)
	}
	rs.MaxSessions = 1024
	const frameSize, frames = 2048, 512
	umem := make([]byte, frameSize*frames)
	var qs []dataplane.Queue
	for range rs.Ifaces {
		qs = append(qs, dataplane.NewFakeQueue(umem, frameSize, 64))
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 1, UMEM: umem, FrameSize: frameSize, Queues: [][]dataplane.Queue{qs}})
	if err != nil {
		tb.Fatal(err)
	}
	return control.NewServer(dp, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// cancelled is a context that has ended: a streaming command (debug ip
// inspect smtp) returns at once.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// A bad command line returns an error wrapping ErrUsage, with the usage
// text; good ones (abbreviated the IOS way too) do not.
func TestExecUsage(t *testing.T) {
	s := execServer(t)
	for _, line := range []string{
		"foo",
		"show",
		"show ip",
		"show ip inspect",
		"show ip inspect bogus",
		"sh ip insp sessions detail extra",
		"show ip nat",
		"show ip nat translations verbose",
		"show tcp intercept",
		"show tcp intercept bogus",
		"show access-lists 101 extra",
		"show arp now",
		"s", // "show", incomplete
		"clear",
		"clear ip inspect session",
		"clear ip inspect session zz",
		"clear ip inspect session 1 2",
		"clear access-list",
		"debug",
		"debug ip inspect",
		"debug ip inspect ftp",
		"undebug ip",
		"reload now",
		"help me",
		"show ip inspect all \x00",
		"% Invalid",
	} {
		t.Run(line, func(t *testing.T) {
			var out bytes.Buffer
			err := s.Exec(cancelled(), line, &out)
			if !errors.Is(err, control.ErrUsage) {
				t.Fatalf("error %v, want ErrUsage", err)
			}
			if !strings.Contains(err.Error(), "show ip inspect all") && !strings.Contains(err.Error(), "hexadecimal") {
				t.Errorf("error without usage text: %v", err)
			}
		})
	}
	for _, line := range []string{
		"",
		"help",
		"show ip inspect all",
		"sh ip insp all",
		"show ip inspect config",
		"sh ip insp conf",
		"show ip inspect sessions",
		"sh ip in se detail",
		"show ip inspect statistics",
		"show ip nat translations",
		"show access-lists",
		"show access-lists 101",
		"show arp",
		"show tcp intercept connections",
		"sh tcp int stat",
		"clear ip inspect session all",
		"clear access-list counters",
		"debug ip inspect smtp",
		"undebug all",
		"  SHOW   IP   INSPECT   ALL  ",
	} {
		t.Run("ok "+line, func(t *testing.T) {
			var out bytes.Buffer
			if err := s.Exec(cancelled(), line, &out); err != nil {
				t.Fatalf("error %v", err)
			}
			// No sessions and cleared counters print nothing, as on IOS.
			silent := map[string]bool{"clear access-list counters": true, "show ip inspect sessions": true, "sh ip in se detail": true}
			if out.Len() == 0 && !silent[line] {
				t.Error("no output")
			}
			if line == "show ip inspect statistics" && !strings.Contains(out.String(), "SMTP replay copy: 0 frames held until the server's ACK (0 of them transmitted)\n") {
				t.Errorf("no SMTP replay copy line:\n%s", out.String())
			}
			if line == "show ip inspect statistics" {
				var free, total int
				i := strings.Index(out.String(), "UMEM frames: ")
				if i < 0 {
					t.Errorf("no UMEM frames line:\n%s", out.String())
				} else if n, _ := fmt.Sscanf(out.String()[i:], "UMEM frames: %d free in the workers' pools of %d", &free, &total); n != 2 || total <= 0 || free > total {
					t.Errorf("UMEM frames line: %d free of %d:\n%s", free, total, out.String())
				}
			}
			// One chunk of SMTP states is allocated at start (the most
			// sessions one batch may create, rounded up to a chunk).
			if line == "show ip inspect statistics" && !strings.Contains(out.String(), "SMTP inspection: 0 sessions inspected (open connections) of max_sessions; 256 states allocated; 0 refused at the limit\n") {
				t.Errorf("no SMTP inspection line:\n%s", out.String())
			}
		})
	}
	// Errors that are not usage errors: well-formed commands that fail.
	for _, line := range []string{"reload", "show access-lists 999", "clear ip inspect session 5"} {
		if err := s.Exec(cancelled(), line, io.Discard); err == nil || errors.Is(err, control.ErrUsage) {
			t.Errorf("%q: error %v, want a non-usage error", line, err)
		}
	}
}

// FuzzExec: any command line gives output or an error, never a panic;
// a line whose first word starts no command is a usage error.
func FuzzExec(f *testing.F) {
	for _, seed := range []string{
		"show ip inspect all", "sh ip insp sess det", "show ip inspect statistics", "show ip nat translations",
		"show access-lists 101", "show arp", "clear ip inspect session all", "clear ip inspect session 1000001",
		"clear access-list counters", "debug ip inspect smtp", "undebug all", "reload", "help", "",
		"show ip inspect sessions detail x", "clear ip inspect session ffffffffffff", "s i i a", "\xff\xfe", "show\tip\tnat\ttranslations",
	} {
		f.Add(seed)
	}
	s := execServer(f)
	f.Fuzz(func(t *testing.T, line string) {
		var out bytes.Buffer
		err := s.Exec(cancelled(), line, &out)
		fields := strings.Fields(line)
		if len(fields) == 0 {
			if err != nil {
				t.Fatalf("empty line: %v", err)
			}
			return
		}
		w := strings.ToLower(fields[0])
		known := false
		for _, c := range control.TopWords {
			if strings.HasPrefix(c, w) {
				known = true
			}
		}
		if !known && !errors.Is(err, control.ErrUsage) {
			t.Fatalf("%q: error %v, want ErrUsage", line, err)
		}
	})
}

// Without [tcp_intercept] (the seed), show tcp intercept statistics says
// so, and show ip inspect statistics has no intercept line.
func TestExecInterceptOff(t *testing.T) {
	s := execServer(t)
	var out bytes.Buffer
	if err := s.Exec(cancelled(), "show tcp intercept statistics", &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "TCP intercept is not enabled\n" {
		t.Errorf("got %q", out.String())
	}
	out.Reset()
	if err := s.Exec(cancelled(), "show ip inspect statistics", &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "TCP intercept") {
		t.Errorf("intercept counters shown without intercept:\n%s", out.String())
	}
}
