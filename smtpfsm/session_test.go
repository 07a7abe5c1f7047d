package smtpfsm

import (
	"strings"
	"testing"
)

var (
	smtpPolicy  = Policy{MaxData: 20000000}
	esmtpPolicy = Policy{ESMTP: true, MaxData: 20000000}
)

func allow(p Policy, names ...string) Policy {
	for _, n := range names {
		v, ok := ParseVerb(n)
		if !ok {
			panic("unknown verb " + n)
		}
		p.Allow |= v
	}
	return p
}

type tcase struct {
	name   string
	policy Policy
	steps  []step
	// want is the client stream as the server must receive it; "" means
	// unchanged.
	want   string
	alerts AlertSet
	reset  bool
	pass   bool
	mode   Mode
	verbs  []string // invalid verbs reported, in a whole run
	params []Param  // ESMTP violations reported, in a whole run
	// segment marks a case about the PIPELINING check, which is about
	// segments: it runs whole only.
	segment bool
	// lookAlike marks a case with an end-of-data look-alike, which a
	// split may neutralise differently (data.go): splits must give the
	// same alerts, reset and mode, and smuggling_test.go checks the rule.
	lookAlike bool
}

// transcriptCases are the table cases; the fuzz test is seeded with them.
func transcriptCases() []tcase {
	long := "NOOP " + strings.Repeat("a", 4995)
	body := "Subject: test\r\n\r\nEXPN root\r\nVRFY x\r\nDEBUG\r\n"
	return []tcase{
		// SPEC 9 item 5.
		{
			name: "EXPN smtp", policy: smtpPolicy,
			steps:  join(helo(), steps(C("EXPN root\r\n"), S("502 5.5.2 Error: command not recognized\r\n"))),
			want:   "HELO client.example.com\r\nxxxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"EXPN"},
		},
		{
			name: "EXPN esmtp passes the E", policy: esmtpPolicy,
			steps:  join(ehlo("PIPELINING"), steps(C("EXPN root\r\n"), S("502 5.5.2 Error\r\n"))),
			want:   "EHLO client.example.com\r\nExxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"EXPN"},
		},
		{
			name: "EXPN allowed", policy: allow(smtpPolicy, "expn"),
			steps: join(helo(), steps(C("EXPN root\r\n"), S("250 root@example.com\r\n"))),
		},
		// SPEC 9 item 6.
		{
			name: "EHLO under smtp", policy: smtpPolicy,
			steps:  steps(S(greeting), C("EHLO a\r\n"), S("502 5.5.2 Error\r\n"), C("HELO a\r\n"), S("250 mx\r\n")),
			want:   "xxxxxx\r\nHELO a\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"EHLO"},
		},
		{
			name: "EHLO under esmtp", policy: esmtpPolicy,
			steps: steps(S(greeting), C("EHLO a\r\n"), S("250 mx\r\n")),
		},
		{
			name: "lower case verbs", policy: smtpPolicy,
			steps: join(helo(), steps(C("mail from:<a@b>\r\n"), S("250 ok\r\n"), C("noop\r\n"), S("250 ok\r\n"))),
		},
		// SPEC 9 item 7.
		{
			name: "pipelined middle line esmtp", policy: esmtpPolicy,
			steps: join(ehlo("PIPELINING", "SIZE 10000000"), steps(
				C("MAIL FROM:<a@b>\r\nEXPN x\r\nRCPT TO:<c@d>\r\n"),
				S("250 ok\r\n502 no\r\n250 ok\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b>\r\nExxxxx\r\nRCPT TO:<c@d>\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"EXPN"},
		},
		{
			name: "pipelined middle line smtp", policy: smtpPolicy,
			steps: join(helo(), steps(
				C("MAIL FROM:<a@b>\r\nEXPN x\r\nRCPT TO:<c@d>\r\n"),
				S("250 ok\r\n502 no\r\n250 ok\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@b>\r\nxxxxxx\r\nRCPT TO:<c@d>\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"EXPN"},
		},
		// SPEC 9 item 8.
		{
			name: "body lines are not commands", policy: smtpPolicy,
			steps: join(helo(), envelope(), steps(
				C(body+"\r"), C("\n."), C("\r\n"), S("250 2.0.0 Ok: queued\r\n"),
				C("EXPN y\r\n"), S("502 no\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n" + body + "\r\n.\r\nxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"EXPN"}, mode: ModeCommand,
		},
		{
			name: "data end right after DATA", policy: smtpPolicy,
			steps: join(helo(), envelope(), steps(C(".\r\n"), S("250 ok\r\n"), C("VRFY x\r\n"))),
		},
		{
			name: "dot stuffing", policy: smtpPolicy,
			steps:  join(helo(), envelope(), steps(C("..foo\r\n.bar\r\n..\r\n"), C(".\r\n"), S("250 ok\r\n"), C("EXPN a\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n..foo\r\n.bar\r\n..\r\n.\r\nxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "bare LF dot LF is not an end", policy: smtpPolicy,
			steps:  join(helo(), envelope(), steps(C("a\n.\nEXPN root\r\n"), C(".\r\n"), S("250 ok\r\n"), C("EXPN b\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\na\nx\nEXPN root\r\n.\r\nxxxxxx\r\n",
			alerts: alertSet(AlertBadDataEnd, AlertInvalidCommand),
		},
		{
			name: "bare LF dot CRLF is not an end", policy: smtpPolicy,
			steps:  join(helo(), envelope(), steps(C("a\n.\r\nEXPN root\r\n.\r\n"), S("250 ok\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\na\nx\r\nEXPN root\r\n.\r\n",
			alerts: alertSet(AlertBadDataEnd),
		},
		{
			name: "CRLF dot LF is neutralised in place", policy: smtpPolicy,
			steps:  join(helo(), envelope(), steps(C("a\r\n.\nEXPN root\r\n..x\r\n.\r\n"), S("250 ok\r\n"), C("NOOP\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\na\r\nx\nEXPN root\r\n..x\r\n.\r\nNOOP\r\n",
			alerts: alertSet(AlertBadDataEnd), lookAlike: true,
		},
		{
			name: "CRLF dot CR x is neutralised in place", policy: smtpPolicy,
			steps:  join(helo(), envelope(), steps(C("a\r\n.\rQUIT\r\n.\r\n"), S("250 ok\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\na\r\nx\rQUIT\r\n.\r\n",
			alerts: alertSet(AlertBadDataEnd), lookAlike: true,
		},
		{
			name: "CR dot CR is neutralised in place", policy: smtpPolicy,
			steps:  join(helo(), envelope(), steps(C("a\r.\rQUIT\r\n.\r\n"), S("250 ok\r\n"))),
			want:   "HELO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\na\rx\rQUIT\r\n.\r\n",
			alerts: alertSet(AlertBadDataEnd), lookAlike: true,
		},
		{
			name: "DATA answered 554 stays in command mode", policy: smtpPolicy,
			steps:  join(helo(), steps(C("DATA\r\n"), S("554 5.5.1 Error: no valid recipients\r\n"), C("EXPN x\r\n"), C(".\r\n"))),
			want:   "HELO client.example.com\r\nDATA\r\nxxxxxx\r\nx\r\n",
			alerts: alertSet(AlertInvalidCommand), mode: ModeCommand,
		},
		{
			name: "DATA pending is DataWait", policy: smtpPolicy,
			steps: join(helo(), steps(C("DATA\r\n"))), mode: ModeDataWait,
		},
		{
			name: "pipelined RCPT DATA: 354 answers DATA", policy: esmtpPolicy,
			steps: join(ehlo("PIPELINING"), steps(
				C("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"), S("250 ok\r\n250 ok\r\n354 go\r\n"),
				C("EXPN body line\r\n.\r\n"), S("250 ok\r\n"))),
		},
		{
			name: "pipelined RCPT DATA: 550 then 554", policy: esmtpPolicy,
			steps: join(ehlo("PIPELINING"), steps(
				C("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"), S("250 ok\r\n550 no\r\n"), S("554 no\r\n"),
				C("EXPN x\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nExxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "body streamed before 354 is read as commands", policy: smtpPolicy,
			steps:  join(helo(), steps(C("DATA\r\nEXPN x\r\n.\r\n"), S("354 go\r\n"), C("EXPN y\r\n.\r\n"), S("250 ok\r\n"))),
			want:   "HELO client.example.com\r\nDATA\r\nxxxxxx\r\nx\r\nEXPN y\r\n.\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "354 while the client is mid-line", policy: smtpPolicy,
			steps:  join(helo(), steps(C("DATA\r\nSubj"), S("354 go\r\n"), C("ect: x\r\n.\r\n"), S("250 ok\r\n"), C("EXPN\r\n"))),
			want:   "HELO client.example.com\r\nDATA\r\nSxxxect: x\r\n.\r\nxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "354 between CR and LF", policy: smtpPolicy,
			steps:  join(helo(), steps(C("DATA\r\nNOOP\r"), S("354 go\r\n"), C("\n.\r\n"), S("250 ok\r\n"), C("EXPN\r\n"))),
			want:   "HELO client.example.com\r\nDATA\r\nNOOP\r\n.\r\nxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "354 after a bare LF", policy: smtpPolicy,
			steps:  join(helo(), steps(C("DATA\n"), S("354 go\r\n"), C(".\r\n.\r\n"), S("250 ok\r\n"))),
			want:   "HELO client.example.com\r\nDATA\nx\r\n.\r\n",
			alerts: alertSet(AlertBadDataEnd),
		},
		{
			name: "a fifth outstanding special is a plain command", policy: smtpPolicy,
			steps: join(helo(), steps(C("HELO a\r\nHELO b\r\nHELO c\r\nHELO d\r\nDATA\r\n"),
				S("250 a\r\n250 b\r\n250 c\r\n250 d\r\n354 go\r\n"), C("EXPN\r\n"))),
			want:   "HELO client.example.com\r\nHELO a\r\nHELO b\r\nHELO c\r\nHELO d\r\nDATA\r\nxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), mode: ModeCommand,
		},
		{
			name: "early talker before the greeting", policy: esmtpPolicy,
			steps: steps(C("EHLO a\r\n"), S(greeting), S("250-mx\r\n250 PIPELINING\r\n"),
				C("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")),
		},
		// SPEC 9 item 9.
		{
			name: "AUTH LOGIN base64 lines", policy: esmtpPolicy,
			steps: join(ehlo("AUTH LOGIN PLAIN"), steps(
				C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"),
				C("dXNlcg==\r\n"), S("334 UGFzc3dvcmQ6\r\n"),
				C("cGFzcw==\r\n"), S("235 2.7.0 Authentication successful\r\n"),
				C("EXPN x\r\n"))),
			want:   "EHLO client.example.com\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\nExxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "AUTH PLAIN initial response", policy: esmtpPolicy,
			steps: join(ehlo("AUTH PLAIN"), steps(
				C("AUTH PLAIN AHVzZXIAcGFzcw==\r\n"), S("235 2.7.0 ok\r\n"), C("xyzzy\r\n"))),
			want:   "EHLO client.example.com\r\nAUTH PLAIN AHVzZXIAcGFzcw==\r\nxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "AUTH failure returns to command mode", policy: esmtpPolicy,
			steps: join(ehlo("AUTH LOGIN"), steps(
				C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"),
				C("*\r\n"), S("501 5.7.0 cancelled\r\n"), C("ZZZZ\r\n"))),
			want:   "EHLO client.example.com\r\nAUTH LOGIN\r\n*\r\nxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "AUTH 334 after pipelined bytes stays in command mode", policy: esmtpPolicy,
			steps: join(ehlo("AUTH LOGIN", "PIPELINING"), steps(
				C("AUTH LOGIN\r\nZZZZ\r\n"), S("334 VXNlcm5hbWU6\r\n"), S("501 bad base64\r\n"),
				C("EXPN root\r\n"))),
			want:   "EHLO client.example.com\r\nAUTH LOGIN\r\nxxxx\r\nExxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "AUTH response longer than 12288 octets", policy: esmtpPolicy,
			steps: join(ehlo("AUTH GSSAPI"), steps(
				C("AUTH GSSAPI\r\n"), S("334 \r\n"),
				C(strings.Repeat("QUJD", 3072)+"RVhQTiByb290\r\n"), S("535 5.7.8 failed\r\n"))),
			want: "EHLO client.example.com\r\nAUTH GSSAPI\r\n" + strings.Repeat("QUJD", 3072) +
				"xxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertLongLine),
		},
		{
			name: "AUTH pending is AuthWait", policy: esmtpPolicy,
			steps: join(ehlo("AUTH LOGIN"), steps(C("AUTH LOGIN\r\n"))), mode: ModeAuthWait,
		},
		{
			name: "AUTH 334 is Auth", policy: esmtpPolicy,
			steps: join(ehlo("AUTH LOGIN"), steps(C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"))), mode: ModeAuth,
		},
		// SPEC 9 item 10.
		{
			name: "5000-byte line", policy: smtpPolicy,
			steps: join(helo(), steps(C(long), C("\r\nEXPN x\r\nNOOP\r\n"), S("500 line too long\r\n502 no\r\n250 ok\r\n"))),
			want: "HELO client.example.com\r\n" + long[:512] + strings.Repeat("x", len(long)-512) +
				"\r\nxxxxxx\r\nNOOP\r\n",
			alerts: alertSet(AlertLongLine, AlertInvalidCommand),
		},
		{
			name: "512 octets is legal", policy: smtpPolicy,
			steps: join(helo(), steps(C("NOOP "+strings.Repeat("a", 505)+"\r\n"))),
		},
		{
			name: "513 octets ending in LF", policy: smtpPolicy,
			steps:  join(helo(), steps(C("NOOP "+strings.Repeat("a", 506)+"\r\n"))),
			alerts: alertSet(AlertLongLine),
		},
		{
			name: "514 octets ending in CRLF", policy: smtpPolicy,
			steps:  join(helo(), steps(C("NOOP "+strings.Repeat("a", 507)+"\r\n"))),
			alerts: alertSet(AlertLongLine),
		},
		{
			name: "515 octets", policy: smtpPolicy,
			steps:  join(helo(), steps(C("NOOP "+strings.Repeat("a", 508)+"\r\n"))),
			want:   "HELO client.example.com\r\nNOOP " + strings.Repeat("a", 507) + "x\r\n",
			alerts: alertSet(AlertLongLine),
		},
		// SPEC 9 item 11.
		{
			name: "max-data 1001-byte body", policy: Policy{MaxData: 1000},
			steps:  join(helo(), envelope(), steps(C(strings.Repeat("a", 999)+"\r\n"), C(".\r\n"))),
			alerts: alertSet(AlertMaxData), reset: true, mode: ModeClosed,
		},
		{
			name: "max-data 1000-byte body", policy: Policy{MaxData: 1000},
			steps: join(helo(), envelope(), steps(C(strings.Repeat("a", 998)+"\r\n"), C(".\r\n"), S("250 ok\r\n"))),
		},
		{
			name: "max-data counts the session", policy: Policy{MaxData: 1000},
			steps: join(helo(), envelope(), steps(C(strings.Repeat("a", 598)+"\r\n.\r\n"), S("250 ok\r\n")),
				envelope()[4:], steps(C(strings.Repeat("b", 401)+"\r\n"))),
			alerts: alertSet(AlertMaxData), reset: true, mode: ModeClosed,
		},
		{
			name: "QZZZ", policy: smtpPolicy,
			steps:  join(helo(), steps(C("QZZZ\r\n"))),
			want:   "HELO client.example.com\r\nQxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"QZZZ"},
		},
		{
			name: "QUI is a prefix, not a verb", policy: smtpPolicy,
			steps:  join(helo(), steps(C("QUI\r\nQUI T\r\n"))),
			want:   "HELO client.example.com\r\nQUI\r\nQUIxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "empty line and leading space", policy: smtpPolicy,
			steps:  join(helo(), steps(C("\r\n HELO x\r\n"))),
			want:   "HELO client.example.com\r\n\r\nxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "bare CR in a command", policy: smtpPolicy,
			steps:  join(helo(), steps(C("NOOP\rEXPN\r\n"))),
			want:   "HELO client.example.com\r\nNOOP\rxxxx\r\n",
			alerts: alertSet(AlertBareCR),
		},
		{
			name: "bare LF ends a command", policy: smtpPolicy,
			steps:  join(helo(), steps(C("NOOP\nEXPN x\n"))),
			want:   "HELO client.example.com\r\nNOOP\nxxxxxx\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "very long verb is reported truncated", policy: smtpPolicy,
			steps:  join(helo(), steps(C("ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"))),
			want:   "HELO client.example.com\r\n" + strings.Repeat("x", 26) + "\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"ABCDEFGHIJKLMNOP"},
		},
		{
			name: "verb text is printable", policy: smtpPolicy,
			steps:  join(helo(), steps(C("\x1b[31m\xff x\r\n"))),
			want:   "HELO client.example.com\r\nxxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"?[31m?"},
		},
		// STARTTLS.
		{
			name: "STARTTLS allowed", policy: allow(esmtpPolicy, "STARTTLS"),
			steps: join(ehlo("STARTTLS"), steps(C("STARTTLS\r\n"), S("220 2.0.0 Ready to start TLS\r\n\x16\x03\x03"),
				C("\x16\x03\x01\x00\xa5EXPN root\r\n"), S("\x16\x03\x03\x00\x7a"))),
			pass: true, mode: ModePassthrough,
		},
		{
			name: "STARTTLS refused", policy: allow(esmtpPolicy, "STARTTLS"),
			steps:  join(ehlo("STARTTLS"), steps(C("STARTTLS\r\n"), S("454 4.7.0 TLS not available\r\n"), C("EXPN x\r\n"))),
			want:   "EHLO client.example.com\r\nSTARTTLS\r\nExxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "STARTTLS pending is TLSWait", policy: allow(smtpPolicy, "STARTTLS"),
			steps: join(helo(), steps(C("STARTTLS\r\n"))), mode: ModeTLSWait,
		},
		{
			name: "STARTTLS not allowed smtp", policy: smtpPolicy,
			steps:  join(helo(), steps(C("STARTTLS\r\n"), S("502 no\r\n"))),
			want:   "HELO client.example.com\r\nSxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand), verbs: []string{"STARTTLS"},
		},
		{
			name: "STARTTLS not allowed esmtp", policy: esmtpPolicy,
			steps:  join(ehlo("STARTTLS"), steps(C("STARTTLS\r\n"), S("502 no\r\n"))),
			want:   "EHLO client.example.com\r\nSxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		// ESMTP parameters.
		{
			name: "SIZE not advertised", policy: esmtpPolicy,
			steps:  join(ehlo("8BITMIME"), steps(C("MAIL FROM:<a@b> SIZE=1000\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> SIZExxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamSize},
		},
		{
			name: "SIZE within the advertised limit", policy: esmtpPolicy,
			steps: join(ehlo("SIZE 1000"), steps(C("MAIL FROM:<a@b> SIZE=1000\r\n"), S("250 ok\r\n"))),
		},
		{
			name: "SIZE over the advertised limit", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE 1000"), steps(C("MAIL FROM:<a@b> SIZE=1001 BODY=7BIT\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> SIZE=100xxxxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamSize},
		},
		{
			name: "SIZE over max-data", policy: Policy{ESMTP: true, MaxData: 500},
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> size=501\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> size=50x\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamSize},
		},
		{
			name: "SIZE overflow", policy: Policy{ESMTP: true},
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> SIZE=99999999999999999999999\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> SIZE=9999999999999999999xxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamSize},
		},
		{
			name: "SIZE not a number", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> SIZE=12k\r\nRSET\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> SIZE=12x\r\nxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation, AlertPipelining), segment: true,
		},
		{
			name: "SIZE empty", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> SIZE=\r\n"))),
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamSize},
		},
		{
			name: "BODY=8BITMIME without 8BITMIME", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> BODY=8BITMIME\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> BODY=xxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamBody},
		},
		{
			name: "BODY=8BITMIME with 8BITMIME", policy: esmtpPolicy,
			steps: join(ehlo("8BITMIME"), steps(C("MAIL FROM:<a@b> BODY=8bitmime\r\n"), S("250 ok\r\n"))),
		},
		{
			name: "BODY=BINARYMIME without BINARYMIME", policy: esmtpPolicy,
			steps:  join(ehlo("8BITMIME", "CHUNKING"), steps(C("MAIL FROM:<a@b> BODY=BINARYMIME\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> BODY=xxxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamBody},
		},
		{
			name: "BODY=BINARYMIME with BINARYMIME", policy: esmtpPolicy,
			steps: join(ehlo("BINARYMIME", "CHUNKING"), steps(C("MAIL FROM:<a@b> BODY=BINARYMIME\r\n"))),
		},
		{
			name: "BODY=7BITX", policy: esmtpPolicy,
			steps:  join(ehlo("8BITMIME"), steps(C("MAIL FROM:<a@b> BODY=7BITX\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> BODY=7BITx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamBody},
		},
		{
			name: "BODY=7BI at the line end", policy: esmtpPolicy,
			steps:  join(ehlo("8BITMIME"), steps(C("MAIL FROM:<a@b> BODY=7BI\r\n"))),
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamBody},
		},
		{
			name: "AUTH= without AUTH", policy: esmtpPolicy,
			steps:  join(ehlo("DSN"), steps(C("MAIL FROM:<a@b> AUTH=<>\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> AUTHxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamAuth},
		},
		{
			name: "AUTH= with AUTH", policy: esmtpPolicy,
			steps: join(ehlo("AUTH PLAIN"), steps(C("MAIL FROM:<a@b> AUTH=<>\r\n"))),
		},
		{
			name: "RET= without DSN", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> RET=HDRS\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> RETxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamRet},
		},
		{
			name: "ENVID= without DSN", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b> ENVID=QQ314159\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b> ENVIDxxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamEnvid},
		},
		{
			name: "NOTIFY= without DSN", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("RCPT TO:<c@d> NOTIFY=SUCCESS\r\n"))),
			want:   "EHLO client.example.com\r\nRCPT TO:<c@d> NOTIFYxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamNotify},
		},
		{
			name: "ORCPT= without DSN", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("RCPT TO:<c@d> ORCPT=rfc822;c@d\r\n"))),
			want:   "EHLO client.example.com\r\nRCPT TO:<c@d> ORCPTxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamOrcpt},
		},
		{
			name: "DSN parameters with DSN", policy: esmtpPolicy,
			steps: join(ehlo("DSN", "PIPELINING"), steps(
				C("MAIL FROM:<a@b> RET=HDRS ENVID=QQ314159\r\nRCPT TO:<c@d> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;c@d\r\nRCPT TO:<e@f> NOTIFY=NEVER\r\n"))),
		},
		{
			name: "NOTIFY=NEVER,SUCCESS", policy: esmtpPolicy,
			steps:  join(ehlo("DSN"), steps(C("RCPT TO:<c@d> NOTIFY=NEVER,SUCCESS\r\n"))),
			want:   "EHLO client.example.com\r\nRCPT TO:<c@d> NOTIFY=NEVERxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamNotify},
		},
		{
			name: "NOTIFY=SUCCESS,NEVER", policy: esmtpPolicy,
			steps:  join(ehlo("DSN"), steps(C("RCPT TO:<c@d> NOTIFY=SUCCESS,NEVER\r\n"))),
			want:   "EHLO client.example.com\r\nRCPT TO:<c@d> NOTIFY=SUCCESS,xxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamNotify},
		},
		{
			name: "NOTIFY=SUC at the line end", policy: esmtpPolicy,
			steps:  join(ehlo("DSN"), steps(C("RCPT TO:<c@d> NOTIFY=SUC\r\n"))),
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamNotify},
		},
		{
			name: "NOTIFY=BOGUS", policy: esmtpPolicy,
			steps:  join(ehlo("DSN"), steps(C("RCPT TO:<c@d> NOTIFY=BOGUS\r\n"))),
			want:   "EHLO client.example.com\r\nRCPT TO:<c@d> NOTIFY=xxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamNotify},
		},
		{
			name: "parameters checked only under esmtp", policy: smtpPolicy,
			steps: join(helo(), steps(C("MAIL FROM:<a@b> SIZE=99999999999 BODY=BINARYMIME RET=FULL\r\n"))),
		},
		{
			name: "unknown parameters and spaced path pass", policy: esmtpPolicy,
			steps: join(ehlo("SIZE"), steps(C("MAIL FROM: <a@b>  SMTPUTF8 MT-PRIORITY=3 SIZEX=9 X=SIZE=1 SIZE BODY\r\n"))),
		},
		{
			name: "ETRN not advertised", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("ETRN example.com\r\n"))),
			want:   "EHLO client.example.com\r\nExxxxxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertESMTPViolation), params: []Param{ParamETRN},
		},
		{
			name: "ETRN advertised", policy: esmtpPolicy,
			steps: join(ehlo("ETRN"), steps(C("ETRN example.com\r\n"))),
		},
		{
			name: "ETRN under smtp", policy: smtpPolicy,
			steps:  join(helo(), steps(C("ETRN example.com\r\n"))),
			want:   "HELO client.example.com\r\nxxxxxxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertInvalidCommand),
		},
		{
			name: "HELO clears the extensions", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("HELO x\r\n"), S("250 mx\r\n"), C("MAIL FROM:<a@b> SIZE=10\r\n"))),
			want:   "EHLO client.example.com\r\nHELO x\r\nMAIL FROM:<a@b> SIZExxx\r\n",
			alerts: alertSet(AlertESMTPViolation),
		},
		{
			name: "EHLO keywords on the final line", policy: esmtpPolicy,
			steps:  steps(S(greeting), C("EHLO a\r\n"), S("250-mx\r\n250 PIPELINING\r\n"), C("NOOP\r\nNOOP\r\n")),
			want:   "EHLO a\r\nNOOP\r\nxxxx\r\n",
			alerts: alertSet(AlertPipelining), segment: true,
		},
		// Pipelining (segment-dependent).
		{
			name: "two commands without PIPELINING", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), steps(C("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b>\r\nxxxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertPipelining), segment: true,
		},
		{
			name: "NOOP must end a batch", policy: esmtpPolicy,
			steps:  join(ehlo("PIPELINING"), steps(C("NOOP\r\nMAIL FROM:<a@b>\r\nRSET\r\n"))),
			want:   "EHLO client.example.com\r\nNOOP\r\nxxxxxxxxxxxxxxx\r\nxxxx\r\n",
			alerts: alertSet(AlertPipelining), segment: true,
		},
		{
			name: "STARTTLS must end a batch", policy: allow(esmtpPolicy, "STARTTLS"),
			steps:  join(ehlo("PIPELINING", "STARTTLS"), steps(C("STARTTLS\r\nMAIL FROM:<a@b>\r\n"), S("220 go\r\n"))),
			want:   "EHLO client.example.com\r\nSTARTTLS\r\nxxxxxxxxxxxxxxx\r\n",
			alerts: alertSet(AlertPipelining), pass: true, mode: ModePassthrough, segment: true,
		},
		{
			name: "body in the DATA segment under esmtp", policy: esmtpPolicy,
			steps:  join(ehlo("PIPELINING"), steps(C("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhello\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nxxxxx\r\n",
			alerts: alertSet(AlertPipelining, AlertInvalidCommand), mode: ModeDataWait, segment: true,
		},
		{
			name: "QUIT after the end of data with PIPELINING", policy: esmtpPolicy,
			steps: join(ehlo("PIPELINING"), envelope(), steps(C("hi\r\n.\r\nQUIT\r\n"), S("250 ok\r\n221 bye\r\n"))),
		},
		{
			name: "QUIT after the end of data without PIPELINING", policy: esmtpPolicy,
			steps:  join(ehlo("SIZE"), envelope(), steps(C("hi\r\n.\r\nQUIT\r\n"), S("250 ok\r\n221 bye\r\n"))),
			want:   "EHLO client.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\nxxxx\r\n",
			alerts: alertSet(AlertPipelining), segment: true,
		},
		// Replies.
		{
			name: "malformed replies are alerts", policy: smtpPolicy,
			steps:  steps(S("hello\r\n"), S(greeting), C("HELO a\r\n"), S("250-a\r\n251 b\r\n250 c\r\n"), S("2\r\n"), S("600 x\r\n"), S("25x\r\n")),
			alerts: alertSet(AlertBadReply),
		},
		{
			name: "reply code without text", policy: allow(smtpPolicy, "STARTTLS"),
			steps: join(helo(), steps(C("STARTTLS\r\n"), S("220\r\n"))),
			pass:  true, mode: ModePassthrough,
		},
	}
}

func TestTranscripts(t *testing.T) {
	for _, tc := range transcriptCases() {
		t.Run(tc.name, func(t *testing.T) {
			o := play(tc.policy, tc.steps, whole)
			want := tc.want
			if want == "" {
				want = clientBytes(tc.steps)
			}
			if len(o.out) != len(clientBytes(tc.steps)) {
				t.Fatalf("length changed: %d, sent %d", len(o.out), len(clientBytes(tc.steps)))
			}
			if o.out != want {
				t.Errorf("server receives\n %q\nwant\n %q", o.out, want)
			}
			if o.alerts != tc.alerts {
				t.Errorf("alerts %v, want %v", o.alerts, tc.alerts)
			}
			if o.reset != tc.reset {
				t.Errorf("reset %v, want %v", o.reset, tc.reset)
			}
			if o.passthrough != tc.pass {
				t.Errorf("passthrough %v, want %v", o.passthrough, tc.pass)
			}
			if o.mode != tc.mode {
				t.Errorf("mode %v, want %v", o.mode, tc.mode)
			}
			if tc.verbs != nil && strings.Join(o.verbs, ",") != strings.Join(tc.verbs, ",") {
				t.Errorf("invalid verbs %q, want %q", o.verbs, tc.verbs)
			}
			if tc.params != nil && !equalParams(o.params, tc.params) {
				t.Errorf("violations %v, want %v", o.params, tc.params)
			}
			if t.Failed() || tc.segment {
				return
			}
			if tc.lookAlike {
				for _, split := range []splitter{bytewise, splitAt(len(tc.steps)-2, 1), splitAt(len(tc.steps)-2, 4)} {
					so := play(tc.policy, tc.steps, split)
					if so.alerts != o.alerts || so.reset != o.reset || so.mode != o.mode || len(so.out) != len(o.out) {
						t.Fatalf("split: %q %v %v, whole %q %v %v", so.out, so.alerts, so.mode, o.out, o.alerts, o.mode)
					}
				}
				return
			}
			checkSplits(t, tc.policy, tc.steps, o)
		})
	}
}

func equalParams(a, b []Param) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseVerb(t *testing.T) {
	for v := VerbDATA; v < numVerbs; v++ {
		got, ok := ParseVerb(strings.ToLower(v.String()))
		if !ok || got != 1<<v {
			t.Errorf("ParseVerb(%q) = %b, %v", v.String(), got, ok)
		}
	}
	for _, bad := range []string{"", "EXP", "EXPNN", "FOO", "STARTTL"} {
		if _, ok := ParseVerb(bad); ok {
			t.Errorf("ParseVerb(%q) ok", bad)
		}
	}
	if SMTPVerbs.Has(VerbEHLO) || !ESMTPVerbs.Has(VerbEHLO) || ESMTPVerbs.Has(VerbEXPN) {
		t.Error("verb sets")
	}
}

func TestEHLOKeywords(t *testing.T) {
	cases := []struct {
		reply string
		ext   ExtSet
		size  uint64
	}{
		{"250-mx PIPELINING\r\n250 8BITMIME\r\n", 1 << Ext8BITMIME, 0},
		{"250-mx\r\n250-pipelining\r\n250-Size 52428800\r\n250-AUTH=LOGIN\r\n250-AUTH PLAIN LOGIN\r\n250-ETRN\r\n" +
			"250-ENHANCEDSTATUSCODES\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250-DSN\r\n250-STARTTLS\r\n250-SIZEX\r\n250 XFORWARD NAME\r\n",
			1<<ExtPIPELINING | 1<<ExtSIZE | 1<<ExtAUTH | 1<<ExtETRN | 1<<ExtENHANCEDSTATUSCODES |
				1<<ExtBINARYMIME | 1<<ExtCHUNKING | 1<<ExtDSN | 1<<ExtSTARTTLS, 52428800},
		{"250-mx\r\n250 SIZE\r\n", 1 << ExtSIZE, 0},
		{"250-mx\r\n250 SIZE 99999999999999999999999\r\n", 1 << ExtSIZE, ^uint64(0)},
		{"250 mx PIPELINING\r\n", 0, 0},
		{"502 5.5.2 Error\r\n", 0, 0},
		{"250-mx\r\n251-PIPELINING\r\n250 DSN\r\n", 1 << ExtDSN, 0},
		{"250-mx\n250-PIPELINING\n250 DSN\n", 1<<ExtDSN | 1<<ExtPIPELINING, 0},
	}
	p := esmtpPolicy
	for _, tc := range cases {
		for _, split := range []splitter{whole, bytewise} {
			var s Session
			// A previous EHLO's extensions are forgotten.
			play1 := join(ehlo("SIZE 10", "DSN"), steps(C("EHLO again\r\n"), S(tc.reply)))
			for ei, st := range play1 {
				buf := []byte(st.data)
				off := 0
				for _, n := range split(ei, len(buf)) {
					if st.server {
						s.Server(&p, buf[off:off+n], nil)
					} else {
						s.Client(&p, buf[off:off+n], nil)
					}
					off += n
				}
			}
			ext, size := s.Extensions()
			if ext != tc.ext || size != tc.size {
				t.Errorf("%q: ext %b size %d, want %b %d", tc.reply, ext, size, tc.ext, tc.size)
			}
		}
	}
}

func TestModeStrings(t *testing.T) {
	for m := ModeCommand; m <= ModeClosed; m++ {
		if m.String() == "?" {
			t.Errorf("mode %d has no name", m)
		}
	}
	for k := AlertKind(0); k < numAlerts; k++ {
		if !strings.HasPrefix(k.String(), "SMTP_") {
			t.Errorf("alert %d: %q", k, k.String())
		}
	}
	if AlertInvalidCommand.String() != "SMTP_INVALID_COMMAND" || ParamNotify.String() != "NOTIFY" ||
		VerbSTARTTLS.String() != "STARTTLS" || ExtENHANCEDSTATUSCODES.String() != "ENHANCEDSTATUSCODES" {
		t.Error("names")
	}
}

func TestDataBytesAndReset(t *testing.T) {
	p := Policy{MaxData: 1000}
	var s Session
	for _, st := range join(helo(), envelope(), steps(C(strings.Repeat("a", 998)+"\r\n.\r\n"))) {
		b := []byte(st.data)
		if st.server {
			s.Server(&p, b, nil)
		} else if r := s.Client(&p, b, nil); r.Reset {
			t.Fatal("reset at exactly max-data")
		}
	}
	if s.DataBytes() != 1000 {
		t.Fatalf("DataBytes %d, want 1000 (the final .CRLF is not data)", s.DataBytes())
	}
	if s.Mode() != ModeCommand {
		t.Fatalf("mode %v", s.Mode())
	}
	s.Reset()
	if s != (Session{}) || s.Mode() != ModeCommand {
		t.Fatal("Reset did not clear the session")
	}
}
