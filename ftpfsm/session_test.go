package ftpfsm

import (
	"strings"
	"testing"
)

// describe renders the announcements of one direction with the text each
// covers, e.g. `PORT 10.10.10.5:1025 "10,10,10,5,4,1"` or
// `PORT!FTP_PRIV_PORT 10.10.10.5:21`.
func describe(stream string, anns []ann) []string {
	var out []string
	for _, a := range anns {
		ip := ipText(a.addr)
		if a.refused != AlertNone {
			out = append(out, a.kind.String()+"!"+a.refused.String()+" "+ip+":"+itoa(int(a.port)))
			continue
		}
		out = append(out, a.kind.String()+" "+ip+":"+itoa(int(a.port))+" \""+stream[a.start:a.end]+"\"")
	}
	return out
}

func ipText(a uint32) string { return string(appendIP(nil, a)) }

func itoa(i int) string {
	return strings.TrimSpace(string(AppendText(nil, Kind229, '|', 0, uint16(i))[3 : len(AppendText(nil, Kind229, '|', 0, uint16(i)))-1]))
}

func alertSet(kinds ...AlertKind) AlertSet {
	var a AlertSet
	for _, k := range kinds {
		a |= 1 << k
	}
	return a
}

type transcriptCase struct {
	name     string
	steps    []step
	client   string   // expected client stream as forwarded; "" means unchanged
	server   string   // expected server stream; "" means unchanged
	anns     []string // client then server announcements (describe)
	alerts   AlertSet
	loggedIn bool
	nat      string // client stream with allowed texts translated to 172.22.1.111 (same port); "" skips
}

const insideGlobal = 172<<24 | 22<<16 | 1<<8 | 111

func transcriptCases() []transcriptCase {
	lg := login()
	port := func(line string) []step { return join(lg, []step{C(line), S("200 OK\r\n")}) }
	return []transcriptCase{
		{name: "PORT", steps: port("PORT 10,10,10,5,4,1\r\n"),
			anns: []string{`PORT 10.10.10.5:1025 "10,10,10,5,4,1"`}, loggedIn: true,
			nat: "USER alice\r\nPASS secret\r\nPORT 172,22,1,111,4,1\r\n"},
		{name: "PORT lower case, bare LF", steps: port("port 10,10,10,5,195,80\n"),
			anns: []string{`PORT 10.10.10.5:50000 "10,10,10,5,195,80"`}, loggedIn: true,
			nat: "USER alice\r\nPASS secret\r\nport 172,22,1,111,195,80\n"},
		{name: "PORT leading zeros", steps: port("PORT 010,010,010,005,004,001\r\n"),
			anns: []string{`PORT 10.10.10.5:1025 "010,010,010,005,004,001"`}, loggedIn: true,
			nat: "USER alice\r\nPASS secret\r\nPORT 172,22,1,111,4,1\r\n"},
		{name: "PORT after Telnet IP and DM, blank", steps: port("\xff\xf4\xff\xf2 PORT 10,10,10,5,4,1\r\n"),
			anns: []string{`PORT 10.10.10.5:1025 "10,10,10,5,4,1"`}, loggedIn: true},
		{name: "EPRT", steps: port("EPRT |1|10.10.10.5|6275|\r\n"),
			anns: []string{`EPRT 10.10.10.5:6275 "|1|10.10.10.5|6275|"`}, loggedIn: true,
			nat: "USER alice\r\nPASS secret\r\nEPRT |1|172.22.1.111|6275|\r\n"},
		{name: "EPRT other delimiter", steps: port("eprt !1!10.10.10.5!6275!\r\n"),
			anns: []string{`EPRT 10.10.10.5:6275 "!1!10.10.10.5!6275!"`}, loggedIn: true,
			nat: "USER alice\r\nPASS secret\r\neprt !1!172.22.1.111!6275!\r\n"},
		{name: "EPRT IPv6 refused", steps: port("EPRT |2|2001:db8::1|6275|\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`EPRT!FTP_NON_MATCHING_IP_ADDR 0.0.0.0:0`}, alerts: alertSet(AlertNonMatchingAddr), loggedIn: true},
		{name: "PORT bounce", steps: port("PORT 192,0,2,99,0,25\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_NON_MATCHING_IP_ADDR 192.0.2.99:25`}, alerts: alertSet(AlertNonMatchingAddr), loggedIn: true},
		{name: "EPRT bounce", steps: port("EPRT |1|192.0.2.99|8080|\r\n"),
			client: "USER alice\r\nPASS secret\r\n" + strings.Repeat("x", 24) + "\r\n",
			anns:   []string{`EPRT!FTP_NON_MATCHING_IP_ADDR 192.0.2.99:8080`}, alerts: alertSet(AlertNonMatchingAddr), loggedIn: true},
		{name: "PORT privileged", steps: port("PORT 10,10,10,5,0,21\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_PRIV_PORT 10.10.10.5:21`}, alerts: alertSet(AlertPrivPort), loggedIn: true},
		{name: "PORT port 1023 privileged, 1024 not", steps: join(lg, []step{
			C("PORT 10,10,10,5,3,255\r\n"), S("500 ?\r\n"), C("PORT 10,10,10,5,4,0\r\n")}),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxx\r\nPORT 10,10,10,5,4,0\r\n",
			anns:   []string{`PORT!FTP_PRIV_PORT 10.10.10.5:1023`, `PORT 10.10.10.5:1024 "10,10,10,5,4,0"`},
			alerts: alertSet(AlertPrivPort), loggedIn: true},
		{name: "EPRT privileged", steps: port("EPRT |1|10.10.10.5|23|\r\n"),
			client: "USER alice\r\nPASS secret\r\n" + strings.Repeat("x", 22) + "\r\n",
			anns:   []string{`EPRT!FTP_PRIV_PORT 10.10.10.5:23`}, alerts: alertSet(AlertPrivPort), loggedIn: true},
		{name: "PORT before login", steps: []step{S("220 ready\r\n"), C("USER alice\r\n"), S("331 Password\r\n"),
			C("PORT 10,10,10,5,4,1\r\n")},
			client: "USER alice\r\nxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_SESSION_NOT_AUTHENTICATED 10.10.10.5:1025`}, alerts: alertSet(AlertNotAuthenticated)},
		{name: "PORT after failed login", steps: []step{S("220 ready\r\n"), C("USER alice\r\n"), S("331 Password\r\n"),
			C("PASS wrong\r\n"), S("530 Login incorrect\r\n"), C("PORT 10,10,10,5,4,1\r\n")},
			client: "USER alice\r\nPASS wrong\r\nxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_SESSION_NOT_AUTHENTICATED 10.10.10.5:1025`}, alerts: alertSet(AlertNotAuthenticated)},
		{name: "REIN logs out", steps: join(lg, []step{C("REIN\r\n"), S("220 ready\r\n"), C("PORT 10,10,10,5,4,1\r\n")}),
			client: "USER alice\r\nPASS secret\r\nREIN\r\nxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_SESSION_NOT_AUTHENTICATED 10.10.10.5:1025`}, alerts: alertSet(AlertNotAuthenticated)},
		{name: "malformed: octet 256", steps: port("PORT 10,10,10,256,4,1\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: four digits", steps: port("PORT 10,10,10,0005,4,1\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: overflowing number", steps: port("PORT 10,10,10,4294967301,4,1\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: missing comma", steps: port("PORT 10,10,10,5 4,1\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: negative", steps: port("PORT 10,10,10,-5,4,1\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: too many fields", steps: port("PORT 10,10,10,5,4,1,7\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: too few fields", steps: port("PORT 10,10,10,5,4\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: empty field", steps: port("PORT 10,,10,5,4,1\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: trailing text", steps: port("PORT 10,10,10,5,4,1 now\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: no argument", steps: port("PORT\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: bare CR after PORT", steps: port("PORT 10,10,10,5,4,1\rNOOP\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxx\rxxxx\r\n",
			anns:   []string{`PORT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: EPRT port 65536", steps: port("EPRT |1|10.10.10.5|65536|\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`EPRT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: EPRT digit delimiter", steps: port("EPRT 1110.10.10.511025\r\n"),
			client: "USER alice\r\nPASS secret\r\n" + strings.Repeat("x", 22) + "\r\n",
			anns:   []string{`EPRT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: EPRT mixed delimiters", steps: port("EPRT |1!10.10.10.5|1025|\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`EPRT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "malformed: EPRT three octets", steps: port("EPRT |1|10.10.5|1025|\r\n"),
			client: "USER alice\r\nPASS secret\r\nxxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`EPRT!FTP_MALFORMED_PORT 0.0.0.0:0`}, alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "too many Telnet commands", steps: join(lg, []step{C("\xff\xf1\xff\xf1\xff\xf1\xff\xf1\xff\xf1PORT 192,0,2,99,0,25\r\n")}),
			client: "USER alice\r\nPASS secret\r\n" + strings.Repeat("x", 30) + "\r\n",
			alerts: alertSet(AlertMalformed), loggedIn: true},
		{name: "PORTX is another verb", steps: port("PORTX 192,0,2,99,0,25\r\n"), loggedIn: true},
		{name: "PORT inside another command's argument", steps: port("STOR PORT 192,0,2,99,0,25\r\n"), loggedIn: true},
		{name: "long line", steps: join(lg, []step{C("NOOP " + strings.Repeat("a", 600) + "\r\nPORT 10,10,10,5,4,1\r\n")}),
			client: "USER alice\r\nPASS secret\r\nNOOP " + strings.Repeat("a", 507) + strings.Repeat("x", 93) + "\r\nPORT 10,10,10,5,4,1\r\n",
			anns:   []string{`PORT 10.10.10.5:1025 "10,10,10,5,4,1"`}, alerts: alertSet(AlertLongLine), loggedIn: true},
		{name: "bare CR smuggles a command", steps: join(lg, []step{C("NOOP\rPORT 192,0,2,99,0,25\r\n")}),
			client: "USER alice\r\nPASS secret\r\nNOOP\rxxxxxxxxxxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertBareCR), loggedIn: true},
		{name: "five PORTs in a row", steps: join(lg, []step{C(strings.Repeat("PORT 10,10,10,5,4,1\r\n", 4) + "PORT 10,10,10,5,0,1\r\n")}),
			client: "USER alice\r\nPASS secret\r\n" + strings.Repeat("PORT 10,10,10,5,4,1\r\n", 4) + "xxxxxxxxxxxxxxxxxxx\r\n",
			anns: []string{`PORT 10.10.10.5:1025 "10,10,10,5,4,1"`, `PORT 10.10.10.5:1025 "10,10,10,5,4,1"`,
				`PORT 10.10.10.5:1025 "10,10,10,5,4,1"`, `PORT 10.10.10.5:1025 "10,10,10,5,4,1"`, `PORT!FTP_PRIV_PORT 10.10.10.5:1`},
			alerts: alertSet(AlertPrivPort), loggedIn: true},

		// Replies.
		{name: "227 with parentheses", steps: join(lg, []step{C("PASV\r\n"), S("227 Entering Passive Mode (192,0,2,10,195,80).\r\n")}),
			anns: []string{`227 192.0.2.10:50000 "192,0,2,10,195,80"`}, loggedIn: true},
		{name: "227 =", steps: join(lg, []step{C("PASV\r\n"), S("227 =192,0,2,10,195,80\r\n")}),
			anns: []string{`227 192.0.2.10:50000 "192,0,2,10,195,80"`}, loggedIn: true},
		{name: "227 without parentheses, bare LF", steps: join(lg, []step{C("PASV\r\n"), S("227 Entering Passive Mode 192,0,2,10,195,80\n")}),
			anns: []string{`227 192.0.2.10:50000 "192,0,2,10,195,80"`}, loggedIn: true},
		{name: "227 multi-line", steps: join(lg, []step{C("PASV\r\n"), S("227-Entering Passive Mode (192,0,2,10,195,80)\r\n227 OK\r\n")}),
			anns: []string{`227 192.0.2.10:50000 "192,0,2,10,195,80"`}, loggedIn: true},
		{name: "227 not the server", steps: join(lg, []step{C("PASV\r\n"), S("227 Entering Passive Mode (198,51,100,7,195,80)\r\n")}),
			anns: []string{`227!FTP_NON_MATCHING_IP_ADDR 198.51.100.7:50000`}, alerts: alertSet(AlertNonMatchingAddr), loggedIn: true},
		{name: "227 before login", steps: []step{S("220 ready\r\n"), C("PASV\r\n"), S("227 Entering Passive Mode (192,0,2,10,195,80)\r\n")},
			anns: []string{`227!FTP_SESSION_NOT_AUTHENTICATED 192.0.2.10:50000`}, alerts: alertSet(AlertNotAuthenticated)},
		{name: "227 five numbers", steps: join(lg, []step{C("PASV\r\n"), S("227 Entering Passive Mode (192,0,2,10,195).\r\n")}), loggedIn: true},
		{name: "227 number 300", steps: join(lg, []step{C("PASV\r\n"), S("227 Entering Passive Mode (192,0,2,10,300,80).\r\n")}), loggedIn: true},
		{name: "229", steps: join(lg, []step{C("EPSV\r\n"), S("229 Entering Extended Passive Mode (|||50000|)\r\n")}),
			anns: []string{`229 0.0.0.0:50000 "|||50000|"`}, loggedIn: true},
		{name: "229 other delimiter", steps: join(lg, []step{C("EPSV\r\n"), S("229 Entering Extended Passive Mode (!!!50000!)\r\n")}),
			anns: []string{`229 0.0.0.0:50000 "!!!50000!"`}, loggedIn: true},
		{name: "229 port 0", steps: join(lg, []step{C("EPSV\r\n"), S("229 Entering Extended Passive Mode (|||0|)\r\n")}), loggedIn: true},
		{name: "229 port 70000", steps: join(lg, []step{C("EPSV\r\n"), S("229 Entering Extended Passive Mode (|||70000|)\r\n")}), loggedIn: true},
		{name: "multi-line 230 is one reply; a 227 inside it is text", steps: []step{
			S("220 ready\r\n"), C("USER alice\r\n"), S("331 Password\r\n"), C("PASS secret\r\n"),
			S("230-Welcome\r\n227 Entering Passive Mode (192,0,2,10,195,80)\r\n230-more\r\n 230 indented\r\n230 Logged in\r\n")},
			loggedIn: true},
		{name: "multi-line reply not yet ended", steps: []step{
			S("220 ready\r\n"), C("USER alice\r\n"), S("331 Password\r\n"), C("PASS secret\r\n"),
			S("230-Welcome\r\n230-still\r\n")}},
		{name: "AUTH TLS: passthrough after 234", steps: []step{S("220 ready\r\n"), C("AUTH TLS\r\n"), S("234 Proceed\r\n"),
			C("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\rPORT 192,0,2,99,0,25\r\n" + strings.Repeat("z", 700)), S("\x16\x03\x03\x00\x7a\x02")}},
		{name: "AUTH TLS refused: still inspected", steps: []step{S("220 ready\r\n"), C("AUTH TLS\r\n"), S("504 No\r\n"),
			C("PORT 10,10,10,5,4,1\r\n")},
			client: "AUTH TLS\r\nxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_SESSION_NOT_AUTHENTICATED 10.10.10.5:1025`}, alerts: alertSet(AlertNotAuthenticated)},
		{name: "234 not answering AUTH", steps: join(lg, []step{C("NOOP\r\n"), S("234 odd\r\n"), C("PORT 10,10,10,5,0,25\r\n")}),
			client: "USER alice\r\nPASS secret\r\nNOOP\r\nxxxxxxxxxxxxxxxxxxxx\r\n",
			anns:   []string{`PORT!FTP_PRIV_PORT 10.10.10.5:25`}, alerts: alertSet(AlertPrivPort), loggedIn: true},
	}
}

func clientBytes(st []step, server bool) string {
	var b strings.Builder
	for _, s := range st {
		if s.server == server {
			b.WriteString(s.data)
		}
	}
	return b.String()
}

func TestTranscripts(t *testing.T) {
	for _, tc := range transcriptCases() {
		t.Run(tc.name, func(t *testing.T) {
			o := play(t, tc.steps, whole)
			wantC := tc.client
			if wantC == "" {
				wantC = clientBytes(tc.steps, false)
			}
			wantS := tc.server
			if wantS == "" {
				wantS = clientBytes(tc.steps, true)
			}
			if o.client != wantC {
				t.Errorf("client stream\n got %q\nwant %q", o.client, wantC)
			}
			if o.server != wantS {
				t.Errorf("server stream\n got %q\nwant %q", o.server, wantS)
			}
			got := append(describe(o.client, o.canns), describe(o.server, o.sanns)...)
			if strings.Join(got, "\n") != strings.Join(tc.anns, "\n") {
				t.Errorf("announcements\n got %q\nwant %q", got, tc.anns)
			}
			if o.alerts != tc.alerts {
				t.Errorf("alerts %v, want %v", o.alerts, tc.alerts)
			}
			if o.loggedIn != tc.loggedIn {
				t.Errorf("logged in %v, want %v", o.loggedIn, tc.loggedIn)
			}
			if tc.nat != "" {
				if got := natted(o.client, o.canns, insideGlobal, 0); got != "" && natPorts(o.client, o.canns) != tc.nat {
					t.Errorf("NAT rewrite\n got %q\nwant %q", natPorts(o.client, o.canns), tc.nat)
				}
			}
			if t.Failed() {
				return
			}
			checkSplits(t, tc.steps, o)
		})
	}
}

// natPorts translates every allowed announcement to insideGlobal, keeping
// its port.
func natPorts(stream string, anns []ann) string {
	var b []byte
	prev := 0
	for _, a := range anns {
		if a.refused != AlertNone {
			continue
		}
		var buf [MaxText]byte
		an := Announcement{Kind: a.kind, Delim: a.delim, Start: a.start, End: a.end}
		text, delta := Replacement(&buf, &an, insideGlobal, a.port)
		if delta != len(text)-(a.end-a.start) {
			panic("delta")
		}
		b = append(b, stream[prev:a.start]...)
		b = append(b, text...)
		prev = a.end
	}
	return string(append(b, stream[prev:]...))
}
