package postfix

// The test environment: the lab's namespaces, the real cbacd in <p>fw with
// the seed configuration, and a private Postfix instance in <p>mail.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cbac/examples"
	"cbac/lab"
)

// Addresses of the seed network (docs/behaviour.md "The seed network").
const (
	clientAddr = "172.22.1.100" // outside client
	mailGlobal = "172.22.1.110" // the mail server as seen outside (static NAT)
	mailLocal  = "10.10.10.2"   // the mail server
)

// env is one running lab with cbacd and, in the mail namespace, Postfix
// or another SMTP server.
type env struct {
	lab  *lab.Lab
	dir  string // the test's directory: configurations, sockets, logs
	fw   *cbacd
	mail *postfixInstance // nil when the test runs its own server
}

// startEnv builds the lab, starts cbacd (seed configuration, unchanged) in
// the firewall namespace and Postfix in the mail namespace, and waits until
// a client connection through cbacd gets Postfix's banner. Everything is
// torn down at cleanup, in reverse order.
func startEnv(t *testing.T) *env {
	t.Helper()
	e := startFirewall(t, "postfix", "postconf", "swaks", "python3")
	e.mail = startPostfix(t, e.lab, e.dir)
	e.waitBanner(t, func() string { return "maillog:\n" + tail(e.mail.log(), 40) })
	return e
}

// startFirewall builds the lab and starts cbacd (seed configuration,
// unchanged) in the firewall namespace; the mail namespace has no server
// yet. tools are the programs the test needs besides ip.
func startFirewall(t *testing.T, tools ...string) *env {
	t.Helper()
	needRoot(t)
	for _, name := range append([]string{"ip"}, tools...) {
		tool(t, name)
	}
	dir := t.TempDir()
	// Postfix's daemons (and smtp-sink after -u postfix) run as the
	// postfix user and must reach the test's files: t.TempDir's
	// directories are 0700.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	l := lab.New(fmt.Sprintf("t%dpf-", os.Getpid()%10000))
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab %s up in %v", l.Prefix, time.Since(start).Round(time.Millisecond))
	return &env{lab: l, dir: dir, fw: startCbacd(t, l, dir)}
}

// waitBanner waits until a connection from the client through cbacd (ARP,
// NAT, inspection) gets the mail server's banner; serverLog describes the
// server's side when it does not.
func (e *env) waitBanner(t *testing.T, serverLog func() string) {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < 60*time.Second {
		if last = e.probe(); last == nil {
			t.Logf("client -> %s:25 through cbacd answered after %v", mailGlobal, time.Since(start).Round(time.Millisecond))
			return
		}
		if e.fw.exitedErr() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no SMTP banner from %s:25 through cbacd: %v\ncbacd log:\n%s\n%s", mailGlobal, last, e.fw.log(), serverLog())
}

// probe connects from the client to the mail server's global address,
// reads the banner and quits.
func (e *env) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.lab.Dial(ctx, lab.RoleClient, "tcp4", mailGlobal+":25")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("banner: %w", err)
	}
	if !strings.HasPrefix(line, "220 mail.lab.example") {
		return fmt.Errorf("banner %q", line)
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		return err
	}
	line, err = r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "221") {
		return fmt.Errorf("QUIT: %q %v", line, err)
	}
	return nil
}

// inNS runs argv in the namespace of role, bounded by limit, and returns
// stdout and stderr.
func (e *env) inNS(role string, limit time.Duration, stdin []byte, argv ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := e.lab.Exec(ctx, role, argv...)
	var o, eb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &eb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err = cmd.Run()
	return o.String(), eb.String(), err
}

// tcpEstabResets reads Tcp EstabResets (RFC 1213 tcpEstabResets:
// connections that went straight to CLOSED from ESTABLISHED or
// CLOSE-WAIT, which is what a received RST does) in role's namespace.
func (e *env) tcpEstabResets(t *testing.T, role string) int {
	t.Helper()
	out, _, err := e.inNS(role, 10*time.Second, nil, "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatalf("read /proc/net/snmp in %s: %v", role, err)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "Tcp: ") {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "EstabResets" && i < len(f) {
				v, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	t.Fatalf("no Tcp EstabResets in /proc/net/snmp of %s:\n%s", role, out)
	return 0
}

// syncBuffer collects a process's output for the test to read while it
// runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cbacd is the daemon running in the firewall namespace.
type cbacd struct {
	cmd  *exec.Cmd
	sock string     // control socket
	out  syncBuffer // stdout and stderr: the IOS-style log lines
	done chan struct{}
	err  error // Wait's result, set before done closes
}

func (c *cbacd) log() string { return c.out.String() }

// show runs one command on cbacd's control socket (one line per
// connection, the reply up to EOF), as cbacctl does.
func (c *cbacd) show(command string) (string, error) {
	conn, err := net.DialTimeout("unix", c.sock, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(command + "\n")); err != nil {
		return "", err
	}
	var b bytes.Buffer
	_, err = b.ReadFrom(conn)
	return b.String(), err
}

// exitedErr reports why cbacd exited, or nil while it runs.
func (c *cbacd) exitedErr() error {
	select {
	case <-c.done:
		if c.err == nil {
			return fmt.Errorf("cbacd exited")
		}
		return fmt.Errorf("cbacd exited: %w", c.err)
	default:
		return nil
	}
}

// startCbacd runs `cbacd -c seed-3640.toml -socket S` inside <p>fw: the seed
// configuration exactly as shipped. It is stopped with SIGTERM at cleanup;
// a data race report (cbacd built with -race) fails the test.
func startCbacd(t *testing.T, l *lab.Lab, dir string) *cbacd {
	t.Helper()
	cfg := filepath.Join(dir, "seed-3640.toml")
	if err := os.WriteFile(cfg, examples.Seed3640, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "cbacd.sock")
	c := &cbacd{sock: sock, done: make(chan struct{})}
	c.cmd = exec.Command("ip", "netns", "exec", l.NS(lab.RoleFW), cbacdBin, "-c", cfg, "-socket", sock)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start cbacd: %v", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
		}
		if strings.Contains(c.log(), "WARNING: DATA RACE") {
			t.Errorf("cbacd reported a data race:\n%s", c.log())
		}
		if t.Failed() {
			t.Logf("cbacd log:\n%s", c.log())
		}
	})
	start := time.Now()
	for {
		if conn, err := net.DialTimeout("unix", sock, 200*time.Millisecond); err == nil {
			conn.Close()
			break
		}
		if err := c.exitedErr(); err != nil {
			t.Fatalf("%v during start:\n%s", err, c.log())
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("cbacd did not open %s within 60s:\n%s", sock, c.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("cbacd %s (seed configuration) up in %v", cbacdBin, time.Since(start).Round(time.Millisecond))
	return c
}

// postfixInstance is a private Postfix in the mail namespace.
type postfixInstance struct {
	ns      string
	conf    string // config_directory: main.cf, master.cf, vmailbox
	queue   string // queue_directory
	mailDir string // virtual_mailbox_base: one Maildir per local part
	maillog string // maillog_file
}

// mainCF is the instance's main.cf. What each setting is for:
//   - inet_interfaces/inet_protocols: listen on 10.10.10.2:25 only (the mail
//     namespace), IPv4 (the lab has no IPv6).
//   - queue_directory/data_directory: private, so the host's Postfix state
//     (if any) is never touched and runs do not collide.
//   - virtual_mailbox_*: every user@lab.example is delivered to the Maildir
//     DIR/mail/user/ owned by the postfix user; Maildir stores the message
//     as received (no mbox ">From " quoting), LF line ends.
//   - virtual_mailbox_limit = 0: the virtual agent refuses to start when
//     its limit is below message_size_limit.
//   - message_size_limit = 60000000: above the 25 MB test message, so it is
//     cbacd's max_data (20000000) that cuts the session, not Postfix.
//   - smtpd_peername_lookup = no: the namespace has no DNS; a reverse
//     lookup of 172.22.1.100 would only add resolver timeouts.
//   - disable_vrfy_command = no: VRFY is a legal command that must work.
//   - debug_peer_list/level: smtpd logs every command line it receives
//     from the client ("< unknown[172.22.1.100]: xxxxxxxxx") and every reply.
//   - maillog_file (+ prefixes): Postfix's own log file (postlogd), no syslog.
//   - alias_maps empty: no /etc/aliases lookups.
//   - default_transport = discard: a bounce to the outside sender would
//     wait on DNS that the namespace does not have.
const mainCF = `# private Postfix instance of cbac's integration tests
compatibility_level = 3.6
queue_directory = {{queue}}
data_directory = {{data}}
inet_interfaces = 10.10.10.2
inet_protocols = ipv4
myhostname = mail.lab.example
mydomain = lab.example
myorigin = $myhostname
mydestination = localhost
mynetworks = 172.22.1.0/24, 10.10.10.0/24
relayhost =
smtpd_banner = $myhostname ESMTP Postfix (cbac integration test)
smtpd_peername_lookup = no
disable_vrfy_command = no
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
default_transport = discard
message_size_limit = 60000000
virtual_mailbox_domains = lab.example
virtual_mailbox_base = {{mail}}
virtual_mailbox_maps = texthash:{{conf}}/vmailbox
virtual_mailbox_limit = 0
virtual_uid_maps = static:{{uid}}
virtual_gid_maps = static:{{gid}}
debug_peer_list = 172.22.1.100
debug_peer_level = 2
maillog_file = {{dir}}/maillog
maillog_file_prefixes = {{dir}}
`

// vmailbox maps userN@lab.example to the Maildir "userN/" (the virtual
// agent refuses regexp substitutions in this map, so the users are
// listed).
var vmailbox = func() string {
	var b strings.Builder
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "user%d@lab.example user%d/\n", i, i)
	}
	return b.String()
}()

// startPostfix writes the instance's configuration under dir and runs
// `postfix -c CONF start` in the mail namespace. At cleanup it runs
// `postfix -c CONF stop` and kills whatever process is left in the mail
// namespace (only this instance runs there).
func startPostfix(t *testing.T, l *lab.Lab, dir string) *postfixInstance {
	t.Helper()
	pf := &postfixInstance{
		ns:      l.NS(lab.RoleMail),
		conf:    filepath.Join(dir, "postfix"),
		queue:   filepath.Join(dir, "queue"),
		mailDir: filepath.Join(dir, "mail"),
		maillog: filepath.Join(dir, "maillog"),
	}
	data := filepath.Join(dir, "data")
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("postfix user missing (the Debian package creates it; run .ci/run): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, d := range []string{pf.conf, pf.queue, pf.mailDir, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{pf.mailDir, data} {
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	cf := strings.NewReplacer("{{conf}}", pf.conf, "{{queue}}", pf.queue, "{{data}}", data,
		"{{mail}}", pf.mailDir, "{{dir}}", dir, "{{uid}}", u.Uid, "{{gid}}", u.Gid).Replace(mainCF)
	if err := os.WriteFile(filepath.Join(pf.conf, "main.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pf.conf, "vmailbox"), []byte(vmailbox), 0o644); err != nil {
		t.Fatal(err)
	}
	master, err := os.ReadFile("/etc/postfix/master.cf")
	if err != nil {
		master, err = os.ReadFile("/usr/share/postfix/master.cf.dist")
	}
	if err != nil {
		t.Fatalf("no master.cf to copy (is the postfix package installed? run .ci/run): %v", err)
	}
	if err := os.WriteFile(filepath.Join(pf.conf, "master.cf"), master, 0o644); err != nil {
		t.Fatal(err)
	}
	postfix, postconf := tool(t, "postfix"), tool(t, "postconf")
	// Debian's master.cf chroots most daemons into the queue directory,
	// which would need copies of /etc files there: run them unchrooted.
	if out, err := exec.Command(postconf, "-c", pf.conf, "-F", "-e", "*/*/chroot = n").CombinedOutput(); err != nil {
		t.Fatalf("postconf -F chroot=n: %v: %s", err, out)
	}

	t.Cleanup(func() { pf.stop(t, postfix) })
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := l.Exec(ctx, lab.RoleMail, postfix, "-c", pf.conf, "start").CombinedOutput(); err != nil {
		t.Fatalf("postfix -c %s start: %v: %s\nmaillog:\n%s", pf.conf, err, out, pf.log())
	}
	t.Logf("postfix %s started in %v", pf.conf, time.Since(start).Round(time.Millisecond))
	return pf
}

// stop stops the instance and kills what is left in the mail namespace.
func (pf *postfixInstance) stop(t *testing.T, postfix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", pf.ns, postfix, "-c", pf.conf, "stop").CombinedOutput(); err != nil {
		t.Logf("postfix stop: %v: %s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := pf.pids()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("killing leftover processes of the mail namespace: %v", pids)
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var problems []string
	for _, line := range strings.Split(pf.log(), "\n") {
		if strings.Contains(line, " warning: ") || strings.Contains(line, " fatal: ") || strings.Contains(line, " panic: ") {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 {
		t.Logf("Postfix warnings:\n%s", strings.Join(problems, "\n"))
	}
	if t.Failed() {
		t.Logf("maillog (tail):\n%s", tail(pf.log(), 60))
	}
}

// pids lists the processes in the mail namespace: the Postfix master and
// its children (nothing else runs there).
func (pf *postfixInstance) pids() []int {
	out, err := exec.Command("ip", "netns", "pids", pf.ns).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// log returns Postfix's log file so far.
func (pf *postfixInstance) log() string {
	b, _ := os.ReadFile(pf.maillog)
	return string(b)
}

// logSize is the current length of the log: tests look at what follows.
func (pf *postfixInstance) logSize() int { return len(pf.log()) }

// waitLog waits until the log after offset matches re; it returns the
// log after offset.
func (pf *postfixInstance) waitLog(t *testing.T, from int, re *regexp.Regexp, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := pf.log()
		if from <= len(s) {
			s = s[from:]
		}
		if re.MatchString(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("maillog: no line matching %q within %v; log since the test started:\n%s", re, limit, tail(s, 80))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// messages returns the delivered messages of user (Maildir new/ and cur/),
// sorted by file name (delivery time first).
func (pf *postfixInstance) messages(user string) ([][]byte, error) {
	var names []string
	for _, sub := range []string{"new", "cur"} {
		d := filepath.Join(pf.mailDir, user, sub)
		ents, err := os.ReadDir(d)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			names = append(names, filepath.Join(d, e.Name()))
		}
	}
	sort.Slice(names, func(i, j int) bool { return filepath.Base(names[i]) < filepath.Base(names[j]) })
	var msgs [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, b)
	}
	return msgs, nil
}

// waitMessages waits until user has n delivered messages.
func (pf *postfixInstance) waitMessages(t *testing.T, user string, n int, limit time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		msgs, err := pf.messages(user)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s@lab.example: %d messages delivered within %v, want %d; maillog:\n%s", user, len(msgs), limit, n, tail(pf.log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// smtpdSession returns the log lines of the smtpd session that received
// queue ID id: smtpd processes serve many sessions one after the other, so
// the session runs from that process's "connect from" before the queue ID
// to its "disconnect from" after it. ok is false until the session has
// ended in the log.
func smtpdSession(log, id string) (lines []string, ok bool) {
	m := regexp.MustCompile(`postfix/smtpd\[(\d+)\]: ` + regexp.QuoteMeta(id) + `: client=`).FindStringIndex(log)
	if m == nil {
		return nil, false
	}
	pid := regexp.MustCompile(`smtpd\[(\d+)\]`).FindStringSubmatch(log[m[0]:m[1]])[1]
	tag := "postfix/smtpd[" + pid + "]: "
	all := strings.Split(log, "\n")
	at := strings.Count(log[:m[0]], "\n")
	first := at
	for first > 0 && !(strings.Contains(all[first], tag) && strings.Contains(all[first], tag+"connect from ")) {
		first--
	}
	for i := first; i < len(all); i++ {
		if !strings.Contains(all[i], tag) {
			continue
		}
		lines = append(lines, all[i])
		if i > at && strings.Contains(all[i], tag+"disconnect from ") {
			return lines, true
		}
	}
	return lines, false
}

// waitSession waits for the end of the smtpd session that received queue
// ID id and returns its log lines.
func (pf *postfixInstance) waitSession(t *testing.T, from int, id string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := pf.log()
		if from <= len(s) {
			s = s[from:]
		}
		if lines, ok := smtpdSession(s, id); ok {
			return strings.Join(lines, "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("maillog: the smtpd session of %s did not end within %v; log since the test started:\n%s", id, limit, tail(s, 80))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
