package postfix

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cbac/examples"
	"cbac/lab"
)

// TestPostfixThroughCbacd runs real mail clients in the client namespace
// against Postfix on the mail server, through cbacd running the seed
// configuration unchanged ("ip inspect name OUT-IN smtp" with max-data
// 20000000, static NAT 10.10.10.2 <-> 172.22.1.110, access-list 101).
// The subtests share one lab, one cbacd and one Postfix: each uses its own
// mailbox (userN@lab.example) and looks at the logs written after it began.
func TestPostfixThroughCbacd(t *testing.T) {
	e := startEnv(t)
	t.Run("swaks legal mail delivered byte-identical", func(t *testing.T) { testSwaksLegalMail(t, e) })
	t.Run("smtplib illegal commands rewritten, session goes on", func(t *testing.T) { testSmtplibIllegalCommands(t, e) })
	t.Run("max_data 25MB message cut with RSTs", func(t *testing.T) { testMaxData(t, e) })
	if err := e.fw.exitedErr(); err != nil {
		t.Fatalf("%v during the tests:\n%s", err, e.fw.log())
	}
	// Still forwarding after the reset session.
	if err := e.probe(); err != nil {
		t.Errorf("client -> %s:25 after the tests: %v", mailGlobal, err)
	}
	if out, err := e.fw.show("show ip inspect statistics"); err != nil {
		t.Errorf("show ip inspect statistics: %v", err)
	} else {
		t.Logf("cbacd: show ip inspect statistics\n%s", out)
	}
}

// smtpdReceivedRE matches smtpd's verbose "< client: command" lines.
var smtpdReceivedRE = regexp.MustCompile(`(?m)postfix/smtpd\[\d+\]: < \S+\[` + regexp.QuoteMeta(clientAddr) + `\]: (.*)$`)

// smtpdReceived returns the command lines Postfix's smtpd logged as
// received from the client (debug_peer_list), in order.
func smtpdReceived(log string) []string {
	var cmds []string
	for _, m := range smtpdReceivedRE.FindAllStringSubmatch(log, -1) {
		cmds = append(cmds, m[1])
	}
	return cmds
}

// smtpVerbs are the legal verbs of the seed's "smtp" inspection (docs/behaviour.md
// "SMTP inspection"; EHLO, AUTH and ETRN belong to "esmtp" only).
var smtpVerbs = []string{"DATA", "HELO", "HELP", "MAIL", "NOOP", "QUIT", "RCPT", "RSET", "SAML", "SEND", "SOML", "VRFY"}

// xs is what cbacd makes of an illegal command line (docs/behaviour.md "SMTP inspection"):
// from the first byte at which the line is known to be illegal, that is
// the first byte at which it stops being the beginning of a legal verb, to
// the end of the line, every byte becomes 'x'; the length is kept. So
// "EXPN root" arrives as "xxxxxxxxx" but "VERB" as "Vxxx" (V could begin
// VRFY) and "STARTTLS" as "Sxxxxxxx" (S could begin SAML, SEND, SOML),
// whatever the segmentation.
func xs(line string) string {
	keep := 0
	for k := 1; k <= len(line) && k <= 4; k++ {
		p := strings.ToUpper(line[:k])
		if !slices.ContainsFunc(smtpVerbs, func(v string) bool { return strings.HasPrefix(v, p) }) {
			break
		}
		keep = k
	}
	return line[:keep] + strings.Repeat("x", len(line)-keep)
}

// smtpAlerts returns cbacd's %FW-4-SMTP_* log lines in log.
func smtpAlerts(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "%FW-4-SMTP_") {
			out = append(out, line)
		}
	}
	return out
}

// swaksBody is the body of the legal mail: command look-alikes (message
// lines are not commands), lines that need dot-stuffing (a lone ".", a
// leading "." and "..") and, to span many segments and windows, 3000
// numbered filler lines (about 250 KB).
// 7-bit ASCII only.
func swaksBody() string {
	lines := []string{
		"Body sent by swaks through cbacd (ip inspect OUT-IN smtp) to Postfix.",
		"EXPN root",
		".hidden",
		"..two dots",
		".",
		"...three dots",
		" . space before a dot",
		"VERB",
		"WIZ",
		"STARTTLS",
		"MAIL FROM:<intruder@outside.example>",
		"RCPT TO:<root@lab.example>",
		"DATA",
		"QUIT",
		"",
		"\tTAB, punctuation !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
	}
	for i := range 3000 {
		lines = append(lines, fmt.Sprintf("%04d EXPN root. .VERB. ..WIZ. The quick brown fox jumps over the lazy dog.", i))
		if i%100 == 0 {
			lines = append(lines, ".", "..", ".EXPN root")
		}
	}
	lines = append(lines, strings.Repeat("long line ", 90), "EXPN root", "last line")
	return strings.Join(lines, "\n") + "\n"
}

// postfixAddedHeader matches the header fields Postfix puts in front of a
// delivered message (Return-Path, X-Original-To, Delivered-To, Received).
var postfixAddedHeader = regexp.MustCompile(`^(Return-Path|X-Original-To|Delivered-To|Received):`)

// stripPostfixHeaders removes the header fields that Postfix prepends
// (with their continuation lines) from a delivered message.
func stripPostfixHeaders(msg string) string {
	for {
		nl := strings.IndexByte(msg, '\n')
		if nl < 0 || !postfixAddedHeader.MatchString(msg[:nl]) {
			return msg
		}
		msg = msg[nl+1:]
		for strings.HasPrefix(msg, " ") || strings.HasPrefix(msg, "\t") {
			nl = strings.IndexByte(msg, '\n')
			if nl < 0 {
				return ""
			}
			msg = msg[nl+1:]
		}
	}
}

// swaksSentData extracts the message swaks transmitted after DATA from its
// transcript (" -> " lines up to the lone "."), undoing the dot-stuffing,
// with LF line ends as Postfix stores a message in a Maildir.
func swaksSentData(transcript string) (string, error) {
	lines := strings.Split(strings.ReplaceAll(transcript, "\r\n", "\n"), "\n")
	i := 0
	for i < len(lines) && lines[i] != " -> DATA" {
		i++
	}
	for i < len(lines) && !strings.HasPrefix(lines[i], "<-  354") {
		i++
	}
	if i == len(lines) {
		return "", fmt.Errorf("no DATA answered by 354 in the swaks transcript")
	}
	var b strings.Builder
	for _, l := range lines[i+1:] {
		if !strings.HasPrefix(l, " -> ") {
			return "", fmt.Errorf("swaks transcript: %q inside DATA", l)
		}
		l = l[len(" -> "):]
		if l == "." {
			return b.String(), nil
		}
		l = strings.TrimPrefix(l, ".") // RFC 5321 4.5.2 transparency
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return "", fmt.Errorf("swaks transcript: DATA not ended by a lone \".\"")
}

// testSwaksLegalMail: a legal mail with command look-alikes and dot-stuffed
// lines in its body, sent by swaks, is delivered byte-identical.
func testSwaksLegalMail(t *testing.T, e *env) {
	start := time.Now()
	logFrom, fwFrom := e.mail.logSize(), len(e.fw.log())
	body := swaksBody()
	bodyFile := filepath.Join(t.TempDir(), "body.txt")
	if err := os.WriteFile(bodyFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := e.inNS(lab.RoleClient, 90*time.Second, nil, tool(t, "swaks"),
		"--server", mailGlobal, "--port", "25", "--timeout", "60",
		"--helo", "outside.example", "--from", "a@outside.example", "--to", "user1@lab.example",
		"--header", "Subject: cbac swaks legal mail", "--body", "@"+bodyFile)
	if err != nil {
		t.Fatalf("swaks: %v\n%s%s", err, out, stderr)
	}
	m := regexp.MustCompile(`(?m)^<-  250 2\.0\.0 Ok: queued as ([0-9A-F]+)\s*$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("swaks: no \"queued as\" reply:\n%s", out)
	}
	queueID := m[1]
	sent, err := swaksSentData(out)
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	// On the wire the leading dots were doubled (RFC 5321 4.5.2): the
	// inspector saw "..", "..hidden" and "...two dots" in data mode.
	for _, l := range []string{" -> ..", " -> ..hidden", " -> ...two dots"} {
		if !strings.Contains(strings.ReplaceAll(out, "\r\n", "\n"), "\n"+l+"\n") {
			t.Errorf("swaks did not send %q (dot-stuffed):\n%s", l, out)
		}
	}
	msgs := e.mail.waitMessages(t, "user1", 1, 30*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("user1: %d messages, want 1", len(msgs))
	}
	got := string(msgs[0])
	if !strings.Contains(got, "with SMTP id "+queueID) && !strings.Contains(got, "id "+queueID) {
		t.Errorf("delivered message is not %s:\n%s", queueID, tail(got, 5))
	}

	// The whole message, swaks's header fields included, is what swaks
	// sent (un-dot-stuffed), after the fields Postfix prepends.
	if delivered := stripPostfixHeaders(got); delivered != sent {
		i := firstDiff(delivered, sent)
		t.Errorf("delivered message (%d bytes) differs from what swaks sent (%d bytes) at byte %d\n--- delivered:\n%s\n--- sent:\n%s",
			len(delivered), len(sent), i, around(delivered, i), around(sent, i))
	}
	// The body part is the body file: swaks may only add empty lines at
	// its end.
	sep := strings.Index(got, "\n\n")
	if sep < 0 {
		t.Fatalf("delivered message has no body:\n%s", got)
	}
	gotBody := got[sep+2:]
	if !strings.HasPrefix(gotBody, body) || strings.Trim(gotBody[len(body):], "\n") != "" {
		t.Errorf("delivered body differs from the body sent at byte %d (%d bytes delivered, %d sent)",
			firstDiff(gotBody, body), len(gotBody), len(body))
	}

	// Postfix received the envelope untouched. The seed inspects "smtp",
	// not "esmtp": EHLO is not an SMTP verb (docs/behaviour.md "SMTP inspection"), so it
	// arrives as x's and swaks falls back to HELO.
	e.mail.waitLog(t, logFrom, regexp.MustCompile(queueID+`: to=<user1@lab\.example>.*status=sent`), 30*time.Second)
	log := e.mail.waitSession(t, logFrom, queueID, 30*time.Second)
	want := []string{xs("EHLO outside.example"), "HELO outside.example", "MAIL FROM:<a@outside.example>",
		"RCPT TO:<user1@lab.example>", "DATA", "QUIT"}
	if got := smtpdReceived(log); !slices.Equal(got, want) {
		t.Errorf("Postfix received commands\n  %q\nwant\n  %q", got, want)
	}
	// cbacd alerted on EHLO only: nothing in the body was taken for a
	// command.
	time.Sleep(300 * time.Millisecond) // alerts are pumped every 50 ms
	for _, a := range smtpAlerts(e.fw.log()[fwFrom:]) {
		if !strings.Contains(a, "SMTP_INVALID_COMMAND") || !strings.Contains(a, "(EHLO") {
			t.Errorf("cbacd alert during a legal mail: %s", a)
		}
	}
	t.Logf("delivered %d bytes (body %d bytes, %d lines) identical to what swaks sent, in %v",
		len(got), len(body), strings.Count(body, "\n"), time.Since(start).Round(time.Millisecond))
}

// smtplibSession runs in the client namespace: HELO after the EHLO that the
// "smtp" inspection rewrites, the illegal commands, NOOP, a legal VRFY, a
// mail in the same session, QUIT. It prints one JSON list of
// [command, code, reply text].
const smtplibSession = `
import json, smtplib, sys
host, rcpt, token = sys.argv[1], sys.argv[2], sys.argv[3]
out = []
s = smtplib.SMTP(timeout=60)
code, msg = s.connect(host, 25)
out.append(["CONNECT", code, msg.decode()])
code, msg = s.ehlo("outside.example")
out.append(["EHLO outside.example", code, msg.decode()])
code, msg = s.helo("outside.example")
out.append(["HELO outside.example", code, msg.decode()])
for cmd, arg in [("EXPN", "root"), ("VERB", ""), ("WIZ", ""), ("STARTTLS", ""), ("NOOP", ""), ("VRFY", rcpt)]:
    code, msg = s.docmd(cmd, arg)
    out.append([(cmd + " " + arg).strip(), code, msg.decode()])
body = ("From: a@outside.example\r\nTo: " + rcpt + "\r\nSubject: cbac smtplib " + token +
        "\r\nMessage-Id: <" + token + "@outside.example>" +
        "\r\n\r\nsent after EXPN, VERB, WIZ and STARTTLS in the same session\r\nEXPN root\r\n.\r\n")
refused = s.sendmail("a@outside.example", [rcpt], body)
out.append(["SENDMAIL", 250 if not refused else 550, json.dumps(refused)])
code, msg = s.docmd("QUIT")
out.append(["QUIT", code, msg.decode()])
s.close()
print(json.dumps(out))
`

// testSmtplibIllegalCommands: EXPN root, VERB, WIZ and STARTTLS reach
// Postfix as x's and get 5xx; NOOP, VRFY and a mail in the same session
// still work.
func testSmtplibIllegalCommands(t *testing.T, e *env) {
	start := time.Now()
	logFrom, fwFrom := e.mail.logSize(), len(e.fw.log())
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	out, stderr, err := e.inNS(lab.RoleClient, 90*time.Second, nil, tool(t, "python3"), "-c", smtplibSession,
		mailGlobal, "user2@lab.example", token)
	if err != nil {
		t.Fatalf("smtplib session: %v\n%s%s", err, out, stderr)
	}
	var replies [][3]any
	if err := json.Unmarshal([]byte(out), &replies); err != nil {
		t.Fatalf("smtplib output: %v\n%s%s", err, out, stderr)
	}
	codes := map[string]int{}
	for _, r := range replies {
		cmd, _ := r[0].(string)
		code, _ := r[1].(float64)
		codes[cmd] = int(code)
		t.Logf("%-22s -> %d %v", cmd, int(code), r[2])
	}
	want := []struct {
		cmd    string
		lo, hi int
	}{
		{"CONNECT", 220, 220},
		{"EHLO outside.example", 500, 599}, // not an SMTP verb under "smtp"
		{"HELO outside.example", 250, 250},
		{"EXPN root", 500, 599},
		{"VERB", 500, 599},
		{"WIZ", 500, 599},
		{"STARTTLS", 500, 599},
		{"NOOP", 250, 250},
		{"VRFY user2@lab.example", 250, 252}, // legal, reaches Postfix intact
		{"SENDMAIL", 250, 250},
		{"QUIT", 221, 221},
	}
	for _, w := range want {
		c, ok := codes[w.cmd]
		if !ok || c < w.lo || c > w.hi {
			t.Errorf("%s: reply %d, want %d..%d", w.cmd, c, w.lo, w.hi)
		}
	}

	// The mail sent after the rejected commands is delivered.
	msgs := e.mail.waitMessages(t, "user2", 1, 30*time.Second)
	if !strings.Contains(string(msgs[len(msgs)-1]), "Subject: cbac smtplib "+token) ||
		!strings.Contains(string(msgs[len(msgs)-1]), "\nEXPN root\n.\n") {
		t.Errorf("user2's message is not the one sent:\n%s", msgs[len(msgs)-1])
	}

	// Postfix's log shows what arrived: the illegal lines as x's of the
	// same length, the legal ones untouched. The session is the one whose
	// message got queue ID id (cleanup logs the Message-Id).
	idRE := regexp.MustCompile(`cleanup\[\d+\]: ([0-9A-F]+): message-id=<` + token + `@outside\.example>`)
	queueID := idRE.FindStringSubmatch(e.mail.waitLog(t, logFrom, idRE, 30*time.Second))[1]
	log := e.mail.waitSession(t, logFrom, queueID, 30*time.Second)
	// smtplib sends its own commands in lower case ("helo", "mail FROM:"),
	// the docmd ones as given: all arrive byte for byte.
	wantCmds := []string{xs("ehlo outside.example"), "helo outside.example",
		xs("EXPN root"), xs("VERB"), xs("WIZ"), xs("STARTTLS"), "NOOP", "VRFY user2@lab.example",
		"mail FROM:<a@outside.example>", "rcpt TO:<user2@lab.example>", "data", "QUIT"}
	if got := smtpdReceived(log); !slices.Equal(got, wantCmds) {
		t.Errorf("Postfix received commands\n  %q\nwant\n  %q", got, wantCmds)
	}
	for _, bad := range []string{"EXPN", "VERB", "WIZ", "STARTTLS"} {
		if regexp.MustCompile(`: < \S+\[[0-9.]+\]: (?i:` + bad + `)\b`).MatchString(log) {
			t.Errorf("Postfix received %s in clear", bad)
		}
	}
	// cbacd alerted on the illegal commands.
	deadline := time.Now().Add(5 * time.Second)
	for {
		alerts := strings.Join(smtpAlerts(e.fw.log()[fwFrom:]), "\n")
		missing := ""
		for _, v := range []string{"EXPN", "VERB", "WIZ", "STARTTLS"} {
			if !strings.Contains(alerts, "%FW-4-SMTP_INVALID_COMMAND: Invalid SMTP command ("+v) {
				missing += " " + v
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("cbacd log: no %%FW-4-SMTP_INVALID_COMMAND for%s; alerts:\n%s", missing, alerts)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("session with 5 rejected commands and a delivered mail in %v", time.Since(start).Round(time.Millisecond))
}

// smtplibBigMail sends a message of argv[3] bytes and prints JSON: how it
// ended and, for an error, the exception and the socket error under it.
const smtplibBigMail = `
import json, smtplib, sys
host, rcpt, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
res = {}
line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\r\n"
head = ("From: a@outside.example\r\nTo: " + rcpt + "\r\nSubject: cbac max-data\r\n\r\n").encode()
msg = head + line * ((size - len(head)) // len(line) + 1)
res["size"] = len(msg)
s = smtplib.SMTP(timeout=60)
try:
    res["connect"] = s.connect(host, 25)[0]
    res["helo"] = s.helo("outside.example")[0]
    s.sendmail("a@outside.example", [rcpt], msg)
    res["result"] = "sent"
except Exception as e:
    res["result"] = "error"
    res["error"] = type(e).__name__ + ": " + str(e)
    c = e.__context__ or e.__cause__
    if c is not None:
        res["cause"] = type(c).__name__ + ": " + str(c)
        res["errno"] = getattr(c, "errno", None)
print(json.dumps(res))
`

// testMaxData: the seed's max_data (20000000) cuts a 25 MB message: both
// ends get RSTs, nothing is delivered, cbacd logs %FW-4-SMTP_MAX_DATA.
func testMaxData(t *testing.T, e *env) {
	if !regexp.MustCompile(`(?m)^smtp = \{ max_data = 20000000 \}`).Match(examples.Seed3640) {
		t.Fatalf("the seed configuration no longer has smtp = { max_data = 20000000 } under OUT-IN:\n%s", examples.Seed3640)
	}
	const size = 25 << 20
	start := time.Now()
	logFrom, fwFrom := e.mail.logSize(), len(e.fw.log())
	clientResets, mailResets := e.tcpEstabResets(t, lab.RoleClient), e.tcpEstabResets(t, lab.RoleMail)

	out, stderr, err := e.inNS(lab.RoleClient, 150*time.Second, nil, tool(t, "python3"), "-c", smtplibBigMail,
		mailGlobal, "user3@lab.example", strconv.Itoa(size))
	if err != nil {
		t.Fatalf("smtplib: %v\n%s%s", err, out, stderr)
	}
	elapsed := time.Since(start)
	var res struct {
		Size    int
		Connect int
		Helo    int
		Result  string
		Error   string
		Cause   string
		Errno   *int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("smtplib output: %v\n%s%s", err, out, stderr)
	}
	t.Logf("client: %d-byte message: %s %s (%s) after %v", res.Size, res.Result, res.Error, res.Cause, elapsed.Round(time.Millisecond))
	if res.Connect != 220 || res.Helo != 250 {
		t.Fatalf("session did not start: connect %d, HELO %d", res.Connect, res.Helo)
	}
	if res.Result != "error" || !strings.Contains(strings.ToLower(res.Error+res.Cause), "reset") {
		t.Errorf("client: want the session reset (ECONNRESET), got %s %s %s", res.Result, res.Error, res.Cause)
	}

	// cbacd's alert.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.fw.log()[fwFrom:], "%FW-4-SMTP_MAX_DATA") {
		if time.Now().After(deadline) {
			t.Errorf("cbacd log: no %%FW-4-SMTP_MAX_DATA; since the test began:\n%s", e.fw.log()[fwFrom:])
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Postfix lost the connection in DATA, before the end of the message.
	log := e.mail.waitLog(t, logFrom, regexp.MustCompile(`lost connection after DATA \(\d+ bytes\) from \S+\[`+regexp.QuoteMeta(clientAddr)+`\]`), 30*time.Second)
	m := regexp.MustCompile(`lost connection after DATA \((\d+) bytes\)`).FindStringSubmatch(log)
	// At most max_data bytes reached Postfix, and not much less: the
	// slack is what a receive buffer may hold unread when the RST comes.
	if n, _ := strconv.Atoi(m[1]); n > 20000000 || n < 20000000-4<<20 {
		t.Errorf("Postfix received %d bytes of message data, want just under max_data 20000000", n)
	} else {
		t.Logf("Postfix: lost connection after DATA (%d bytes), max_data 20000000", n)
	}
	// Both ends went from ESTABLISHED straight to CLOSED: an RST each.
	if n := e.tcpEstabResets(t, lab.RoleClient) - clientResets; n < 1 {
		t.Errorf("client namespace: Tcp EstabResets +%d, want an RST received", n)
	}
	if n := e.tcpEstabResets(t, lab.RoleMail) - mailResets; n < 1 {
		t.Errorf("mail namespace: Tcp EstabResets +%d, want an RST received", n)
	}
	// Nothing delivered: give the queue manager time to show otherwise.
	time.Sleep(2 * time.Second)
	if msgs, err := e.mail.messages("user3"); err != nil || len(msgs) != 0 {
		t.Errorf("user3: %d messages delivered (%v), want none", len(msgs), err)
	}
	if strings.Contains(e.mail.log()[logFrom:], "to=<user3@lab.example>") {
		t.Errorf("maillog: a delivery attempt to user3:\n%s", tail(e.mail.log()[logFrom:], 20))
	}
}

// around returns the lines of s around offset i.
func around(s string, i int) string {
	lo, hi := max(0, i-300), min(len(s), i+300)
	return s[lo:hi]
}

// firstDiff is the offset of the first byte where a and b differ.
func firstDiff(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
