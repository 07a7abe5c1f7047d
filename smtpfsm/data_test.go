package smtpfsm

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"cbac/internal/scan"
)

// data skips to line-start dots; dataExact steps every line and counts
// every byte. Outside the max-data check they must agree on everything:
// rewritten bytes, alerts, counts, where data ends and the state left for
// the next call, however the stream is cut.

// dataPair feeds the same segments to data, to data told where the first
// line-start dot is (scan.LineDot, as the dataplane does), and to
// dataExact (the reference) and fails at the first difference.
type dataPair struct {
	t                *testing.T
	p                Policy
	fast, hint, slow Session
}

func newDataPair(t *testing.T) *dataPair {
	d := &dataPair{t: t}
	d.fast.enterData()
	d.hint.enterData()
	d.slow.enterData()
	return d
}

// feed runs one segment through both; after an end of data both re-enter
// data mode on the next byte, from the same state.
func (d *dataPair) feed(seg []byte) {
	d.t.Helper()
	fb := append([]byte(nil), seg...)
	hb := append([]byte(nil), seg...)
	sb := append([]byte(nil), seg...)
	dot := scan.LineDot(hb)
	var fr, hr, sr Result
	fi, hi, si := 0, 0, 0
	for fi < len(fb) || si < len(sb) {
		if d.fast.mode != ModeData {
			d.fast.enterData()
		}
		if d.hint.mode != ModeData {
			d.hint.enterData()
		}
		if d.slow.mode != ModeData {
			d.slow.enterData()
		}
		fi = d.fast.data(&d.p, fb, fi, -1, &fr)
		hi = d.hint.data(&d.p, hb, hi, dot, &hr)
		si = d.slow.dataExact(&d.p, sb, si, &sr)
		if fi != si || d.fast != d.slow {
			d.t.Fatalf("segment %q: data stopped at %d, dataExact at %d\nfast %+v\nslow %+v", seg, fi, si, d.fast, d.slow)
		}
		if hi != si || d.hint != d.slow {
			d.t.Fatalf("segment %q: data with dot %d stopped at %d, dataExact at %d\nhint %+v\nslow %+v", seg, dot, hi, si, d.hint, d.slow)
		}
	}
	if !bytes.Equal(fb, sb) || fr != sr || !bytes.Equal(hb, sb) || hr != sr {
		d.t.Fatalf("segment %q:\ndata       %q %+v\nwith dot   %q %+v\ndataExact  %q %+v", seg, fb, fr, hb, hr, sb, sr)
	}
}

// randomData is n bytes over an alphabet where CR, LF and "." are frequent.
func randomData(rng *rand.Rand, n int) []byte {
	const alphabet = "\r\n.\r\n.ab x"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return b
}

func TestDataMatchesExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
	}{
		{"plain lines", "hello\r\nworld\r\n"},
		{"dot stuffed", "a\r\n..b\r\n. c\r\n"},
		{"end", "a\r\n.\r\nMAIL"},
		{"end at start", ".\r\n"},
		{"bare LF dot", "a\n.b\n.\n.\r\n"},
		{"CRLF dot LF", "a\r\n.\nQUIT\r\n.\r\n"},
		{"CRLF dot CR x", "a\r\n.\rQUIT\r\n.\r\n"},
		{"CR dot", "a\r.\r\n.b\r.\n.\r.\r\r\n.\r\n"},
		{"CR LF CR dot", "a\r\n\r.x\r\n.\r\n"},
		{"CR CR LF dot", "a\r\r\n.\r\n"},
		{"LF LF dot", "a\r\n\n.\r\n"},
		{"dense dots", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w\r\n.x\n.\r\n.\r\n"},
		{"many dots then LF dot", "..........................................\n.z\r\n"},
		{"body", string(dataSegment())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := newDataPair(t)
			whole.feed([]byte(tc.data))
			// Every single cut point, and byte by byte. A cut may change
			// how a look-alike is neutralised (data.go), not whether the
			// data ended, the count or the alert.
			for cut := 1; cut < len(tc.data); cut++ {
				d := newDataPair(t)
				d.feed([]byte(tc.data[:cut]))
				d.feed([]byte(tc.data[cut:]))
				if d.fast.mode != whole.fast.mode || d.fast.cmdSeq != whole.fast.cmdSeq ||
					d.fast.dataBytes != whole.fast.dataBytes || d.fast.dataAlerted != whole.fast.dataAlerted {
					t.Fatalf("cut at %d: state %+v, whole %+v", cut, d.fast, whole.fast)
				}
			}
			d := newDataPair(t)
			for i := 0; i < len(tc.data); i++ {
				d.feed([]byte(tc.data[i : i+1]))
			}
		})
	}
}

func TestDataMatchesExactRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < 2000; run++ {
		d := newDataPair(t)
		stream := randomData(rng, 1+rng.IntN(300))
		for len(stream) > 0 {
			n := 1 + rng.IntN(len(stream))
			d.feed(stream[:n])
			stream = stream[n:]
		}
	}
}

func FuzzData(f *testing.F) {
	f.Add([]byte("a\r\n.\r\nb\n.c\r\n.\n.\r\n"), uint64(3))
	f.Add(dataSegment(), uint64(0))
	f.Add([]byte("a\r.\r\n.\r.\n\r\n.\r\r\n.\r\n"), uint64(5))
	f.Fuzz(func(t *testing.T, stream []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, seed>>32|1))
		d := newDataPair(t)
		for len(stream) > 0 {
			n := 1 + rng.IntN(len(stream))
			d.feed(stream[:n])
			stream = stream[n:]
		}
	})
}

// Message bodies for the data-mode benchmarks, 1460 bytes each: prose (a
// few dots per line, some lines starting with a dot-stuffed "."), base64
// (no dot at all), and dots everywhere (none at a line start).
func benchBodies() []struct {
	name string
	seg  []byte
} {
	prose := "The quick brown fox jumps over the lazy dog. See https://example.com/a.b for more.\r\n" +
		"..and this line was dot-stuffed. It ends here.\r\n"
	b64 := "TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2NpbmcgZWxpdCwgc2Vk\r\n"
	dots := "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z\r\n"
	return []struct {
		name string
		seg  []byte
	}{
		{"prose", []byte(strings.Repeat(prose, 1460/len(prose)+1)[:1460])},
		{"base64", []byte(strings.Repeat(b64, 1460/len(b64)+1)[:1460])},
		{"dots", []byte(strings.Repeat(dots, 1460/len(dots)+1)[:1460])},
	}
}

// BenchmarkDataBodies compares data with dataExact (the line-at-a-time
// scanner it replaced, still used near max-data) on each body.
func BenchmarkDataBodies(b *testing.B) {
	for _, body := range benchBodies() {
		for _, exact := range []bool{false, true} {
			name := body.name
			if exact {
				name += "/exact"
			}
			b.Run(name, func(b *testing.B) {
				var p Policy
				s := dataSession(&p)
				seg := append([]byte(nil), body.seg...)
				b.SetBytes(int64(len(seg)))
				b.ReportAllocs()
				for b.Loop() {
					var r Result
					if exact {
						s.dataExact(&p, seg, 0, &r)
					} else {
						s.data(&p, seg, 0, -1, &r)
					}
					if r.Alerts != 0 || s.mode != ModeData {
						b.Fatalf("alerts %v mode %v", r.Alerts, s.mode)
					}
				}
			})
		}
	}
}

func TestDataBodiesMatchExact(t *testing.T) {
	for _, body := range benchBodies() {
		t.Run(body.name, func(t *testing.T) {
			d := newDataPair(t)
			for i := 0; i < 3; i++ {
				d.feed(body.seg)
			}
		})
	}
}

// In quarantine (CRLF "." CR, then a byte other than LF in the next
// segment), a "." after a bare LF is rewritten once and counted once
// (FuzzSession found it counted twice).
func TestDataQuarantinedBareLFDot(t *testing.T) {
	for _, exact := range []bool{false, true} {
		s := Session{lastCRLF: true} // the DATA line ended with CRLF
		s.enterData()
		var r Result
		for _, seg := range []string{".\r", "Q\n.a\r\n"} {
			b := []byte(seg)
			r = Result{}
			if exact {
				s.dataExact(&Policy{}, b, 0, &r)
			} else {
				s.data(&Policy{}, b, 0, -1, &r)
			}
			if seg[0] == 'Q' && (string(b) != "x\nxx\r\n" || r.Rewritten != 3 || !r.Alerts.Has(AlertBadDataEnd) || !s.quarantine) {
				t.Errorf("exact=%v: %q Rewritten %d alerts %v quarantine %v", exact, b, r.Rewritten, r.Alerts, s.quarantine)
			}
		}
		if s.dataBytes != 8 {
			t.Errorf("exact=%v: %d data bytes, want 8", exact, s.dataBytes)
		}
	}
}

// ClientLineDot, told where the first line-start dot is, does what Client
// does: same bytes out, same results, same session after every call,
// however the data is cut, including the fast path for a segment inside a
// line without a line-start dot, and near max-data.
func TestClientLineDotMatchesClient(t *testing.T) {
	stream := "Subject: x\r\n\r\nline one\r\nline two\r" + "\nthird\n.bare\r\n..stuffed\r\n" +
		"a long line without any dot at the start of a line. x.y\r\nlast\r\n.\r\nQUIT\r\n"
	for _, maxData := range []uint64{0, 60, 1000} {
		for cut := 0; cut <= len(stream); cut++ {
			for cut2 := cut; cut2 <= len(stream); cut2 += 7 {
				p := Policy{MaxData: maxData}
				s := dataSession(&p)
				h := *s
				segs := []string{stream[:cut], stream[cut:cut2], stream[cut2:]}
				for k, seg := range segs {
					sb, hb := []byte(seg), []byte(seg)
					r := s.Client(&p, sb, nil)
					var hr Result
					h.ClientLineDot(&p, hb, scan.LineDot(hb), nil, &hr)
					if r != hr || *s != h || !bytes.Equal(sb, hb) {
						t.Fatalf("max-data %d, cuts %d %d, segment %d %q:\nClient        %q %+v\n%+v\nClientLineDot %q %+v\n%+v",
							maxData, cut, cut2, k, seg, sb, r, *s, hb, hr, h)
					}
				}
			}
		}
	}
}
