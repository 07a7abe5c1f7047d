package ftpfsm

import (
	"strings"
	"testing"
)

// A control-channel segment of an active-mode transfer, and the server's
// answers with a passive-mode announcement.
const (
	clientSegment = "TYPE I\r\nPORT 10,10,10,5,195,80\r\nRETR /pub/releases/cbac-1.0.tar.gz\r\n"
	serverSegment = "200 Type set to I.\r\n200 PORT command successful.\r\n" +
		"150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n" +
		"227 Entering Passive Mode (192,0,2,10,195,80).\r\n"
)

// pathSegment is 1460 bytes of CWD lines with long paths.
func pathSegment() []byte {
	line := "CWD /srv/ftp/pub/mirror/debian/pool/main/c/cbac/some/deep/path\r\n"
	return []byte(strings.Repeat(line, 1460/len(line)+1)[:1460])
}

func loggedInSession() *Session {
	s := new(Session)
	s.Init(clientIP, serverIP)
	s.Server([]byte("220 ready\r\n"))
	s.Client([]byte("USER alice\r\nPASS secret\r\n"))
	s.Server([]byte("331 p\r\n230 ok\r\n"))
	return s
}

func TestAllocs(t *testing.T) {
	s := loggedInSession()
	cbuf := []byte(clientSegment)
	sbuf := []byte(serverSegment)
	var sh Shift
	var text [MaxText]byte
	if n := testing.AllocsPerRun(1000, func() {
		copy(cbuf, clientSegment)
		r := s.Client(cbuf)
		if r.N != 1 || r.Ann[0].Refused != AlertNone {
			panic("PORT not announced")
		}
		Replacement(&text, &r.Ann[0], insideGlobal, r.Ann[0].Port)
		r = s.Server(sbuf)
		if r.N != 1 {
			panic("227 not announced")
		}
		sh = Shift{}
		sh.Add(1000, 18, 20)
		sh.Forward(2000)
		sh.Back(2000)
		sh.SACKBack(1500, 2500)
	}); n != 0 {
		t.Fatalf("%v allocations per segment", n)
	}
}

func BenchmarkClientSegment(b *testing.B) {
	s := loggedInSession()
	buf := []byte(clientSegment)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		copy(buf, clientSegment)
		if r := s.Client(buf); r.N != 1 {
			b.Fatal("no announcement")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}

func BenchmarkClientPaths1460(b *testing.B) {
	s := loggedInSession()
	seg := pathSegment()
	b.ReportAllocs()
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		s.Client(seg)
	}
}

func BenchmarkServerSegment(b *testing.B) {
	s := loggedInSession()
	buf := []byte(serverSegment)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if r := s.Server(buf); r.N != 1 {
			b.Fatal("no announcement")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}

func BenchmarkShiftMap(b *testing.B) {
	var sh Shift
	for k := 0; k < MaxShifts; k++ {
		sh.Add(uint32(k*1000), 18, 20)
	}
	b.ReportAllocs()
	var x uint32
	for b.Loop() {
		s, _ := sh.Forward(x)
		a, _ := sh.Back(s)
		x = a + 97
	}
}
