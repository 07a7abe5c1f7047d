package postfix

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cbacdBin is the cbacd binary the tests run; buildErr says why there is
// none.
var (
	cbacdBin string
	buildErr error
)

// TestMain builds cbacd once into a temporary directory: the tests run the
// real binary, never one left in bin/. Without root nothing is built (the
// tests that need it skip). CBAC_TEST_CBACD=PATH runs that binary instead
// (e.g. a release build, or one built from another tree).
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if p := os.Getenv("CBAC_TEST_CBACD"); p != "" {
		cbacdBin = p
		if _, err := os.Stat(p); err != nil {
			buildErr = fmt.Errorf("CBAC_TEST_CBACD: %w", err)
		}
	} else if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "cbac-postfix-bin-")
		if err != nil {
			buildErr = err
		} else {
			defer os.RemoveAll(dir)
			cbacdBin = filepath.Join(dir, "cbacd")
			buildErr = buildCbacd(cbacdBin)
		}
	}
	return m.Run()
}

// buildCbacd runs `go build -o out cbac/cmd/cbacd` from the module. With the
// race detector on in the test binary, cbacd is built with -race too, so a
// data race in the dataplane under real traffic shows up in its output.
func buildCbacd(out string) error {
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "cbac/cmd/cbacd")
	cmd := exec.Command("go", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %w: %s", args, err, b)
	}
	return nil
}

// needRoot skips a test that needs root: it builds network namespaces and
// binds AF_XDP sockets. CI runs as root, so the tests run there.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, AF_XDP and a private Postfix instance (CI runs as root)")
	}
	if buildErr != nil {
		t.Fatalf("build cbacd: %v", buildErr)
	}
}

// tool finds a program the tests need. A missing one fails the test:
// .ci/run installs every one of them (postfix, swaks, python3, iproute2).
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s is not installed: run .ci/run as root, or apt-get install postfix swaks python3 iproute2 procps", name)
	return ""
}
