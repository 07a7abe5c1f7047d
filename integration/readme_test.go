package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cbac/lab"
)

// walkStep is one command line of the README's lab walkthrough.
type walkStep struct {
	line    string // as written in README.md
	cmd     string // the command, comment removed
	blocked bool   // "# blocked": must exit non-zero
	prints  string // "# prints: TEXT": its output must contain TEXT
}

// readmeWalkthrough returns the command lines of README.md between the
// lab-walkthrough markers, in order. Lines that are only a comment are
// explanations for the reader and are skipped.
func readmeWalkthrough(readme string) ([]walkStep, error) {
	_, rest, ok := strings.Cut(readme, "<!-- lab-walkthrough")
	if !ok {
		return nil, fmt.Errorf("no <!-- lab-walkthrough marker")
	}
	body, _, ok := strings.Cut(rest, "<!-- /lab-walkthrough -->")
	if !ok {
		return nil, fmt.Errorf("no <!-- /lab-walkthrough --> marker")
	}
	var steps []walkStep
	inBlock := false
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") {
			inBlock = !inBlock
			continue
		}
		if !inBlock || t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		s := walkStep{line: t, cmd: t}
		if i := strings.Index(t, " # "); i >= 0 {
			s.cmd = strings.TrimSpace(t[:i])
			comment := strings.TrimSpace(t[i+3:])
			s.blocked = strings.HasPrefix(comment, "blocked")
			if p, ok := strings.CutPrefix(comment, "prints:"); ok {
				s.prints = strings.TrimSpace(p)
			}
		}
		steps = append(steps, s)
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("the lab walkthrough has no commands")
	}
	return steps, nil
}

func TestReadmeWalkthroughParse(t *testing.T) {
	steps, err := readmeWalkthrough("x\n<!-- lab-walkthrough: y -->\n```sh\n# why\nip netns exec cbac-host ping -c 1 203.0.113.1   # prints: 1 received\n" +
		"a &\nip netns exec cbac-client curl -m 3 http://172.22.1.110/ # blocked: times out\nwait\n```\n<!-- /lab-walkthrough -->\n```sh\nnot me\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []walkStep{
		{line: "ip netns exec cbac-host ping -c 1 203.0.113.1   # prints: 1 received", cmd: "ip netns exec cbac-host ping -c 1 203.0.113.1", prints: "1 received"},
		{line: "a &", cmd: "a &"},
		{line: "ip netns exec cbac-client curl -m 3 http://172.22.1.110/ # blocked: times out", cmd: "ip netns exec cbac-client curl -m 3 http://172.22.1.110/", blocked: true},
		{line: "wait", cmd: "wait"},
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", steps, want)
	}
	if _, err := readmeWalkthrough("```sh\nls\n```\n"); err == nil {
		t.Error("no markers: want an error")
	}
}

// TestReadmeLabWalkthrough starts `cbacd lab` under a test prefix and runs
// every command of README.md's lab walkthrough in one bash, as a user
// would in a second shell: the namespace prefix "cbac-", the control
// socket, bin/cbacctl and /tmp/ replaced by the test's own. A command
// fails the test if it exits non-zero (zero if its comment says
// "blocked") or its output lacks what its "# prints:" comment says.
func TestReadmeLabWalkthrough(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"bash", "swaks", "curl", "ping", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (.ci/run installs it): %v", tool, err)
		}
	}
	if err := lab.CheckFTP(context.Background()); err != nil {
		t.Fatalf("the lab's FTP server: %v (.ci/run installs it)", err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := readmeWalkthrough(string(readme))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}

	prefix := testPrefix("w")
	l := lab.New(prefix)
	t.Cleanup(func() { l.Down() })
	dir := t.TempDir()
	sock := filepath.Join(dir, "lab.sock")
	p := startProcess(t, "cbacd lab", cbacdBin, "lab", "-prefix", prefix, "-socket", sock)
	if !p.waitOutput("cbacd lab: ready", readyTimeout) {
		t.Fatalf("no \"cbacd lab: ready\" within %v (exited: %v, %v):\n%s", readyTimeout, p.exited(), p.err, p.out.String())
	}

	t.Run("the lab prints its configuration and cbacctl", func(t *testing.T) {
		out := p.out.String()
		m := regexp.MustCompile(`(?m)^  configuration:  (\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no configuration line:\n%s", out)
		}
		got, err := os.ReadFile(m[1])
		if err != nil {
			t.Fatalf("the printed configuration: %v", err)
		}
		want, err := os.ReadFile(seedPath(t))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not examples/seed-3640.toml", m[1])
		}
		if !strings.Contains(out, "  control socket: "+sock+"\n") {
			t.Errorf("no control socket line for %s:\n%s", sock, out)
		}
		// cbacctl sits beside this cbacd: the lab names it by its path.
		line := "  cbacctl:        " + cbacctlBin + " -s " + sock + " show ip inspect sessions detail\n"
		if !strings.Contains(out, line) {
			t.Fatalf("want %q in:\n%s", line, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		argv := strings.Fields(strings.TrimSpace(strings.TrimPrefix(line, "  cbacctl:")))
		if o, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Errorf("the printed cbacctl command: %v: %s", err, o)
		}
	})

	// One bash runs every step (a step may start a job that a later
	// "wait" collects); each step's output and exit status go to files.
	repl := strings.NewReplacer(
		"ip netns exec cbac-", "ip netns exec "+prefix,
		"/run/cbac-lab.sock", sock,
		"bin/cbacctl", cbacctlBin,
		"/tmp/", dir+"/",
	)
	var script strings.Builder
	for i, s := range steps {
		cmd := repl.Replace(s.cmd)
		out := filepath.Join(dir, fmt.Sprintf("step%d", i))
		switch {
		case cmd == "wait":
			fmt.Fprintf(&script, "wait; echo 0 >%s.rc\n", out)
		case strings.HasSuffix(cmd, "&"):
			fmt.Fprintf(&script, "{ ( %s ) >%s.out 2>&1; echo $? >%s.rc; } &\n", strings.TrimSpace(strings.TrimSuffix(cmd, "&")), out, out)
			// Give a background job (a capture) time to be listening
			// before the next step makes its traffic.
			script.WriteString("sleep 1\n")
		default:
			fmt.Fprintf(&script, "( %s ) >%s.out 2>&1; echo $? >%s.rc\n", cmd, out, out)
		}
	}
	script.WriteString("wait\n")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bash := exec.CommandContext(ctx, "bash", "-c", script.String())
	bash.Dir = ".."
	bash.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	bash.Cancel = func() error { return syscall.Kill(-bash.Process.Pid, syscall.SIGKILL) }
	if o, err := bash.CombinedOutput(); err != nil {
		t.Fatalf("walkthrough script: %v: %s\n%s", err, o, script.String())
	}
	for i, s := range steps {
		base := filepath.Join(dir, fmt.Sprintf("step%d", i))
		rcText, err := os.ReadFile(base + ".rc")
		if err != nil {
			t.Errorf("%s: did not run: %v", s.line, err)
			continue
		}
		rc, _ := strconv.Atoi(strings.TrimSpace(string(rcText)))
		out, _ := os.ReadFile(base + ".out")
		switch {
		case s.blocked && rc == 0:
			t.Errorf("%s: exit 0, want a failure (blocked):\n%s", s.line, out)
		case !s.blocked && rc != 0:
			t.Errorf("%s: exit %d:\n%s", s.line, rc, out)
		case s.prints != "" && !bytes.Contains(out, []byte(s.prints)):
			t.Errorf("%s: output lacks %q:\n%s", s.line, s.prints, out)
		default:
			t.Logf("ok: %s", s.line)
		}
	}

	if err := p.stop(t, syscall.SIGINT); err != nil {
		t.Errorf("cbacd lab exit after SIGINT: %v", err)
	}
	if left := l.Namespaces(); len(left) > 0 {
		t.Errorf("namespaces left: %v", left)
	}
}
