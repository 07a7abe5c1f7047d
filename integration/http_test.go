package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"cbac/lab"
)

// TestHTTPJavaBlocking: cbacd on the seed lab, curl on the inside host
// 10.10.10.5 fetching from the lab's web server 203.0.113.1 (outside).
// With the seed's IN-OUT "http" (no java-list) the unarchived applet's
// connection is reset and cbacd logs %FW-3-HTTP_JAVA_BLOCK, while a page
// and an archived applet pass. With java_list = "10" (a standard list
// permitting 203.0.113.1) the applet passes too, and show ip inspect all
// prints the rule as IOS does.
func TestHTTPJavaBlocking(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("curl missing: %v", err)
	}
	l := upLab(t, "h")
	web, err := l.ServeWeb()
	if err != nil {
		t.Fatal(err)
	}
	defer web.Close()
	url := "http://" + lab.WebAddr

	// fetch runs curl on the inside host and returns the body and
	// whether curl succeeded.
	fetch := func(path string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		out, err := l.Exec(ctx, lab.RoleHost, "curl", "-sS", "-m", "10", "--no-keepalive", url+path).Output()
		return string(out), err
	}
	passes := func(path, want string) {
		t.Helper()
		got, err := fetch(path)
		if err != nil || got != want {
			t.Errorf("GET %s: %v, body %q, want %q", path, err, got, want)
		}
	}
	const block = "%FW-3-HTTP_JAVA_BLOCK: JAVA applet is blocked from (203.0.113.1:80) to (10.10.10.5:"

	t.Run("no java-list", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "cbacd.sock")
		p := startCbacd(t, l, seedPath(t), sock)
		passes("/", lab.WebPage)
		passes(lab.WebJarPath, lab.WebJar)
		got, err := fetch(lab.WebClassPath)
		if err == nil || strings.Contains(got, lab.WebClass) {
			t.Errorf("GET %s passed: %v, body %q", lab.WebClassPath, err, got)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Logf("curl %s: %v: %s", lab.WebClassPath, err, strings.TrimSpace(string(ee.Stderr)))
		}
		if !p.waitOutput(block, commandTimeout) {
			t.Errorf("cbacd did not log %q", block)
		}
		if n := strings.Count(p.out.String(), "HTTP_JAVA_BLOCK"); n != 1 {
			t.Errorf("%d HTTP_JAVA_BLOCK lines, want 1", n)
		}
		passes("/", lab.WebPage) // the block ended one session only
		stats := ctl(t, sock, "show", "ip", "inspect", "statistics")
		if want := "HTTP Java blocking: 4 sessions inspected, 0 of java-list servers not inspected; 1 applets blocked; 1 archived applets passed"; !strings.Contains(stats, want) {
			t.Errorf("statistics lack %q:\n%s", want, stats)
		}
		p.stop(t, syscall.SIGTERM)
	})

	t.Run("java-list permits the server", func(t *testing.T) {
		seed, err := os.ReadFile(seedPath(t))
		if err != nil {
			t.Fatal(err)
		}
		cfg := string(seed)
		for _, r := range [][2]string{
			{"http = {}", `http = { java_list = "10" }`},
			{"[access_lists]", "[access_lists]\n10 = [\"permit ip host 203.0.113.1 any\"]"},
		} {
			if strings.Count(cfg, r[0]) != 1 {
				t.Fatalf("seed: %q occurs %d times", r[0], strings.Count(cfg, r[0]))
			}
			cfg = strings.Replace(cfg, r[0], r[1], 1)
		}
		path := filepath.Join(t.TempDir(), "java-list.toml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(t.TempDir(), "cbacd.sock")
		p := startCbacd(t, l, path, sock)
		passes("/", lab.WebPage)
		passes(lab.WebClassPath, lab.WebClass)
		passes(lab.WebJarPath, lab.WebJar)
		if strings.Contains(p.out.String(), "HTTP_JAVA_BLOCK") {
			t.Errorf("cbacd blocked an applet of a permitted server:\n%s", p.out.String())
		}
		for _, cmd := range []string{"all", "config"} {
			show := ctl(t, sock, "show", "ip", "inspect", cmd)
			if want := "    http java-list 10 alert is on audit-trail is off timeout 3600\n"; !strings.Contains(show, want) {
				t.Errorf("show ip inspect %s lacks %q:\n%s", cmd, want, show)
			}
		}
		p.stop(t, syscall.SIGTERM)
	})
}
