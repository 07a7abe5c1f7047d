package dataplane_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"cbac/dataplane"
)

// FTP replay goldens (as TestReplayGolden: crafted capture in, output
// compared with testdata/replay-ftp-NAME.out.pcapng, facts checked on the
// decoded output). The endpoints behave as TCP peers do: each
// acknowledges what it received, in the numbering it saw, so after a
// rewrite that grew the client's stream the server's ACKs run ahead of the
// client's own numbering and cbacd must map them back.

// ftpPeer is one end of a crafted conversation.
type ftpPeer struct {
	dev          string
	mac, ourMAC  net.HardwareAddr
	src, dst     string // as its packets carry them
	sport, dport uint16
	seq          uint32 // its next sequence number
	rcv          uint32 // the next byte it expects from the other end, in its own view
}

// ftpCapture writes an FTP conversation between cli and srv as capture
// frames, 1 ms apart.
type ftpCapture struct {
	t        *testing.T
	cli, srv ftpPeer
	frames   []capFrame
	at       time.Duration
}

func (c *ftpCapture) add(dev string, data []byte) {
	c.frames = append(c.frames, capFrame{dev, c.at, data})
	c.at += time.Millisecond
}

func (c *ftpCapture) peers(fromClient bool) (*ftpPeer, *ftpPeer) {
	if fromClient {
		return &c.cli, &c.srv
	}
	return &c.srv, &c.cli
}

// seg adds a segment; grow is how much longer the receiver gets it than
// it was sent (a NAT rewrite of an announcement).
func (c *ftpCapture) seg(fromClient bool, syn, fin bool, payload string, grow int) {
	from, to := c.peers(fromClient)
	s := seg{src: from.src, dst: from.dst, sport: from.sport, dport: from.dport, seq: from.seq, ack: from.rcv,
		syn: syn, fin: fin, ackf: from.rcv != 0, psh: payload != "", payload: []byte(payload), srcMAC: from.mac, dstMAC: from.ourMAC}
	c.add(from.dev, tcpFrame(c.t, s))
	from.seq += uint32(len(payload))
	to.rcv += uint32(len(payload) + grow)
	if syn || fin {
		from.seq++
		to.rcv++
	}
}

// open runs the handshake and a login.
func (c *ftpCapture) open() {
	c.seg(true, true, false, "", 0)
	c.srv.rcv = c.cli.seq
	c.seg(false, true, false, "", 0)
	c.cli.rcv = c.srv.seq
	c.seg(true, false, false, "", 0)
	c.seg(false, false, false, "220 ready\r\n", 0)
	c.seg(true, false, false, "USER anonymous\r\n", 0)
	c.seg(false, false, false, "331 pass\r\n", 0)
	c.seg(true, false, false, "PASS x@\r\n", 0)
	c.seg(false, false, false, "230 ok\r\n", 0)
}

// ftpInsideOutCapture is the seed's inside client 10.10.10.5 with an
// outside server 198.51.100.7.
func ftpInsideOutCapture(t *testing.T) *ftpCapture {
	return &ftpCapture{t: t,
		cli: ftpPeer{dev: "in0", mac: macHost, ourMAC: macIn0, src: "10.10.10.5", dst: "198.51.100.7", sport: 40500, dport: 21, seq: 1000},
		srv: ftpPeer{dev: "out0", mac: macUpstream, ourMAC: macOut0, src: "198.51.100.7", dst: "172.22.1.111", sport: 21, dport: 40500, seq: 0xfffff000}}
}

// tcpOut is an output frame's decoded TCP facts.
type tcpOut struct {
	dev           string
	src, dst      string
	sport, dport  uint16
	seq, ack      uint32
	syn, rst, fin bool
	payload       string
}

func decodeTCPOut(t *testing.T, f outFrame) tcpOut {
	t.Helper()
	p := decode(t, f.data) // checksums against a full recompute
	ip, tc := ipOf(p), tcpOf(p)
	return tcpOut{dev: f.dev, src: ip.SrcIP.String(), dst: ip.DstIP.String(), sport: uint16(tc.SrcPort), dport: uint16(tc.DstPort),
		seq: tc.Seq, ack: tc.Ack, syn: tc.SYN, rst: tc.RST, fin: tc.FIN, payload: string(tc.Payload)}
}

// checkStreams follows the control connection through the output: each
// receiver gets its bytes contiguous and in order, each ACK in its own
// numbering; it returns what each end received.
func checkStreams(t *testing.T, out []outFrame, cliAddr, srvAddr string, cliPort uint16, cliISN, srvISN uint32) (toSrv, toCli string) {
	t.Helper()
	var bs, bc strings.Builder
	nextSrv, nextCli := cliISN+1, srvISN+1 // the next byte each receiver expects
	for i, f := range out {
		o := decodeTCPOut(t, f)
		switch {
		case o.dst == srvAddr && o.dport == 21 && o.sport == cliPort:
			if o.syn {
				continue
			}
			if o.payload != "" {
				if o.seq != nextSrv {
					t.Fatalf("frame %d to the server: seq %d, want %d", i+1, o.seq-cliISN, nextSrv-cliISN)
				}
				nextSrv += uint32(len(o.payload))
				bs.WriteString(o.payload)
			}
		case o.dst == cliAddr && o.sport == 21 && o.dport == cliPort:
			if o.syn {
				continue
			}
			if o.payload != "" {
				if o.seq != nextCli {
					t.Fatalf("frame %d to the client: seq %d, want %d", i+1, o.seq-srvISN, nextCli-srvISN)
				}
				nextCli += uint32(len(o.payload))
				bc.WriteString(o.payload)
			}
			// The client sees ACKs of its own bytes in its own numbering:
			// never beyond what it sent (cliISN+1+len(sent)).
		}
	}
	return bs.String(), bc.String()
}

func ftpReplayCases() []replayCase {
	return []replayCase{
		{
			// Active FTP through NAT: the PORT, split over two segments,
			// leaves whole as 172.22.1.111 (2 bytes longer); the server's
			// data connection from port 20 passes ACL 101 once; a
			// second SYN to the same port is dropped.
			name: "ftp-active",
			frames: func(t *testing.T) []capFrame {
				c := ftpInsideOutCapture(t)
				c.open()
				c.seg(true, false, false, "PORT 10,10,", 0)
				c.seg(true, false, false, "10,5,200,10\r\n", 2)
				c.seg(false, false, false, "200 PORT ok\r\n", 0)
				c.seg(true, false, false, "RETR f\r\n", 0)
				data := seg{src: "198.51.100.7", dst: "172.22.1.111", sport: 20, dport: 200<<8 | 10, seq: 1, syn: true, srcMAC: macUpstream, dstMAC: macOut0}
				c.add("out0", tcpFrame(t, data))
				data.sport = 2020
				c.add("out0", tcpFrame(t, data))
				c.seg(false, false, false, "150 here\r\n226 done\r\n", 0)
				c.seg(true, false, false, "QUIT\r\n", 0)
				c.seg(false, false, false, "221 bye\r\n", 0)
				return c.frames
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				toSrv, toCli := checkStreams(t, out, "10.10.10.5", "198.51.100.7", 40500, 1000, 0xfffff000)
				if want := "USER anonymous\r\nPASS x@\r\nPORT 172,22,1,111,200,10\r\nRETR f\r\nQUIT\r\n"; toSrv != want {
					t.Errorf("the server got %q, want %q", toSrv, want)
				}
				if want := "220 ready\r\n331 pass\r\n230 ok\r\n200 PORT ok\r\n150 here\r\n226 done\r\n221 bye\r\n"; toCli != want {
					t.Errorf("the client got %q, want %q", toCli, want)
				}
				admitted := 0
				for _, f := range out {
					if o := decodeTCPOut(t, f); o.syn && o.dport == 200<<8|10 {
						if o.dst != "10.10.10.5" || o.dev != "in0" || o.sport != 20 {
							t.Errorf("data SYN %+v", o)
						}
						admitted++
					}
				}
				st := dp.Workers[0].Stats
				if admitted != 1 || st.Drops[dataplane.DropACLIn] != 1 || st.PinholesUsed != 1 {
					t.Errorf("%d data SYNs admitted, ACL drops %d, pinholes used %d", admitted, st.Drops[dataplane.DropACLIn], st.PinholesUsed)
				}
			},
		},
		{
			// FTP bounce: a PORT naming 192.0.2.7 never reaches the
			// server; both ends get an RST at the numbers they expect.
			name: "ftp-bounce",
			frames: func(t *testing.T) []capFrame {
				c := ftpInsideOutCapture(t)
				c.open()
				c.seg(true, false, false, "PORT 192,0,2,7,0,25\r\n", 0)
				return c.frames
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				toSrv, _ := checkStreams(t, out, "10.10.10.5", "198.51.100.7", 40500, 1000, 0xfffff000)
				if strings.Contains(toSrv, "PORT") {
					t.Errorf("the server got %q", toSrv)
				}
				var rsts []tcpOut
				for _, f := range out {
					if o := decodeTCPOut(t, f); o.rst {
						rsts = append(rsts, o)
					}
				}
				sent := uint32(len("USER anonymous\r\nPASS x@\r\n"))
				var toClient, toServer int
				for _, r := range rsts {
					switch {
					case r.dst == "10.10.10.5" && r.dev == "in0" && r.ack == 1001+sent && r.seq == 0xfffff001+uint32(len("220 ready\r\n331 pass\r\n230 ok\r\n")):
						toClient++
					case r.dst == "198.51.100.7" && r.dev == "out0" && r.src == "172.22.1.111" && r.seq == 1001+sent:
						toServer++
					}
				}
				if len(rsts) != 2 || toClient != 1 || toServer != 1 {
					t.Errorf("resets %+v", rsts)
				}
				if dp.Workers[0].Stats.Drops[dataplane.DropFTPRefused] != 1 {
					t.Errorf("refusals %d", dp.Workers[0].Stats.Drops[dataplane.DropFTPRefused])
				}
			},
		},
		{
			// A length-changing rewrite (PORT +2), then a megabyte of
			// control-channel traffic, half each way in 1448-byte
			// segments: every byte arrives at the number its receiver
			// expects, and every ACK in the receiver's own numbering.
			name: "ftp-shift",
			frames: func(t *testing.T) []capFrame {
				c := ftpInsideOutCapture(t)
				c.open()
				c.seg(true, false, false, "PORT 10,10,10,5,200,10\r\n", 2)
				cmd := strings.Repeat("NOOP\r\n", 1448/6)
				rep := strings.Repeat("200 ok\r\n", 1448/8)
				for n := 0; n < 1<<19; n += len(cmd) {
					c.seg(true, false, false, cmd, 0)
					c.seg(false, false, false, rep, 0)
				}
				return c.frames
			},
			check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
				toSrv, toCli := checkStreams(t, out, "10.10.10.5", "198.51.100.7", 40500, 1000, 0xfffff000)
				if len(toSrv) < 1<<19 || len(toCli) < 1<<19 || !strings.Contains(toSrv, "PORT 172,22,1,111,200,10\r\nNOOP") {
					t.Errorf("received %d and %d bytes", len(toSrv), len(toCli))
				}
				// The ACKs the client gets are in its own numbering: the
				// last one acknowledges exactly what it sent.
				var last tcpOut
				for _, f := range out {
					if o := decodeTCPOut(t, f); o.dst == "10.10.10.5" {
						last = o
					}
				}
				sent := uint32(len("USER anonymous\r\nPASS x@\r\nPORT 10,10,10,5,200,10\r\n")) + uint32(len(toSrv)-len("USER anonymous\r\nPASS x@\r\nPORT 172,22,1,111,200,10\r\n"))
				if last.ack != 1001+sent {
					t.Errorf("last ACK to the client %d, want %d", last.ack-1001, sent)
				}
				var drops uint64
				for _, n := range dp.Workers[0].Stats.Drops {
					drops += n
				}
				if drops != 0 {
					t.Errorf("%d drops", drops)
				}
			},
		},
	}
}

// ftpPassiveCase is the OUT-IN variant: an outside client, the inside
// server 10.10.10.2 behind 172.22.1.110; its 227 leaves as 172.22.1.110
// and the client's passive data connection passes ACL 101.
func ftpPassiveCase() replayCase {
	return replayCase{
		name: "ftp-passive",
		frames: func(t *testing.T) []capFrame {
			c := &ftpCapture{t: t,
				cli: ftpPeer{dev: "out0", mac: macClient, ourMAC: macOut0, src: "172.22.1.100", dst: "172.22.1.110", sport: 40600, dport: 21, seq: 3000},
				srv: ftpPeer{dev: "in0", mac: macMail, ourMAC: macIn0, src: "10.10.10.2", dst: "172.22.1.100", sport: 21, dport: 40600, seq: 8000}}
			c.open()
			c.seg(true, false, false, "PASV\r\n", 0)
			c.seg(false, false, false, "227 Entering Passive Mode (10,10,10,2,195,80).\r\n", 2)
			data := seg{src: "172.22.1.100", dst: "172.22.1.110", sport: 41000, dport: 195<<8 | 80, seq: 1, syn: true, srcMAC: macClient, dstMAC: macOut0}
			c.add("out0", tcpFrame(t, data))
			c.seg(true, false, false, "LIST\r\n", 0)
			c.seg(false, false, false, "150 here\r\n", 0)
			return c.frames
		},
		check: func(t *testing.T, out []outFrame, dp *dataplane.Dataplane) {
			_, toCli := checkStreams(t, out, "172.22.1.100", "10.10.10.2", 40600, 3000, 8000)
			if want := "220 ready\r\n331 pass\r\n230 ok\r\n227 Entering Passive Mode (172,22,1,110,195,80).\r\n150 here\r\n"; toCli != want {
				t.Errorf("the client got %q, want %q", toCli, want)
			}
			admitted := false
			for _, f := range out {
				if o := decodeTCPOut(t, f); o.syn && o.sport == 41000 {
					admitted = o.dst == "10.10.10.2" && o.dev == "in0"
				}
			}
			if !admitted {
				t.Error("the passive data connection was not admitted to 10.10.10.2")
			}
		},
	}
}

func TestReplayFTPGolden(t *testing.T) {
	run := func(c replayCase, toml []byte) {
		t.Run(c.name, func(t *testing.T) {
			frames := c.frames(t)
			got, out, dp := replay(t, toml, frames)
			c.check(t, out, dp)
			golden(t, "replay-"+c.name+".in.pcapng", writeCapture(t, frames).Bytes())
			golden(t, "replay-"+c.name+".out.pcapng", got)
		})
	}
	for _, c := range ftpReplayCases() {
		run(c, seedWithNeighbours(t, true))
	}
	run(ftpPassiveCase(), ftpVariantSeed(t))
}
