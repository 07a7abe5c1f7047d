package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cbac/config"
)

// run runs the built cbacd and returns its stdout, stderr and exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(cbacdBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatal(err)
	return "", "", -1
}

const seedRC = "../../iosconfig/testdata/seed-3640.running-config"

// TestImportIOSProcess runs "cbacd import-ios" as a user does: the TOML on
// stdout passes "cbacd check", the report is on stderr, and the exit code
// says whether a security-relevant line was left out.
func TestImportIOSProcess(t *testing.T) {
	stdout, stderr, code := run(t, "", "import-ios", "-map", "Ethernet2/0=out0,Ethernet2/1=in0", seedRC)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"line 40: `no ftp-server write-enable`: not a firewall setting, ignored\n",
		"lines 61-63: `interface Serial2/0`: shut down: not imported\n",
		"; 21 lines reported, 0 of them security-relevant and not translated\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stdout, "line 40") {
		t.Error("the report leaked into stdout")
	}
	toml := filepath.Join(t.TempDir(), "imported.toml")
	if err := os.WriteFile(toml, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, "", "check", "-c", toml); code != 0 {
		t.Fatalf("cbacd check refuses the import (exit %d): %s%s", code, out, errOut)
	}
	c, err := config.Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "3640-123" || len(c.Interfaces) != 2 || c.Interfaces[0].Device != "out0" {
		t.Errorf("imported %+v", c)
	}

	// Standard input, and TCP intercept, which cbac translates: exit 0.
	in, err := os.ReadFile(seedRC)
	if err != nil {
		t.Fatal(err)
	}
	intercept := string(in) + "ip tcp intercept list 101\nip tcp intercept connection-timeout 3600\n"
	stdout, stderr, code = run(t, intercept, "import-ios", "-map", "Ethernet2/0=out0,Ethernet2/1=in0", "-")
	if code != 0 {
		t.Errorf("exit %d with tcp intercept, want 0; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "list = \"101\"  # line 111: ip tcp intercept list 101\n") {
		t.Errorf("the TOML does not translate the intercept list:\n%s", stdout)
	}
	c, err = config.Parse("stdout", []byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if ti := c.TCPIntercept; !ti.Enabled || ti.List != "101" || ti.ConnectionTimeout != time.Hour {
		t.Errorf("tcp_intercept %+v", ti)
	}

	// A value cbac's loader refuses: the line is partly translated, the
	// exit code 2, and the TOML written still loads.
	intercept += "ip tcp intercept max-incomplete low 2000\n"
	stdout, stderr, code = run(t, intercept, "import-ios", "-map", "Ethernet2/0=out0,Ethernet2/1=in0", "-")
	if code != 2 {
		t.Errorf("exit %d with a refused intercept value, want 2; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "line 113: `ip tcp intercept max-incomplete low 2000`: SECURITY, partly translated: cbacd refuses max_incomplete (low threshold 2000 is above high threshold 1100)") {
		t.Errorf("stderr lacks the refused line:\n%s", stderr)
	}
	if c, err := config.Parse("stdout", []byte(stdout)); err != nil || c.TCPIntercept.List != "101" {
		t.Errorf("exit 2 must still write a loadable configuration protecting list 101: %v", err)
	}
	if !strings.Contains(stdout, "# NOT TRANSLATED, security-relevant") {
		t.Errorf("the TOML does not warn about the refused line:\n%s", stdout)
	}
}

// TestImportIOSErrors: usage and I/O errors exit 1 with a message and
// write no TOML.
func TestImportIOSErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"import-ios"}, "usage: cbacd import-ios"},
		{"missing file", []string{"import-ios", "-map", "a=b", "/nonexistent/running-config"}, "no such file"},
		{"no mapping", []string{"import-ios", seedRC}, "interfaces need a Linux device: Ethernet2/0 (line 53), Ethernet2/1 (line 65); give -map Ethernet2/0=DEVICE,Ethernet2/1=DEVICE"},
		{"unknown interface", []string{"import-ios", "-map", "Ethernet2/0=out0,Ethernet2/1=in0,Ethernet9/9=x", seedRC}, "Ethernet9/9"},
		{"bad map", []string{"import-ios", "-map", "Ethernet2/0", seedRC}, `-map: "Ethernet2/0": want IOSNAME=DEVICE`},
		{"bad device", []string{"import-ios", "-map", "Ethernet2/0=a/b,Ethernet2/1=in0", seedRC}, "not a Linux device name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := run(t, "", tc.args...)
			if code != 1 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, no stdout, stderr with %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

// TestImportIOSDoesNotLoad: a translation that cbacd would refuse (here
// nine interfaces; cbacd binds at most eight) exits 1 with the loader's
// reason instead of writing it.
func TestImportIOSDoesNotLoad(t *testing.T) {
	var in strings.Builder
	var m []string
	for i := 0; i < 9; i++ {
		n := string(rune('0' + i))
		in.WriteString("interface Ethernet" + n + "\n ip address 10.0." + n + ".1 255.255.255.0\n")
		m = append(m, "Ethernet"+n+"=eth"+n)
	}
	stdout, stderr, code := run(t, in.String(), "import-ios", "-map", strings.Join(m, ","), "-")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "the translation of standard input does not load") || !strings.Contains(stderr, "9 interfaces") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
