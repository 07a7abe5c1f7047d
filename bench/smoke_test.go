package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cbac/internal/netns"
)

// TestSmokeQuick runs `cbacbench -quick` end to end (root: namespaces,
// AF_XDP, nftables, trafgen) and checks that the table has every contender
// and scenario, the output files are written and nothing is left behind.
func TestSmokeQuick(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, AF_XDP, nftables, trafgen)")
	}
	if testing.Short() {
		t.Skip("about 3 minutes; not in -short")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "cbac/cmd/cbacd", "cbac/cmd/cbacbench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	wmem, _ := os.ReadFile("/proc/sys/net/core/wmem_default")
	prefix := fmt.Sprintf("t%db-", os.Getpid()%10000)
	// If cbacbench is killed (the timeout below), it cannot clean up:
	// remove its namespaces and restore the sysctl it raises.
	t.Cleanup(func() {
		for _, role := range []string{RoleIn, RoleDUT, RoleOut} {
			if netns.Exists(prefix + role) {
				exec.Command("ip", "netns", "del", prefix+role).Run()
			}
		}
		if now, _ := os.ReadFile("/proc/sys/net/core/wmem_default"); len(wmem) > 0 && !bytes.Equal(now, wmem) {
			os.WriteFile("/proc/sys/net/core/wmem_default", wmem, 0o644)
		}
	})
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "cbacbench"), "-quick", "-prefix", prefix, "-out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("cbacbench -quick: %v in %s\n%s", err, time.Since(start).Round(time.Second), stdout.String())
	if err != nil {
		t.Fatalf("cbacbench: %v\n%s", err, stderr.String())
	}
	// The contenders a run without -contenders selects.
	def := (&Bench{}).selected()
	if err := CheckTable(stdout.String(), def); err != nil {
		t.Error(err)
	}
	var res Results
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Errorf("measurement errors: %s\n%s", strings.Join(res.Errors, "; "), stderr.String())
	}
	for _, c := range def {
		if !hasThroughput(&res, c.Name) {
			t.Errorf("no throughput result for %s", c.Name)
		}
	}
	for _, f := range []string{"results.txt", "results.svg", "SUMMARY.md"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	for _, role := range []string{RoleIn, RoleDUT, RoleOut} {
		if netns.Exists(prefix + role) {
			t.Errorf("namespace %s%s left behind", prefix, role)
		}
	}
	if now, _ := os.ReadFile("/proc/sys/net/core/wmem_default"); !bytes.Equal(now, wmem) {
		t.Errorf("net.core.wmem_default is %q after the run, was %q", bytes.TrimSpace(now), bytes.TrimSpace(wmem))
	}
}

func hasThroughput(r *Results, name string) bool {
	for _, t := range r.Throughput {
		if t.Contender == name && t.MaxDeliveredPps > 0 {
			return true
		}
	}
	return false
}
