package ftpfsm

import (
	"strings"
	"testing"
)

// TestHoldContract shows the glue contract on a split announcement: the
// unfinished line is held, the completing call reports offsets into the
// held bytes, a refusal asks for the held bytes to be rewritten.
func TestHoldContract(t *testing.T) {
	s := loggedInSession()

	r := s.Client([]byte("NOOP\r\nPORT 10,10,10,5,4"))
	if r.Hold != len("PORT 10,10,10,5,4") || r.N != 0 {
		t.Fatalf("first half: Hold %d N %d", r.Hold, r.N)
	}
	r = s.Client([]byte(",1\r\nNO"))
	if r.N != 1 || r.Hold != 0 || r.XHeld != 0 {
		t.Fatalf("second half: N %d Hold %d XHeld %d", r.N, r.Hold, r.XHeld)
	}
	if a := r.Ann[0]; a.Start != -len("10,10,10,5,4") || a.End != 2 || a.Addr != clientIP || a.Port != 1025 {
		t.Fatalf("announcement %+v", a)
	}
	r = s.Client([]byte("OP\r\n"))

	// A refused line: the held part is the glue's to rewrite.
	r = s.Client([]byte("PORT 192,0,2"))
	if r.Hold != 12 {
		t.Fatalf("bounce first half: Hold %d", r.Hold)
	}
	b := []byte(",99,4,1\r\n")
	r = s.Client(b)
	if r.XHeld != 12 || r.Hold != 0 || string(b) != "xxxxxxx\r\n" || r.N != 1 || r.Ann[0].Refused != AlertNonMatchingAddr {
		t.Fatalf("bounce second half: XHeld %d Hold %d %q %+v", r.XHeld, r.Hold, b, r.Ann[0])
	}

	// A 227 is held from its first digit only.
	r = s.Server([]byte("227 Entering Passive Mode (192,0,2"))
	if r.Hold != len("192,0,2") {
		t.Fatalf("227 first half: Hold %d", r.Hold)
	}
	r = s.Server([]byte(",10,195,80).\r\n"))
	if r.N != 1 || r.Hold != 0 || r.Ann[0].Start != -7 || r.Ann[0].End != len(",10,195,80") || r.Ann[0].Port != 50000 {
		t.Fatalf("227 second half: %+v Hold %d", r.Ann[0], r.Hold)
	}
}

// TestLongInputsBounded: long arguments and reply texts are judged with
// bounded holds.
func TestLongInputsBounded(t *testing.T) {
	s := loggedInSession()
	b := []byte("PORT " + strings.Repeat("1", 300) + "\r\n")
	r := s.Client(b)
	if r.N != 1 || r.Ann[0].Refused != AlertMalformed || r.Hold != 0 || strings.Trim(string(b), "x\r\n") != "" {
		t.Fatalf("300-digit PORT: %+v Hold %d %q", r.Ann[0], r.Hold, b[:20])
	}
	text := "227 " + strings.Repeat("Entering Passive Mode ", 100) + "(192,0,2,10,195,80)\r\n"
	maxHold := 0
	var got []Announcement
	for i := 0; i < len(text); i += 7 {
		r := s.Server([]byte(text[i:min(i+7, len(text))]))
		maxHold = max(maxHold, r.Hold)
		got = append(got, r.Ann[:r.N]...)
	}
	if len(got) != 1 || got[0].Addr != serverIP || got[0].Port != 50000 || maxHold > len("192,0,2,10,195,80") {
		t.Fatalf("long 227: %+v max hold %d", got, maxHold)
	}
}
