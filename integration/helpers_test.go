package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"cbac/lab"
)

// Bounds. The machine is shared by several engineers running root tests on
// two cores: generous, and nothing here asserts a duration.
const (
	labUpTimeout   = 90 * time.Second // lab.Up
	readyTimeout   = 60 * time.Second // cbacd's control socket answers
	stopTimeout    = 30 * time.Second // cbacd exits after a signal
	commandTimeout = 20 * time.Second // one ip / cbacctl invocation
	transferLimit  = 90 * time.Second // one bulk transfer through cbacd
	blockedWait    = 3 * time.Second  // how long a blocked dial is given
)

// Binaries built by TestMain.
var (
	cbacdBin   string
	cbacctlBin string
	buildErr   error
)

// TestMain builds cbacd and cbacctl once into a temporary directory. Without
// root every test skips, so nothing is built.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "cbac-integration-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "integration: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		buildErr = buildBinaries(dir)
		cbacdBin = filepath.Join(dir, "cbacd")
		cbacctlBin = filepath.Join(dir, "cbacctl")
	}
	return m.Run()
}

func buildBinaries(dir string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(filepath.Separator), "cbac/cmd/cbacd", "cbac/cmd/cbacctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w: %s", err, out)
	}
	return nil
}

// needRoot skips without root and fails if the binaries did not build.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and AF_XDP")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("iproute2 missing: %v", err)
	}
	if buildErr != nil {
		t.Fatalf("building the binaries: %v", buildErr)
	}
}

// testPrefix is a namespace prefix unique to this test process and tag.
func testPrefix(tag string) string {
	return fmt.Sprintf("ti%d%s-", os.Getpid()%10000, tag)
}

// seedPath is the shipped seed configuration, unchanged.
func seedPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "examples", "seed-3640.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// upLab builds the seed network under a unique prefix; it is torn down at
// cleanup (registered first, so it runs after the daemons' cleanups).
func upLab(t *testing.T, tag string) *lab.Lab {
	t.Helper()
	return upLabQueues(t, tag, 0)
}

// upLabQueues is upLab with queues RX and TX queues on out0, in0 and their
// peers (lab.Lab.Queues): cbacd then runs one worker per queue.
func upLabQueues(t *testing.T, tag string, queues int) *lab.Lab {
	t.Helper()
	l := lab.New(testPrefix(tag))
	l.Queues = queues
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), labUpTimeout)
	defer cancel()
	start := time.Now()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Logf("lab %s up in %v", l.Prefix, time.Since(start).Round(time.Millisecond))
	return l
}

// syncBuffer collects a process's output; safe for concurrent use.
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

// process is a child process with its output and its exit.
type process struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer // stdout and stderr interleaved
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// startProcess starts argv with output captured. At cleanup a process still
// running gets SIGTERM, then SIGKILL; its output is logged if the test
// failed.
func startProcess(t *testing.T, name string, argv ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// A grandchild holding the output pipe must not block Wait forever.
	p.cmd.WaitDelay = 10 * time.Second
	// The child dies with the test binary.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
			if !p.waitExit(stopTimeout) {
				t.Errorf("%s (pid %d) ignored SIGTERM for %v: killed", name, p.cmd.Process.Pid, stopTimeout)
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.out.String())
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) waitExit(limit time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// stop sends sig and waits for the exit; it fails the test if the process
// does not exit in time. It returns Wait's error.
func (p *process) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !p.exited() {
		t.Fatalf("signal %s: %v", p.name, err)
	}
	if !p.waitExit(stopTimeout) {
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %v of %v", p.name, stopTimeout, sig)
	}
	return p.err
}

// waitOutput waits until the output contains want; false if the process
// exits or limit passes first.
func (p *process) waitOutput(want string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out.String(), want) {
			return true
		}
		if p.exited() {
			return strings.Contains(p.out.String(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// startCbacd runs `cbacd -c cfg -socket sock` inside the lab's firewall
// namespace and waits until its control socket answers.
func startCbacd(t *testing.T, l *lab.Lab, cfg, sock string) *process {
	t.Helper()
	p := startProcess(t, "cbacd in "+l.NS(lab.RoleFW),
		"ip", "netns", "exec", l.NS(lab.RoleFW), cbacdBin, "-c", cfg, "-socket", sock)
	waitSocket(t, p, sock)
	// ip netns exec execs the command in place: the pid is cbacd's, so the
	// signals this test sends reach cbacd itself.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
	if err != nil || filepath.Base(exe) != "cbacd" {
		t.Fatalf("pid %d is %q (%v), not cbacd: signals would not reach it", p.cmd.Process.Pid, exe, err)
	}
	return p
}

// waitSocket waits until the daemon answers on its control socket.
func waitSocket(t *testing.T, p *process, sock string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return
		}
		if p.exited() {
			t.Fatalf("%s exited during start (%v):\n%s", p.name, p.err, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: control socket %s not answering after %v:\n%s", p.name, sock, readyTimeout, p.out.String())
}

// ctl runs `cbacctl -s sock args...` and returns its output.
func ctl(t *testing.T, sock string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	argv := append([]string{"-s", sock}, args...)
	out, err := exec.CommandContext(ctx, cbacctlBin, argv...).CombinedOutput()
	if err != nil {
		t.Fatalf("cbacctl %s: %v:\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// xdpProgram returns the ID of the XDP program on dev in namespace ns, 0 if
// none, from `ip -j -n NS link show DEV`.
func xdpProgram(t *testing.T, ns, dev string) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "-j", "-n", ns, "link", "show", dev).Output()
	if err != nil {
		t.Fatalf("ip -j -n %s link show %s: %v", ns, dev, err)
	}
	var links []struct {
		IfName string `json:"ifname"`
		XDP    *struct {
			Prog *struct {
				ID uint32 `json:"id"`
			} `json:"prog"`
			Attached []struct {
				Prog struct {
					ID uint32 `json:"id"`
				} `json:"prog"`
			} `json:"attached"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 || links[0].IfName != dev {
		t.Fatalf("ip -j link show %s: %v: %s", dev, err, out)
	}
	x := links[0].XDP
	switch {
	case x == nil:
		return 0
	case x.Prog != nil && x.Prog.ID != 0:
		return x.Prog.ID
	case len(x.Attached) > 0 && x.Attached[0].Prog.ID != 0:
		return x.Attached[0].Prog.ID
	}
	// An "xdp" key without a program ID is still something left behind.
	t.Errorf("%s in %s: xdp key without a program id: %s", dev, ns, out)
	return ^uint32(0)
}

// statValue finds "  NAME   N" in `show ip inspect statistics` (a drop
// reason line); 0 if absent (the command prints only non-zero reasons).
func statValue(text, name string) uint64 {
	re := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(name) + `\s+(\d+)\s*$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// aclMatches returns the match count of entry seq of an ACL in
// `show access-lists` text (0: no count shown) and whether the entry is there.
func aclMatches(text string, seq int) (uint64, bool) {
	re := regexp.MustCompile(`(?m)^\s+` + strconv.Itoa(seq) + ` [^\n(]*?(?: \((\d+) match(?:es)?\))?$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	if m[1] == "" {
		return 0, true
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n, true
}

// accepter records the connections a listener accepts; it closes them.
type accepter struct {
	mu    sync.Mutex
	peers []string
}

func (a *accepter) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		a.peers = append(a.peers, c.RemoteAddr().String())
		a.mu.Unlock()
		c.Close()
	}
}

func (a *accepter) accepted() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.peers...)
}

// trap listens on addr in role's namespace and records every connection
// that arrives: a blocked destination must record none.
func trap(t *testing.T, l *lab.Lab, role, addr string) *accepter {
	t.Helper()
	ln, err := l.Listen(role, "tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	a := &accepter{}
	go a.serve(ln)
	return a
}

// dialBlocked dials addr from role and expects no connection within
// blockedWait. The dials of one call run concurrently.
func dialBlocked(t *testing.T, l *lab.Lab, role string, addrs ...string) {
	t.Helper()
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), blockedWait)
			defer cancel()
			c, err := l.Dial(ctx, role, "tcp4", addr)
			if err == nil {
				c.Close()
				errs[i] = fmt.Errorf("connection established from %s to %s (local %s)", role, addr, c.LocalAddr())
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// exchange writes out on c while reading len(in) bytes into in, both
// concurrently, within transferLimit.
func exchange(c net.Conn, out, in []byte) error {
	c.SetDeadline(time.Now().Add(transferLimit))
	defer c.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(out)
		werr <- err
	}()
	_, rerr := io.ReadFull(c, in)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	return nil
}

// randomBytes returns n bytes from r.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// randomLines returns about n bytes of CRLF-terminated printable lines of
// 1 to 200 characters, none starting with "." (no dot-stuffing needed, no
// end-of-data marker), prefixed with prefix.
func randomLines(r *rand.Rand, n int, prefix string) []byte {
	const printable = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	var b bytes.Buffer
	b.Grow(n + 256)
	for b.Len() < n {
		b.WriteString(prefix)
		k := 1 + r.IntN(200)
		for i := range k {
			c := printable[r.IntN(len(printable))]
			if i == 0 && prefix == "" && c == '.' {
				c = 'x'
			}
			b.WriteByte(c)
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// diffAt describes where two byte slices first differ.
func diffAt(got, want []byte) string {
	n := min(len(got), len(want))
	for i := range n {
		if got[i] != want[i] {
			lo := max(0, i-20)
			return fmt.Sprintf("first difference at byte %d of %d/%d: got %q, want %q", i, len(got), len(want),
				got[lo:min(len(got), i+20)], want[lo:min(len(want), i+20)])
		}
	}
	return fmt.Sprintf("lengths differ: got %d bytes, want %d", len(got), len(want))
}

// retransmits returns the kernel's count of retransmitted segments of c.
func retransmits(c net.Conn) uint32 {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	var n uint32
	raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			n = info.Total_retrans
		}
	})
	return n
}
