package ftpfsm

import (
	"fmt"
	"strings"
	"testing"
)

// A transcript is a sequence of client and server events; the harness plays
// it through a Session with a chosen segmentation of every event, acting as
// the dataplane glue would (holding back Result.Hold bytes, rewriting held
// bytes by Result.XHeld, calling again from Result.Next), and records what
// each side would receive.

type step struct {
	server bool
	data   string
}

func C(s string) step { return step{data: s} }
func S(s string) step { return step{server: true, data: s} }

// ann is an announcement with offsets into the direction's whole stream.
type ann struct {
	kind       Kind
	refused    AlertKind
	delim      byte
	addr       uint32
	port       uint16
	start, end int
}

func (a ann) String() string {
	return fmt.Sprintf("%v/%v %d.%d.%d.%d:%d [%d,%d)", a.kind, a.refused, a.addr>>24, a.addr>>16&0xff,
		a.addr>>8&0xff, a.addr&0xff, a.port, a.start, a.end)
}

// direction is the glue's view of one direction.
type direction struct {
	stream  []byte // everything the sender sent, rewritten as the glue would forward it
	held    int    // bytes at the end of stream not forwarded yet
	anns    []ann
	maxHold int
}

type outcome struct {
	client, server string // the streams as forwarded (rewritten)
	canns, sanns   []ann
	alerts         AlertSet
	rewritten      int
	loggedIn       bool
	mode           Mode
}

// splitter returns the segment lengths for an event of length n.
type splitter func(event, n int) []int

func whole(event, n int) []int { return []int{n} }

func bytewise(event, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// splitAt splits event e at offset k (two segments), others whole.
func splitAt(e, k int) splitter {
	return func(event, n int) []int {
		if event != e || k <= 0 || k >= n {
			return []int{n}
		}
		return []int{k, n - k}
	}
}

const (
	clientIP = 10<<24 | 10<<16 | 10<<8 | 5 // 10.10.10.5
	serverIP = 192<<24 | 0<<16 | 2<<8 | 10 // 192.0.2.10
)

// feed plays one segment through s as the glue would, checking the
// contract between the machine and the glue.
func (d *direction) feed(t testing.TB, s *Session, server bool, seg []byte, o *outcome) {
	orig := string(seg)
	for len(seg) > 0 {
		base := len(d.stream)
		d.stream = append(d.stream, seg...)
		b := d.stream[base:]
		var r Result
		if server {
			r = s.Server(b)
		} else {
			r = s.Client(b)
		}
		if r.Next <= 0 || r.Next > len(b) {
			t.Fatalf("Next %d of %d", r.Next, len(b))
		}
		if server && string(b) != orig[:len(b)] {
			t.Fatalf("Server modified its input")
		}
		if r.XHeld > d.held || r.XHeld < 0 {
			t.Fatalf("XHeld %d with %d held", r.XHeld, d.held)
		}
		o.rewritten += Neutralize(d.stream[base-r.XHeld : base])
		for k := 0; k < r.N; k++ {
			a := r.Ann[k]
			if a.Refused == AlertNone {
				if a.Start < -d.held || a.End > r.Next || a.Start >= a.End || a.End-a.Start > MaxText {
					t.Fatalf("announcement [%d,%d) with %d held, Next %d", a.Start, a.End, d.held, r.Next)
				}
				if a.Kind.Client() == server {
					t.Fatalf("%v announced by the wrong side", a.Kind)
				}
			} else if a.Start != 0 || a.End != 0 {
				t.Fatalf("refused announcement with a range")
			}
			if a.Refused == AlertNone {
				a.Start += base
				a.End += base
			}
			d.anns = append(d.anns, ann{a.Kind, a.Refused, a.Delim, a.Addr, a.Port, a.Start, a.End})
		}
		if r.Hold < 0 || r.Hold > d.held+r.Next || r.Hold > MaxHold {
			t.Fatalf("Hold %d with %d held + %d read", r.Hold, d.held, r.Next)
		}
		if r.Next < len(b) && r.Hold != 0 {
			t.Fatalf("Hold %d on an early stop", r.Hold)
		}
		d.held = r.Hold
		d.maxHold = max(d.maxHold, r.Hold)
		o.alerts |= r.Alerts
		o.rewritten += r.Rewritten
		if r.Passthrough {
			// TLS follows: the rest is forwarded as it comes.
			d.stream = append(d.stream[:base+r.Next], seg[r.Next:]...)
			d.held = 0
			seg = seg[:0]
			break
		}
		d.stream = d.stream[:base+r.Next]
		seg = seg[r.Next:]
		orig = orig[r.Next:]
	}
}

func play(t testing.TB, steps []step, split splitter) outcome {
	var s Session
	s.Init(clientIP, serverIP)
	var cd, sd direction
	var o outcome
	for ei, st := range steps {
		buf := []byte(st.data)
		off := 0
		for _, n := range split(ei, len(buf)) {
			seg := append([]byte(nil), buf[off:off+n]...)
			if st.server {
				sd.feed(t, &s, true, seg, &o)
			} else {
				cd.feed(t, &s, false, seg, &o)
			}
			off += n
		}
	}
	o.client, o.server = string(cd.stream), string(sd.stream)
	o.canns, o.sanns = cd.anns, sd.anns
	o.loggedIn = s.LoggedIn()
	o.mode = s.Mode()
	return o
}

func (o outcome) String() string {
	return fmt.Sprintf("client %q %v\nserver %q %v\nalerts %v rw=%d logged=%v mode=%v",
		o.client, o.canns, o.server, o.sanns, o.alerts, o.rewritten, o.loggedIn, o.mode)
}

func (a AlertSet) String() string {
	var b strings.Builder
	for k := AlertKind(1); k < numAlerts; k++ {
		if a.Has(k) {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(k.String())
		}
	}
	return "{" + b.String() + "}"
}

// checkSplits runs the transcript one byte per call and at every
// two-segment split point, and fails unless every run gives the same
// streams and verdicts as ref (the whole run).
func checkSplits(t *testing.T, steps []step, ref outcome) {
	t.Helper()
	want := ref.String()
	if got := play(t, steps, bytewise).String(); got != want {
		t.Fatalf("one byte per call differs from whole run:\n got %s\nwant %s", got, want)
	}
	for e, st := range steps {
		for k := 1; k < len(st.data); k++ {
			if got := play(t, steps, splitAt(e, k)).String(); got != want {
				t.Fatalf("split of event %d at %d differs from whole run:\n got %s\nwant %s", e, k, got, want)
			}
		}
	}
}

// login is a greeting and a successful login.
func login() []step {
	return []step{
		S("220 ftp.example.com FTP server ready\r\n"),
		C("USER alice\r\n"), S("331 Password required\r\n"),
		C("PASS secret\r\n"), S("230 User alice logged in\r\n"),
	}
}

func join(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

// natted returns the stream with every allowed announcement's text
// replaced by AppendText for (addr, port), as the glue does under NAT.
func natted(stream string, anns []ann, addr uint32, port uint16) string {
	var b []byte
	prev := 0
	for _, a := range anns {
		if a.refused != AlertNone {
			continue
		}
		b = append(b, stream[prev:a.start]...)
		b = AppendText(b, a.kind, a.delim, addr, port)
		prev = a.end
	}
	return string(append(b, stream[prev:]...))
}
