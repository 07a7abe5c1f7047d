package smtpfsm

import (
	"bytes"
	"strings"
	"testing"
)

// A transcript is a sequence of client and server events; the harness plays
// it through a Session with a chosen segmentation of every event and returns
// what the server received and the verdicts.

type step struct {
	server bool
	data   string
}

func C(s string) step { return step{data: s} }
func S(s string) step { return step{server: true, data: s} }

type outcome struct {
	out         string   // client bytes as they reach the server
	alerts      AlertSet // union over all calls
	reset       bool
	passthrough bool
	rewritten   int
	mode        Mode
	verbs       []string // invalid verbs reported (first per call)
	params      []Param  // ESMTP violations reported (first per call)
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

func play(p Policy, steps []step, split splitter) outcome {
	var s Session
	var o outcome
	var out bytes.Buffer
	for ei, st := range steps {
		buf := []byte(st.data)
		if len(buf) == 0 {
			continue
		}
		off := 0
		for _, n := range split(ei, len(buf)) {
			seg := buf[off : off+n]
			var r Result
			if st.server {
				before := string(seg)
				r = s.Server(&p, seg, nil)
				if string(seg) != before {
					panic("Server modified its input")
				}
			} else {
				r = s.Client(&p, seg, nil)
				if r.Alerts.Has(AlertInvalidCommand) {
					o.verbs = append(o.verbs, string(r.VerbText()))
				}
			}
			if r.Alerts.Has(AlertESMTPViolation) {
				o.params = append(o.params, r.Param)
			}
			o.alerts |= r.Alerts
			o.reset = o.reset || r.Reset
			o.passthrough = o.passthrough || r.Passthrough
			o.rewritten += r.Rewritten
			off += n
		}
		if !st.server {
			out.Write(buf)
		}
	}
	o.out = out.String()
	o.mode = s.Mode()
	return o
}

func alertSet(kinds ...AlertKind) AlertSet {
	var a AlertSet
	for _, k := range kinds {
		a |= 1 << k
	}
	return a
}

func (a AlertSet) String() string {
	var b strings.Builder
	for k := AlertKind(0); k < numAlerts; k++ {
		if a.Has(k) {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(k.String())
		}
	}
	return "{" + b.String() + "}"
}

// checkSplits runs the transcript whole, one byte per call and at every
// two-segment split point (sampled with a stride for long transcripts), and
// fails unless every run gives the same bytes and verdicts as the whole run.
func checkSplits(t *testing.T, p Policy, steps []step, ref outcome) {
	t.Helper()
	same := func(how string, o outcome) {
		t.Helper()
		if o.out != ref.out || o.alerts != ref.alerts || o.reset != ref.reset ||
			o.passthrough != ref.passthrough || o.rewritten != ref.rewritten || o.mode != ref.mode {
			t.Fatalf("%s differs from whole run:\n got  %q %v reset=%v pass=%v rw=%d mode=%v\n want %q %v reset=%v pass=%v rw=%d mode=%v",
				how, o.out, o.alerts, o.reset, o.passthrough, o.rewritten, o.mode,
				ref.out, ref.alerts, ref.reset, ref.passthrough, ref.rewritten, ref.mode)
		}
	}
	same("one byte per call", play(p, steps, bytewise))
	total := 0
	for _, st := range steps {
		total += len(st.data)
	}
	stride := 1
	if total > 3000 {
		stride = 37
	}
	for e, st := range steps {
		for k := 1; k < len(st.data); k++ {
			if stride > 1 && k%stride != 0 && k > 8 && k < len(st.data)-8 {
				continue
			}
			o := play(p, steps, splitAt(e, k))
			if t.Failed() {
				return
			}
			same("split of event "+itoa(e)+" at "+itoa(k), o)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// Transcript pieces.

const greeting = "220 mx.example.com ESMTP\r\n"

// ehlo plays a greeting, EHLO and a multi-line 250 reply advertising exts.
func ehlo(exts ...string) []step {
	r := "250-mx.example.com Hello\r\n"
	for i, e := range exts {
		if i == len(exts)-1 {
			r += "250 " + e + "\r\n"
		} else {
			r += "250-" + e + "\r\n"
		}
	}
	if len(exts) == 0 {
		r = "250 mx.example.com Hello\r\n"
	}
	return []step{S(greeting), C("EHLO client.example.com\r\n"), S(r)}
}

func helo() []step {
	return []step{S(greeting), C("HELO client.example.com\r\n"), S("250 mx.example.com\r\n")}
}

func join(parts ...[]step) []step {
	var s []step
	for _, p := range parts {
		s = append(s, p...)
	}
	return s
}

func steps(s ...step) []step { return s }

// envelope is MAIL, RCPT, DATA answered 250, 250, 354.
func envelope() []step {
	return steps(
		C("MAIL FROM:<a@example.com>\r\n"), S("250 2.1.0 Ok\r\n"),
		C("RCPT TO:<b@example.com>\r\n"), S("250 2.1.5 Ok\r\n"),
		C("DATA\r\n"), S("354 End data with <CR><LF>.<CR><LF>\r\n"),
	)
}

// wantOf concatenates the client bytes of a transcript (the expected output
// when nothing is rewritten), with replacements applied.
func clientBytes(st []step) string {
	var b strings.Builder
	for _, s := range st {
		if !s.server {
			b.WriteString(s.data)
		}
	}
	return b.String()
}
