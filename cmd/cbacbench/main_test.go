package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A stray word on the command line is an error, not the start of a full
// benchmark run (which needs root and takes minutes).
func TestUnexpectedArgument(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "cbacbench")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "frob").CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("cbacbench frob: err %v, want exit status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), `unexpected argument "frob"`) {
		t.Errorf("cbacbench frob said %q, want it to name the argument", out)
	}
}
