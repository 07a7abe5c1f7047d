package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cbac/lab"
)

// captureLimit bounds one cbacctl capture in these tests.
const captureLimit = 60 * time.Second

// startCapture runs `cbacctl -s sock capture args...` in the background.
func startCapture(t *testing.T, sock string, args ...string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), captureLimit)
	t.Cleanup(cancel)
	var out syncBuffer
	cmd := exec.CommandContext(ctx, cbacctlBin, append([]string{"-s", sock, "capture"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return cmd, &out, done
}

// tsharkFields reads file with tshark and returns one row per frame.
func tsharkFields(t *testing.T, file string, fields ...string) [][]string {
	t.Helper()
	argv := []string{"-r", file, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		argv = append(argv, "-e", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tshark", argv...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", argv, err, out)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			rows = append(rows, strings.Split(line, "|"))
		}
	}
	return rows
}

// `cbacctl capture drops -c 3 -w F` while the outside client tries
// 172.22.1.110:80 (denied by ACL 101): F holds three SYNs to port 80 on
// out0 (Ethernet2/0), each commented with the drop reason.
func TestCaptureDrops(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatalf("tshark missing (installed in CI): %v", err)
	}
	l := upLab(t, "cap")
	sock := filepath.Join(t.TempDir(), "cbacd.sock")
	startCbacd(t, l, seedPath(t), sock)
	dir := t.TempDir()

	// captureWhileDialling runs a capture of -c frames while the outside
	// client keeps dialling 172.22.1.110:80 (the capture starts
	// asynchronously; each dial sends a SYN and its retransmissions) and
	// returns cbacctl's output.
	captureWhileDialling := func(t *testing.T, args ...string) string {
		_, out, done := startCapture(t, sock, args...)
		for i := 0; ; i++ {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("cbacctl: %v\n%s", err, out.String())
				}
				return out.String()
			default:
			}
			if i == 10 {
				t.Fatalf("cbacctl did not end after %d blocked dials:\n%s", i, out.String())
			}
			dialBlocked(t, l, lab.RoleClient, "172.22.1.110:80")
		}
	}
	fields := []string{"frame.interface_name", "frame.interface_description", "ip.dst", "tcp.dstport", "tcp.flags.syn", "frame.comment"}

	t.Run("drops for inbound ACL deny", func(t *testing.T) {
		file := filepath.Join(dir, "acl.pcapng")
		out := captureWhileDialling(t, "drops", "-c", "3", "-reason", "inbound ACL deny", "-w", file)
		if !strings.Contains(out, "3 frames captured, 0 frames lost") {
			t.Errorf("cbacctl said %q", out)
		}
		rows := tsharkFields(t, file, fields...)
		if len(rows) != 3 {
			t.Fatalf("tshark shows %d frames, want 3: %v", len(rows), rows)
		}
		want := []string{"out0", "Ethernet2/0", "172.22.1.110", "80", "1", "inbound ACL deny"}
		for _, r := range rows {
			if strings.Join(r, "|") != strings.Join(want, "|") {
				t.Errorf("frame %v, want %v", r, want)
			}
		}
	})

	// Without -reason every drop is taken (the lab's hosts also send
	// multicast that is not for cbacd's MAC): each frame carries its
	// reason, and the SYNs to port 80 the ACL deny.
	t.Run("all drops", func(t *testing.T) {
		file := filepath.Join(dir, "drops.pcapng")
		out := captureWhileDialling(t, "drops", "-c", "3", "-w", file)
		if !strings.Contains(out, "3 frames captured") {
			t.Errorf("cbacctl said %q", out)
		}
		rows := tsharkFields(t, file, fields...)
		if len(rows) != 3 {
			t.Fatalf("tshark shows %d frames, want 3: %v", len(rows), rows)
		}
		for _, r := range rows {
			if r[5] == "" || (r[2] == "172.22.1.110" && r[3] == "80" && r[5] != "inbound ACL deny") {
				t.Errorf("frame %v: no reason, or not the ACL's", r)
			}
		}
	})

	t.Run("interface in0, both directions", func(t *testing.T) {
		file := filepath.Join(dir, "in0.pcapng")
		srv := trap(t, l, lab.RoleMail, "10.10.10.2:25")
		_, out, done := startCapture(t, sock, "interface", "Ethernet2/1", "-c", "6", "-w", file)
		var err error
	dial:
		for i := 0; ; i++ {
			select {
			case err = <-done:
				break dial
			default:
			}
			if i == 20 {
				t.Fatalf("cbacctl did not end after %d connections:\n%s", i, out.String())
			}
			ctx, cancel := context.WithTimeout(context.Background(), blockedWait)
			c, derr := l.Dial(ctx, lab.RoleClient, "tcp4", "172.22.1.110:25")
			cancel()
			if derr != nil {
				t.Fatalf("SMTP through cbacd: %v", derr)
			}
			c.Close()
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("cbacctl: %v\n%s", err, out.String())
		}
		if len(srv.accepted()) == 0 {
			t.Fatal("no connection reached the mail server")
		}
		rows := tsharkFields(t, file, "frame.interface_name", "frame.interface_description", "frame.packet_flags_direction", "tcp.srcport", "tcp.dstport")
		if len(rows) != 6 {
			t.Fatalf("tshark shows %d frames, want 6: %v", len(rows), rows)
		}
		// in0 carries the SYNs out to the mail server and the SYN/ACKs
		// in. Other frames on in0 (the hosts' ARP, say) are captured too:
		// only their interface is checked.
		var toServer, fromServer int
		for _, r := range rows {
			d, perr := strconv.ParseUint(r[2], 0, 32)
			if r[0] != "in0" || r[1] != "Ethernet2/1" || perr != nil {
				t.Errorf("frame %v: want in0/Ethernet2/1 with a direction", r)
				continue
			}
			switch {
			case r[4] == "25" && d == 2:
				toServer++
			case r[3] == "25" && d == 1:
				fromServer++
			case r[3] == "25" || r[4] == "25":
				t.Errorf("frame %v: want outbound towards port 25 and inbound from it", r)
			}
		}
		if toServer == 0 || fromServer == 0 {
			t.Errorf("%d frames outbound to port 25, %d inbound from it; want both: %v", toServer, fromServer, rows)
		}
		if !strings.Contains(out.String(), "6 frames captured") {
			t.Errorf("cbacctl said %q", out.String())
		}
	})

	t.Run("refused capture", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		file := filepath.Join(dir, "none.pcapng")
		out, err := exec.CommandContext(ctx, cbacctlBin, "-s", sock, "capture", "interface", "eth9", "-w", file).CombinedOutput()
		if err == nil || !strings.Contains(string(out), `no interface "eth9"`) {
			t.Errorf("capture of eth9: %v, %q", err, out)
		}
		if _, serr := os.Stat(file); serr == nil {
			t.Errorf("%s exists after a refused capture", file)
		}
	})
}
