package integration

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"cbac/lab"
)

// interceptConfig writes the seed plus ACL 120 (the mail server's inside
// global address) and [tcp_intercept] with it, and returns its path.
func interceptConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(seedPath(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const acl = "  \"permit tcp any host 172.22.1.110 eq smtp\",\n]"
	if !strings.Contains(s, acl) {
		t.Fatalf("seed lacks %q", acl)
	}
	s = strings.Replace(s, acl, acl+"\n120 = [\"permit tcp any host 172.22.1.110 eq smtp\"]", 1)
	s += "\n[tcp_intercept]\nlist = \"120\"\nmode = \"intercept\"\n"
	p := filepath.Join(t.TempDir(), "intercept.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInterceptSMTP: with ip tcp intercept on the mail server, the outside
// client's Linux TCP completes its handshake with cbacd's SYN cookie, the
// inside server's with cbacd's SYN, and a whole SMTP session of 2 MB each
// way crosses the splice byte-identical (sequence numbers, SACK,
// timestamps and window scale translated by cbacd, every checksum valid
// or the stacks would drop the segments); the counters show it.
func TestInterceptSMTP(t *testing.T) {
	needRoot(t)
	l := upLab(t, "ic")
	sock := filepath.Join(t.TempDir(), "cbacd.sock")
	startCbacd(t, l, interceptConfig(t), sock)
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x1c))
	smtpByteIdentical(t, l, rng, 2<<20)
	stats := ctl(t, sock, "show", "tcp", "intercept", "statistics")
	t.Logf("show tcp intercept statistics:\n%s", stats)
	if !strings.Contains(stats, "intercepting new connections using access-list 120") {
		t.Errorf("statistics:\n%s", stats)
	}
	ic := ctl(t, sock, "show", "ip", "inspect", "statistics")
	if v := cookiesSent(ic); v < 1 {
		t.Errorf("no cookie SYN/ACK counted:\n%s", ic)
	}
	if !strings.Contains(ic, "Server side: 1 established") {
		t.Errorf("the server side was not counted established:\n%s", ic)
	}
	// A port the list does not protect and ACL 101 denies: no cookie.
	dialBlocked(t, l, lab.RoleClient, "172.22.1.110:80")
	if after := ctl(t, sock, "show", "ip", "inspect", "statistics"); cookiesSent(after) != cookiesSent(ic) {
		t.Errorf("a SYN to port 80 got a cookie:\n%s", after)
	}
}

// cookiesSent reads the cookie SYN/ACK count of show ip inspect statistics.
// synsShed sums the SYNs shed in XDP from show ip inspect statistics.
func synsShed(text string) uint64 {
	var n uint64
	for _, m := range regexp.MustCompile(`(\d+) SYNs shed, shedding`).FindAllStringSubmatch(text, -1) {
		k, _ := strconv.ParseUint(m[1], 10, 64)
		n += k
	}
	return n
}

func cookiesSent(text string) uint64 {
	m := regexp.MustCompile(`TCP intercept: Cookies: (\d+) SYN/ACKs sent`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}
