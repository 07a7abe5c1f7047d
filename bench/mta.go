package bench

// Scenario 8: Postfix's own load tools through each contender.
// smtp-source on the outside client (172.22.1.100) sends N messages of
// 2 KB over 16 concurrent sessions, one message per session, to
// 172.22.1.110:25; smtp-sink on the mail server (10.10.10.2:25) takes
// them. Reported: mails/s (N over smtp-source's run), the transaction
// time of a sample (smtp-source prints none: a Go client of this process
// runs sequential transactions of the same size alongside the load and
// times each, connect to the 221 reply of QUIT), the whole machine's CPU
// time over the run (/proc/stat, every CPU: the MTA tools, the contender
// and the kernel alike) and mails per CPU-second of it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	mtaSessions = 16   // smtp-source -s
	mtaLength   = 2048 // smtp-source -l: payload bytes per message
)

// cbacdDefaultPlacement is cbacd with its own worker placement (no
// pinning), for the scenarios that compare placements.
var cbacdDefaultPlacement = Contender{Name: "cbacd-default", Kind: KindCBACD, NAT: true, Placement: PlacementDefault,
	Describe: "cbacd, seed policy, its default worker placement (not pinned: the scheduler places the worker)"}

// MachineCPU is the whole machine's CPU time over a measurement.
type MachineCPU struct {
	Seconds     float64   `json:"seconds"`      // wall
	BusySeconds float64   `json:"busy_seconds"` // all CPUs, non-idle
	PerCPUBusy  []float64 `json:"per_cpu_busy"` // share of each CPU, 0-1
	SoftirqSecs float64   `json:"softirq_seconds"`
	// CBACDSeconds is cbacd's process time (0 for the kernel contenders).
	CBACDSeconds float64 `json:"cbacd_seconds"`
	// TestSeconds is the CPU time of what the test ran: smtp-source,
	// smtp-sink, cbacd, this program (the sample client) and the
	// machine's softirq and irq time (forwarding, TCP receive). Unlike
	// BusySeconds it leaves out other processes on a shared machine.
	TestSeconds float64 `json:"test_seconds"`
}

type machineSample struct {
	at    time.Time
	total cpuTimes
	per   []cpuTimes
	proc  uint64
}

func takeMachine(pid int) machineSample {
	s := machineSample{at: time.Now()}
	s.total, _ = readCPU(-1)
	for i := 0; ; i++ {
		c, err := readCPU(i)
		if err != nil {
			break
		}
		s.per = append(s.per, c)
	}
	if pid > 0 {
		s.proc, _ = procTicks(pid)
	}
	return s
}

func machineCPU(a, b machineSample) MachineCPU {
	tick := 1.0 / userHZ
	m := MachineCPU{Seconds: b.at.Sub(a.at).Seconds()}
	m.BusySeconds = float64(b.total.busy()-a.total.busy()) * tick
	m.SoftirqSecs = float64(b.total.SoftIRQ-a.total.SoftIRQ+b.total.IRQ-a.total.IRQ) * tick
	m.CBACDSeconds = float64(b.proc-a.proc) * tick
	for i := range min(len(a.per), len(b.per)) {
		if m.Seconds > 0 {
			m.PerCPUBusy = append(m.PerCPUBusy, float64(b.per[i].busy()-a.per[i].busy())*tick/m.Seconds)
		}
	}
	return m
}

// MTAResult is scenario 8 for one contender.
type MTAResult struct {
	Contender string `json:"contender"`
	Messages  int    `json:"messages"` // smtp-source -m
	Sessions  int    `json:"sessions"` // -s
	Length    int    `json:"length"`   // -l
	// Counted is what smtp-sink counted; Seconds smtp-source's run.
	Counted     int     `json:"counted"`
	Seconds     float64 `json:"seconds"`
	MailsPerSec float64 `json:"mails_per_second"`
	// The sample: sequential transactions alongside the load.
	Sampled int        `json:"sampled"`
	Failed  int        `json:"sample_failed"`
	P50Ms   float64    `json:"p50_ms"`
	P99Ms   float64    `json:"p99_ms"`
	CPU     MachineCPU `json:"cpu"`
	// MailsPerCPUSec is Counted over the machine's busy CPU-seconds,
	// MailsPerTestCPUSec over CPU.TestSeconds.
	MailsPerCPUSec     float64 `json:"mails_per_cpu_second"`
	MailsPerTestCPUSec float64 `json:"mails_per_test_cpu_second"`
	// cbacd: drops that refused sessions, and the table just after.
	Refused       map[string]uint64 `json:"refused,omitempty"`
	SessionsAfter int               `json:"sessions_after"`
	HalfOpenAfter int               `json:"half_open_after"`
	Error         string            `json:"error,omitempty"`
	Skipped       string            `json:"skipped,omitempty"`
}

var sinkMesgRE = regexp.MustCompile(`mesg=(\d+)`)

// SinkMessages is the last message count in smtp-sink -c's output (one
// status line, rewritten with CR after every session end, QUIT and ".").
func SinkMessages(out string) (int, bool) {
	m := sinkMesgRE.FindAllStringSubmatch(out, -1)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[len(m)-1][1])
	return n, err == nil
}

// lockedBuffer collects a process's output while it runs, keeping the
// last outputKeep bytes or more: what is read of it is its last lines
// (errors) and smtp-sink's last counter, which the soak reads every
// second; the whole output of a 10-minute smtp-sink is tens of MB.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const outputKeep = 64 << 10

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.b.Write(p)
	if l.b.Len() > 2*outputKeep {
		tail := append([]byte(nil), l.b.Bytes()[l.b.Len()-outputKeep:]...)
		l.b.Reset()
		l.b.Write(tail)
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// process is a helper program this run started (smtp-sink, iperf3, a busy
// loop); stop kills it and waits.
type process struct {
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan error
	once sync.Once
}

// startProcess starts `ip netns exec NS taskset -c CPUS argv...` (role ""
// : no namespace), its output collected.
func (b *Bench) startProcess(role, cpus string, argv ...string) (*process, error) {
	args := append([]string{"taskset", "-c", cpus}, argv...)
	var cmd *exec.Cmd
	if role == "" {
		cmd = exec.Command(args[0], args[1:]...)
	} else {
		cmd = exec.Command("ip", append([]string{"netns", "exec", b.topo.NS(role)}, args...)...)
	}
	p := &process{cmd: cmd}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	done, err := startLocked(cmd)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p.done = done
	return p, nil
}

func (p *process) stop() {
	p.once.Do(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

// startSMTPSink runs smtp-sink on 10.10.10.2:25 in the inside namespace,
// on every CPU.
func (b *Bench) startSMTPSink() (*process, error) {
	// -u: smtp-sink refuses to run as root; -m: sessions at once.
	p, err := b.startProcess(RoleIn, onlineCPUs(), "smtp-sink", "-c", "-h", "mail.lab.example", "-u", "postfix",
		"-m", "256", MailAddr+":25", "256")
	if err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	if p.exited() {
		p.stop()
		return nil, fmt.Errorf("smtp-sink exited at start: %s", p.out.String())
	}
	return p, nil
}

// mtaBody is the sample client's message: the same 2 KB of payload as
// smtp-source -l 2048 sends, in 64-byte lines (none starts with a dot),
// ending with CRLF.
var mtaBody = append([]byte("Subject: cbacbench sample\r\n\r\n"), dataBlock[:mtaLength]...)

// heloMail is one mail as smtp-source sends it: HELO (not EHLO, which
// the seed's SMTP inspection masks, costing a 500 and a HELO retry), MAIL,
// RCPT, DATA with body, QUIT.
func heloMail(ctx context.Context, host string, timeout time.Duration, body []byte) error {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ClientAddr)}}
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(host, "25"))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	dc := newDataConn(c)
	if err := smtpSetup(dc); err != nil {
		return err
	}
	if _, err := c.Write(append(append([]byte(nil), body...), ".\r\n"...)); err != nil {
		return err
	}
	if _, err := dc.reply("250"); err != nil {
		return fmt.Errorf("end of data: %w", err)
	}
	return smtpFinish(dc)
}

// sampleTransactions runs sequential transactions from the outside
// namespace to host until stop closes, and returns each one's time.
func (b *Bench) sampleTransactions(ctx context.Context, host string, stop <-chan struct{}) (times []time.Duration, failed int, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Never unlocked: the thread dies with the goroutine.
		if err = enterNetns(b.topo.NS(RoleOut), -1); err != nil {
			return
		}
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			start := time.Now()
			if e := heloMail(ctx, host, 10*time.Second, mtaBody); e != nil {
				failed++
				sleep(ctx, 100*time.Millisecond)
				continue
			}
			times = append(times, time.Since(start))
			sleep(ctx, 20*time.Millisecond)
		}
	}()
	<-done
	return times, failed, err
}

// percentile returns the p-quantile (0-1) of sorted durations, in ms.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// mtaRun is scenario 8 through a running contender.
func (b *Bench) mtaRun(ctx context.Context, r *running) (MTAResult, error) {
	o := b.opts
	res := MTAResult{Contender: r.c.Name, Messages: o.MTAMessages, Sessions: mtaSessions, Length: mtaLength}
	host := mtaHost(r.c)
	sink, err := b.startSMTPSink()
	if err != nil {
		return res, err
	}
	defer sink.stop()
	// The first connection through a contender may wait for ARP.
	warm, cancel := context.WithTimeout(ctx, 10*time.Second)
	werr := errors.New("no attempt")
	for warm.Err() == nil {
		werr = inNetns(b.topo.NS(RoleOut), func() error { return heloMail(warm, host, 3*time.Second, mtaBody) })
		if werr == nil {
			break
		}
		sleep(warm, 200*time.Millisecond)
	}
	cancel()
	if werr != nil {
		return res, fmt.Errorf("no mail through %s before the load: %w", r.c.Name, werr)
	}
	base, _ := SinkMessages(sink.out.String())

	stop := make(chan struct{})
	var sample []time.Duration
	var sampleErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sample, res.Failed, sampleErr = b.sampleTransactions(ctx, host, stop)
	}()
	m0 := takeMachine(r.pid)
	sink0, _ := procTicks(sink.cmd.Process.Pid)
	self0, _ := procTicks(0)
	limit, lcancel := context.WithTimeout(ctx, o.MTATimeout)
	src := b.topo.Command(limit, RoleOut, "taskset", "-c", onlineCPUs(), "smtp-source", "-s", strconv.Itoa(mtaSessions),
		"-l", strconv.Itoa(mtaLength), "-m", strconv.Itoa(o.MTAMessages), "-M", "client.bench.example",
		"-f", "sender@outside.example", "-t", "postmaster@lab.example", host+":25")
	var srcOut bytes.Buffer
	src.Stdout, src.Stderr = &srcOut, &srcOut
	start := time.Now()
	srcErr := src.Run()
	res.Seconds = time.Since(start).Seconds()
	lcancel()
	m1 := takeMachine(r.pid)
	sink1, _ := procTicks(sink.cmd.Process.Pid)
	self1, _ := procTicks(0)
	close(stop)
	wg.Wait()

	// smtp-sink counted each message at its "." (before its 250): final
	// once smtp-source has exited; a short wait covers the status write.
	for deadline := time.Now().Add(3 * time.Second); ; {
		n, _ := SinkMessages(sink.out.String())
		res.Counted = n - base - len(sample)
		if res.Counted >= o.MTAMessages || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.CPU = machineCPU(m0, m1)
	// `ip netns exec` and taskset exec in place: smtp-source's usage is
	// its process's.
	var srcSecs float64
	if src.ProcessState != nil {
		srcSecs = (src.ProcessState.UserTime() + src.ProcessState.SystemTime()).Seconds()
	}
	res.CPU.TestSeconds = srcSecs + float64(sink1-sink0+self1-self0)/userHZ + res.CPU.CBACDSeconds + res.CPU.SoftirqSecs
	if res.CPU.TestSeconds > 0 {
		res.MailsPerTestCPUSec = float64(res.Counted) / res.CPU.TestSeconds
	}
	if res.Seconds > 0 {
		res.MailsPerSec = float64(res.Counted) / res.Seconds
	}
	if res.CPU.BusySeconds > 0 {
		res.MailsPerCPUSec = float64(res.Counted) / res.CPU.BusySeconds
	}
	sort.Slice(sample, func(i, j int) bool { return sample[i] < sample[j] })
	res.Sampled, res.P50Ms, res.P99Ms = len(sample), percentile(sample, 0.50), percentile(sample, 0.99)
	if srcErr != nil {
		res.Error = fmt.Sprintf("smtp-source: %v after %.1f s: %s", srcErr, res.Seconds, lastLines(srcOut.String(), 3))
	} else if sampleErr != nil {
		res.Error = fmt.Sprintf("sample client: %v", sampleErr)
	}
	if r.sock != "" {
		if out, err := r.cbacdCommand(ctx, "show ip inspect statistics"); err == nil {
			if st, err := ParseInspectStatistics(out); err == nil {
				res.SessionsAfter, res.HalfOpenAfter = st.Sessions, st.HalfOpen
				for _, name := range RefusedDrops {
					if v := st.Drops[name]; v > 0 {
						if res.Refused == nil {
							res.Refused = map[string]uint64{}
						}
						res.Refused[name] = v
					}
				}
			}
			os.WriteFile(filepath.Join(b.work, "mta-"+r.c.Name+"-statistics.txt"), []byte(out), 0o644)
		}
	}
	b.logf("  %-13s %d of %d mails in %.1f s: %.0f mails/s; sample p50 %.2f ms p99 %.2f ms (%d, %d failed); machine %.1f CPU-s (cpu busy %v), %.0f mails/CPU-s; the test's %.1f CPU-s, %.0f mails/CPU-s; cbacd %.1f CPU-s; refused %v",
		r.c.Name, res.Counted, o.MTAMessages, res.Seconds, res.MailsPerSec, res.P50Ms, res.P99Ms, res.Sampled, res.Failed,
		res.CPU.BusySeconds, fmtShares(res.CPU.PerCPUBusy), res.MailsPerCPUSec, res.CPU.TestSeconds, res.MailsPerTestCPUSec, res.CPU.CBACDSeconds, res.Refused)
	if res.Error != "" {
		return res, errors.New(res.Error)
	}
	return res, nil
}

// mtaHost is the mail host's address as the client reaches it through c:
// the static NAT's global address, or the host's own where c has no NAT
// (routing only, or the AF_XDP forwarder alone: the floors under the
// contenders that filter and translate).
func mtaHost(c Contender) string {
	if c.NAT {
		return MailGlobal
	}
	return MailAddr
}

// inNetns runs fn on a thread in namespace ns (the thread is discarded).
func inNetns(ns string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		if err := enterNetns(ns, -1); err != nil {
			ch <- err
			return
		}
		ch <- fn()
	}()
	return <-ch
}

func fmtShares(v []float64) string {
	var b bytes.Buffer
	for i, x := range v {
		if i > 0 {
			b.WriteByte('/')
		}
		fmt.Fprintf(&b, "%.0f%%", 100*x)
	}
	return b.String()
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}

// mtaContenders are the contenders of scenario 8 (and their order): the
// selected ones, and cbacd with its default placement after cbacd; with
// Options.MTASpins, cbacd once per -spin value in its place.
func (b *Bench) mtaContenders() []Contender {
	var out []Contender
	for _, c := range b.res.Contenders {
		if c.Name == "cbacd" && len(b.opts.MTASpins) > 0 {
			for _, s := range b.opts.MTASpins {
				v := c
				v.Name, v.Spin = "cbacd-spin-"+s, s
				v.Describe = c.Describe + "; -spin " + s
				out = append(out, v)
			}
			continue
		}
		out = append(out, c)
		if c.Name == "cbacd" {
			out = append(out, cbacdDefaultPlacement)
		}
	}
	return out
}

// mta runs scenario 8 through every contender.
func (b *Bench) mta(ctx context.Context) {
	for _, c := range b.mtaContenders() {
		b.logf("cbacbench: smtp-source -> smtp-sink through %s", c.Name)
		err := b.withContender(ctx, c, func(r *running) error {
			res, err := b.mtaRun(ctx, r)
			b.res.MTA = append(b.res.MTA, res)
			return err
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.fail("smtp-source "+c.Name, err)
		}
	}
}
