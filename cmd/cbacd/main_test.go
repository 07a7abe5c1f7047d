package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// These tests run the cbacd binary as a user does, built once by TestMain:
// exit status, stdout, stderr and the files it leaves. None needs root
// (check, replay and the usage paths bind nothing).

var cbacdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cbacd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cbacdBin = filepath.Join(dir, "cbacd")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goBin, "build", "-o", cbacdBin, "cbac/cmd/cbacd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build cbacd: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is one finished cbacd run.
type result struct {
	code           int
	stdout, stderr string
}

// cbacd runs the binary with args, bounded in time.
func cbacd(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cbacdBin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("cbacd %s: %v\nstderr:\n%s", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

func seedFile(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../examples/seed-3640.toml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string // in stdout+stderr
	}{
		{[]string{"-h"}, 0, "usage: cbacd -c FILE.toml"},
		{[]string{"--help"}, 0, "usage: cbacd -c FILE.toml"},
		{[]string{"help"}, 0, "cbacd replay -c FILE.toml"},
		{[]string{"check", "-h"}, 0, "usage: cbacd check -c FILE.toml"},
		{[]string{"replay", "-h"}, 0, "usage: cbacd replay"},
		{[]string{"lab", "-h"}, 0, "usage: cbacd lab"},
		{[]string{"import-ios", "-h"}, 0, "usage: cbacd import-ios"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"check"}, 2, "-c FILE.toml is required"},
		{[]string{"check", "-c"}, 2, "flag needs an argument"},
		{[]string{"check", "-x"}, 2, "flag provided but not defined: -x"},
		{[]string{"check", "-c", "a.toml", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"replay", "-c", "a.toml"}, 2, "-c, -r and -w are required"},
		{nil, 2, "-c FILE.toml is required"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			r := cbacd(t, c.args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, c.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, c.want) {
				t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", c.want, r.stdout, r.stderr)
			}
			if c.code == 2 && c.args != nil && c.args[0] == "frobnicate" && !strings.Contains(r.stderr, "usage:") {
				t.Errorf("no usage after an unknown command:\n%s", r.stderr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	seed := seedFile(t)
	r := cbacd(t, "check", "-c", seed)
	if r.code != 0 || !strings.Contains(r.stdout, seed+": configuration is valid") {
		t.Fatalf("check of the seed: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(seed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name           string
		match, replace string // the first line starting with match is replaced
		line           int    // 0: the edited line; 1: the one after it
		want           []string
	}{
		{"syntax error", `udp_idle_time = "30s"`, `udp_idle_time == "30s"`, 0, []string{"udp_idle_time"}},
		{"unknown key", `dns_timeout = "5s"`, "dns_timeout = \"5s\"\nfrobnicate = 1", 1, []string{"frobnicate", "unknown key"}},
		{"smtp and esmtp in one rule", `smtp = { max_data = 20000000 }`, "smtp = { max_data = 20000000 }\nesmtp = {}", 1, []string{"OUT-IN", "smtp and esmtp"}},
		{"missing ACL", `access_group_in = "101"`, `access_group_in = "102"`, 0, []string{"access_group_in", `"102"`}},
		{"java-list not defined", `http = {}`, `http = { java_list = "10" }`, 0, []string{"inspect.rules.IN-OUT.http.java_list", `"10" is not defined`}},
		{"java-list not standard", `http = {}`, `http = { java_list = "101" }`, 0, []string{"inspect.rules.IN-OUT.http.java_list", "not a standard access list"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines := strings.Split(string(b), "\n")
			at := -1
			for i, l := range lines {
				if strings.HasPrefix(l, c.match) {
					at = i
					break
				}
			}
			if at < 0 {
				t.Fatalf("the seed has no line %q", c.match)
			}
			lines[at] = c.replace
			cfg := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".toml")
			if err := os.WriteFile(cfg, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			r := cbacd(t, "check", "-c", cfg)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			want := append([]string{fmt.Sprintf("%s:%d", cfg, at+1+c.line)}, c.want...)
			for _, w := range want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if r := cbacd(t, "check", "-c", filepath.Join(dir, "nosuch.toml")); r.code != 1 || !strings.Contains(r.stderr, "nosuch.toml") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
}

// replayConfig is the seed with the interface MACs and static ARP entries
// that dataplane/replay_test.go replays its golden captures with.
func replayConfig(t *testing.T, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(seedFile(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(repl); i += 2 {
		if !strings.Contains(s, repl[i]) {
			t.Fatalf("seed lacks %q", repl[i])
		}
		s = strings.Replace(s, repl[i], repl[i+1], 1)
	}
	for dev, mac := range map[string]string{"out0": "02:cb:00:00:00:10", "in0": "02:cb:00:00:00:01"} {
		old := fmt.Sprintf("device = %q", dev)
		if !strings.Contains(s, old) {
			t.Fatalf("seed lacks %s", old)
		}
		s = strings.Replace(s, old, old+fmt.Sprintf("\nmac = %q", mac), 1)
	}
	for _, n := range [][2]string{
		{"172.22.1.1", "02:00:00:00:01:01"}, {"172.22.1.100", "02:00:00:00:01:64"},
		{"10.10.10.2", "02:00:00:00:0a:02"}, {"10.10.10.5", "02:00:00:00:0a:05"},
	} {
		s += fmt.Sprintf("\n[[arp]]\naddress = %q\nmac = %q\n", n[0], n[1])
	}
	p := filepath.Join(t.TempDir(), "replay.toml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// frame is one frame of a pcapng capture.
type frame struct {
	dev  string
	at   time.Time
	data []byte
}

func readFrames(t *testing.T, path string) []frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(out)+1, err)
		}
		intf, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{dev: intf.Name, at: ci.Timestamp, data: append([]byte(nil), data...)})
	}
}

func sameFrames(t *testing.T, got, want []frame) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d frames, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.dev != w.dev || !g.at.Equal(w.at) || !bytes.Equal(g.data, w.data) {
			t.Errorf("frame %d: got %s %v %x\n want %s %v %x", i+1, g.dev, g.at, g.data, w.dev, w.at, w.data)
		}
	}
}

// Every golden capture of dataplane/testdata replays through the binary
// to its golden output; -show prints what the capture leaves behind.
func TestReplayGoldens(t *testing.T) {
	cfg := replayConfig(t)
	ins, err := filepath.Glob("../../dataplane/testdata/replay-*.in.pcapng")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no golden captures: %v", err)
	}
	// What -show must print for each capture.
	shows := map[string][]string{
		"nat": {" Session 00000001 (172.22.1.100:40000)=>(172.22.1.110:25) smtp SIS_OPEN\n",
			"  Bytes sent (initiator:responder) [13:16]\n", "Packets forwarded: 5;"},
		"acl":   {"Half-open Sessions\n", "(172.22.1.100:40003)=>(172.22.1.110:25) smtp SIS_OPENING", "inbound ACL deny                     4\n"},
		"arp":   {"ARP: 3 answered, 5 learned, 0 requests sent\n"},
		"route": {"(10.10.10.5:33000)=>(203.0.113.50:443) tcp SIS_OPENING", "(10.10.10.5:16962)=>(8.8.8.8:16962) icmp SIS_OPEN"},
		"ftp-active": {" Session 00000001 (10.10.10.5:40500)=>(198.51.100.7:21) ftp SIS_OPEN\n", "\n  Session 00000002 (198.51.100.7:20)=>(172.22.1.111:51210) ftp-data SIS_OPENING\n",
			"FTP inspection: 1 control sessions inspected; data connections announced 1, admitted 1, waiting 0"},
		"ftp-bounce":  {"FTP command refused: session reset", "FTP inspection: 0 control sessions inspected"},
		"ftp-passive": {" Session 00000001 (172.22.1.100:40600)=>(172.22.1.110:21) ftp SIS_OPEN\n", "\n  Session 00000002 (172.22.1.100:41000)=>(172.22.1.110:50000) ftp-data SIS_OPENING\n"},
		"ftp-shift":   {"(10.10.10.5:40500)=>(198.51.100.7:21) ftp SIS_OPEN\n", "data connections announced 1, admitted 0, waiting 1"},
		"http-java": {"HTTP Java blocking: 1 sessions inspected, 0 of java-list servers not inspected; 1 applets blocked;",
			"HTTP Java applet blocked             1\n"},
	}
	// What the log (stderr) must hold.
	logs := map[string]string{
		"http-java": "%FW-3-HTTP_JAVA_BLOCK: JAVA applet is blocked from (203.0.113.1:80) to (10.10.10.5:41000)\n",
	}
	// Captures replayed with a configuration variant: ftp-passive is the
	// OUT-IN FTP variant (an outside client of the inside server).
	variants := map[string]string{
		"ftp-passive": replayConfig(t, "smtp = { max_data = 20000000 }", "smtp = { max_data = 20000000 }\nftp = {}",
			`"permit tcp any host 172.22.1.110 eq smtp",`, `"permit tcp any host 172.22.1.110 eq smtp",`+"\n"+`"permit tcp any host 172.22.1.110 eq ftp",`),
	}
	for _, in := range ins {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(in), "replay-"), ".in.pcapng")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.pcapng")
			c := cfg
			if v, ok := variants[name]; ok {
				c = v
			}
			r := cbacd(t, "replay", "-c", c, "-r", in, "-w", out, "-show")
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
			}
			want := readFrames(t, strings.Replace(in, ".in.", ".out.", 1))
			sameFrames(t, readFrames(t, out), want)
			if w := fmt.Sprintf("replay: %d frames read, %d written to %s\n", len(readFrames(t, in)), len(want), out); !strings.Contains(r.stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
			}
			if w := logs[name]; !strings.Contains(r.stderr, w) {
				t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
			}
			wantShow, ok := shows[name]
			if !ok {
				t.Fatalf("no -show expectations for capture %s", name)
			}
			for _, w := range wantShow {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("-show output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

// packetBlocks returns the offsets of a little-endian pcapng file's
// enhanced packet blocks.
func packetBlocks(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off+8 <= len(b); {
		typ, n := binary.LittleEndian.Uint32(b[off:]), int(binary.LittleEndian.Uint32(b[off+4:]))
		if n < 12 {
			t.Fatalf("block at %d: length %d", off, n)
		}
		if typ == 6 {
			offs = append(offs, off)
		}
		off += n
	}
	return offs
}

// An output that is no regular file is written as the replay goes; a
// symbolic link's target is replaced, the link stays.
func TestReplayOutputs(t *testing.T) {
	cfg := replayConfig(t)
	in := "../../dataplane/testdata/replay-route.in.pcapng"
	want := readFrames(t, "../../dataplane/testdata/replay-route.out.pcapng")
	if r := cbacd(t, "replay", "-c", cfg, "-r", in, "-w", os.DevNull); r.code != 0 {
		t.Errorf("-w %s: exit %d: %s", os.DevNull, r.code, r.stderr)
	}
	if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode().IsRegular() {
		t.Fatalf("%s is now %v (%v)", os.DevNull, fi.Mode(), err)
	}
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target.pcapng"), filepath.Join(dir, "link.pcapng")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if r := cbacd(t, "replay", "-c", cfg, "-r", in, "-w", link); r.code != 0 {
		t.Fatalf("-w link: exit %d: %s", r.code, r.stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced (%v)", err)
	}
	sameFrames(t, readFrames(t, target), want)
	// A directory that does not exist: an error, nothing created.
	if r := cbacd(t, "replay", "-c", cfg, "-r", in, "-w", filepath.Join(dir, "no", "out.pcapng")); r.code != 1 || !strings.Contains(r.stderr, "output") {
		t.Errorf("-w in a missing directory: exit %d: %s", r.code, r.stderr)
	}
}

// writeNg writes frames as pcapng, interfaces named by the frames' dev.
func writeNg(t *testing.T, path string, frames []frame) {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: frames[0].dev, LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{frames[0].dev: 0}
	for _, f := range frames {
		if _, ok := ids[f.dev]; !ok {
			id, err := w.AddInterface(pcapgo.NgInterface{Name: f.dev, LinkType: layers.LinkTypeEthernet, SnapLength: 65535})
			if err != nil {
				t.Fatal(err)
			}
			ids[f.dev] = id
		}
	}
	for _, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: f.at, CaptureLength: len(f.data), Length: len(f.data), InterfaceIndex: ids[f.dev]}
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A bad capture: exit 1, one line on stderr naming the input file and the
// frame, and no output file, except for a capture cut inside a frame after
// at least one frame was transmitted: that output is kept.
func TestReplayBadCaptures(t *testing.T) {
	cfg := replayConfig(t)
	route := readFrames(t, "../../dataplane/testdata/replay-route.in.pcapng")
	routeOut := readFrames(t, "../../dataplane/testdata/replay-route.out.pcapng")
	routeBytes, err := os.ReadFile("../../dataplane/testdata/replay-route.in.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	aclBytes, err := os.ReadFile("../../dataplane/testdata/replay-acl.in.pcapng")
	if err != nil {
		t.Fatal(err)
	}
	// aclCut ends inside the capture's third frame: the first two (both
	// denied by ACL 101) transmit nothing.
	aclCut := aclBytes[:packetBlocks(t, aclBytes)[2]+40]
	var classic bytes.Buffer
	cw := pcapgo.NewWriterNanos(&classic)
	if err := cw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	if err := cw.WritePacket(gopacket.CaptureInfo{Timestamp: route[0].at, CaptureLength: len(route[0].data), Length: len(route[0].data)}, route[0].data); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		input  func(path string)
		args   []string // more flags
		want   []string // in the error line, besides the input's path
		kept   int      // frames of the route golden output kept; -1: no output
		exit   int
		output string // for a kept output
	}{
		{
			name:  "truncated after transmitted frames",
			input: func(p string) { os.WriteFile(p, routeBytes[:len(routeBytes)-2], 0o644) },
			want:  []string{"frame 4", "truncated", "what the frames before it transmitted is kept in", "(3 frames)"},
			kept:  3, exit: 1,
		},
		{
			name:  "truncated before any frame was transmitted",
			input: func(p string) { os.WriteFile(p, aclCut, 0o644) },
			want:  []string{"frame 3", "truncated", "no output written"},
			kept:  -1, exit: 1,
		},
		{
			name:  "garbage",
			input: func(p string) { os.WriteFile(p, []byte("hello, world: not a capture\n"), 0o644) },
			want:  []string{"pcap header", "no output written"},
			kept:  -1, exit: 1,
		},
		{
			name:  "empty file",
			input: func(p string) { os.WriteFile(p, nil, 0o644) },
			want:  []string{"reading header", "no output written"},
			kept:  -1, exit: 1,
		},
		{
			name: "frame on an unconfigured interface",
			input: func(p string) {
				writeNg(t, p, []frame{route[0], {dev: "eth9", at: route[1].at, data: route[1].data}})
			},
			want: []string{"frame 2", `"eth9"`, "no output written"},
			kept: -1, exit: 1,
		},
		{
			name:  "classic pcap without -i",
			input: func(p string) { os.WriteFile(p, classic.Bytes(), 0o644) },
			want:  []string{"(-i)", "no output written"},
			kept:  -1, exit: 1,
		},
		{
			name:  "classic pcap with -i in0",
			input: func(p string) { os.WriteFile(p, classic.Bytes(), 0o644) },
			args:  []string{"-i", "in0"},
			kept:  1, exit: 0,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in.pcap")
			c.input(in)
			for _, existing := range []bool{false, true} {
				out := filepath.Join(dir, "out.pcapng")
				os.Remove(out)
				if existing {
					// A file already there is replaced only by a
					// successful (or kept truncated) replay.
					if err := os.WriteFile(out, []byte("previous"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				r := cbacd(t, append([]string{"replay", "-c", cfg, "-r", in, "-w", out}, c.args...)...)
				if r.code != c.exit {
					t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, c.exit, r.stderr)
				}
				if c.exit != 0 {
					lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
					if len(lines) != 1 || !strings.HasPrefix(lines[0], "cbacd: replay "+in+": ") {
						t.Errorf("stderr is not one line naming %s:\n%s", in, r.stderr)
					}
					for _, w := range c.want {
						if !strings.Contains(r.stderr, w) {
							t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
						}
					}
				}
				b, err := os.ReadFile(out)
				switch {
				case c.kept < 0 && existing:
					if string(b) != "previous" {
						t.Errorf("the existing output was changed (%v): %q", err, b)
					}
				case c.kept < 0:
					if !errors.Is(err, os.ErrNotExist) {
						t.Errorf("output file left behind: %v", err)
					}
				default:
					sameFrames(t, readFrames(t, out), routeOut[:c.kept])
				}
				ents, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					if e.Name() != "in.pcap" && e.Name() != "out.pcapng" {
						t.Errorf("file %s left in the output's directory", e.Name())
					}
				}
			}
		})
	}
}
