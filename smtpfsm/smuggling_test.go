package smtpfsm

import (
	"bytes"
	"strings"
	"testing"
)

// SMTP smuggling (data.go): reference servers that end lines at CRLF, at
// LF, at CR, or at any of them, and a table of every end-of-data
// look-alike and overlapping cases, each at every split point, checked
// against the rule: no server finds an end before the real CRLF "." CRLF,
// bytes outside look-alikes are unchanged, one alert per message, the real
// end ends the data and command mode follows.

// lineEnds is a server's idea of a line end.
type lineEnds int

const (
	endsCRLF lineEnds = iota // RFC 5321
	endsLF                   // a bare LF ends a line (CR before it ignored)
	endsCR                   // a CR ends a line (a LF after it is part of it)
	endsAny                  // CR, LF or CRLF
	numLineEnds
)

var lineEndNames = [numLineEnds]string{"CRLF", "LF", "CR", "any"}

// lineStart reports whether out[k] begins a line for a server of
// convention c (index 0 does: the stream's first line).
func lineStart(out []byte, k int, c lineEnds) bool {
	if k == 0 {
		return true
	}
	p := out[k-1]
	crlf := p == '\n' && k >= 2 && out[k-2] == '\r'
	switch c {
	case endsCRLF:
		return crlf
	case endsLF:
		return p == '\n'
	case endsCR:
		return p == '\r' || crlf
	}
	return p == '\r' || p == '\n'
}

// dotLineEnds reports whether the "." at out[k] is alone on its line for
// convention c, as far as out shows (a CR server ends the line at the CR
// without waiting for the next byte).
func dotLineEnds(out []byte, k int, c lineEnds) bool {
	if k+1 >= len(out) {
		return false
	}
	n := out[k+1]
	crlf := n == '\r' && k+2 < len(out) && out[k+2] == '\n'
	switch c {
	case endsCRLF:
		return crlf
	case endsLF:
		return n == '\n' || crlf
	case endsCR:
		return n == '\r'
	}
	return n == '\r' || n == '\n'
}

// serverEnd is where a server of convention c that entered data mode at
// out[start] finds the end of data: the index of the "." or -1.
func serverEnd(out []byte, start int, c lineEnds) int {
	for k := start; k < len(out); k++ {
		if out[k] == '.' && lineStart(out, k, c) && dotLineEnds(out, k, c) {
			return k
		}
	}
	return -1
}

// lookAlikeBytes marks the bytes of in[start:end] that belong to a
// look-alike: a "." after CR or LF (or at start, after the bytes before
// it) followed by CR or LF, other than the real end, and the CR or LF
// right after it.
func lookAlikeBytes(in []byte, start, end int) map[int]bool {
	m := map[int]bool{}
	for k := start; k < end; k++ {
		if in[k] == '.' && lineStart(in, k, endsAny) && dotLineEnds(in, k, endsAny) {
			m[k] = true
			m[k+1] = true
		}
	}
	return m
}

// smugRun is one play of a message body through a data-mode session.
type smugRun struct {
	in, out   []byte
	start     int          // first data byte
	segEnds   map[int]bool // index of the last byte of each client call
	endCall   [2]int       // the call in which data mode ended: [from, to)
	alerts    int          // calls raising AlertBadDataEnd
	rewritten int
	mode      Mode
}

// playBody plays helo and envelope, then body cut at cuts (increasing
// offsets into body).
func playBody(body string, cuts []int) smugRun {
	p := smtpPolicy
	var s Session
	var r smugRun
	for _, st := range join(helo(), envelope()) {
		b := []byte(st.data)
		if st.server {
			s.Server(&p, b, nil)
		} else {
			s.Client(&p, b, nil)
			r.out = append(r.out, b...)
		}
	}
	r.start = len(r.out)
	r.in = append(append([]byte(nil), r.out...), body...)
	r.segEnds = map[int]bool{}
	r.endCall = [2]int{-1, -1}
	prev := 0
	for _, c := range append(cuts, len(body)) {
		if c <= prev {
			continue
		}
		seg := []byte(body[prev:c])
		from := len(r.out)
		before := s.Mode()
		res := s.Client(&p, seg, nil)
		r.out = append(r.out, seg...)
		r.segEnds[len(r.out)-1] = true
		if res.Alerts.Has(AlertBadDataEnd) {
			r.alerts++
		}
		r.rewritten += res.Rewritten
		if before == ModeData && s.Mode() != ModeData {
			r.endCall = [2]int{from, len(r.out)}
		}
		prev = c
	}
	r.mode = s.Mode()
	return r
}

// checkRule checks a run against the smuggling rule; realEnd is the index
// of the real end's "." in the stream, lookAlike whether body has one.
func checkRule(t *testing.T, how string, r smugRun, realEnd int, lookAlike bool) {
	t.Helper()
	if len(r.out) != len(r.in) {
		t.Fatalf("%s: length %d, sent %d", how, len(r.out), len(r.in))
	}
	// The real end ends the data, in the call that holds its LF, and
	// command mode follows.
	if r.endCall[0] < 0 || realEnd+2 < r.endCall[0] || realEnd+2 >= r.endCall[1] {
		t.Fatalf("%s: data ended in call %v, real end's LF at %d\n%q", how, r.endCall, realEnd+2, r.out[r.start:])
	}
	if r.mode != ModeCommand {
		t.Fatalf("%s: mode %v after the real end", how, r.mode)
	}
	// Every server finds the end at the real one, except (data.go) a CR
	// or any-line-end server after CRLF "." CR forwarded whole at the end
	// of a call and followed by a byte other than LF: that server then
	// reads only quarantined bytes up to the real end.
	for c := lineEnds(0); c < numLineEnds; c++ {
		e := serverEnd(r.out, r.start, c)
		if e == realEnd {
			continue
		}
		if e >= 0 && e < realEnd && (c == endsCR || c == endsAny) && e >= 2 &&
			string(r.out[e-2:e+2]) == "\r\n.\r" && r.segEnds[e+1] && r.in[e+2] != '\n' {
			for k := e + 2; k < realEnd; k++ {
				if b := r.out[k]; b != 'x' && b != '\r' && b != '\n' && !(b == '.' && lineStart(r.out, k, endsCRLF)) {
					t.Fatalf("%s: a %s server ended at %d (CRLF . CR split), then reads %q unquarantined at %d\n%q",
						how, lineEndNames[c], e, b, k, r.out[r.start:])
				}
			}
			continue
		}
		t.Fatalf("%s: a %s-line server ends the data at %d, the real end is at %d\nsent %q\nout  %q",
			how, lineEndNames[c], e, realEnd, r.in[r.start:], r.out[r.start:])
	}
	// Bytes outside look-alikes are unchanged, but for a "." after a bare
	// CR or LF as the last byte of a call, and the quarantine.
	la := lookAlikeBytes(r.in, r.start, realEnd)
	quarantine := len(r.out) // from the byte after CRLF "." CR that ended a call, not LF
	for k := max(r.start, 4); k < realEnd; k++ {
		if string(r.out[k-4:k]) == "\r\n.\r" && r.segEnds[k-1] && r.in[k] != '\n' {
			quarantine = k
			break
		}
	}
	for k := r.start; k < len(r.out); k++ {
		if r.out[k] == r.in[k] {
			continue
		}
		if r.out[k] != 'x' {
			t.Fatalf("%s: byte %d became %q", how, k, r.out[k])
		}
		if k >= realEnd {
			continue // commands after the end: the command machine's rewrites
		}
		preempted := r.in[k] == '.' && r.segEnds[k] && lineStart(r.in, k, endsAny) && !lineStart(r.in, k, endsCRLF)
		if !la[k] && !preempted && k < quarantine {
			t.Fatalf("%s: byte %d (%q), outside any look-alike, became 'x'\nsent %q\nout  %q",
				how, k, r.in[k], r.in[r.start:], r.out[r.start:])
		}
	}
	want := 0
	if lookAlike {
		want = 1
	}
	if r.alerts != want {
		t.Fatalf("%s: %d calls raised AlertBadDataEnd, want %d", how, r.alerts, want)
	}
}

// smuggleCases are message bodies up to the real end (the ".\r\n" that
// follows, or the "." CRLF at the end of a case ending in CRLF "." CRLF),
// with whether they hold a look-alike.
var smuggleCases = []struct {
	name      string
	body      string
	lookAlike bool
}{
	{"CRLF dot LF", "a\r\n.\nMAIL FROM:<x@y>\r\n", true},
	{"CRLF dot CR", "a\r\n.\rMAIL FROM:<x@y>\r\n", true},
	{"LF dot CRLF", "a\n.\r\nMAIL FROM:<x@y>\r\n", true},
	{"LF dot LF", "a\n.\nMAIL FROM:<x@y>\r\n", true},
	{"LF dot CR", "a\n.\rMAIL FROM:<x@y>\r\n", true},
	{"CR dot CRLF", "a\r.\r\nMAIL FROM:<x@y>\r\n", true},
	{"CR dot LF", "a\r.\nMAIL FROM:<x@y>\r\n", true},
	{"CR dot CR", "a\r.\rMAIL FROM:<x@y>\r\n", true},
	{"CRLF dot CR dot CRLF", "a\r\n.\r.\r\nRCPT TO:<v@w>\r\n", true},
	{"LF dot LF dot CRLF", "a\n.\n.\r\nRCPT TO:<v@w>\r\n", true},
	{"CR dot CR dot CR dot CRLF", "a\r.\r.\r.\r\nb\r\n", true},
	{"LF dot CRLF right before the end", "a\n.\r\n", true},
	{"CR dot CRLF right before the end", "a\r.\r\n", true},
	{"CRLF dot LF then the end", "a\r\n.\n\r\n", true},
	{"CRLF dot CR CR LF then the end", "a\r\n.\r\r\n", true},
	{"dot CR at the start of the data", ".\rQUIT\r\n", true},
	{"dot LF at the start of the data", ".\nQUIT\r\n", true},
	{"dot CR dot CRLF at the start", ".\r.\r\nb\r\n", true},
	{"two look-alikes far apart", "a\n.\nb\r\nc\r\n.\rd\r\n", true},
	{"dot stuffing, no look-alike", "a\r\n..b\r\n.c\r\nd.\r\n", false},
	{"dots after bare line ends, no look-alike", "a\n.b\r.c\r\n", false},
	{"the end at once", "", false},
}

// bodyOf is a case's body with the real end and two commands after it, and
// the index of the real end's "." in the body.
func bodyOf(body string) (string, int) {
	if strings.HasSuffix(body, "\r\n") || body == "" {
		return body + ".\r\nNOOP\r\nEXPN x\r\n", len(body)
	}
	panic("case must end with CRLF")
}

func TestSmugglingLookAlikes(t *testing.T) {
	for _, tc := range smuggleCases {
		t.Run(tc.name, func(t *testing.T) {
			body, dot := bodyOf(tc.body)
			whole := playBody(body, nil)
			realEnd := whole.start + dot
			checkRule(t, "whole", whole, realEnd, tc.lookAlike)
			// The commands after the end are inspected as commands.
			if got := string(whole.out[len(whole.out)-14:]); got != "NOOP\r\nxxxxxx\r\n" {
				t.Fatalf("after the end %q", got)
			}
			var cuts []int
			for i := 1; i < len(body); i++ {
				cuts = append(cuts, i)
			}
			checkRule(t, "one byte per call", playBody(body, cuts), realEnd, tc.lookAlike)
			for k := 1; k < len(body); k++ {
				checkRule(t, "split at "+itoa(k), playBody(body, []int{k}), realEnd, tc.lookAlike)
			}
		})
	}
}

// Whole, each look-alike's "." becomes 'x' and nothing else changes; the
// first case quarantines nothing.
func TestSmugglingInPlace(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"a\r\n.\nMAIL\r\n", "a\r\nx\nMAIL\r\n"},
		{"a\r\n.\rMAIL\r\n", "a\r\nx\rMAIL\r\n"},
		{"a\n.\r\nMAIL\r\n", "a\nx\r\nMAIL\r\n"},
		{"a\n.\nMAIL\r\n", "a\nx\nMAIL\r\n"},
		{"a\n.\rMAIL\r\n", "a\nx\rMAIL\r\n"},
		{"a\r.\r\nMAIL\r\n", "a\rx\r\nMAIL\r\n"},
		{"a\r.\nMAIL\r\n", "a\rx\nMAIL\r\n"},
		{"a\r.\rMAIL\r\n", "a\rx\rMAIL\r\n"},
		{"a\r\n.\r.\r\nMAIL\r\n", "a\r\nx\rx\r\nMAIL\r\n"},
		{"a\n.\r\n", "a\nx\r\n"},
		{".\rQ\r\n", "x\rQ\r\n"},
	} {
		body, _ := bodyOf(tc.body)
		r := playBody(body, nil)
		if got := string(r.out[r.start : r.start+len(tc.body)]); got != tc.want {
			t.Errorf("%q: server receives %q, want %q", tc.body, got, tc.want)
		}
	}
}

// The splits that cannot rewrite the "." (data.go): CRLF "." | LF rewrites
// the LF, a "." after a bare line end as the last byte of a call is
// rewritten at once, CRLF "." CR | x quarantines the rest of the message.
func TestSmugglingSplits(t *testing.T) {
	for _, tc := range []struct {
		segs []string
		want string
	}{
		{[]string{"a\r\n.", "\nMAIL\r\n"}, "a\r\n.xMAIL\r\n"},
		{[]string{"a\r\n.", "\rMAIL\r\n"}, "a\r\n.xMAIL\r\n"},
		{[]string{"a\n.", "\r\n"}, "a\nx\r\n"},
		{[]string{"a\n.", "b\r\n"}, "a\nxb\r\n"},
		{[]string{"a\r\n.\r", "MAIL FROM:<x@y>\r\n..b\r\n"}, "a\r\n.\rxxxxxxxxxxxxxxx\r\n.xx\r\n"},
		{[]string{".\r", "QUIT\r\n"}, ".\rxxxx\r\n"},
	} {
		body, _ := bodyOf(strings.Join(tc.segs, ""))
		var cuts []int
		n := 0
		for _, s := range tc.segs[:len(tc.segs)-1] {
			n += len(s)
			cuts = append(cuts, n)
		}
		r := playBody(body, cuts)
		if got := string(r.out[r.start : r.start+len(tc.want)]); got != tc.want {
			t.Errorf("%q: server receives %q, want %q", tc.segs, got, tc.want)
		}
		if r.mode != ModeCommand || !bytes.HasSuffix(r.out, []byte(".\r\nNOOP\r\nxxxxxx\r\n")) {
			t.Errorf("%q: mode %v, ends %q", tc.segs, r.mode, r.out[r.start:])
		}
	}
}

// One alert per message: a second message with look-alikes alerts again.
func TestSmugglingAlertPerMessage(t *testing.T) {
	p := smtpPolicy
	var s Session
	alerts := 0
	for _, st := range join(helo(), envelope(), steps(C("a\n.\n"), C("b\r.\r"), C("c\r\n.\r\n"), S("250 ok\r\n")),
		envelope()[4:], steps(C("\r\n.\n\n.\n\r\n.\r\n"))) {
		b := []byte(st.data)
		if st.server {
			s.Server(&p, b, nil)
		} else if r := s.Client(&p, b, nil); r.Alerts.Has(AlertBadDataEnd) {
			alerts++
		}
	}
	if alerts != 2 || s.Mode() != ModeCommand {
		t.Fatalf("%d alerts, mode %v; want 2", alerts, s.Mode())
	}
}
