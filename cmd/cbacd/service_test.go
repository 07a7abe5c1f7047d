package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The shipped unit passes systemd-analyze verify with no complaint (it
// exits 0 even for unknown keys, so its output must be empty too). verify
// wants ExecStart's binary to exist: a copy of the unit points at the
// binary TestMain built.
func TestServiceUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (package systemd)")
	}
	unit, err := os.ReadFile("../../examples/cbacd.service")
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{"Type=notify\n", "ExecReload=/bin/kill -HUP $MAINPID\n", "LimitMEMLOCK=infinity\n",
		"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_IPC_LOCK", "AF_XDP"} {
		if !strings.Contains(text, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if n := strings.Count(text, "/usr/local/bin/cbacd "); n != 2 {
		t.Fatalf("unit names /usr/local/bin/cbacd %d times, want 2 (ExecStartPre, ExecStart)", n)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cbacd.service")
	text = strings.ReplaceAll(text, "/usr/local/bin/cbacd ", cbacdBin+" ")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(l, "cbacd") {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
	// The check above can fail: a key systemd does not know is reported.
	bad := strings.Replace(text, "UMask=0077\n", "UMask=0077\nProtectEverything=yes\n", 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = exec.Command(sa, "verify", path).CombinedOutput()
	if !strings.Contains(string(out), "ProtectEverything") {
		t.Errorf("verify did not report an unknown key: %q", out)
	}
}

// `cbacd version` and `cbacd -version` print the module version, the VCS
// revision the toolchain stamped (as `go version -m` reads it from the
// same binary) and the Go version, and exit 0.
func TestVersionProcess(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	m, err := exec.Command(goBin, "version", "-m", cbacdBin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var rev, modified, goVersion string
	for _, l := range strings.Split(string(m), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], ":"):
			goVersion = f[1]
		case len(f) >= 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		case len(f) >= 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.modified="):
			modified = strings.TrimPrefix(f[1], "vcs.modified=")
		}
	}
	if goVersion == "" {
		t.Fatalf("no Go version in go version -m:\n%s", m)
	}
	for _, arg := range []string{"version", "-version", "--version"} {
		stdout, stderr, code := run(t, "", arg)
		if code != 0 || stderr != "" {
			t.Fatalf("cbacd %s: exit %d, stderr %q", arg, code, stderr)
		}
		line := strings.TrimSuffix(stdout, "\n")
		if strings.Contains(line, "\n") || !strings.HasPrefix(line, "cbacd cbac ") || !strings.HasSuffix(line, " "+goVersion) {
			t.Errorf("cbacd %s: %q: want one line \"cbacd cbac VERSION ... %s\"", arg, stdout, goVersion)
		}
		switch {
		case rev == "" && !strings.Contains(line, "revision unknown"):
			t.Errorf("cbacd %s: %q: the binary has no VCS stamp, want \"revision unknown\"", arg, line)
		case rev != "" && !strings.Contains(line, "revision "+rev):
			t.Errorf("cbacd %s: %q: want revision %s", arg, line, rev)
		case rev != "" && (modified == "true") != strings.Contains(line, "(modified)"):
			t.Errorf("cbacd %s: %q: vcs.modified=%s", arg, line, modified)
		}
	}
}
