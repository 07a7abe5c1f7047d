package control_test

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/smtpfsm"
)

// traceEvent is a worker's trace event for the VERB progress of "HELO".
func traceEvent(n uint32) *dataplane.Event {
	return &dataplane.Event{Kind: dataplane.EvSMTPTrace, Proto: dataplane.InspectSMTP,
		Trace: smtpfsm.Event{Kind: smtpfsm.EvVerb, Len: n, MatchLen: n, State: 9}}
}

// `debug ip inspect smtp` turns tracing on, says so, streams the trace
// lines handed to HandleEvent until the client goes away (the context
// ends), then turns tracing off.
func TestDebugSMTPStream(t *testing.T) {
	s := execServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- s.Exec(ctx, "debug ip inspect smtp", pw)
		pw.Close()
	}()
	r := bufio.NewReader(pr)
	readLine := func() string {
		t.Helper()
		type res struct {
			l   string
			err error
		}
		ch := make(chan res, 1)
		go func() { l, err := r.ReadString('\n'); ch <- res{l, err} }()
		select {
		case x := <-ch:
			if x.err != nil {
				t.Fatalf("read: %v", x.err)
			}
			return strings.TrimSuffix(x.l, "\n")
		case <-time.After(10 * time.Second):
			t.Fatal("no line within 10 s")
		}
		return ""
	}
	if l := readLine(); l != "INSPECT SMTP Inspection debugging is on" {
		t.Fatalf("first line %q", l)
	}
	if !s.DP.DebugSMTP.Load() {
		t.Fatal("tracing is off while debugging")
	}
	for n := uint32(1); n <= 3; n++ {
		s.HandleEvent(traceEvent(n), time.Now())
		want := "CBAC SMTP: VERB - Cmd len:" + string('0'+rune(n)) + ", match_len:" + string('0'+rune(n)) + ", cmd_re_state:9"
		if l := readLine(); l != want {
			t.Errorf("line %q, want %q", l, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Exec: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after the context ended")
	}
	if s.DP.DebugSMTP.Load() {
		t.Error("tracing still on after the last listener left")
	}
	// With nobody listening, trace events go nowhere (and do not block).
	s.HandleEvent(traceEvent(4), time.Now())
}

// Two listeners both get every line; tracing stays on until the last one
// leaves. "undebug ip inspect smtp" turns the worker's tracing off.
func TestDebugSMTPTwoListeners(t *testing.T) {
	s := execServer(t)
	type listener struct {
		cancel context.CancelFunc
		r      *bufio.Reader
		done   chan struct{}
	}
	start := func() *listener {
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		l := &listener{cancel: cancel, r: bufio.NewReader(pr), done: make(chan struct{})}
		go func() {
			s.Exec(ctx, "deb ip insp smtp", pw) // IOS abbreviations
			pw.Close()
			close(l.done)
		}()
		if line, err := l.r.ReadString('\n'); err != nil || line != "INSPECT SMTP Inspection debugging is on\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		return l
	}
	a, b := start(), start()
	s.HandleEvent(traceEvent(5), time.Now())
	for i, l := range []*listener{a, b} {
		line, err := l.r.ReadString('\n')
		if err != nil || line != "CBAC SMTP: VERB - Cmd len:5, match_len:5, cmd_re_state:9\n" {
			t.Errorf("listener %d: %q, %v", i, line, err)
		}
	}
	a.cancel()
	<-a.done
	if !s.DP.DebugSMTP.Load() {
		t.Error("tracing off while a listener remains")
	}
	b.cancel()
	<-b.done
	if s.DP.DebugSMTP.Load() {
		t.Error("tracing on after both listeners left")
	}
	var out strings.Builder
	s.DP.DebugSMTP.Store(true)
	if err := s.Exec(context.Background(), "undebug ip inspect smtp", &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "INSPECT SMTP Inspection debugging is off\n" || s.DP.DebugSMTP.Load() {
		t.Errorf("undebug: %q, tracing %v", out.String(), s.DP.DebugSMTP.Load())
	}
}
