// Run in CI for a bounded time:
//
//	go test -run=^$ -fuzz=FuzzSession -fuzztime=10s ./smtpfsm
package smtpfsm

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unsafe"

	"cbac/internal/scan"
)

// maxSessionSize bounds the per-session state: the machine keeps no more
// than the current line's state whatever the input.
const maxSessionSize = 192

// Fuzz input: flags pick the policy, seed the segmentation, and stream holds
// the events separated by 0x00 bytes, client first, alternating client and
// server.
const (
	fuzzESMTP    = 1 << 0
	fuzzSTARTTLS = 1 << 1
	fuzzEXPN     = 1 << 2
	fuzzMaxData  = 1 << 3
	fuzzAUTHSmtp = 1 << 4
)

func fuzzPolicy(flags byte) Policy {
	p := Policy{ESMTP: flags&fuzzESMTP != 0, MaxData: 20000000}
	if flags&fuzzSTARTTLS != 0 {
		p.Allow |= 1 << VerbSTARTTLS
	}
	if flags&fuzzEXPN != 0 {
		p.Allow |= 1 << VerbEXPN
	}
	if flags&fuzzMaxData != 0 {
		p.MaxData = 1000
	}
	if flags&fuzzAUTHSmtp != 0 {
		p.Allow |= 1<<VerbAUTH | 1<<VerbEHLO
	}
	return p
}

func encodeSteps(st []step) []byte {
	var b []byte
	server := false
	for _, s := range st {
		if s.server != server {
			b = append(b, 0)
			server = !server
		}
		b = append(b, bytes.ReplaceAll([]byte(s.data), []byte{0}, []byte{1})...)
		if s.server {
			// A server event ends here; an empty client event follows if the
			// next step is also the server's.
			b = append(b, 0)
			server = false
		}
	}
	return b
}

type fuzzRun struct {
	in, out   []byte
	alerts    AlertSet
	reset     bool
	rewritten int
}

// dataRegion is one message's data mode in a fuzz run: from the first
// data byte to the call in which it ended.
type dataRegion struct {
	start   int
	endCall [2]int // [from, to) of the call that ended it; -1: did not end
	alerts  int    // calls that raised AlertBadDataEnd
	reset   bool
}

// checkRegion checks the smuggling rule (data.go) on one message of a
// fuzz run: the CRLF server ends the data in the call where the session
// left data mode (or not at all), no server finds an end before it but
// for a CR or any-line-end server after CRLF "." CR forwarded whole at the
// end of a call (then quarantined up to the end), and one alert.
func checkRegion(t *testing.T, run *fuzzRun, segEnds map[int]bool, g dataRegion) {
	t.Helper()
	if g.alerts > 1 {
		t.Fatalf("%d alerts for one message", g.alerts)
	}
	if g.reset {
		return
	}
	out := run.out
	real := serverEnd(out, g.start, endsCRLF)
	if g.endCall[0] >= 0 {
		if real < 0 || real+2 < g.endCall[0] || real+2 >= g.endCall[1] {
			t.Fatalf("data ended in call %v, CRLF server at %d: %q", g.endCall, real, out[g.start:])
		}
	} else if real >= 0 {
		t.Fatalf("a CRLF server ends the data at %d, the session did not: %q", real, out[g.start:])
	}
	limit := real
	if limit < 0 {
		limit = len(out)
	}
	for c := endsLF; c < numLineEnds; c++ {
		e := serverEnd(out, g.start, c)
		if e < 0 || e == real {
			continue
		}
		if e < limit && (c == endsCR || c == endsAny) && e >= 2 && string(out[e-2:e+2]) == "\r\n.\r" && segEnds[e+1] {
			if e+2 < len(run.in) && run.in[e+2] == '\n' {
				t.Fatalf("CRLF . CR LF at %d not an end", e)
			}
			for k := e + 2; k < limit; k++ {
				if b := out[k]; b != 'x' && b != '\r' && b != '\n' && !(b == '.' && lineStart(out, k, endsCRLF)) {
					t.Fatalf("a %s server ended at %d, then reads %q at %d: %q", lineEndNames[c], e, b, k, out[g.start:])
				}
			}
			continue
		}
		t.Fatalf("a %s server ends the data at %d, the real end is at %d: %q", lineEndNames[c], e, real, out[g.start:])
	}
}

// fuzzPlay feeds the events, each split where cut says, and checks the
// per-call invariants.
//
// A second session, h, gets the same calls, through ClientLineDot with
// scan.LineDot of each client segment: it must stay identical to s.
func fuzzPlay(t *testing.T, p *Policy, events [][]byte, cut func() bool) fuzzRun {
	var s, h Session
	var tr, htr Trace
	var run fuzzRun
	var regions []dataRegion
	segEnds := map[int]bool{}
	defer func() {
		for _, g := range regions {
			checkRegion(t, &run, segEnds, g)
		}
	}()
	for ei, ev := range events {
		server := ei%2 == 1
		buf := append([]byte(nil), ev...)
		start := 0
		for i := 1; i <= len(buf); i++ {
			if i < len(buf) && !cut() {
				continue
			}
			seg := buf[start:i]
			orig := append([]byte(nil), seg...)
			hseg := append([]byte(nil), seg...)
			tr.Reset()
			htr.Reset()
			var r, hr Result
			before := s.Mode()
			if server {
				r = s.Server(p, seg, &tr)
				hr = h.Server(p, hseg, &htr)
				if !bytes.Equal(seg, orig) {
					t.Fatalf("Server modified %q into %q", orig, seg)
				}
				if before != ModeData && s.Mode() == ModeData {
					regions = append(regions, dataRegion{start: len(run.out), endCall: [2]int{-1, -1}})
				}
			} else {
				r = s.Client(p, seg, &tr)
				h.ClientLineDot(p, hseg, scan.LineDot(hseg), &htr, &hr)
				n := 0
				for j := range seg {
					if seg[j] == orig[j] {
						continue
					}
					// A CR or LF changes only as the first byte of a call
					// in data mode after a "." (data.go).
					lineEnd := orig[j] == '\r' || orig[j] == '\n'
					if seg[j] != 'x' || lineEnd && (j > 0 || before != ModeData || len(run.out) == 0 || run.out[len(run.out)-1] != '.') {
						t.Fatalf("byte %d changed from %q to %q", j, orig[j], seg[j])
					}
					n++
				}
				if n > r.Rewritten {
					t.Fatalf("%d bytes changed, Rewritten %d", n, r.Rewritten)
				}
				if r.Rewritten > len(seg) {
					t.Fatalf("Rewritten %d of %d bytes", r.Rewritten, len(seg))
				}
				from := len(run.out)
				run.in = append(run.in, orig...)
				run.out = append(run.out, seg...)
				if len(seg) > 0 {
					segEnds[len(run.out)-1] = true
				}
				if before == ModeData && len(regions) > 0 {
					g := &regions[len(regions)-1]
					if r.Alerts.Has(AlertBadDataEnd) {
						g.alerts++
					}
					g.reset = g.reset || r.Reset
					if s.Mode() != ModeData && g.endCall[0] < 0 && !r.Reset {
						g.endCall = [2]int{from, len(run.out)}
					}
				}
			}
			if hr != r || h != s || htr != tr || !bytes.Equal(hseg, seg) {
				t.Fatalf("ClientLineDot differs from Client on %q:\n%q %+v\n%q %+v", orig, hseg, hr, seg, r)
			}
			if int(r.VerbLen) > len(r.Verb) {
				t.Fatalf("VerbLen %d", r.VerbLen)
			}
			for k := 0; k < tr.N; k++ {
				_ = tr.Events[k].Format(nil)
			}
			run.alerts |= r.Alerts
			run.reset = run.reset || r.Reset
			run.rewritten += r.Rewritten
			start = i
		}
	}
	return run
}

func FuzzSession(f *testing.F) {
	if sz := unsafe.Sizeof(Session{}); sz > maxSessionSize {
		f.Fatalf("Session is %d bytes, bound %d", sz, maxSessionSize)
	}
	for i, tc := range transcriptCases() {
		var flags byte
		if tc.policy.ESMTP {
			flags |= fuzzESMTP
		}
		if tc.policy.Allow.Has(VerbSTARTTLS) {
			flags |= fuzzSTARTTLS
		}
		if tc.policy.MaxData == 1000 {
			flags |= fuzzMaxData
		}
		f.Add(flags, uint64(i), encodeSteps(tc.steps))
	}
	for i, tc := range smuggleCases {
		body, _ := bodyOf(tc.body)
		f.Add(byte(0), uint64(i), encodeSteps(join(helo(), envelope(), steps(C(body)))))
	}
	f.Fuzz(func(t *testing.T, flags byte, seed uint64, stream []byte) {
		p := fuzzPolicy(flags)
		events := bytes.Split(stream, []byte{0})
		whole := fuzzPlay(t, &p, events, func() bool { return false })
		rng := rand.New(rand.NewPCG(seed, seed>>32|1))
		every := 1 + int(seed%7) // cut density: one in every..
		split := fuzzPlay(t, &p, events, func() bool { return rng.IntN(every) == 0 })
		if len(whole.out) != len(split.out) {
			t.Fatalf("lengths differ")
		}
		if p.ESMTP {
			return // the PIPELINING check is about segments
		}
		// A split may neutralise a look-alike differently (data.go), and
		// it rewrites a "." after a bare CR or LF that ends a call; no
		// other byte, and nothing else of the outcome, depends on it.
		for i := range whole.out {
			w, x := whole.out[i], split.out[i]
			if w == x || whole.alerts.Has(AlertBadDataEnd) {
				continue
			}
			if whole.in[i] != '.' || i == 0 || (whole.in[i-1] != '\r' && whole.in[i-1] != '\n') ||
				!(w == 'x' && x == '.' || w == '.' && x == 'x') {
				t.Fatalf("segmentation changed byte %d: whole %q split %q", i, w, x)
			}
		}
		if whole.alerts != split.alerts || whole.reset != split.reset {
			t.Fatalf("segmentation changed the outcome:\nwhole %q %v reset=%v rw=%d\nsplit %q %v reset=%v rw=%d",
				whole.out, whole.alerts, whole.reset, whole.rewritten,
				split.out, split.alerts, split.reset, split.rewritten)
		}
	})
}

func TestSessionSize(t *testing.T) {
	sz := unsafe.Sizeof(Session{})
	t.Logf("Session is %d bytes", sz)
	if sz > maxSessionSize {
		t.Fatalf("Session is %d bytes, bound %d", sz, maxSessionSize)
	}
}
