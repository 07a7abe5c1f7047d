package integration

// FTP through cbacd with real servers and clients: pyftpdlib (Debian
// python3-pyftpdlib) as the server, curl and lftp as clients, each started
// inside a lab namespace. "ip inspect name IN-OUT ... ftp" of the seed must
// let an inside host use active and passive FTP to the outside (PORT/EPRT
// translated to the host's global address, the server's connect-back let
// through ACL 101 as a child of the control session), refuse FTP bounce,
// privileged ports and PORT before login with IOS's messages, and, with ftp
// added to OUT-IN, serve the inside mail host's FTP server to the outside
// through static NAT (227 translated to the global address).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/lab"
)

const (
	ftpUser         = "cbac"
	ftpPassword     = "lab-secret"
	ftpFileSize     = 10 << 20          // bytes of each RETR and STOR
	ftpCommandLimit = 150 * time.Second // one client run: LIST, RETR and STOR of 10 MB
	ftpServerStart  = 30 * time.Second
)

// needFTPTools fails the test unless the FTP server and clients are
// installed: .ci/run installs them.
func needFTPTools(t *testing.T) {
	t.Helper()
	for _, tool := range []struct{ name, pkg string }{{"curl", "curl"}, {"lftp", "lftp"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Fatalf("%s is not installed: apt-get install %s (.ci/run installs it)", tool.name, tool.pkg)
		}
	}
	if err := lab.CheckFTP(context.Background()); err != nil {
		t.Fatalf("%v (.ci/run installs it)", err)
	}
}

// ftpServer is pyftpdlib running inside a lab namespace.
type ftpServer struct {
	addr string // listening address, port 21
	root string // the user's home directory, writable
	proc *process
}

// startFTPServer runs pyftpdlib on addr:21 in role's namespace with one
// user (ftpUser) whose writable home is a new directory under dir, active
// and passive mode allowed (passive ports lab.FTPPassiveLow-High), debug log of
// every command and reply. It returns once the server listens.
func startFTPServer(t *testing.T, l *lab.Lab, role, addr, dir string) *ftpServer {
	t.Helper()
	root := filepath.Join(dir, "ftp-"+role)
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := l.FTPCommand(context.Background(), lab.FTPServer{Role: role, Addr: addr, Root: root,
		User: ftpUser, Password: ftpPassword, Write: true, Debug: true})
	p := startProcess(t, "pyftpdlib in "+l.NS(role), cmd.Args...)
	if !p.waitOutput("starting FTP server", ftpServerStart) {
		t.Fatalf("pyftpdlib on %s:21 did not start within %v:\n%s", addr, ftpServerStart, p.out.String())
	}
	return &ftpServer{addr: addr, root: root, proc: p}
}

// ftpLogLineRE matches pyftpdlib's debug lines of a command received
// ("<-") or a reply sent ("->"): the session (client address and port) and
// the text.
var ftpLogLineRE = regexp.MustCompile(`(?m)\] (\S+)-\[\S*\] (<-|->) (.*)$`)

// ftpDataVerbs are the commands that set up a data connection.
var ftpDataVerbs = []string{"PORT", "EPRT", "PASV", "EPSV"}

// logLen is the length of the server's log now: an offset for checkMode.
func (s *ftpServer) logLen() int { return len(s.proc.out.String()) }

// checkMode fails the test unless the server, after log offset from,
// received at least one data command, only ones of want (the client used
// the mode under test and did not fall back to another), and answered none
// of them with an error.
func (s *ftpServer) checkMode(t *testing.T, what string, from int, want ...string) {
	t.Helper()
	last := map[string]string{} // session -> its last data command line
	n := 0
	for _, m := range ftpLogLineRE.FindAllStringSubmatch(s.proc.out.String()[from:], -1) {
		session, dir, text := m[1], m[2], strings.TrimSpace(m[3])
		verb, _, _ := strings.Cut(text, " ")
		switch {
		case dir == "<-" && slices.Contains(ftpDataVerbs, verb):
			n++
			last[session] = text
			if !slices.Contains(want, verb) {
				t.Errorf("%s: the server received %q, want only %v", what, text, want)
			}
		case dir == "<-":
			delete(last, session)
		case last[session] != "" && (text[0] == '4' || text[0] == '5'):
			t.Errorf("%s: the server answered %q with %q", what, last[session], text)
			delete(last, session)
		}
	}
	if n == 0 {
		t.Errorf("%s: the server received none of %v", what, want)
	}
}

// ftpFile writes n random bytes (seeded) to path and returns their SHA-256.
func ftpFile(t *testing.T, path string, seed uint64, n int) [32]byte {
	t.Helper()
	b := randomBytes(rand.New(rand.NewPCG(seed, 0xf7)), n)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// fileSum returns the SHA-256 and size of the file at path.
func fileSum(path string) ([32]byte, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, 0, err
	}
	return sha256.Sum256(b), len(b), nil
}

// sameFile fails the test unless the file at got has want's content.
func sameFile(t *testing.T, what, got, want string) {
	t.Helper()
	gs, gn, err := fileSum(got)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	ws, wn, err := fileSum(want)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if gs != ws {
		t.Errorf("%s: %s (%d bytes, sha256 %x) differs from %s (%d bytes, sha256 %x)", what, got, gn, gs[:8], want, wn, ws[:8])
	}
}

// runIn runs argv in role's namespace, bounded by limit, and returns its
// combined output and how long it took.
func runIn(l *lab.Lab, role string, limit time.Duration, argv ...string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := l.Exec(ctx, role, argv...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return string(out), time.Since(start), err
}

// mbps is the rate of n bytes in d, in MB/s.
func mbps(n int, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

// waitFTPBanner waits until a control connection from role to addr:21
// through cbacd gets the server's 220.
func waitFTPBanner(t *testing.T, l *lab.Lab, role, addr string, fw *process) {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < readyTimeout && !fw.exited() {
		if last = ftpProbe(l, role, addr); last == nil {
			t.Logf("%s -> %s:21 through cbacd answered after %v", role, addr, time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no FTP banner from %s:21 (from %s): %v", addr, role, last)
}

func ftpProbe(l *lab.Lab, role, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := l.Dial(ctx, role, "tcp4", addr+":21")
	if err != nil {
		return err
	}
	defer c.Close()
	fc := newSMTPClient(c)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if code, text, err := fc.reply(); err != nil || code != "220" {
		return fmt.Errorf("banner %q: %v", text, err)
	}
	_, err = fc.cmd("QUIT", "221")
	return err
}

// curlFTP is one curl run's mode: its options and a name for files.
type curlFTP struct {
	name string
	opts []string
	verb string // the data command the server must receive
}

// curlModes are the data connection modes curl offers: passive with EPSV
// and with PASV (the 227 address used, not replaced by the control
// connection's), active with EPRT and with PORT.
var curlModes = []curlFTP{
	{"passive-epsv", nil, "EPSV"},
	{"passive-pasv", []string{"--disable-epsv", "--no-ftp-skip-pasv-ip"}, "PASV"},
	{"active-eprt", []string{"--ftp-port", "-"}, "EPRT"},
	{"active-port", []string{"--ftp-port", "-", "--disable-eprt"}, "PORT"},
}

// curlTransfers runs curl from role against srv (reached as addr) in mode
// m: LIST of the home directory, RETR of srv.root/big.bin and STOR of a new
// 10 MB file, each checked end to end.
func curlTransfers(t *testing.T, l *lab.Lab, role, addr string, srv *ftpServer, dir string, m curlFTP, seed uint64) {
	base := []string{"curl", "-sS", "--show-error", "--connect-timeout", "10", "--max-time", "120",
		"-u", ftpUser + ":" + ftpPassword}
	base = append(base, m.opts...)
	url := "ftp://" + addr + "/"

	from := srv.logLen()
	defer func() { srv.checkMode(t, "curl "+m.name, from, m.verb) }()
	// runCurl runs one curl command. In active mode curl gives up with
	// exit status 8 (weird server reply) when the server's reply to the
	// transfer command reaches it before the data connection it waits to
	// accept: pyftpdlib connects back at PORT/EPRT time and answers 125 at
	// once, and with several workers the control and data connections
	// are different workers' flows, not ordered with each other (as on
	// any multi-queue router). The server's log shows the transfer
	// complete; curl's command is run once more then, and logged.
	runCurl := func(argv ...string) (string, time.Duration, error) {
		out, d, err := runIn(l, role, ftpCommandLimit, argv...)
		var ee *exec.ExitError
		if m.verb != "EPRT" && m.verb != "PORT" || !errors.As(err, &ee) || ee.ExitCode() != 8 {
			return out, d, err
		}
		t.Logf("curl %s: exit status 8 (the server's reply overtook the data connection): %q; once more", m.name, out)
		return runIn(l, role, ftpCommandLimit, argv...)
	}
	out, _, err := runCurl(append(base, "--list-only", url)...)
	if err != nil || !strings.Contains(out, "big.bin") {
		t.Errorf("LIST (NLST) %s: %v: %q", m.name, err, out)
	}
	out, _, err = runCurl(append(base, url)...)
	if err != nil || !regexp.MustCompile(`(?m) 10485760 .* big\.bin\r?$`).MatchString(out) {
		t.Errorf("LIST %s: %v: %q", m.name, err, out)
	}

	got := filepath.Join(dir, "retr-"+m.name+".bin")
	out, d, err := runCurl(append(base, "-o", got, url+"big.bin")...)
	if err != nil {
		t.Errorf("RETR %s: %v: %s", m.name, err, out)
	} else {
		sameFile(t, "RETR "+m.name, got, filepath.Join(srv.root, "big.bin"))
		t.Logf("curl %s: RETR %d bytes in %v (%.1f MB/s)", m.name, ftpFileSize, d.Round(time.Millisecond), mbps(ftpFileSize, d))
	}

	up := filepath.Join(dir, "stor-"+m.name+".bin")
	ftpFile(t, up, seed, ftpFileSize)
	out, d, err = runCurl(append(base, "-T", up, url+"stor-"+m.name+".bin")...)
	if err != nil {
		t.Errorf("STOR %s: %v: %s", m.name, err, out)
	} else {
		sameFile(t, "STOR "+m.name, filepath.Join(srv.root, "stor-"+m.name+".bin"), up)
		t.Logf("curl %s: STOR %d bytes in %v (%.1f MB/s)", m.name, ftpFileSize, d.Round(time.Millisecond), mbps(ftpFileSize, d))
	}
}

// lftpTransfers runs one lftp session from role against srv: ls, get of
// big.bin and put of a new 10 MB file, passive or active.
func lftpTransfers(t *testing.T, l *lab.Lab, role, addr string, srv *ftpServer, dir string, passive bool, seed uint64) {
	mode, verbs := "active", []string{"PORT", "EPRT"}
	if passive {
		mode, verbs = "passive", []string{"PASV", "EPSV"}
	}
	from := srv.logLen()
	defer func() { srv.checkMode(t, "lftp "+mode, from, verbs...) }()
	got := filepath.Join(dir, "lftp-get-"+mode+".bin")
	up := filepath.Join(dir, "lftp-put-"+mode+".bin")
	ftpFile(t, up, seed, ftpFileSize)
	script := strings.Join([]string{
		"set cmd:fail-exit yes", "set net:max-retries 1", "set net:timeout 20", "set net:reconnect-interval-base 1",
		"set ftp:ssl-allow no", fmt.Sprintf("set ftp:passive-mode %v", passive),
		fmt.Sprintf("open -u %s,%s ftp://%s", ftpUser, ftpPassword, addr),
		"cls -l", "get big.bin -o " + got, "put " + up + " -o lftp-put-" + mode + ".bin",
	}, "; ")
	out, d, err := runIn(l, role, ftpCommandLimit, "lftp", "-c", script)
	if err != nil {
		t.Errorf("lftp %s: %v: %s", mode, err, out)
		return
	}
	if !strings.Contains(out, "big.bin") {
		t.Errorf("lftp %s: ls does not list big.bin: %q", mode, out)
	}
	sameFile(t, "lftp get "+mode, got, filepath.Join(srv.root, "big.bin"))
	sameFile(t, "lftp put "+mode, filepath.Join(srv.root, "lftp-put-"+mode+".bin"), up)
	t.Logf("lftp %s: ls, get and put of %d bytes each in %v", mode, ftpFileSize, d.Round(time.Millisecond))
}

// ftpLogLines returns cbacd's log lines that contain name (e.g.
// "%FW-3-FTP_NON_MATCHING_IP_ADDR").
func ftpLogLines(log, name string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, name) {
			out = append(out, line)
		}
	}
	return out
}

// waitLog waits until p's output after offset from has a line with name.
func waitLog(p *process, from int, name string, limit time.Duration) []string {
	var lines []string
	waitFor(func() bool {
		lines = ftpLogLines(p.out.String()[from:], name)
		return len(lines) > 0
	}, limit)
	return lines
}

// TestFTPInsideOut: the seed configuration unchanged, pyftpdlib on the
// upstream host 172.22.1.1, curl and lftp on the inside host 10.10.10.5
// (172.22.1.111 outside). Every mode moves 10 MB each way byte-identical;
// the bounce checks answer with IOS's messages.
func TestFTPInsideOut(t *testing.T) {
	needRoot(t)
	needFTPTools(t)
	l := upLab(t, "fo")
	dir := t.TempDir()
	sock := filepath.Join(dir, "cbacd.sock")
	fw := startCbacd(t, l, seedPath(t), sock)
	const server = "172.22.1.1"
	srv := startFTPServer(t, l, lab.RoleUpstream, server, dir)
	ftpFile(t, filepath.Join(srv.root, "big.bin"), 1, ftpFileSize)
	waitFTPBanner(t, l, lab.RoleHost, server, fw)

	for i, m := range curlModes {
		t.Run("curl "+m.name, func(t *testing.T) {
			curlTransfers(t, l, lab.RoleHost, server, srv, dir, m, uint64(10+i))
		})
	}
	t.Run("lftp passive", func(t *testing.T) { lftpTransfers(t, l, lab.RoleHost, server, srv, dir, true, 20) })
	t.Run("lftp active", func(t *testing.T) { lftpTransfers(t, l, lab.RoleHost, server, srv, dir, false, 21) })
	t.Run("data channel in show ip inspect sessions", func(t *testing.T) {
		testFTPDataSession(t, l, sock, srv, dir)
	})
	t.Run("bounce, privileged port and PORT before login refused", func(t *testing.T) {
		testFTPBounce(t, l, fw, srv, sock)
	})
	if fw.exited() {
		t.Fatalf("cbacd exited during the tests: %v", fw.err)
	}
	checkPinholes(t, ctl(t, sock, "show", "ip", "inspect", "statistics"))
}

// ftpStatsRE finds the FTP line of `show ip inspect statistics`.
var ftpStatsRE = regexp.MustCompile(`(?m)^FTP inspection: .*data connections announced (\d+), admitted (\d+), waiting (\d+) \((\d+) expired\), not opened \(table full\) (\d+)$`)

// checkPinholes logs the statistics and fails the test unless every data
// connection announced was admitted: each client and server used the one it
// announced, none timed out, none was refused for room.
func checkPinholes(t *testing.T, stats string) {
	t.Helper()
	t.Logf("show ip inspect statistics:\n%s", stats)
	m := ftpStatsRE.FindStringSubmatch(stats)
	if m == nil {
		t.Errorf("no FTP inspection line in show ip inspect statistics")
		return
	}
	if m[1] == "0" || m[1] != m[2] || m[3] != "0" || m[4] != "0" || m[5] != "0" {
		t.Errorf("pinholes: %s", m[0])
	}
}

// TestFTPInsideOutWorkers: the seed unchanged on a lab whose firewall
// links have 2 queues, so cbacd runs 2 workers and a data connection may
// hash to another worker than its control connection (the pinhole is
// shared). Active and passive curl runs, repeated, each byte-identical.
func TestFTPInsideOutWorkers(t *testing.T) {
	needRoot(t)
	needFTPTools(t)
	l := upLabQueues(t, "fw", 2)
	dir := t.TempDir()
	sock := filepath.Join(dir, "cbacd.sock")
	fw := startCbacd(t, l, seedPath(t), sock)
	if !fw.waitOutput("2 worker(s)", 5*time.Second) {
		t.Fatalf("cbacd does not run 2 workers:\n%s", fw.out.String())
	}
	const server = "172.22.1.1"
	srv := startFTPServer(t, l, lab.RoleUpstream, server, dir)
	ftpFile(t, filepath.Join(srv.root, "big.bin"), 3, ftpFileSize)
	waitFTPBanner(t, l, lab.RoleHost, server, fw)
rounds:
	for round := range 3 {
		for i, m := range curlModes {
			m.name = fmt.Sprintf("%s-%d", m.name, round)
			ok := t.Run("curl "+m.name, func(t *testing.T) {
				curlTransfers(t, l, lab.RoleHost, server, srv, dir, m, uint64(100+10*round+i))
			})
			if !ok {
				// A stalled transfer costs curl's --max-time per command.
				break rounds
			}
		}
	}
	if fw.exited() {
		t.Fatalf("cbacd exited during the tests: %v", fw.err)
	}
	stats := ctl(t, sock, "show", "ip", "inspect", "statistics")
	t.Logf("show ip inspect statistics:\n%s", stats)
	if n := statValue(stats, "inbound ACL deny"); n != 0 {
		t.Errorf("inbound ACL deny %d: a data connection missed its pinhole", n)
	}
}

// sessionLineRE parses a line of `show ip inspect sessions`: indent, ID,
// initiator address and port, responder address and port, kind, state.
var sessionLineRE = regexp.MustCompile(`(?m)^( +)Session ([0-9A-F]+) \(([0-9.]+):(\d+)\)=>\(([0-9.]+):(\d+)\) (\S+) (\S+)$`)

// sessionIDs returns the IDs of the sessions listed in sessions.
func sessionIDs(sessions string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range sessionLineRE.FindAllStringSubmatch(sessions, -1) {
		ids[m[2]] = true
	}
	return ids
}

// ftpDataSession returns the first session not in old that server opened
// to the inside host (10.10.10.5, or 172.22.1.111 as the server sees it)
// from a port other than 21, an active-mode FTP data connection, and the
// line it is indented under (its parent), "" if none.
func ftpDataSession(sessions, server string, old map[string]bool) (line, parent string) {
	var stack []string // enclosing lines by indent depth
	for _, m := range sessionLineRE.FindAllStringSubmatch(sessions, -1) {
		depth := len(m[1]) - 1
		stack = append(stack[:min(depth, len(stack))], m[0])
		if !old[m[2]] && m[3] == server && m[4] != "21" && (m[5] == "10.10.10.5" || m[5] == "172.22.1.111") {
			if depth > 0 && len(stack) > 1 {
				parent = stack[len(stack)-2]
			}
			return m[0], parent
		}
	}
	return "", ""
}

// testFTPDataSession runs a rate-limited active STOR (10 MB at 2 MB/s) in
// the background and polls `show ip inspect sessions` until the data
// connection shows while curl runs: an ftp-data session indented under
// its ftp control session. Then it lets the transfer finish and checks it.
func testFTPDataSession(t *testing.T, l *lab.Lab, sock string, srv *ftpServer, dir string) {
	server := srv.addr
	from := srv.logLen()
	defer func() { srv.checkMode(t, "rate-limited curl active-port", from, "PORT") }()
	up := filepath.Join(dir, "stor-slow.bin")
	ftpFile(t, up, 50, ftpFileSize)
	// Sessions of earlier transfers may still be terminating.
	old := sessionIDs(ctl(t, sock, "show", "ip", "inspect", "sessions"))
	ctx, cancel := context.WithTimeout(context.Background(), ftpCommandLimit)
	defer cancel()
	cmd := l.Exec(ctx, lab.RoleHost, "curl", "-sS", "--connect-timeout", "10", "--max-time", "120",
		"--limit-rate", "2M", "--ftp-port", "-", "--disable-eprt", "-u", ftpUser+":"+ftpPassword, "-T", up,
		"ftp://"+server+"/stor-slow.bin")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var sessions, line, parent string
	var seenAt time.Duration
	deadline := time.Now().Add(60 * time.Second)
poll:
	for time.Now().Before(deadline) {
		sessions = ctl(t, sock, "show", "ip", "inspect", "sessions")
		if line, parent = ftpDataSession(sessions, server, old); line != "" {
			seenAt = time.Since(start)
			break
		}
		select {
		case err := <-done:
			done <- err
			break poll
		case <-time.After(200 * time.Millisecond):
		}
	}
	running := false
	select {
	case err := <-done:
		done <- err
	default:
		running = true
	}
	switch {
	case line == "":
		t.Errorf("no session from %s to the inside host in show ip inspect sessions during the active transfer; last:\n%s", server, sessions)
	case !running:
		t.Errorf("the data session showed only after the transfer ended:\n%s", sessions)
	default:
		t.Logf("data channel %v into the transfer:\n%s", seenAt.Round(time.Millisecond), sessions)
		if !strings.Contains(line, " ftp-data SIS_OPEN") {
			t.Errorf("data session %q: want ftp-data SIS_OPEN", line)
		}
		if m := sessionLineRE.FindStringSubmatch(parent); m == nil || m[7] != "ftp" || m[6] != "21" {
			t.Errorf("data session %q is listed under %q, want under its ftp control session (port 21)", line, parent)
		}
	}
	t.Logf("show ip inspect sessions detail:\n%s", ctl(t, sock, "show", "ip", "inspect", "sessions", "detail"))
	if err := <-done; err != nil {
		t.Fatalf("rate-limited active STOR: %v: %s", err, out.String())
	}
	d := time.Since(start)
	t.Logf("rate-limited active STOR: %d bytes in %v", ftpFileSize, d.Round(time.Millisecond))
	sameFile(t, "rate-limited STOR", filepath.Join(srv.root, "stor-slow.bin"), up)
}

// ftpRefusals are the PORT commands cbacd must refuse, each on its own
// control connection from the inside host: before the login, naming the
// outside client (an FTP bounce to 172.22.1.100:2121), and naming a
// privileged port of the host itself.
var ftpRefusals = []struct {
	name  string
	login bool
	port  string
	alert string
}{
	{"PORT before login", false, "PORT 10,10,10,5,117,48", "%FW-3-FTP_SESSION_NOT_AUTHENTICATED"},
	{"bounce", true, "PORT 172,22,1,100,8,73", "%FW-3-FTP_NON_MATCHING_IP_ADDR"},
	{"privileged port", true, "PORT 10,10,10,5,0,21", "%FW-3-FTP_PRIV_PORT"},
}

// testFTPBounce speaks FTP from the inside host on raw control connections
// and sends each of ftpRefusals. cbacd never forwards the line: it resets
// the control connection (both ends), logs IOS's message and counts the
// reset; the bounce target is never connected. A new control connection
// works afterwards.
func testFTPBounce(t *testing.T, l *lab.Lab, fw *process, srv *ftpServer, sock string) {
	victim := trap(t, l, lab.RoleClient, "172.22.1.100:2121")
	resetsBefore := statValue(ctl(t, sock, "show", "ip", "inspect", "statistics"), "FTP command refused: session reset")
	srvFrom := srv.logLen()
	login := [][2]string{{"USER " + ftpUser, "331"}, {"PASS " + ftpPassword, "230"}}
	for _, r := range ftpRefusals {
		t.Run(r.name, func(t *testing.T) {
			from := len(fw.out.String())
			fc, done := ftpControl(t, l, lab.RoleHost, srv.addr)
			defer done()
			if r.login {
				for _, s := range login {
					if _, err := fc.cmd(s[0], s[1]); err != nil {
						t.Fatal(err)
					}
				}
			}
			text, err := fc.cmd(r.port, "5")
			if err == nil || !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("%q: want the control connection reset, got reply %q, %v", r.port, strings.TrimSpace(text), err)
			}
			if lines := waitLog(fw, from, r.alert, 3*time.Second); len(lines) == 0 {
				t.Errorf("%q: no %s in cbacd's log", r.port, r.alert)
			} else {
				t.Logf("%v; cbacd: %s", err, strings.TrimSpace(lines[0]))
			}
		})
	}
	// The server never received a refused line, and nothing reached the
	// bounce target.
	time.Sleep(500 * time.Millisecond)
	seen := srv.proc.out.String()[srvFrom:]
	for _, r := range ftpRefusals {
		if strings.Contains(seen, r.port) {
			t.Errorf("the server received the refused %q:\n%s", r.port, seen)
		}
	}
	if peers := victim.accepted(); len(peers) > 0 {
		t.Errorf("the bounce target 172.22.1.100:2121 was connected from %v", peers)
	}
	resets := statValue(ctl(t, sock, "show", "ip", "inspect", "statistics"), "FTP command refused: session reset")
	if resets-resetsBefore != uint64(len(ftpRefusals)) {
		t.Errorf("FTP command refused: session reset went from %d to %d, want +%d", resetsBefore, resets, len(ftpRefusals))
	}
	// A new control session works: login, then a legal PORT, to which
	// the server connects (through the pinhole, from 172.22.1.1) before
	// it answers 200.
	data := trap(t, l, lab.RoleHost, "10.10.10.5:30000")
	fc, done := ftpControl(t, l, lab.RoleHost, srv.addr)
	defer done()
	for _, s := range append(login, [2]string{"PORT 10,10,10,5,117,48", "200"}, [2]string{"QUIT", "221"}) {
		if _, err := fc.cmd(s[0], s[1]); err != nil {
			t.Errorf("after the refusals: %v", err)
		}
	}
	if peers := data.accepted(); len(peers) != 1 || !strings.HasPrefix(peers[0], srv.addr+":") {
		t.Errorf("the legal PORT's data connection: accepted from %v, want one from %s", peers, srv.addr)
	}
}

// ftpControl opens a control connection from role to addr:21 and reads
// the 220 banner; done closes it.
func ftpControl(t *testing.T, l *lab.Lab, role, addr string) (*smtpClient, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := l.Dial(ctx, role, "tcp4", addr+":21")
	if err != nil {
		t.Fatal(err)
	}
	fc := newSMTPClient(c)
	if code, text, err := fc.reply(); err != nil || code != "220" {
		c.Close()
		t.Fatalf("banner %q: %v", text, err)
	}
	return fc, func() { c.Close() }
}

// outsideInConfig writes the seed with ftp added to the OUT-IN rule and
// access-list 101 permitting FTP control connections to the mail host's
// global address.
func outsideInConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(seedPath(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, r := range []struct{ old, new string }{
		{"smtp = { max_data = 20000000 }\n", "smtp = { max_data = 20000000 }\nftp = {}\n"},
		{"  \"permit tcp any host 172.22.1.110 eq smtp\",\n",
			"  \"permit tcp any host 172.22.1.110 eq smtp\",\n  \"permit tcp any host 172.22.1.110 eq ftp\",\n"},
	} {
		if strings.Count(s, r.old) != 1 {
			t.Fatalf("seed: %q not found once: the test must follow the seed", r.old)
		}
		s = strings.Replace(s, r.old, r.new, 1)
	}
	p := filepath.Join(dir, "outside-in.toml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFTPOutsideIn: ftp added to OUT-IN, access-list 101 permitting
// 172.22.1.110 port 21; pyftpdlib on the inside mail host 10.10.10.2 (its
// global address 172.22.1.110), curl and lftp on the outside client. The
// 227 reply reaches the client naming 172.22.1.110, and the data
// connections it announces pass ACL 101.
func TestFTPOutsideIn(t *testing.T) {
	needRoot(t)
	needFTPTools(t)
	l := upLab(t, "fi")
	dir := t.TempDir()
	sock := filepath.Join(dir, "cbacd.sock")
	fw := startCbacd(t, l, outsideInConfig(t, dir), sock)
	const global = "172.22.1.110"
	srv := startFTPServer(t, l, lab.RoleMail, "10.10.10.2", dir)
	ftpFile(t, filepath.Join(srv.root, "big.bin"), 2, ftpFileSize)
	waitFTPBanner(t, l, lab.RoleClient, global, fw)

	t.Run("227 names the global address", func(t *testing.T) { test227Translated(t, l, global) })
	for i, m := range curlModes {
		t.Run("curl "+m.name, func(t *testing.T) {
			curlTransfers(t, l, lab.RoleClient, global, srv, dir, m, uint64(30+i))
		})
	}
	t.Run("lftp passive", func(t *testing.T) { lftpTransfers(t, l, lab.RoleClient, global, srv, dir, true, 40) })
	t.Run("lftp active", func(t *testing.T) { lftpTransfers(t, l, lab.RoleClient, global, srv, dir, false, 41) })
	if fw.exited() {
		t.Fatalf("cbacd exited during the tests: %v", fw.err)
	}
	checkPinholes(t, ctl(t, sock, "show", "ip", "inspect", "statistics"))
}

// pasvRE finds the address and port of a 227 reply.
var pasvRE = regexp.MustCompile(`^227 .*?(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)`)

// test227Translated logs in from the outside client on a raw control
// connection, sends PASV and checks that the 227 names the server's global
// address, then opens the data connection it announces and lists the
// directory over it.
func test227Translated(t *testing.T, l *lab.Lab, global string) {
	fc, done := ftpControl(t, l, lab.RoleClient, global)
	defer done()
	for _, s := range [][2]string{{"USER " + ftpUser, "331"}, {"PASS " + ftpPassword, "230"}, {"TYPE I", "200"}} {
		if _, err := fc.cmd(s[0], s[1]); err != nil {
			t.Fatal(err)
		}
	}
	text, err := fc.cmd("PASV", "227")
	if err != nil {
		t.Fatal(err)
	}
	m := pasvRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("227 reply %q: no address", text)
	}
	addr := strings.Join(m[1:5], ".")
	var p1, p2 int
	fmt.Sscan(m[5], &p1)
	fmt.Sscan(m[6], &p2)
	port := p1<<8 | p2
	if addr != global {
		t.Errorf("227 reply %q names %s, want the global address %s", strings.TrimSpace(text), addr, global)
	}
	if port < lab.FTPPassiveLow || port > lab.FTPPassiveHigh {
		t.Errorf("227 reply %q: port %d outside the server's passive range", strings.TrimSpace(text), port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := l.Dial(ctx, lab.RoleClient, "tcp4", net.JoinHostPort(global, fmt.Sprint(port)))
	if err != nil {
		t.Fatalf("data connection announced by %q: %v", strings.TrimSpace(text), err)
	}
	defer dc.Close()
	if _, err := fc.cmd("NLST", "1"); err != nil {
		t.Fatal(err)
	}
	dc.SetDeadline(time.Now().Add(10 * time.Second))
	var list bytes.Buffer
	if _, err := list.ReadFrom(dc); err != nil {
		t.Errorf("NLST data: %v", err)
	}
	if !strings.Contains(list.String(), "big.bin") {
		t.Errorf("NLST over the data connection: %q", list.String())
	}
	if code, text, err := fc.reply(); err != nil || code != "226" {
		t.Errorf("after NLST: %q %v", text, err)
	}
}
