package bench

import (
	"fmt"
	"testing"
)

func TestParseInspectStatistics(t *testing.T) {
	text := "Sessions: 12 in use of 4096, 3 half-open; 40000 created, 39988 deleted\n" +
		"Workers: 1; frames handed over between workers: 0\n" +
		"Interfaces:\n  Ethernet0/0    in0      rx 5 packets 300 bytes, tx 5 packets 300 bytes\n" +
		"Drops:\n  SMTP inspection pool full            4012\n  TCP non-SYN without session          7\n"
	st, err := ParseInspectStatistics(text)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 12 || st.MaxSessions != 4096 || st.HalfOpen != 3 || st.Created != 40000 || st.Deleted != 39988 {
		t.Errorf("sessions: %+v", st)
	}
	if st.Drops["SMTP inspection pool full"] != 4012 || st.Drops["TCP non-SYN without session"] != 7 || len(st.Drops) != 2 {
		t.Errorf("drops: %v", st.Drops)
	}
	st, err = ParseInspectStatistics("Sessions: 0 in use of 10, 0 half-open; 0 created, 0 deleted\nDrops:\n  none\n")
	if err != nil || len(st.Drops) != 0 {
		t.Errorf("no drops: %v %v", st.Drops, err)
	}
	if _, err := ParseInspectStatistics("% Invalid input\n"); err == nil {
		t.Error("no Sessions line: want an error")
	}
}

func TestSinkMessages(t *testing.T) {
	out := "sess=1 quit=1 mesg=0\rsess=3 quit=2 mesg=1\rsess=17 quit=16 mesg=100000\r"
	if n, ok := SinkMessages(out); !ok || n != 100000 {
		t.Errorf("SinkMessages = %d, %v; want 100000, true", n, ok)
	}
	if _, ok := SinkMessages("smtp-sink: fatal: bind 10.10.10.2 port 25: Address in use\n"); ok {
		t.Error("no counter: want ok false")
	}
}

func TestSoakSample(t *testing.T) {
	text := "Sessions: 120 in use of 4096, 3 half-open; 40000 created, 39880 deleted\n" +
		"SMTP inspection: 7 sessions inspected (open connections) of max_sessions; 64 states allocated; 0 refused at the limit\n" +
		"SMTP replay copy: 5 frames held until the server's ACK (1 of them transmitted)\n" +
		"UMEM frames: 3000 free in the workers' pools of 8192 (the rest in the kernel's rings or in flight)\n" +
		"TCP intercept: Cookies: 5000 SYN/ACKs sent, 40 valid ACKs, 0 bad cookies dropped\n" +
		"Cookie SYN/ACKs sent by the XDP program: 4990\n" +
		"Drops:\n  no free frame                        2\n  session table full                   1\n  TCP out of window                    9\n"
	s, err := soakSample(text, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := SoakSample{RSS: 64 << 20, Sessions: 120, HalfOpen: 3, Created: 40000, UMEMFree: 3000, UMEMFrames: 8192,
		FramesHeld: 5, SMTPInspected: 7, SMTPAllocated: 64, Refused: 3, SYNACKs: 5000, XDPSYNACKs: 4990}
	if s != want {
		t.Errorf("soakSample = %+v\nwant %+v", s, want)
	}
	if _, err := soakSample("Sessions: 1 in use of 2, 0 half-open; 1 created, 0 deleted\n", 0); err == nil {
		t.Error("no UMEM line: want an error")
	}
}

func TestSoakChecks(t *testing.T) {
	var flatRun, leak []SoakSample
	for i := 0; i < 100; i++ {
		// The mail rate doubles over the run; closed sessions follow it.
		rate := 100 + i
		s := SoakSample{T: float64(i), RSS: 100 << 20, Sessions: 10 + 5*rate, HalfOpen: 10, UMEMFree: 4000, FramesHeld: 3, SMTPAllocated: -1,
			Mails: 100*i + i*(i+1)/2}
		flatRun = append(flatRun, s)
		s.RSS += uint64(i) << 20 // 1 MiB a second
		s.UMEMFree -= 30 * i     // frames lost
		leak = append(leak, s)
	}
	for _, c := range soakChecks(flatRun, 10) {
		if !c.OK {
			t.Errorf("flat series: %+v", c)
		}
	}
	bad := map[string]bool{}
	for _, c := range soakChecks(leak, 10) {
		if !c.OK {
			bad[c.Series] = true
		}
	}
	if !bad["rss_mib"] || !bad["umem_frames_free"] || len(bad) != 2 {
		t.Errorf("leaking series flagged: %v, want rss_mib and umem_frames_free", bad)
	}
	if c := soakChecks(flatRun[:5], 0); len(c) != 1 || c[0].OK {
		t.Errorf("too few samples: %+v", c)
	}
}

func TestSoakChecksSessionLeak(t *testing.T) {
	var run []SoakSample
	for i := 0; i < 100; i++ {
		// A steady mail rate, and sessions that never go.
		run = append(run, SoakSample{T: float64(i), Sessions: 500 + 40*i, Mails: 100 * i, SMTPAllocated: -1})
	}
	for _, c := range soakChecks(run, 10) {
		if c.Series == "sessions_per_mail_per_second" && c.OK {
			t.Errorf("leaking sessions pass: %+v", c)
		}
	}
}

func TestSoakChecksFlood(t *testing.T) {
	// A steady run: 100 mails/s, 20k SYN/ACKs/s, 99% of them by the XDP
	// program. Then the same run where, half-way, mail stops, the answers
	// slow down and the worker sends them all.
	var steady, failing []SoakSample
	for i := 0; i < 100; i++ {
		s := SoakSample{T: float64(i), Sessions: 500, Mails: 100 * i, SMTPAllocated: -1,
			SYNACKs: uint64(20000 * i), XDPSYNACKs: uint64(19800 * i)}
		steady = append(steady, s)
		if i > 50 {
			s.Mails, s.SYNACKs, s.XDPSYNACKs = 5000, uint64(1000000+5000*(i-50)), 990000
		}
		failing = append(failing, s)
	}
	for _, c := range soakChecks(steady, 10) {
		if !c.OK {
			t.Errorf("steady run: %+v", c)
		}
	}
	bad := map[string]bool{}
	for _, c := range soakChecks(failing, 10) {
		if !c.OK {
			bad[c.Series] = true
		}
	}
	for _, name := range []string{"mails_per_second", "synacks_per_second", "xdp_share_of_synacks"} {
		if !bad[name] {
			t.Errorf("%s not flagged (flagged: %v)", name, bad)
		}
	}
	// Without intercept there are no cookie checks.
	var plain []SoakSample
	for _, s := range steady {
		s.SYNACKs, s.XDPSYNACKs = 0, 0
		plain = append(plain, s)
	}
	for _, c := range soakChecks(plain, 10) {
		if c.Series == "xdp_share_of_synacks" || c.Series == "synacks_per_second" {
			t.Errorf("cookie check without intercept: %+v", c)
		}
	}
}

// TestLockedBufferKeepsTail: a long-running process's output is cut to its
// tail, which still holds smtp-sink's latest counter and last lines.
func TestLockedBufferKeepsTail(t *testing.T) {
	var l lockedBuffer
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(&l, "conn=1 mesg=%d rcpt=1\n", i)
	}
	if n := len(l.String()); n > 2*outputKeep {
		t.Errorf("kept %d bytes, want at most %d", n, 2*outputKeep)
	}
	if n, ok := SinkMessages(l.String()); !ok || n != 100000 {
		t.Errorf("SinkMessages = %d, %v; want 100000", n, ok)
	}
	if got := lastLines(l.String(), 1); got != "conn=1 mesg=100000 rcpt=1" {
		t.Errorf("last line %q", got)
	}
}
