package dataplane_test

import (
	"bytes"
	"testing"
	"time"

	"cbac/dataplane"
)

// Replay hands the workers' events to OnEvent as they happen (cbacd replay
// logs them): an illegal SMTP command raises an alert during the replay.
func TestReplayOnEvent(t *testing.T) {
	c := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 40000, dport: 25, srcMAC: macClient, dstMAC: macOut0}
	s := seg{src: "10.10.10.2", dst: "172.22.1.100", sport: 25, dport: 40000, srcMAC: macMail, dstMAC: macIn0}
	syn, synack, ack, greet, expn := c, s, c, s, c
	syn.seq, syn.syn = 1000, true
	synack.seq, synack.ack, synack.syn, synack.ackf = 5000, 1001, true, true
	ack.seq, ack.ack, ack.ackf = 1001, 5001, true
	greet.seq, greet.ack, greet.ackf, greet.psh, greet.payload = 5001, 1001, true, true, []byte("220 mail ESMTP\r\n")
	expn.seq, expn.ack, expn.ackf, expn.psh, expn.payload = 1001, 5017, true, true, []byte("EXPN root\r\n")
	ms := time.Millisecond
	in := writeCapture(t, []capFrame{
		{"out0", 0, tcpFrame(t, syn)},
		{"in0", 1 * ms, tcpFrame(t, synack)},
		{"out0", 2 * ms, tcpFrame(t, ack)},
		{"in0", 3 * ms, tcpFrame(t, greet)},
		{"out0", 4 * ms, tcpFrame(t, expn)},
	})
	var kinds []dataplane.EventKind
	var at []int64
	var out bytes.Buffer
	st, err := dataplane.Replay(compile(t, seedWithNeighbours(t, true)), in, &out, dataplane.ReplayOptions{
		OnEvent: func(e *dataplane.Event) { kinds = append(kinds, e.Kind); at = append(at, e.Now) },
	})
	if err != nil || st.Read != 5 || st.Written != 5 {
		t.Fatalf("replay: read %d, written %d, err %v", st.Read, st.Written, err)
	}
	if len(kinds) != 1 || kinds[0] != dataplane.EvSMTPAlert {
		t.Fatalf("events %v, want one SMTP alert", kinds)
	}
	if want := replayEpoch.Add(4 * ms).UnixNano(); at[0] != want {
		t.Errorf("alert at %d, want the EXPN frame's time %d", at[0], want)
	}
}
