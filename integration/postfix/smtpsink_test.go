package postfix

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/bench"
	"cbac/lab"
)

// Postfix's own load tools through cbacd: smtp-source in the client
// namespace sends to smtp-sink on the mail server (10.10.10.2:25) by its
// global address 172.22.1.110:25, through the seed configuration's static
// NAT, ACL 101 and SMTP inspection. Every session ends with QUIT and a
// close, so the session table and the SMTP inspection state must give back
// what each session took: a dataplane that kept a closed session's
// inspection state through FIN-WAIT refused new sessions ("SMTP inspection
// pool full") after a few thousand.

const (
	sourceSessions = 16   // smtp-source -s
	sourceLength   = 2048 // smtp-source -l: payload bytes per message
	sourceLimit    = 180 * time.Second
)

// sourceMessages is smtp-source -m: 100,000 messages, one session each.
// cbacd built with -race is several times slower: 20,000 still cross the
// pool sizes many times over within the limit.
func sourceMessages() int {
	if raceEnabled {
		return 20000
	}
	return 100000
}

func TestSMTPSourceToSink(t *testing.T) {
	e := startFirewall(t, "smtp-source", "smtp-sink")
	sinkOut := e.startSink(t)
	e.waitBanner(t, func() string {
		return "smtp-sink output:\n" + tail(strings.ReplaceAll(sinkOut.String(), "\r", "\n"), 20)
	})
	before, _ := bench.SinkMessages(sinkOut.String())

	n := sourceMessages()
	argv := []string{tool(t, "smtp-source"), "-s", strconv.Itoa(sourceSessions), "-l", strconv.Itoa(sourceLength),
		"-m", strconv.Itoa(n), "-M", "client.outside.example", "-f", "sender@outside.example",
		"-t", "user1@lab.example", mailGlobal + ":25"}
	start := time.Now()
	stdout, stderr, err := e.inNS(lab.RoleClient, sourceLimit, nil, argv...)
	took := time.Since(start)
	stats, serr := e.fw.show("show ip inspect statistics")
	if serr != nil {
		t.Fatalf("show ip inspect statistics: %v", serr)
	}
	if err != nil {
		t.Errorf("%s: %v after %v (limit %v)\nstdout: %s\nstderr: %s", strings.Join(argv, " "), err, took.Round(time.Millisecond), sourceLimit, tail(stdout, 10), tail(stderr, 10))
		if strings.Contains(e.fw.log(), "%FW-4-ALERT_ON") {
			// smtp-source has no reply timeout: a session whose
			// connection the server never completed waits forever.
			t.Errorf("cbacd went aggressive (the seed's one-minute thresholds, 400/500 new sessions a minute) and deleted " +
				"half-open sessions without a reset: a client that had seen its SYN/ACK then waits for a banner that never comes " +
				"(its ACK and the server's SYN/ACK retransmissions count as \"TCP non-SYN without session\")")
		}
	} else {
		t.Logf("smtp-source: %d messages of %d bytes over %d concurrent sessions in %v: %.0f mails/s",
			n, sourceLength, sourceSessions, took.Round(time.Millisecond), float64(n)/took.Seconds())
	}

	// smtp-sink counts a message when it has received its "."; the client
	// saw the 250 after that, so the count is final once smtp-source has
	// exited. A short wait covers a status line still being written.
	var got int
	for deadline := time.Now().Add(5 * time.Second); ; {
		got, _ = bench.SinkMessages(sinkOut.String())
		if got-before >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got-before != n {
		t.Errorf("smtp-sink counted %d messages, want %d", got-before, n)
	}

	st, perr := bench.ParseInspectStatistics(stats)
	if perr != nil {
		t.Fatal(perr)
	}
	for _, name := range bench.RefusedDrops {
		if v := st.Drops[name]; v != 0 {
			t.Errorf("show ip inspect statistics: %q = %d, want 0", name, v)
		}
	}
	if t.Failed() {
		t.Logf("show ip inspect statistics:\n%s", stats)
	}

	// Every session closed with FIN both ways: after the seed's finwait
	// (5 s) and the timer wheel's granularity, none is left, and none is
	// half-open.
	live, half := -1, -1
	for deadline := time.Now().Add(5*time.Second + 10*time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		text, err := e.fw.show("show ip inspect statistics")
		if err != nil {
			t.Fatalf("show ip inspect statistics: %v", err)
		}
		st, err := bench.ParseInspectStatistics(text)
		if err != nil {
			t.Fatal(err)
		}
		live, half = st.Sessions, st.HalfOpen
		if live == 0 && half == 0 {
			break
		}
	}
	if live != 0 || half != 0 {
		t.Errorf("15 s after the load: %d sessions, %d half-open; want 0 and 0", live, half)
	} else {
		t.Logf("sessions 0, half-open 0 within 15 s of the load's end")
	}
}

// startSink runs smtp-sink on the mail server's address, port 25, in the
// mail namespace, counting messages (-c) on its output, which it returns.
// It is killed at cleanup.
func (e *env) startSink(t *testing.T) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// -u: smtp-sink refuses to run as root; -m: at most 256 sessions at
	// once (smtp-source opens 16, plus the readiness probes); backlog 256.
	cmd := e.lab.Exec(ctx, lab.RoleMail, tool(t, "smtp-sink"), "-c", "-h", "mail.lab.example", "-u", "postfix",
		"-m", "256", mailLocal+":25", "256")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start smtp-sink: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("smtp-sink did not exit within 10 s of SIGKILL")
		}
	})
	// A sink that could not bind exits at once.
	select {
	case err := <-done:
		t.Fatalf("smtp-sink exited at start: %v: %s", err, out.String())
	case <-time.After(300 * time.Millisecond):
	}
	return out
}
