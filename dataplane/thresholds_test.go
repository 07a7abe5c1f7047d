package dataplane_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/packet"
)

// The IOS DoS thresholds through the whole pipeline
// (docs/behaviour.md "Thresholds"), with the log lines the control plane makes of
// the workers' events (control.Message).

// outsideHost is the i-th outside server of the threshold tests: all
// different, all behind the static default route.
func outsideHost(i int) string {
	return fmt.Sprintf("198.51.%d.%d", 100+i/250, i%250+1)
}

// wantLog checks the log lines since the last call.
func wantLog(t *testing.T, r *run, what string, want ...string) {
	t.Helper()
	got := r.takeLog()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: log\n%q\nwant\n%q", what, got, want)
	}
}

// synsInsideOut makes a SYN from the inside host to outsideHost(i) for
// each i in [from, to).
func synsInsideOut(r *run, from, to int) ([][]byte, []*tcpConn) {
	var frames [][]byte
	var conns []*tcpConn
	for i := from; i < to; i++ {
		c := insideOut(r, uint16(20000+i), outsideHost(i), 443)
		frames = append(frames, writeTCP(make([]byte, 128), &c.a, c.na, 0, packet.SYN, nil))
		c.na++
		conns = append(conns, c)
	}
	return frames, conns
}

// establish completes the handshake of conns (their SYN was forwarded).
func establish(t *testing.T, r *run, conns []*tcpConn) {
	t.Helper()
	var synacks, acks [][]byte
	for _, c := range conns {
		synacks = append(synacks, writeTCP(make([]byte, 128), &c.b, c.nb, c.na, packet.SYN|packet.ACK, nil))
		c.nb++
		acks = append(acks, writeTCP(make([]byte, 128), &c.a, c.na, c.nb, packet.ACK, nil))
	}
	pa, pb := conns[0].pa, conns[0].pb
	if out := r.sendAll(pb, synacks); len(out[pa]) != len(conns) {
		t.Fatalf("%d of %d SYN/ACKs forwarded: %v", len(out[pa]), len(conns), nonZero(r.w.Stats.Drops[:]))
	}
	if out := r.sendAll(pa, acks); len(out[pb]) != len(conns) {
		t.Fatalf("%d of %d ACKs forwarded: %v", len(out[pb]), len(conns), nonZero(r.w.Stats.Drops[:]))
	}
}

// max-incomplete: the 501st half-open session turns aggressive mode on and
// deletes the oldest half-open one; below 400 it calms down. The one-minute
// thresholds are raised so that only the half-open count triggers (with
// the IOS defaults, 501 new sessions in a minute exceed one-minute high
// too, and aggressive mode ends only when both are below low).
func TestThresholdMaxIncomplete(t *testing.T) {
	r := newRun(t, seedVariant(t, smallTable, seedOneMinute, `one_minute = { low = 90000, high = 100000 }`))
	frames, conns := synsInsideOut(r, 0, 500)
	if out := r.sendAll(portIn, frames); len(out[portOut]) != 500 {
		t.Fatalf("%d of 500 SYNs forwarded", len(out[portOut]))
	}
	wantLog(t, r, "500 half-open")
	if live, half := r.w.SessionCount(); live != 500 || half != 500 {
		t.Fatalf("%d sessions, %d half-open; want 500, 500", live, half)
	}
	f501, c501 := synsInsideOut(r, 500, 501)
	out := r.sendAll(portIn, f501)
	if syns, rsts := splitRST(out[portOut]); len(syns) != 1 || len(rsts) != 1 {
		t.Fatalf("501st SYN: %d SYNs, %d RSTs out; want 1 (aggressive mode admits new sessions), 1 (the oldest reset)", len(syns), len(rsts))
	}
	if _, rsts := splitRST(out[portIn]); len(rsts) != 1 {
		t.Fatalf("%d RSTs to the oldest's initiator, want 1", len(rsts))
	}
	wantLog(t, r, "501st half-open", "%FW-4-ALERT_ON: getting aggressive, count (501/500) current 1-min rate: 501")
	if conns[0].exists() || !conns[1].exists() || !c501[0].exists() {
		t.Errorf("aggressive mode: oldest exists %v, second %v, new %v; want false, true, true",
			conns[0].exists(), conns[1].exists(), c501[0].exists())
	}
	if live, half := r.w.SessionCount(); live != 500 || half != 500 {
		t.Errorf("%d sessions, %d half-open; want 500, 500", live, half)
	}
	// Still aggressive: each new session deletes the next oldest.
	f502, _ := synsInsideOut(r, 501, 502)
	r.sendAll(portIn, f502)
	wantLog(t, r, "502nd half-open")
	if conns[1].exists() || !conns[2].exists() {
		t.Errorf("second new session: oldest half-open not deleted")
	}
	// 100 handshakes complete: 400 half-open is not below low; one more
	// gives 399.
	establish(t, r, conns[2:102])
	wantLog(t, r, "400 half-open")
	establish(t, r, conns[102:103])
	wantLog(t, r, "399 half-open", "%FW-4-ALERT_OFF: calming down, count (399/400) current 1-min rate: 502")
	if live, half := r.w.SessionCount(); live != 500 || half != 399 {
		t.Errorf("%d sessions, %d half-open; want 500, 399", live, half)
	}
	// Calm: a new half-open session deletes nothing.
	f503, _ := synsInsideOut(r, 502, 503)
	r.sendAll(portIn, f503)
	wantLog(t, r, "calm")
	if live, _ := r.w.SessionCount(); live != 501 {
		t.Errorf("%d sessions after calming down, want 501", live)
	}
}

// one-minute: 501 new sessions in a minute (each established at once, so
// the half-open count stays low) turn aggressive mode on by rate; it ends
// when the minute has passed.
func TestThresholdOneMinute(t *testing.T) {
	r := newRun(t, seedSmall(t))
	for from := 0; from < 500; from += 50 {
		frames, conns := synsInsideOut(r, from, from+50)
		if out := r.sendAll(portIn, frames); len(out[portOut]) != 50 {
			t.Fatalf("SYNs %d..%d: %d forwarded", from, from+50, len(out[portOut]))
		}
		establish(t, r, conns)
	}
	wantLog(t, r, "500 sessions in a minute")
	if live, half := r.w.SessionCount(); live != 500 || half != 0 {
		t.Fatalf("%d sessions, %d half-open; want 500, 0", live, half)
	}
	t0 := r.now
	f501, _ := synsInsideOut(r, 500, 501)
	if out := r.sendAll(portIn, f501); len(out[portOut]) != 1 {
		t.Fatal("501st SYN not forwarded")
	}
	wantLog(t, r, "501 sessions in a minute", "%FW-4-ALERT_ON: getting aggressive, count (1/500) current 1-min rate: 501")
	if live, _ := r.w.SessionCount(); live != 501 {
		t.Errorf("%d sessions, want 501: nothing half-open to delete but the new one", live)
	}
	// The rate counts sessions created in the last 60 one-second
	// buckets: at +59 s they all still count, at +60 s none does.
	r.now = t0 + int64(59*time.Second)
	r.step()
	wantLog(t, r, "59 s later")
	r.now = t0 + int64(60*time.Second)
	r.step()
	wantLog(t, r, "60 s later", "%FW-4-ALERT_OFF: calming down, count (0/400) current 1-min rate: 0")
}

// smtpSYNs makes SYNs from outside clients to the mail server's global
// address 172.22.1.110:25 (permitted by ACL 101, inspected by OUT-IN),
// each from its own source port.
func smtpSYNs(r *run, from, to int) ([][]byte, []*tcpConn) {
	var frames [][]byte
	var conns []*tcpConn
	for i := from; i < to; i++ {
		c := outsideIn(r, uint16(41000+i))
		frames = append(frames, writeTCP(make([]byte, 128), &c.a, c.na, 0, packet.SYN, nil))
		c.na++
		conns = append(conns, c)
	}
	return frames, conns
}

// tcp max-incomplete host 50 block-time 0 (the seed): the 51st half-open
// connection to one host deletes that host's oldest half-open session.
func TestThresholdHostDeleteOldest(t *testing.T) {
	r := newRun(t, seedSmall(t))
	frames, conns := smtpSYNs(r, 0, 50)
	if out := r.sendAll(portOut, frames); len(out[portIn]) != 50 {
		t.Fatalf("%d of 50 SYNs forwarded", len(out[portIn]))
	}
	wantLog(t, r, "50 half-open to one host")
	// Half-open sessions to other hosts are not counted against it.
	others, _ := synsInsideOut(r, 0, 10)
	r.sendAll(portIn, others)
	f51, c51 := smtpSYNs(r, 50, 51)
	out := r.sendAll(portOut, f51)
	if syns, rsts := splitRST(out[portIn]); len(syns) != 1 || len(rsts) != 1 {
		t.Fatalf("51st SYN: %d SYNs, %d RSTs to the host; want 1 (block-time 0 admits it), 1 (its oldest reset)", len(syns), len(rsts))
	}
	wantLog(t, r, "51st", "%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 10.10.10.2.")
	if conns[0].exists() || !conns[1].exists() || !c51[0].exists() {
		t.Errorf("oldest exists %v, second %v, new %v; want false, true, true", conns[0].exists(), conns[1].exists(), c51[0].exists())
	}
	if live, half := r.w.SessionCount(); live != 60 || half != 60 {
		t.Errorf("%d sessions, %d half-open; want 60, 60", live, half)
	}
	// The 52nd deletes the next oldest; the alert is not repeated.
	f52, _ := smtpSYNs(r, 51, 52)
	r.sendAll(portOut, f52)
	wantLog(t, r, "52nd")
	if conns[1].exists() || !conns[2].exists() {
		t.Error("52nd: second oldest not deleted")
	}
	// Completing handshakes frees the host's count: a new SYN deletes
	// nothing.
	establish(t, r, conns[2:12])
	f53, _ := smtpSYNs(r, 52, 53)
	r.sendAll(portOut, f53)
	if live, _ := r.w.SessionCount(); live != 61 {
		t.Errorf("%d sessions, want 61", live)
	}
	if r.drops(dataplane.DropHostBlocked) != 0 {
		t.Errorf("block-time 0 refused connections")
	}
}

// tcp max-incomplete host 50 block-time 1m: the 51st half-open connection
// blocks the host: its half-open sessions are deleted, new connections to
// it refused for a minute, then let through again.
func TestThresholdHostBlock(t *testing.T) {
	r := newRun(t, seedVariant(t, smallTable, seedBlockTime, `tcp_block_time = "1m"`))
	frames, _ := smtpSYNs(r, 0, 50)
	if out := r.sendAll(portOut, frames); len(out[portIn]) != 50 {
		t.Fatalf("%d of 50 SYNs forwarded", len(out[portIn]))
	}
	others, oconns := synsInsideOut(r, 0, 5)
	r.sendAll(portIn, others)
	wantLog(t, r, "50 half-open to one host")
	t0 := r.now
	f51, _ := smtpSYNs(r, 50, 51)
	out := r.sendAll(portOut, f51)
	syns, rsts := splitRST(out[portIn])
	if len(syns) != 0 {
		t.Fatal("51st SYN forwarded: the host should be blocked")
	}
	// Its 50 half-open sessions are reset on both ends.
	if _, back := splitRST(out[portOut]); len(rsts) != 50 || len(back) != 50 {
		t.Errorf("%d RSTs to the host, %d to its clients; want 50, 50", len(rsts), len(back))
	}
	wantLog(t, r, "51st",
		"%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (50) exceeded for host 10.10.10.2.",
		"%FW-2-BLOCK_HOST: Blocking new TCP connections to host 10.10.10.2 for 1 minutes (half-open count 50 exceeded).")
	if r.drops(dataplane.DropHostBlocked) != 1 {
		t.Errorf("host-blocked drops %d, want 1", r.drops(dataplane.DropHostBlocked))
	}
	// The host's 50 half-open sessions are gone; the other hosts' stay.
	if live, half := r.w.SessionCount(); live != 5 || half != 5 {
		t.Errorf("%d sessions, %d half-open; want the 5 to other hosts", live, half)
	}
	for _, c := range oconns {
		if !c.exists() {
			t.Errorf("session to %s deleted", outsideHost(int(c.a.sport)-20000))
		}
	}
	// Blocked for a minute.
	r.now = t0 + int64(59*time.Second)
	f52, _ := smtpSYNs(r, 51, 52)
	// (The 5 sessions to other hosts expire in this batch, past synwait,
	// and are reset: RSTs to 10.10.10.5.)
	out = r.sendAll(portOut, f52)
	if syns, _ := splitRST(out[portIn]); len(syns) != 0 || r.drops(dataplane.DropHostBlocked) != 2 {
		t.Fatalf("SYN to the blocked host at +59 s: forwarded %d, blocked drops %d", len(syns), r.drops(dataplane.DropHostBlocked))
	}
	if n := r.w.Stats.HalfOpenResets[dataplane.ResetSynWait]; n != 5 {
		t.Errorf("%d sessions reset at synwait expiry, want the 5 to other hosts", n)
	}
	wantLog(t, r, "+59 s")
	r.now = t0 + int64(60*time.Second)
	r.step()
	wantLog(t, r, "+60 s", "%FW-4-UNBLOCK_HOST: New TCP connections to host 10.10.10.2 no longer blocked")
	f53, c53 := smtpSYNs(r, 52, 53)
	if out := r.sendAll(portOut, f53); len(out[portIn]) != 1 || !c53[0].exists() {
		t.Fatalf("SYN after the block not forwarded: %v", nonZero(r.w.Stats.Drops[:]))
	}
	wantLog(t, r, "after the block")
}
