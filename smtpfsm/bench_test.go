package smtpfsm

import (
	"strings"
	"testing"
)

const commandBatch = "MAIL FROM:<alice@example.com> SIZE=12345 BODY=8BITMIME\r\n" +
	"RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE\r\n" +
	"RCPT TO:<carol@example.com>\r\n" +
	"RSET\r\n"

// pipelinedSession is an esmtp session after an EHLO advertising
// PIPELINING, SIZE, 8BITMIME and DSN.
func pipelinedSession(p *Policy) *Session {
	s := new(Session)
	for _, st := range ehlo("PIPELINING", "SIZE 10000000", "8BITMIME", "DSN") {
		b := []byte(st.data)
		if st.server {
			s.Server(p, b, nil)
		} else {
			s.Client(p, b, nil)
		}
	}
	return s
}

// dataSession is a session in data mode.
func dataSession(p *Policy) *Session {
	s := new(Session)
	for _, st := range join(helo(), envelope()) {
		b := []byte(st.data)
		if st.server {
			s.Server(p, b, nil)
		} else {
			s.Client(p, b, nil)
		}
	}
	if s.Mode() != ModeData {
		panic("not in data mode")
	}
	return s
}

// dataSegment is 1460 bytes of message lines without an end of data.
func dataSegment() []byte {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod te\r\n"
	b := []byte(strings.Repeat(line, 1460/len(line)+1)[:1460])
	return b
}

func TestAllocs(t *testing.T) {
	p := Policy{ESMTP: true}
	s := pipelinedSession(&p)
	buf := []byte(commandBatch)
	var tr Trace
	reply := []byte("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n")
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, commandBatch)
		s.Client(&p, buf, nil)
		s.Server(&p, reply, nil)
	}); n != 0 {
		t.Errorf("commands: %v allocs per run", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		copy(buf, commandBatch)
		tr.Reset()
		s.Client(&p, buf, &tr)
		s.Server(&p, reply, &tr)
	}); n != 0 {
		t.Errorf("traced commands: %v allocs per run", n)
	}
	if s.Mode() != ModeCommand {
		t.Fatalf("mode %v", s.Mode())
	}
	d := dataSession(&p)
	seg := dataSegment()
	if n := testing.AllocsPerRun(1000, func() { d.Client(&p, seg, nil) }); n != 0 {
		t.Errorf("data: %v allocs per run", n)
	}
	long := []byte(strings.Repeat("a", 5000))
	if n := testing.AllocsPerRun(100, func() { s.Client(&p, long, nil) }); n != 0 {
		t.Errorf("long line: %v allocs per run", n)
	}
	var e [128]byte
	ev := Event{Kind: EvReply, Len: 64, MatchLen: 64, State: 5}
	if n := testing.AllocsPerRun(1000, func() { ev.Format(e[:0]) }); n != 0 {
		t.Errorf("Format: %v allocs per run", n)
	}
}

func BenchmarkClientCommands(b *testing.B) {
	p := Policy{ESMTP: true}
	s := pipelinedSession(&p)
	buf := []byte(commandBatch)
	reply := []byte("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n")
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, commandBatch)
		if r := s.Client(&p, buf, nil); r.Alerts != 0 {
			b.Fatalf("alerts %v", r.Alerts)
		}
		s.Server(&p, reply, nil)
	}
	b.ReportMetric(float64(b.N*4)/b.Elapsed().Seconds(), "cmds/s")
}

func BenchmarkClientCommandsTraced(b *testing.B) {
	p := Policy{ESMTP: true}
	s := pipelinedSession(&p)
	buf := []byte(commandBatch)
	reply := []byte("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n")
	var tr Trace
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, commandBatch)
		tr.Reset()
		s.Client(&p, buf, &tr)
		s.Server(&p, reply, &tr)
	}
}

func BenchmarkClientData1460(b *testing.B) {
	p := Policy{}
	s := dataSession(&p)
	seg := dataSegment()
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		s.Client(&p, seg, nil)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}

func BenchmarkServerEHLOReply(b *testing.B) {
	p := Policy{ESMTP: true}
	var s Session
	reply := []byte("250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN\r\n" +
		"250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n")
	b.SetBytes(int64(len(reply)))
	b.ReportAllocs()
	for b.Loop() {
		s.Reset()
		s.Server(&p, []byte(greeting), nil)
		s.Client(&p, []byte("EHLO a\r\n"), nil)
		s.Server(&p, reply, nil)
	}
	if ext, size := s.Extensions(); !ext.Has(ExtCHUNKING) || size != 10240000 {
		b.Fatalf("ext %b size %d", ext, size)
	}
}
