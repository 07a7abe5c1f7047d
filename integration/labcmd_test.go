package integration

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/lab"
)

// TestLabCommand: `cbacd lab` started as a
// process, an SMTP conversation through it from the outside client to
// 172.22.1.110:25 (the lab's own mail server behind SMTP inspection), then
// SIGINT: nothing is left (namespaces, links, control socket).
func TestLabCommand(t *testing.T) {
	needRoot(t)
	prefix := testPrefix("l")
	l := lab.New(prefix)
	// Whatever happens, no lab stays behind (runs after the process's
	// cleanup, which stops it first).
	t.Cleanup(func() { l.Down() })
	sock := filepath.Join(t.TempDir(), "lab.sock")
	before := rootLinkNames(t)

	p := startProcess(t, "cbacd lab", cbacdBin, "lab", "-prefix", prefix, "-socket", sock)
	if !p.waitOutput("cbacd lab: ready", readyTimeout) {
		t.Fatalf("no \"cbacd lab: ready\" within %v (exited: %v, %v):\n%s", readyTimeout, p.exited(), p.err, p.out.String())
	}

	t.Run("smtp conversation through cbacd", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), transferLimit)
		defer cancel()
		c, err := l.Dial(ctx, lab.RoleClient, "tcp4", "172.22.1.110:25")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sc := newSMTPClient(c)
		if code, text, err := sc.reply(); err != nil || code != "220" {
			t.Fatalf("greeting %q: %v", text, err)
		}
		steps := []struct{ line, want string }{
			{"HELO client.example", "250"},
			// Not in the seed's smtp verb list: the inspector turns it
			// into x's and the server answers 5xx.
			{"EXPN root", "5"},
			{"MAIL FROM:<a@outside.example>", "250"},
			{"RCPT TO:<postmaster@lab.example>", "250"},
			{"DATA", "354"},
		}
		for _, s := range steps {
			if _, err := sc.cmd(s.line, s.want); err != nil {
				t.Fatal(err)
			}
		}
		body := "Subject: integration\r\n\r\nEXPN root in a body is data, not a command.\r\n"
		if _, err := io.WriteString(c, body+".\r\n"); err != nil {
			t.Fatal(err)
		}
		if code, text, err := sc.reply(); err != nil || code != "250" {
			t.Fatalf("end of data: %q, %v", text, err)
		}
		if _, err := sc.cmd("QUIT", "221"); err != nil {
			t.Fatal(err)
		}
		// The 5xx alone does not prove inspection (the server knows no
		// EXPN either): the dataplane turned exactly "EXPN root" into
		// x's, and nothing of the body.
		stats := ctl(t, sock, "show", "ip", "inspect", "statistics")
		if !strings.Contains(stats, "SMTP bytes rewritten: 9\n") {
			t.Errorf("want 9 SMTP bytes rewritten (EXPN root):\n%s", stats)
		}
		if !p.waitOutput("mail delivered", 30*time.Second) {
			t.Errorf("no \"mail delivered\" on the lab's output:\n%s", p.out.String())
		}
		if want := "from <a@outside.example> to [postmaster@lab.example]"; !strings.Contains(p.out.String(), want) {
			t.Errorf("delivery line lacks %q:\n%s", want, p.out.String())
		}
	})

	t.Run("SIGINT tears everything down", func(t *testing.T) {
		if err := p.stop(t, syscall.SIGINT); err != nil {
			t.Errorf("cbacd lab exit after SIGINT: %v", err)
		}
		if !strings.Contains(p.out.String(), "cbacd lab: torn down") {
			t.Errorf("no \"cbacd lab: torn down\" in the output")
		}
		if left := l.Namespaces(); len(left) > 0 {
			t.Errorf("namespaces left: %v", left)
		}
		if list := netnsList(t); strings.Contains(list, prefix) {
			t.Errorf("ip netns list still shows %s*:\n%s", prefix, list)
		}
		// Other tests may add links to the root namespace meanwhile: look
		// for the lab's names only.
		ours := map[string]bool{lab.OutsideDevice: true, lab.InsideDevice: true, "br0": true, "fw": true, "eth0": true}
		for _, r := range lab.Roles {
			ours[r] = true
		}
		for name := range rootLinkNames(t) {
			if (ours[name] && !before[name]) || strings.HasPrefix(name, prefix) {
				t.Errorf("link %q left in the root namespace", name)
			}
		}
		if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("control socket %s left: %v", sock, err)
		}
	})
}

// rootLinkNames returns the names of the root namespace's links.
func rootLinkNames(t *testing.T) map[string]bool {
	t.Helper()
	out := runCmd(t, "ip", "-o", "link", "show")
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

func netnsList(t *testing.T) string {
	t.Helper()
	return runCmd(t, "ip", "netns", "list")
}

// runCmd runs argv, bounded, and returns its combined output.
func runCmd(t *testing.T, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// runExit runs argv, bounded, and returns its exit code, stdout and stderr.
func runExit(t *testing.T, argv ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ctx.Err() == nil:
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v (stderr %q)", strings.Join(argv, " "), err, stderr.String())
	return 0, "", ""
}
