package dataplane_test

import (
	"fmt"
	"testing"
	"time"

	"cbac/dataplane"
	"cbac/packet"
)

// Two workers: a data connection's flow hashes to either worker,
// whichever owns its control session; the pinholes are the dataplane's,
// so every announced connection is admitted once wherever it lands.
func TestFTPPinholesAcrossWorkers(t *testing.T) {
	const frameSize, nframes = 2048, 4096
	rs := compile(t, seedWithNeighbours(t, true))
	umem := make([]byte, frameSize*nframes)
	var fq [2][2]*dataplane.FakeQueue
	qs := make([][]dataplane.Queue, 2)
	for w := range fq {
		for p := range fq[w] {
			fq[w][p] = dataplane.NewFakeQueue(umem, frameSize, 256)
			qs[w] = append(qs[w], fq[w][p])
		}
	}
	dp, err := dataplane.New(rs, dataplane.Options{Workers: 2, UMEM: umem, FrameSize: frameSize, Queues: qs})
	if err != nil {
		t.Fatal(err)
	}
	now := int64(time.Hour)
	// send injects a frame on worker 0's port and steps both workers until
	// nothing moves; it returns the frames transmitted on each port.
	send := func(port int, f []byte) [2][][]byte {
		t.Helper()
		if !fq[0][port].Inject(f) {
			t.Fatal("inject failed")
		}
		var out [2][][]byte
		for i := 0; i < 4; i++ {
			for _, w := range dp.Workers {
				w.Step(now)
			}
			for w := range fq {
				for p := range fq[w] {
					fq[w][p].Drain(func(b []byte) { out[p] = append(out[p], append([]byte(nil), b...)) })
				}
			}
		}
		return out
	}
	buf := make([]byte, 2048)
	host, srv := smtpMAC(macHost), smtpMAC(macUpstream)
	in0, out0 := smtpMAC(macIn0), smtpMAC(macOut0)
	cseq, sseq := uint32(1000), uint32(9000)
	fromCli := func(flags uint8, payload string) [2][][]byte {
		f := smtpWrite(buf, host, in0, ftpInsideHost, ftpOutsideSrv, 40700, 21, cseq, sseq, flags, 65535, -1, []byte(payload))
		cseq += uint32(len(payload))
		if flags&packet.SYN != 0 {
			cseq++
		}
		return send(portIn, f)
	}
	grown := uint32(0)
	fromSrv := func(flags uint8, payload string) [2][][]byte {
		f := smtpWrite(buf, srv, out0, ftpOutsideSrv, ftpHostGlobal, 21, 40700, sseq, cseq+grown, flags, 65535, -1, []byte(payload))
		sseq += uint32(len(payload))
		if flags&packet.SYN != 0 {
			sseq++
		}
		return send(portOut, f)
	}
	fromCli(packet.SYN, "")
	fromSrv(packet.SYN|packet.ACK, "")
	fromCli(packet.ACK, "")
	fromSrv(packet.ACK|packet.PSH, "220 ready\r\n")
	fromCli(packet.ACK|packet.PSH, "USER a\r\n")
	fromSrv(packet.ACK|packet.PSH, "331 pass\r\n")
	fromCli(packet.ACK|packet.PSH, "PASS b\r\n")
	fromSrv(packet.ACK|packet.PSH, "230 ok\r\n")
	admitted := 0
	const conns = 16
	for i := 0; i < conns; i++ {
		port := uint16(50000 + i)
		out := fromCli(packet.ACK|packet.PSH, fmt.Sprintf("PORT 10,10,10,5,%d,%d\r\n", port>>8, port&0xff))
		if len(out[portOut]) != 1 {
			t.Fatalf("PORT %d: %d frames to the server", port, len(out[portOut]))
		}
		grown += 2 // 10,10,10,5 -> 172,22,1,111
		syn := smtpWrite(buf, srv, out0, ftpOutsideSrv, ftpHostGlobal, uint16(20000+i), port, 1, 0, packet.SYN, 65535, -1, nil)
		if got := send(portOut, syn); len(got[portIn]) == 1 {
			admitted++
		}
		fromSrv(packet.ACK|packet.PSH, "200 ok\r\n")
	}
	if admitted != conns {
		t.Fatalf("%d of %d data connections admitted; drops %v %v", admitted, conns, dp.Workers[0].Stats.Drops, dp.Workers[1].Stats.Drops)
	}
	// Where they landed: some on the worker that does not own the
	// control session (else the test shows nothing).
	var data [2]int
	ctl := -1
	for i, w := range dp.Workers {
		for _, s := range w.Sessions(nil) {
			switch s.Kind {
			case dataplane.InspectFTPData:
				data[i]++
			case dataplane.InspectFTP:
				ctl = i
			}
		}
	}
	if ctl < 0 || data[1-ctl] == 0 {
		t.Fatalf("control session on worker %d, data sessions per worker %v", ctl, data)
	}
}
