package ftpfsm

import (
	"strings"
	"testing"
)

func TestAppendText(t *testing.T) {
	cases := []struct {
		kind  Kind
		delim byte
		addr  uint32
		port  uint16
		want  string
	}{
		{KindPORT, 0, insideGlobal, 1025, "172,22,1,111,4,1"},
		{Kind227, 0, 0, 0, "0,0,0,0,0,0"},
		{Kind227, 0, ^uint32(0), 65535, "255,255,255,255,255,255"},
		{KindEPRT, '|', insideGlobal, 6275, "|1|172.22.1.111|6275|"},
		{KindEPRT, '!', ^uint32(0), 65535, "!1!255.255.255.255!65535!"},
		{KindEPRT, 0, 1, 1, "|1|0.0.0.1|1|"},   // no delimiter: '|'
		{KindEPRT, '7', 1, 1, "|1|0.0.0.1|1|"}, // a digit is no delimiter
		{Kind229, '|', insideGlobal, 50000, "|||50000|"},
		{Kind229, '#', 0, 1, "###1#"},
		{KindNone, '|', 1, 1, ""},
	}
	for _, c := range cases {
		got := string(AppendText([]byte("<"), c.kind, c.delim, c.addr, c.port))
		if got != "<"+c.want {
			t.Errorf("AppendText(%v %q %d %d) = %q, want %q", c.kind, c.delim, c.addr, c.port, got, "<"+c.want)
		}
		if len(got)-1 > MaxText {
			t.Errorf("%q longer than MaxText", got)
		}
	}
}

// TestReplacementRoundTrip: every text AppendText writes is one the
// machines parse back to the same address and port.
func TestReplacementRoundTrip(t *testing.T) {
	for _, addr := range []uint32{0, 1, clientIP, insideGlobal, ^uint32(0)} {
		for _, port := range []uint16{1024, 1025, 50000, 65535} {
			for _, k := range []Kind{KindPORT, KindEPRT, Kind227, Kind229} {
				text := string(AppendText(nil, k, '|', addr, port))
				var s Session
				s.Init(addr, addr)
				s.loggedIn = true
				var r Result
				switch k {
				case KindPORT:
					r = s.Client([]byte("PORT " + text + "\r\n"))
				case KindEPRT:
					r = s.Client([]byte("EPRT " + text + "\r\n"))
				case Kind227:
					r = s.Server([]byte("227 Entering Passive Mode (" + text + ")\r\n"))
				case Kind229:
					r = s.Server([]byte("229 Entering Extended Passive Mode (" + text + ")\r\n"))
				}
				if r.N != 1 || r.Ann[0].Refused != AlertNone || r.Ann[0].Port != port ||
					(k != Kind229 && r.Ann[0].Addr != addr) {
					t.Fatalf("%v %q parsed as %+v", k, text, r.Ann[0])
				}
				var buf [MaxText]byte
				a := r.Ann[0]
				out, delta := Replacement(&buf, &a, insideGlobal, 2121)
				if delta != len(out)-len(text) {
					t.Fatalf("%v %q: delta %d, replacement %q", k, text, delta, out)
				}
			}
		}
	}
}

func TestMessages(t *testing.T) {
	port := &Announcement{Kind: KindPORT, Addr: 192<<24 | 2<<8 | 99, Port: 21}
	eprt6 := &Announcement{Kind: KindEPRT}
	pasv := &Announcement{Kind: Kind227, Addr: 198<<24 | 51<<16 | 100<<8 | 7, Port: 50000}
	cases := []struct {
		k    AlertKind
		a    *Announcement
		want string
	}{
		{AlertNotAuthenticated, port, "%FW-3-FTP_SESSION_NOT_AUTHENTICATED: Command issued before the session is authenticated -- FTP client 10.10.10.5, FTP server 192.0.2.10"},
		{AlertNonMatchingAddr, port, "%FW-3-FTP_NON_MATCHING_IP_ADDR: Non-matching address 192.0.2.99 used in PORT command -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertNonMatchingAddr, eprt6, "%FW-3-FTP_NON_MATCHING_IP_ADDR: Non-matching address (IPv6) used in EPRT command -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertNonMatchingAddr, pasv, "%FW-3-FTP_NON_MATCHING_IP_ADDR: Non-matching address 198.51.100.7 used in 227 reply -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertPrivPort, port, "%FW-3-FTP_PRIV_PORT: Privileged port 21 used in PORT command -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertMalformed, port, "%FW-4-FTP_MALFORMED_PORT: Malformed address in PORT command -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertLongLine, nil, "%FW-4-FTP_LONG_LINE: FTP command line longer than 512 octets -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertBareCR, nil, "%FW-4-FTP_BARE_CR: Bare CR in FTP command line -- FTP client 10.10.10.5 FTP server 192.0.2.10"},
		{AlertNone, port, ""},
		{numAlerts, port, ""},
	}
	for _, c := range cases {
		if got := string(AppendMessage(nil, c.k, c.a, clientIP, serverIP)); got != c.want {
			t.Errorf("%v:\n got %q\nwant %q", c.k, got, c.want)
		}
	}
	if !strings.HasPrefix(AlertKind(200).String(), "FTP_") || Kind(9).String() != "?" || Mode(7).String() != "?" {
		t.Error("String of an unknown value")
	}
}
