package bench

// The soak (cbacbench -soak 10m; not part of a scenario run, not in CI):
// cbacd with its default placement and the seed policy carries mixed
// traffic for the whole duration, with sessions churning:
//
//   - SMTP: Postfix smtp-source (8 sessions, 2 KB, 5000 messages a run,
//     one message per session, run after run) from the outside client to
//     172.22.1.110:25, smtp-sink on the mail server;
//   - TCP both ways: iperf3 from the inside host to 203.0.113.1, one
//     client sending and one receiving (-R), 20 s runs at 100 Mbit/s
//     each, run after run;
//   - UDP: trafgen from the inside host at 20 kpps over 2000 flows whose
//     source ports move every 15 s (so sessions are created and idle out);
//   - ICMP: ping from the inside host, 5 a second;
//   - with -soak-flood N: ip tcp intercept on 172.22.1.110:25 (intercept
//     mode, SYN cookies: every SYN to the mail server, smtp-source's
//     included, is answered by cbacd, mostly by its XDP program) and a SYN
//     flood from the outside at N SYNs a second (an HTB class holds it
//     there) from random sources in 198.18.0.0/16, whose answers the
//     outside host drops.
//
// Every second it samples cbacd's RSS and `show ip inspect statistics`
// (sessions, half-open, UMEM frames free, SMTP inspection states, frames
// held, refusals). At the end it checks that each series stays flat: the
// mean of the last fifth against the mean of the fifth after the warm-up,
// within a bound per series (sessions per mail/s: closed SMTP sessions
// wait out finwait, so the table follows the mail rate), and that the
// table empties once the load stops.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cbac/lab"
)

// SoakSample is one second of the soak.
type SoakSample struct {
	T             float64 `json:"t"` // seconds since the load started
	RSS           uint64  `json:"rss_bytes"`
	Sessions      int     `json:"sessions"`
	HalfOpen      int     `json:"half_open"`
	Created       uint64  `json:"created"`
	UMEMFree      int     `json:"umem_frames_free"`
	UMEMFrames    int     `json:"umem_frames"`
	FramesHeld    int     `json:"frames_held"`
	SMTPInspected int     `json:"smtp_inspected"` // -1: not shown by this cbacd
	SMTPAllocated int     `json:"smtp_states_allocated"`
	Refused       uint64  `json:"refused"`               // sum of RefusedDrops
	Mails         int     `json:"mails"`                 // smtp-sink's count
	SYNACKs       uint64  `json:"synacks,omitempty"`     // tcp intercept: cookie SYN/ACKs sent
	XDPSYNACKs    uint64  `json:"xdp_synacks,omitempty"` // of them, by the XDP program

	perMailRate float64 // (sessions - half-open) / mails a second (soakChecks)
}

// SoakCheck is the flatness check of one series.
type SoakCheck struct {
	Series string  `json:"series"`
	Early  float64 `json:"early_mean"` // the fifth after the warm-up
	Late   float64 `json:"late_mean"`  // the last fifth
	Bound  string  `json:"bound"`
	OK     bool    `json:"ok"`
}

// SoakResult is a soak's series, checks and traffic totals.
type SoakResult struct {
	Duration     float64      `json:"duration_seconds"`
	FloodPps     int          `json:"flood_pps,omitempty"` // -soak-flood
	Samples      []SoakSample `json:"samples"`
	Checks       []SoakCheck  `json:"checks"`
	Mails        int          `json:"mails"`
	SourceRuns   int64        `json:"smtp_source_runs"`
	SourceFailed int64        `json:"smtp_source_failed"`
	IperfRuns    int64        `json:"iperf3_runs"`
	IperfFailed  int64        `json:"iperf3_failed"`
	IperfMbps    []float64    `json:"iperf3_mbps"` // per successful run, sender side
	Ping         string       `json:"ping_summary"`
	// After the load: how long until the table was empty (-1: not within
	// the wait), and what was left.
	EmptyAfter   float64           `json:"empty_after_seconds"`
	LeftSessions int               `json:"left_sessions"`
	LeftHalfOpen int               `json:"left_half_open"`
	RefusedDrops map[string]uint64 `json:"refused_drops"`
	FinalStats   string            `json:"final_statistics"`
	Problems     []string          `json:"problems,omitempty"`

	sourceRuns, sourceFailed, iperfRuns, iperfFailed, udpRuns, udpFailed atomic.Int64
}

var (
	umemLineRE   = regexp.MustCompile(`UMEM frames: (\d+) free in the workers' pools of (\d+)`)
	heldLineRE   = regexp.MustCompile(`SMTP replay copy: (\d+) frames held`)
	smtpLineRE   = regexp.MustCompile(`SMTP inspection: (\d+) sessions inspected .*?; (\d+) states allocated`)
	xdpCookiesRE = regexp.MustCompile(`Cookie SYN/ACKs sent by the XDP program: (\d+)`)
)

// soakSample reads one sample of cbacd's state.
func soakSample(text string, rss uint64) (SoakSample, error) {
	st, err := ParseInspectStatistics(text)
	if err != nil {
		return SoakSample{}, err
	}
	s := SoakSample{RSS: rss, Sessions: st.Sessions, HalfOpen: st.HalfOpen, Created: st.Created, SMTPInspected: -1, SMTPAllocated: -1}
	if m := umemLineRE.FindStringSubmatch(text); m != nil {
		s.UMEMFree, _ = strconv.Atoi(m[1])
		s.UMEMFrames, _ = strconv.Atoi(m[2])
	} else {
		return s, fmt.Errorf("show ip inspect statistics: no UMEM frames line")
	}
	if m := heldLineRE.FindStringSubmatch(text); m != nil {
		s.FramesHeld, _ = strconv.Atoi(m[1])
	}
	if m := smtpLineRE.FindStringSubmatch(text); m != nil {
		s.SMTPInspected, _ = strconv.Atoi(m[1])
		s.SMTPAllocated, _ = strconv.Atoi(m[2])
	}
	if m := cookiesRE.FindStringSubmatch(text); m != nil {
		s.SYNACKs, _ = strconv.ParseUint(m[1], 10, 64)
	}
	if m := xdpCookiesRE.FindStringSubmatch(text); m != nil {
		s.XDPSYNACKs, _ = strconv.ParseUint(m[1], 10, 64)
	}
	for _, name := range RefusedDrops {
		s.Refused += st.Drops[name]
	}
	return s, nil
}

// flat checks that a series does not drift: late <= a*early + c (a leak
// grows it) or, decreasing, late >= a*early - c (a leak shrinks it).
func flat(name string, early, late, a, c float64, grows bool) SoakCheck {
	ch := SoakCheck{Series: name, Early: early, Late: late}
	if grows {
		ch.Bound = fmt.Sprintf("late <= %.2f x early + %.0f", a, c)
		ch.OK = late <= a*early+c
	} else {
		ch.Bound = fmt.Sprintf("late >= %.2f x early - %.0f", a, c)
		ch.OK = late >= a*early-c
	}
	return ch
}

// soakChecks compares the fifth after the warm-up with the last fifth.
func soakChecks(samples []SoakSample, warm float64) []SoakCheck {
	var run []SoakSample
	for _, s := range samples {
		if s.T >= warm {
			run = append(run, s)
		}
	}
	if len(run) < 10 {
		return []SoakCheck{{Series: "samples", Bound: "at least 10 after the warm-up", OK: false}}
	}
	// The mail rate over the last 5 samples, for the sessions check.
	for i := range run {
		j := max(0, i-5)
		if dt := run[i].T - run[j].T; dt > 0 {
			if rate := float64(run[i].Mails-run[j].Mails) / dt; rate > 0 {
				run[i].perMailRate = float64(run[i].Sessions-run[i].HalfOpen) / rate
			}
		}
	}
	k := len(run) / 5
	early, late := run[:k], run[len(run)-k:]
	mean := func(xs []SoakSample, f func(SoakSample) float64) float64 {
		t := 0.0
		for _, x := range xs {
			t += f(x)
		}
		return t / float64(len(xs))
	}
	series := []struct {
		name  string
		f     func(SoakSample) float64
		a, c  float64
		grows bool
	}{
		{"rss_mib", func(s SoakSample) float64 { return float64(s.RSS) / (1 << 20) }, 1.10, 16, true},
		// Closed TCP sessions wait out finwait (5 s), so the table holds
		// about 5 s of the mail rate besides the UDP (half-open, flat):
		// sessions per mail/s does not grow with the rate, a leak grows it.
		{"sessions_per_mail_per_second", func(s SoakSample) float64 { return s.perMailRate }, 1.25, 1, true},
		{"half_open", func(s SoakSample) float64 { return float64(s.HalfOpen) }, 1.25, 50, true},
		{"umem_frames_free", func(s SoakSample) float64 { return float64(s.UMEMFree) }, 0.90, 256, false},
		{"frames_held", func(s SoakSample) float64 { return float64(s.FramesHeld) }, 1.25, 256, true},
	}
	if run[0].SMTPAllocated >= 0 {
		series = append(series, struct {
			name  string
			f     func(SoakSample) float64
			a, c  float64
			grows bool
		}{"smtp_states_allocated", func(s SoakSample) float64 { return float64(s.SMTPAllocated) }, 1.25, 256, true},
			struct {
				name  string
				f     func(SoakSample) float64
				a, c  float64
				grows bool
			}{"smtp_inspected", func(s SoakSample) float64 { return float64(s.SMTPInspected) }, 1.25, 64, true})
	}
	var out []SoakCheck
	for _, s := range series {
		out = append(out, flat(s.name, mean(early, s.f), mean(late, s.f), s.a, s.c, s.grows))
	}
	// Rates over each window, from its first and last sample: mail keeps
	// flowing; under the flood, the cookie answers keep their pace and
	// stay the XDP program's.
	rate := func(xs []SoakSample, f func(SoakSample) float64) float64 {
		first, last := xs[0], xs[len(xs)-1]
		if dt := last.T - first.T; dt > 0 {
			return (f(last) - f(first)) / dt
		}
		return 0
	}
	mails := func(s SoakSample) float64 { return float64(s.Mails) }
	out = append(out, flat("mails_per_second", rate(early, mails), rate(late, mails), 0.5, 0, false))
	if run[len(run)-1].SYNACKs > 0 {
		synacks := func(s SoakSample) float64 { return float64(s.SYNACKs) }
		xdp := func(s SoakSample) float64 { return float64(s.XDPSYNACKs) }
		out = append(out, flat("synacks_per_second", rate(early, synacks), rate(late, synacks), 0.8, 0, false))
		share := func(xs []SoakSample) float64 {
			if all := rate(xs, synacks); all > 0 {
				return rate(xs, xdp) / all
			}
			return 0
		}
		e, l := share(early), share(late)
		out = append(out, SoakCheck{Series: "xdp_share_of_synacks", Early: e, Late: l, Bound: "both >= 0.90", OK: e >= 0.9 && l >= 0.9})
	}
	return out
}

// loop runs one(ctx) again and again until ctx ends, counting runs and
// failures.
func loop(ctx context.Context, wg *sync.WaitGroup, runs, failed *atomic.Int64, one func(context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			err := one(ctx)
			if ctx.Err() != nil {
				return
			}
			runs.Add(1)
			if err != nil {
				failed.Add(1)
				sleep(ctx, time.Second)
			}
		}
	}()
}

// soakUDP is the soak's UDP: 2000 flows from base port sp.
func soakUDP(sp int) string {
	return fmt.Sprintf("{ eth(da=%s, sa=%s), ipv4(sa=%s, da=%s, ttl=64), udp(sp=dinc(%d, %d), dp=9), fill(0x00, 18) }\n",
		InsideMAC, InHostMAC, HostAddr, RemoteAddr, sp, sp+1999)
}

var iperfMbpsRE = regexp.MustCompile(`([\d.]+) ([KMG])bits/sec\s+\d*\s*sender`)

// soakFlood starts the soak's SYN flood from the outside at pps SYNs a
// second and returns what stops it. trafgen (at nice 19 on the
// generator's core) offers twice that, under its own rate limit, which
// was seen to let 3-4 times its rate through after a few minutes; an HTB
// class at exactly pps on the outside host's eth0, for what comes from
// the flood's sources (everything else passes unshaped), sets the rate.
// The outside host's end of out0 drops the answers to the flood's
// made-up sources, as in the SYN flood scenario.
func (b *Bench) soakFlood(pps int) (p *process, stop func(), err error) {
	out := b.topo.NS(RoleOut)
	if err := lab.AttachPeerXDPDropping(out, "eth0", netip.MustParsePrefix("198.18.0.0/15")); err != nil {
		return nil, nil, err
	}
	kbit := pps * synFloodFrameLen * 8 / 1000
	for _, args := range [][]string{
		{"qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb", "default", "10"},
		{"class", "add", "dev", "eth0", "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit"},
		// A burst of 1000 frames (20 ms at 50k/s): with HTB's default of a
		// few dozen, its timer granularity held the class at 70% of its rate.
		{"class", "add", "dev", "eth0", "parent", "1:", "classid", "1:20", "htb", "rate", fmt.Sprintf("%dkbit", kbit), "ceil", fmt.Sprintf("%dkbit", kbit),
			"burst", strconv.Itoa(1000 * synFloodFrameLen), "cburst", strconv.Itoa(1000 * synFloodFrameLen)},
		{"filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "src", "198.18.0.0/15", "flowid", "1:20"},
	} {
		if o, err := exec.Command("tc", append([]string{"-n", out}, args...)...).CombinedOutput(); err != nil {
			exec.Command("tc", "-n", out, "qdisc", "del", "dev", "eth0", "root").Run()
			lab.DetachPeerXDP(out, "eth0")
			return nil, nil, fmt.Errorf("flood ceiling: tc %s: %v: %s", strings.Join(args, " "), err, o)
		}
	}
	undo := func() {
		exec.Command("tc", "-n", out, "qdisc", "del", "dev", "eth0", "root").Run()
		if err := lab.DetachPeerXDP(out, "eth0"); err != nil {
			b.logf("cbacbench: %v", err)
		}
	}
	cfg := filepath.Join(b.work, "soak-synflood.trafgen")
	if err := os.WriteFile(cfg, []byte(synFloodConfig()), 0o600); err != nil {
		undo()
		return nil, nil, err
	}
	p, err = b.startProcess(RoleOut, strconv.Itoa(b.opts.GenCPU), "nice", "-n", "19",
		"trafgen", "-o", "eth0", "-i", cfg, "-P", "1", "-q", "-Q", "-C", "-b", fmt.Sprintf("%dpps", 2*pps))
	if err != nil {
		undo()
		return nil, nil, err
	}
	return p, func() { p.stop(); undo() }, nil
}

// soak runs the soak for d.
func (b *Bench) soak(ctx context.Context, d time.Duration) error {
	res := &SoakResult{RefusedDrops: map[string]uint64{}, FloodPps: b.opts.SoakFlood}
	b.res.Soak = res
	c := cbacdDefaultPlacement
	if res.FloodPps > 0 {
		c.Name, c.Intercept = "cbacd-default-intercept", true
		c.Describe += "; ip tcp intercept (list 120: 172.22.1.110 port 25, intercept mode)"
	}
	r, err := b.startContender(ctx, c)
	if err != nil {
		return err
	}
	defer r.stop()
	b.res.Contenders = []Contender{c}
	sink, err := b.startSMTPSink()
	if err != nil {
		return err
	}
	defer sink.stop()
	var servers []*process
	defer func() {
		for _, p := range servers {
			p.stop()
		}
	}()
	for _, port := range []string{"5201", "5202"} {
		p, err := b.startProcess(RoleOut, onlineCPUs(), "iperf3", "-s", "-B", RemoteAddr, "-p", port)
		if err != nil {
			return err
		}
		servers = append(servers, p)
	}
	time.Sleep(500 * time.Millisecond)

	load, stopLoad := context.WithTimeout(ctx, d)
	defer stopLoad()
	var wg sync.WaitGroup
	var mu sync.Mutex
	loop(load, &wg, &res.sourceRuns, &res.sourceFailed, func(ctx context.Context) error {
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		cmd := b.topo.Command(c, RoleOut, "taskset", "-c", onlineCPUs(), "smtp-source", "-s", "8", "-l", "2048", "-m", "5000",
			"-M", "client.bench.example", "-f", "sender@outside.example", "-t", "postmaster@lab.example", MailGlobal+":25")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("smtp-source: %v: %s", err, lastLines(string(out), 2))
		}
		return nil
	})
	for _, rev := range []bool{false, true} {
		port := "5201"
		args := []string{"taskset", "-c", onlineCPUs(), "iperf3", "-c", RemoteAddr, "-t", "20", "-b", "100M", "-f", "m"}
		if rev {
			port = "5202"
			args = append(args, "-R")
		}
		args = append(args, "-p", port)
		loop(load, &wg, &res.iperfRuns, &res.iperfFailed, func(ctx context.Context) error {
			c, cancel := context.WithTimeout(ctx, 40*time.Second)
			defer cancel()
			out, err := b.topo.Command(c, RoleIn, args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("iperf3: %v: %s", err, lastLines(string(out), 2))
			}
			if m := iperfMbpsRE.FindStringSubmatch(string(out)); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				v *= map[string]float64{"K": 0.001, "M": 1, "G": 1000}[m[2]]
				mu.Lock()
				res.IperfMbps = append(res.IperfMbps, v)
				mu.Unlock()
			}
			return nil
		})
	}
	udpBase := 1024
	loop(load, &wg, &res.udpRuns, &res.udpFailed, func(ctx context.Context) error {
		cfg := filepath.Join(b.work, "soak-udp.trafgen")
		if err := os.WriteFile(cfg, []byte(soakUDP(udpBase)), 0o600); err != nil {
			return err
		}
		udpBase += 2000
		if udpBase > 60000 {
			udpBase = 1024
		}
		p, err := b.startProcess(RoleIn, strconv.Itoa(b.opts.GenCPU), "trafgen", "-o", "eth0", "-i", cfg, "-P", "1", "-q", "-Q", "-C", "-b", "20000pps")
		if err != nil {
			return err
		}
		sleep(ctx, 15*time.Second)
		p.stop()
		return nil
	})
	var flood *process
	if res.FloodPps > 0 {
		p, stop, err := b.soakFlood(res.FloodPps)
		if err != nil {
			return err
		}
		defer stop()
		flood = p
	}
	var pingOut string
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, _ := b.topo.Command(ctx, RoleIn, "ping", "-q", "-i", "0.2", "-w", strconv.Itoa(int(d.Seconds())), RemoteAddr).CombinedOutput()
		pingOut = strings.TrimSpace(string(out))
	}()

	b.logf("cbacbench: soak for %v: smtp-source, iperf3 both ways, UDP, ping through cbacd (default placement); SYN flood %d/s", d, res.FloodPps)
	start := time.Now()
	tick := time.NewTicker(time.Second)
	for load.Err() == nil {
		select {
		case <-load.Done():
		case <-tick.C:
			text, err := r.cbacdCommand(ctx, "show ip inspect statistics")
			if err != nil {
				res.Problems = append(res.Problems, fmt.Sprintf("%.0f s: %v", time.Since(start).Seconds(), err))
				continue
			}
			rss, _ := rssBytes(r.pid)
			s, err := soakSample(text, rss)
			if err != nil {
				res.Problems = append(res.Problems, err.Error())
				continue
			}
			s.T = math.Round(time.Since(start).Seconds()*10) / 10
			s.Mails, _ = SinkMessages(sink.out.String())
			res.Samples = append(res.Samples, s)
			if len(res.Samples)%30 == 0 {
				cookies := ""
				if res.FloodPps > 0 {
					cookies = fmt.Sprintf(", %d SYN/ACKs (%d by XDP)", s.SYNACKs, s.XDPSYNACKs)
				}
				b.logf("  %4.0f s: RSS %d MiB, %d sessions, %d half-open, %d UMEM frames free, %d held, smtp %d/%d, %d refused, %d mails%s",
					s.T, s.RSS>>20, s.Sessions, s.HalfOpen, s.UMEMFree, s.FramesHeld, s.SMTPInspected, s.SMTPAllocated, s.Refused, s.Mails, cookies)
			}
		}
	}
	tick.Stop()
	wg.Wait()
	res.Duration = time.Since(start).Seconds()
	res.Ping = pingOut
	res.SourceRuns, res.SourceFailed = res.sourceRuns.Load(), res.sourceFailed.Load()
	res.IperfRuns, res.IperfFailed = res.iperfRuns.Load(), res.iperfFailed.Load()
	res.Mails, _ = SinkMessages(sink.out.String())

	// After the load: the table empties (TCP sessions at finwait, UDP and
	// ICMP at their idle timeouts).
	res.EmptyAfter = -1
	stopped := time.Now()
	for time.Since(stopped) < 75*time.Second && ctx.Err() == nil {
		text, err := r.cbacdCommand(ctx, "show ip inspect statistics")
		if err == nil {
			if st, err := ParseInspectStatistics(text); err == nil {
				res.LeftSessions, res.LeftHalfOpen, res.FinalStats = st.Sessions, st.HalfOpen, text
				for _, name := range RefusedDrops {
					if v := st.Drops[name]; v > 0 {
						res.RefusedDrops[name] = v
					}
				}
				if st.Sessions == 0 && st.HalfOpen == 0 {
					res.EmptyAfter = time.Since(stopped).Seconds()
					break
				}
			}
		}
		sleep(ctx, time.Second)
	}
	res.Checks = soakChecks(res.Samples, math.Min(60, d.Seconds()/10))
	var bad []string
	for _, c := range res.Checks {
		b.logf("  %-22s early %10.1f late %10.1f  %s  %s", c.Series, c.Early, c.Late, c.Bound, map[bool]string{true: "ok", false: "DRIFT"}[c.OK])
		if !c.OK {
			bad = append(bad, c.Series)
		}
	}
	if flood != nil && flood.exited() {
		res.Problems = append(res.Problems, "the SYN flood's trafgen exited early: "+lastLines(flood.out.String(), 2))
		bad = append(bad, "SYN flood ended early")
	}
	if res.EmptyAfter < 0 {
		bad = append(bad, fmt.Sprintf("table not empty 75 s after the load (%d sessions, %d half-open)", res.LeftSessions, res.LeftHalfOpen))
	}
	if len(res.RefusedDrops) > 0 {
		bad = append(bad, fmt.Sprintf("refused: %s", formatCounts(res.RefusedDrops)))
	}
	if len(bad) > 0 {
		return fmt.Errorf("soak: %s", strings.Join(bad, "; "))
	}
	return nil
}

// WriteSoak writes the soak's series.csv, soak.json and SUMMARY.md into
// dir.
func (r *Results) WriteSoak(dir string, runErr error) error {
	s := r.Soak
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("t,rss_bytes,sessions,half_open,created,umem_frames_free,umem_frames,frames_held,smtp_inspected,smtp_states_allocated,refused,mails,synacks,xdp_synacks\n")
	for _, x := range s.Samples {
		fmt.Fprintf(&csv, "%.1f,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", x.T, x.RSS, x.Sessions, x.HalfOpen, x.Created,
			x.UMEMFree, x.UMEMFrames, x.FramesHeld, x.SMTPInspected, x.SMTPAllocated, x.Refused, x.Mails, x.SYNACKs, x.XDPSYNACKs)
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var sum strings.Builder
	r.writeSoakSummary(&sum, runErr)
	for name, data := range map[string]string{"series.csv": csv.String(), "soak.json": string(j) + "\n", "SUMMARY.md": sum.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (r *Results) writeSoakSummary(w io.Writer, runErr error) {
	s, m := r.Soak, r.Machine
	fmt.Fprintf(w, "# cbacbench soak\n\n")
	fmt.Fprintf(w, "Machine: %d CPUs (%s), kernel %s; %s. Load average %s at the start, %s at the end.\n\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.LoadStart, m.LoadEnd)
	flood, floodArg, dir := "", "", "soak"
	if s.FloodPps > 0 {
		floodArg, dir = fmt.Sprintf(" -soak-flood %d", s.FloodPps), "soak-intercept"
		flood = fmt.Sprintf(" With ip tcp intercept on 172.22.1.110 port 25 (intercept mode, SYN cookies: every SYN to the mail server, smtp-source's included, is answered by cbacd) and a SYN flood of %d SYNs/s from the outside (trafgen at nice 19 on the generator's core, held to that rate by an HTB class for the flood's sources on the outside host's device; random sources in 198.18.0.0/16, whose answers the outside host drops) for the whole soak.", s.FloodPps)
	}
	fmt.Fprintf(w, "Reproduce: `go build -o bin/ ./cmd/... && sudo bin/cbacbench -soak 10m%s -out bench/results/%s`.\n\n", floodArg, dir)
	fmt.Fprintf(w, "cbacd (default worker placement, XDP %s, seed policy with raised DoS thresholds) carried for %.0f s: smtp-source (8 sessions, 2 KB, 5000 mails a run) to smtp-sink through the static NAT; iperf3 from the inside host to 203.0.113.1 both ways (one client sending, one -R; 20 s runs at 100 Mbit/s each); trafgen UDP at 20 kpps over 2000 flows moving every 15 s; ping 5/s.%s Sampled every second: [series.csv](series.csv); everything: [soak.json](soak.json).\n\n",
		m.XDPMode, s.Duration, flood)
	result := "passed"
	if runErr != nil {
		result = "FAILED: " + runErr.Error()
	}
	fmt.Fprintf(w, "Result: %s.\n\n", result)
	fmt.Fprintf(w, "Traffic: %d mails counted by smtp-sink (%d smtp-source runs, %d failed); %d iperf3 runs (%d failed)", s.Mails, s.SourceRuns, s.SourceFailed, s.IperfRuns, s.IperfFailed)
	if len(s.IperfMbps) > 0 {
		t := 0.0
		for _, v := range s.IperfMbps {
			t += v
		}
		fmt.Fprintf(w, ", %.0f Mbit/s mean per run", t/float64(len(s.IperfMbps)))
	}
	fmt.Fprintf(w, "; ping: %s.", lastLines(s.Ping, 2))
	if n := len(s.Samples); n > 0 && s.Samples[n-1].SYNACKs > 0 {
		last := s.Samples[n-1]
		fmt.Fprintf(w, " Cookie SYN/ACKs: %d (%.0f a second over the soak), %d of them (%.2f%%) by the XDP program.",
			last.SYNACKs, float64(last.SYNACKs)/math.Max(last.T, 1), last.XDPSYNACKs, 100*float64(last.XDPSYNACKs)/float64(last.SYNACKs))
	}
	fmt.Fprintf(w, "\n\n")
	fmt.Fprintf(w, "| series | mean, the fifth after the warm-up | mean, the last fifth | bound | flat |\n|---|---|---|---|---|\n")
	for _, c := range s.Checks {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %s | %s |\n", c.Series, c.Early, c.Late, c.Bound, yesNo(c.OK))
	}
	empty := "not within 75 s"
	if s.EmptyAfter >= 0 {
		empty = fmt.Sprintf("after %.0f s", s.EmptyAfter)
	}
	fmt.Fprintf(w, "\nAfter the load: table empty %s (%d sessions, %d half-open left); refusals (%s): %s.\n",
		empty, s.LeftSessions, s.LeftHalfOpen, strings.Join(RefusedDrops, ", "), formatCountsOrNone(s.RefusedDrops))
	if len(s.Problems) > 0 {
		fmt.Fprintf(w, "\nSampling problems: %s\n", strings.Join(s.Problems, "; "))
	}
	fmt.Fprintf(w, "\nFinal `show ip inspect statistics`:\n\n```\n%s```\n", s.FinalStats)
}

func formatCountsOrNone(m map[string]uint64) string {
	if len(m) == 0 {
		return "none"
	}
	return formatCounts(m)
}

// ReportSoak recomputes the checks of a soak's soak.json (its samples as
// recorded) and rewrites the soak's files in dir: for a change to the
// checks, without running the soak again.
func ReportSoak(jsonPath, dir string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	if r.Soak == nil {
		return fmt.Errorf("%s: no soak", jsonPath)
	}
	s := r.Soak
	s.Checks = soakChecks(s.Samples, math.Min(60, s.Duration/10))
	var bad []string
	for _, c := range s.Checks {
		if !c.OK {
			bad = append(bad, c.Series)
		}
	}
	if s.EmptyAfter < 0 {
		bad = append(bad, "table not empty after the load")
	}
	if len(s.RefusedDrops) > 0 {
		bad = append(bad, "refused: "+formatCounts(s.RefusedDrops))
	}
	var runErr error
	if len(bad) > 0 {
		runErr = fmt.Errorf("soak: %s", strings.Join(bad, "; "))
	}
	s.Problems = append(s.Problems, "checks recomputed from the recorded samples by cbacbench -soak-report")
	return r.WriteSoak(dir, runErr)
}
