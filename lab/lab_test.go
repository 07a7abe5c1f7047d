package lab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testPrefix is unique per test process so a user's running lab (prefix
// "cbac-") and parallel test runs are never touched.
func testPrefix(tag string) string {
	return fmt.Sprintf("cbt%d%s-", os.Getpid()%10000, tag)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("iproute2 missing: %v", err)
	}
}

// upLab builds a lab with a unique prefix and removes it at cleanup.
func upLab(t *testing.T, tag string) *Lab {
	t.Helper()
	l := New(testPrefix(tag))
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if err := l.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("Up %s took %v", l.Prefix, time.Since(start))
	return l
}

// run runs argv in role's namespace and returns its combined output.
func run(t *testing.T, l *Lab, role string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := l.Exec(ctx, role, argv...).CombinedOutput()
	return string(out), err
}

func rootLinks(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link show: %v: %s", err, out)
	}
	return string(out)
}

func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestLabUpDown(t *testing.T) {
	needRoot(t)
	before := rootLinks(t)
	l := upLab(t, "a")

	t.Run("namespaces", func(t *testing.T) {
		list := netnsList(t)
		for _, r := range Roles {
			if !strings.Contains(list, l.NS(r)) {
				t.Errorf("namespace %s missing from ip netns list:\n%s", l.NS(r), list)
			}
		}
	})
	t.Run("links", func(t *testing.T) {
		cases := []struct {
			role, dev, want string
		}{
			{RoleFW, OutsideDevice, OutsideMAC},
			{RoleFW, InsideDevice, InsideMAC},
			{RoleOutside, "br0", "bridge"},
			{RoleOutside, "fw", "master br0"},
			{RoleOutside, "upstream", "master br0"},
			{RoleOutside, "client", "master br0"},
			{RoleInside, "fw", "master br0"},
			{RoleInside, "mail", "master br0"},
			{RoleInside, "host", "master br0"},
		}
		for _, h := range Hosts {
			cases = append(cases, struct{ role, dev, want string }{h.Role, h.Device, h.MAC})
		}
		for _, c := range cases {
			out, err := run(t, l, c.role, "ip", "-d", "link", "show", c.dev)
			if err != nil {
				t.Errorf("%s %s: %v: %s", c.role, c.dev, err, out)
				continue
			}
			if !strings.Contains(out, c.want) || !strings.Contains(out, "state UP") && c.role != RoleFW {
				t.Errorf("%s %s: want %q and state UP in:\n%s", c.role, c.dev, c.want, out)
			}
		}
	})
	t.Run("fw has no addresses", func(t *testing.T) {
		out, err := run(t, l, RoleFW, "ip", "-4", "-o", "addr", "show")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" && !strings.Contains(line, " lo ") {
				t.Errorf("address in the firewall namespace: %s", line)
			}
		}
	})
	t.Run("host addresses and routes", func(t *testing.T) {
		for _, h := range Hosts {
			out, err := run(t, l, h.Role, "ip", "-4", "-o", "addr", "show", "dev", h.Device)
			if err != nil || !strings.Contains(out, h.Addr.String()) {
				t.Errorf("%s: want %s: %v: %s", h.Role, h.Addr, err, out)
			}
			out, err = run(t, l, h.Role, "ip", "-4", "route", "show", "default")
			switch {
			case err != nil:
				t.Errorf("%s: %v: %s", h.Role, err, out)
			case h.Gateway.IsValid() && !strings.Contains(out, "via "+h.Gateway.String()):
				t.Errorf("%s: want default via %s, got %q", h.Role, h.Gateway, out)
			case !h.Gateway.IsValid() && strings.TrimSpace(out) != "":
				t.Errorf("%s: want no default route, got %q", h.Role, out)
			}
		}
	})
	t.Run("ipv6 off", func(t *testing.T) {
		out, err := run(t, l, RoleClient, "ip", "-6", "-o", "addr", "show")
		if err != nil || strings.TrimSpace(out) != "" {
			t.Errorf("client has IPv6 addresses: %v: %q", err, out)
		}
	})
	t.Run("offloads off on hosts", func(t *testing.T) {
		for _, h := range Hosts {
			f, err := l.Features(h.Role, h.Device)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"tx-checksum-ip-generic", "tx-tcp-segmentation", "tx-generic-segmentation"} {
				if f[name] {
					t.Errorf("%s %s: %s still on", h.Role, h.Device, name)
				}
			}
		}
		// A switch port keeps the veth default: proves Features reads the truth.
		f, err := l.Features(RoleOutside, "client")
		if err != nil {
			t.Fatal(err)
		}
		if !f["tx-checksum-ip-generic"] {
			t.Errorf("switch port: want tx-checksum-ip-generic on by default, got %v", f)
		}
	})
	t.Run("pass program on the firewall's peers", func(t *testing.T) {
		for _, sw := range []string{RoleOutside, RoleInside} {
			name, err := PeerXDP(l.NS(sw), "fw")
			if err != nil || name != PeerProgramName {
				t.Errorf("%s fw: XDP program %q, %v; want %q", sw, name, err, PeerProgramName)
			}
			if name, err := PeerXDP(l.NS(sw), "client"); sw == RoleOutside && (err != nil || name != "") {
				t.Errorf("%s client: XDP program %q, %v; want none", sw, name, err)
			}
		}
	})
	t.Run("inside bridge: mail and host ping each other", func(t *testing.T) {
		ping(t, l, RoleMail, "10.10.10.5", 3)
		ping(t, l, RoleHost, "10.10.10.2", 3)
	})
	t.Run("outside bridge: client pings upstream", func(t *testing.T) {
		ping(t, l, RoleClient, "172.22.1.1", 3)
		ping(t, l, RoleUpstream, "172.22.1.100", 3)
	})
	t.Run("no path through the firewall without cbacd", func(t *testing.T) {
		// out0 and in0 have no addresses and the kernel does not bridge
		// them: the inside cannot reach the outside on its own.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := l.Ping(ctx, RoleHost, netip.MustParseAddr("172.22.1.1"), 2, 100*time.Millisecond)
		if err != nil || n != 0 {
			t.Errorf("host -> upstream without cbacd: %d replies, %v", n, err)
		}
	})
	t.Run("listen and dial in namespaces", func(t *testing.T) {
		ln, err := l.Listen(RoleClient, "tcp4", "172.22.1.100:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.Write([]byte("hello from client\n"))
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := l.Dial(ctx, RoleUpstream, "tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "hello from client\n" {
			t.Errorf("read %q, %v", got, err)
		}
		// The same address does not exist in the root namespace, nor can
		// the root namespace reach it: the socket really lives in the lab.
		if c2, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp4", ln.Addr().String()); err == nil {
			c2.Close()
			t.Errorf("root namespace reached %s", ln.Addr())
		}
	})
	t.Run("describe", func(t *testing.T) {
		var b bytes.Buffer
		l.Describe(&b)
		for _, want := range []string{"ip netns exec " + l.NS(RoleClient) + " swaks --server 172.22.1.110", l.NS(RoleMail), "10.10.10.2/24", "172.22.1.111"} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("Describe lacks %q:\n%s", want, b.String())
			}
		}
	})

	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if err := l.Down(); err != nil {
		t.Fatalf("second Down: %v", err)
	}
	if list := netnsList(t); strings.Contains(list, l.Prefix) {
		t.Errorf("namespaces left after Down:\n%s", list)
	}
	// Other tests may add links to the root namespace meanwhile: look for
	// the lab's names only.
	ours := map[string]bool{OutsideDevice: true, InsideDevice: true, "br0": true, "fw": true, "eth0": true}
	for _, r := range Roles {
		ours[r] = true
	}
	for name := range linkNames(rootLinks(t)) {
		if (ours[name] && !linkNames(before)[name]) || strings.HasPrefix(name, l.Prefix) {
			t.Errorf("stray link %q in the root namespace", name)
		}
	}
}

// ping checks that every one of count echo requests is answered.
func ping(t *testing.T, l *Lab, role, dst string, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := l.Ping(ctx, role, netip.MustParseAddr(dst), count, 50*time.Millisecond)
	if err != nil || n != count {
		t.Errorf("ping %s -> %s: %d/%d replies, %v", role, dst, n, count, err)
	}
}

// linkNames parses `ip -o link show` output into interface names.
func linkNames(out string) map[string]bool {
	names := make(map[string]bool)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names[name] = true
	}
	return names
}

// TestLabStaleRemoval simulates a crash (no Down) and checks that a new
// Lab with the same prefix comes up over the remains and cleans them.
func TestLabStaleRemoval(t *testing.T) {
	needRoot(t)
	prefix := testPrefix("s")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	t.Cleanup(func() { New(prefix).Down() })

	first := New(prefix)
	if err := first.Up(ctx); err != nil {
		t.Fatalf("first Up: %v", err)
	}
	// Mark the stale firewall namespace: the new lab must not reuse it.
	if out, err := first.Exec(ctx, RoleFW, "ip", "link", "add", "stale0", "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("mark: %v: %s", err, out)
	}
	// "Crash": first is forgotten without Down. The new lab differs (more
	// queues) so the test also sees which one is up.
	second := New(prefix)
	second.Queues = 2
	if err := second.Up(ctx); err != nil {
		t.Fatalf("Up over a stale lab: %v", err)
	}
	if out, err := second.Exec(ctx, RoleFW, "ip", "link", "show", "stale0").CombinedOutput(); err == nil {
		t.Errorf("stale namespace reused: stale0 still present:\n%s", out)
	}
	ping(t, second, RoleMail, "10.10.10.5", 2)
	for _, c := range []struct{ role, dev string }{{RoleFW, OutsideDevice}, {RoleFW, InsideDevice}, {RoleOutside, "fw"}, {RoleInside, "fw"}} {
		out, err := second.Exec(ctx, c.role, "ip", "-d", "link", "show", c.dev).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "numtxqueues 2 numrxqueues 2") {
			t.Errorf("%s %s: want 2 queues: %v\n%s", c.role, c.dev, err, out)
		}
	}
	if err := second.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if left := second.Namespaces(); len(left) != 0 {
		t.Errorf("left after Down: %v", left)
	}
}

func TestPrefixValidation(t *testing.T) {
	cases := []struct {
		prefix string
		ok     bool
	}{
		{"cbac-", true},
		{"cbt42-", true},
		{"", false},
		{"../etc", false},
		{"a b", false},
		{"x/y", false},
		{strings.Repeat("a", 33), false},
	}
	for _, c := range cases {
		t.Run(c.prefix, func(t *testing.T) {
			err := New(c.prefix).Down()
			if c.ok && err != nil {
				t.Errorf("Down(%q): %v", c.prefix, err)
			}
			if !c.ok && err == nil {
				t.Errorf("Down(%q): want ErrBadPrefix", c.prefix)
			}
		})
	}
}

func TestNSAndExec(t *testing.T) {
	l := New("cbac-")
	if got := l.NS(RoleMail); got != "cbac-mail" {
		t.Errorf("NS(mail) = %q", got)
	}
	cmd := l.Exec(context.Background(), RoleClient, "swaks", "--server", "172.22.1.110")
	want := []string{"ip", "netns", "exec", "cbac-client", "swaks", "--server", "172.22.1.110"}
	if strings.Join(cmd.Args, " ") != strings.Join(want, " ") {
		t.Errorf("Exec args = %q, want %q", cmd.Args, want)
	}
}
