package postfix

import (
	"slices"
	"strings"
	"testing"
)

// The helpers that turn clients' transcripts and Postfix's files into
// expectations run without root.

func TestXs(t *testing.T) {
	cases := []struct{ in, want string }{
		{"EXPN root", "xxxxxxxxx"},
		{"VERB", "Vxxx"},
		{"WIZ", "xxx"},
		{"STARTTLS", "Sxxxxxxx"},
		{"EHLO outside.example", "xxxxxxxxxxxxxxxxxxxx"},
		{"ehlo outside.example", "xxxxxxxxxxxxxxxxxxxx"},
		{"DEBUG", "Dxxxx"}, // D could begin DATA
		{"HEXX", "HExx"},   // HE could begin HELO, HELP
		{"SEX", "SEx"},
		{"", ""},
	}
	for _, c := range cases {
		if got := xs(c.in); got != c.want {
			t.Errorf("xs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSwaksSentData(t *testing.T) {
	transcript := "=== Connected to 172.22.1.110.\n" +
		"<-  220 mail.lab.example ESMTP\n -> HELO outside.example\n<-  250 mail.lab.example\n" +
		" -> DATA\n<-  354 End data with <CR><LF>.<CR><LF>\n" +
		" -> Subject: s\n -> \n -> EXPN root\n -> ..hidden\n -> ...two dots\n -> ..\n -> last\n -> .\n" +
		"<-  250 2.0.0 Ok: queued as 1234ABC\n -> QUIT\n"
	got, err := swaksSentData(transcript)
	want := "Subject: s\n\nEXPN root\n.hidden\n..two dots\n.\nlast\n"
	if err != nil || got != want {
		t.Errorf("swaksSentData = %q, %v; want %q", got, err, want)
	}
	if _, err := swaksSentData(" -> DATA\n<-  354 go\n -> never ended\n"); err == nil {
		t.Error("unterminated DATA: want an error")
	}
	if _, err := swaksSentData(" -> DATA\n<-  554 no\n"); err == nil {
		t.Error("DATA refused: want an error")
	}
}

func TestStripPostfixHeaders(t *testing.T) {
	msg := "Return-Path: <a@outside.example>\nX-Original-To: u@lab.example\nDelivered-To: u@lab.example\n" +
		"Received: from outside.example (unknown [172.22.1.100])\n\tby mail.lab.example (Postfix) with SMTP id 1\n" +
		"\tfor <u@lab.example>; Mon, 23 Nov 2026 16:18:14 +0000 (UTC)\n" +
		"Date: now\nReceived: by the client\n\nbody\n"
	want := "Date: now\nReceived: by the client\n\nbody\n"
	if got := stripPostfixHeaders(msg); got != want {
		t.Errorf("stripPostfixHeaders = %q, want %q", got, want)
	}
}

func TestSmtpdSession(t *testing.T) {
	log := "Nov 23 mail postfix/smtpd[7]: connect from unknown[172.22.1.100]\n" +
		"Nov 23 mail postfix/smtpd[7]: < unknown[172.22.1.100]: QUIT\n" +
		"Nov 23 mail postfix/smtpd[7]: disconnect from unknown[172.22.1.100] quit=1 commands=1\n" +
		"Nov 23 mail postfix/smtpd[7]: connect from unknown[172.22.1.100]\n" +
		"Nov 23 mail postfix/smtpd[7]: < unknown[172.22.1.100]: HELO a\n" +
		"Nov 23 mail postfix/smtpd[8]: connect from unknown[172.22.1.100]\n" +
		"Nov 23 mail postfix/smtpd[7]: ABC12: client=unknown[172.22.1.100]\n" +
		"Nov 23 mail postfix/cleanup[9]: ABC12: message-id=<x@y>\n" +
		"Nov 23 mail postfix/smtpd[7]: < unknown[172.22.1.100]: DATA\n"
	if _, ok := smtpdSession(log, "ABC12"); ok {
		t.Error("session without its disconnect: want ok false")
	}
	log += "Nov 23 mail postfix/smtpd[7]: disconnect from unknown[172.22.1.100] helo=1\n" +
		"Nov 23 mail postfix/smtpd[7]: < unknown[172.22.1.100]: NOOP\n"
	lines, ok := smtpdSession(log, "ABC12")
	if got, want := smtpdReceived(strings.Join(lines, "\n")), []string{"HELO a", "DATA"}; !ok || !slices.Equal(got, want) {
		t.Errorf("session commands %q (ok %v), want %q", got, ok, want)
	}
	if _, ok := smtpdSession(log, "FFF"); ok {
		t.Error("unknown queue ID: want ok false")
	}
}
