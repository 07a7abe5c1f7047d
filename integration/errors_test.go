package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonErrors runs the cbacd binary (not a lab) on broken setups: it
// must exit non-zero at once and say what is wrong on stderr. It runs in a
// fresh, empty network namespace, so even a configuration that wrongly
// loads could bind nothing.
func TestDaemonErrors(t *testing.T) {
	needRoot(t)
	ns := testPrefix("e") + "empty"
	runCmd(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns delete %s: %v: %s", ns, err, out)
		}
	})
	seed, err := os.ReadFile(seedPath(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()

	cases := []struct {
		name string
		// The first line starting with match is replaced.
		match, replace string
		// want: substrings of stderr; "LINE" stands for FILE:N of the
		// edited line, "NEXTLINE" for the line added after it.
		want []string
	}{
		{
			name:    "device missing",
			match:   `device = "out0"`,
			replace: `device = "nosuch0"`,
			want:    []string{"nosuch0", "Ethernet2/0"},
		},
		{
			name:    "broken TOML",
			match:   `udp_idle_time = "30s"`,
			replace: `udp_idle_time == "30s"`,
			want:    []string{"LINE", "udp_idle_time"},
		},
		{
			// Seed case 15 (docs/behaviour.md): both smtp and esmtp in one rule.
			name:    "smtp and esmtp in one rule",
			match:   `smtp = { max_data = 20000000 }`,
			replace: "smtp = { max_data = 20000000 }\nesmtp = {}",
			want:    []string{"NEXTLINE", "both smtp and esmtp", "OUT-IN"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lines := strings.Split(string(seed), "\n")
			at := -1
			for i, l := range lines {
				if strings.HasPrefix(strings.TrimSpace(l), c.match) {
					at = i
					break
				}
			}
			if at < 0 {
				t.Fatalf("the seed has no line %q", c.match)
			}
			lines[at] = c.replace
			cfg := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".toml")
			if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				t.Fatal(err)
			}
			sock := filepath.Join(dir, "cbacd.sock")
			code, stdout, stderr := runExit(t, "ip", "netns", "exec", ns, cbacdBin, "-c", cfg, "-socket", sock)
			if code == 0 {
				t.Fatalf("cbacd exited 0; stdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			for _, w := range c.want {
				switch w {
				case "LINE":
					w = fmt.Sprintf("%s:%d", cfg, at+1)
				case "NEXTLINE":
					w = fmt.Sprintf("%s:%d", cfg, at+2)
				}
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stdout, "%SYS-5-RESTART") {
				t.Errorf("cbacd reported running:\n%s", stdout)
			}
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("control socket %s exists after a failed start: %v", sock, err)
			}
		})
	}

}
