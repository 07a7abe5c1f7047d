package bench

// Scenarios over real TCP stacks: 3 (connection setup rate, RFC 3511
// section 5.2 / RFC 9411 section 7.2 style), 4 (SMTP transactions per
// second) and 5 (SYN flood survival). Clients and servers are goroutines
// of this process whose threads are moved into the topology's namespaces
// (enterNetns); the whole process runs on the generator core.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cbac/internal/netns"
	"cbac/lab/smtpd"
)

// RateResult is a per-second rate of completed transactions.
type RateResult struct {
	Contender   string  `json:"contender"`
	PerSecond   float64 `json:"per_second"`
	Completed   int64   `json:"completed"`
	Failed      int64   `json:"failed"`
	Seconds     float64 `json:"seconds"`
	Concurrency int     `json:"concurrency"`
	Skipped     string  `json:"skipped,omitempty"`
}

const (
	connServerPort = 8080
	requestSize    = 64
	replySize      = 64
)

// listenIn creates a listening socket inside the namespace of role.
func (b *Bench) listenIn(role, addr string) (net.Listener, error) {
	var ln net.Listener
	err := netns.InNetns(b.topo.NS(role), func() error {
		var err error
		ln, err = net.Listen("tcp4", addr)
		return err
	})
	return ln, err
}

// serveRequestReply accepts connections: read a request, write a reply,
// close (the server closes first, so TIME_WAIT stays on the server).
func serveRequestReply(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			var buf [requestSize]byte
			if _, err := io.ReadFull(c, buf[:]); err != nil {
				return
			}
			var reply [replySize]byte
			c.Write(reply[:])
		}()
	}
}

// runClients runs n client goroutines in the namespace of role for d; each
// loops over one(ctx) and counts successes and failures.
func (b *Bench) runClients(ctx context.Context, role string, n int, d time.Duration, one func(context.Context) error) (ok, failed int64, secs float64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var okN, failN atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	stop := make(chan struct{})
	PinProcess(0, b.topo.GenCPU)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Never unlocked: the thread dies with the goroutine.
			if err := enterNetns(b.topo.NS(role), b.topo.GenCPU); err != nil {
				firstErr.CompareAndSwap(nil, err)
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
				if err := one(ctx); err != nil {
					failN.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	sleep(ctx, d)
	close(stop)
	wg.Wait()
	secs = time.Since(start).Seconds()
	if e, _ := firstErr.Load().(error); e != nil && okN.Load() == 0 {
		err = e
	}
	return okN.Load(), failN.Load(), secs, err
}

// connRate is scenario 3: from the inside host to 203.0.113.1:8080, each
// connection: handshake, 64-byte request, 64-byte reply, close.
func (b *Bench) connRate(ctx context.Context, r *running) (RateResult, error) {
	res := RateResult{Contender: r.c.Name, Concurrency: b.opts.ConnClients}
	addr := net.JoinHostPort(RemoteAddr, strconv.Itoa(connServerPort))
	one := func(ctx context.Context) error {
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.DialContext(ctx, "tcp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var req [requestSize]byte
		if _, err := c.Write(req[:]); err != nil {
			return err
		}
		var reply [replySize + 1]byte
		n, err := io.ReadFull(c, reply[:])
		if n != replySize || !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("reply: %d bytes, %v", n, err)
		}
		return nil
	}
	ok, failed, secs, err := b.runClients(ctx, RoleIn, b.opts.ConnClients, b.opts.ConnDuration, one)
	res.Completed, res.Failed, res.Seconds = ok, failed, secs
	if secs > 0 {
		res.PerSecond = float64(ok) / secs
	}
	b.logf("  %-9s connections: %.0f/s (%d completed, %d failed)", r.c.Name, res.PerSecond, ok, failed)
	return res, err
}

// smtpTransaction is one mail from the outside client to 172.22.1.110:25.
func smtpTransaction(ctx context.Context, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ClientAddr)}}
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(MailGlobal, "25"))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	cl, err := smtp.NewClient(c, "mail.lab.example")
	if err != nil {
		return err
	}
	if err := cl.Hello("client.bench.example"); err != nil {
		return err
	}
	if err := cl.Mail("sender@outside.example"); err != nil {
		return err
	}
	if err := cl.Rcpt("postmaster@lab.example"); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, "Subject: cbacbench\r\n\r\nOne small message through the firewall.\r\n"); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

// smtpRate is scenario 4: complete SMTP transactions per second from the
// outside client to the mail server's global address.
func (b *Bench) smtpRate(ctx context.Context, r *running) (RateResult, error) {
	res := RateResult{Contender: r.c.Name, Concurrency: b.opts.SMTPClients}
	if !r.c.NAT {
		res.Skipped = "no static NAT: 172.22.1.110 does not exist"
		return res, nil
	}
	one := func(ctx context.Context) error { return smtpTransaction(ctx, 10*time.Second) }
	ok, failed, secs, err := b.runClients(ctx, RoleOut, b.opts.SMTPClients, b.opts.SMTPDuration, one)
	res.Completed, res.Failed, res.Seconds = ok, failed, secs
	if secs > 0 {
		res.PerSecond = float64(ok) / secs
	}
	b.logf("  %-9s SMTP: %.0f transactions/s (%d completed, %d failed)", r.c.Name, res.PerSecond, ok, failed)
	if ok == 0 && r.sock != "" {
		// Keep what cbacd saw, for whoever looks into it.
		for _, cmd := range []string{"show ip inspect statistics", "show ip inspect sessions"} {
			if out, cerr := r.cbacdCommand(ctx, cmd); cerr == nil {
				f := filepath.Join(b.work, "smtp-failed-"+strings.ReplaceAll(cmd, " ", "-")+".txt")
				os.WriteFile(f, []byte(out), 0o644)
			}
		}
	}
	return res, err
}

// FloodResult is scenario 5.
type FloodResult struct {
	Contender string `json:"contender"`
	Policy    string `json:"policy"`
	// FloodPps is the rate of SYNs the generator put on the wire.
	FloodPps float64 `json:"flood_pps"`
	// ReachedServerPps: the rate of frames the inside host received.
	ReachedServerPps float64 `json:"reached_server_pps"`
	Attempted        int64   `json:"attempted"`
	Completed        int64   `json:"completed"`
	Share            float64 `json:"share"`
	// BaselinePerSecond: legitimate transactions per second without flood
	// (same clients); UnderFloodPerSecond: with it.
	UnderFloodPerSecond float64 `json:"under_flood_per_second"`
	HalfOpenMax         int     `json:"half_open_max"` // cbacd only
	HalfOpenLast        int     `json:"half_open_last"`
	SessionsCreated     int     `json:"sessions_created"`
}

// synFlood is scenario 5: random-source SYNs to 172.22.1.110:25 at the
// generator's full rate while legitimate SMTP sessions (5 s timeout each)
// run; the flood lasts until the last legitimate session has ended.
func (b *Bench) synFlood(ctx context.Context, r *running, policy string) (FloodResult, error) {
	res := FloodResult{Contender: r.c.Name, Policy: policy}
	if err := b.shape(ctx, RoleOut, "eth0", 0, 64); err != nil {
		return res, err
	}
	g0, err := b.topo.Stats(ctx, RoleOut, "eth0")
	if err != nil {
		return res, err
	}
	s0, err := b.topo.Stats(ctx, RoleIn, "eth0")
	if err != nil {
		return res, err
	}
	start := time.Now()
	g, err := b.startGenerator(ctx, RoleOut, "eth0", "synflood", synFloodConfig())
	if err != nil {
		return res, err
	}
	defer g.stop()
	sleep(ctx, 500*time.Millisecond)

	// Watch cbacd's half-open count while the flood runs.
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		if r.sock == "" {
			return
		}
		for watchCtx.Err() == nil {
			if _, half, created, err := r.sessionStats(watchCtx); err == nil {
				res.HalfOpenLast, res.SessionsCreated = half, created
				if half > res.HalfOpenMax {
					res.HalfOpenMax = half
				}
			}
			sleep(watchCtx, 250*time.Millisecond)
		}
	}()
	one := func(ctx context.Context) error { return smtpTransaction(ctx, 5*time.Second) }
	ok, failed, secs, _ := b.runClients(ctx, RoleOut, b.opts.FloodClients, b.opts.FloodDuration, one)
	stopWatch()
	<-watched
	alive := g.running()
	g.stop()
	elapsed := time.Since(start).Seconds()
	g1, err := b.topo.Stats(ctx, RoleOut, "eth0")
	if err != nil {
		return res, err
	}
	s1, err := b.topo.Stats(ctx, RoleIn, "eth0")
	if err != nil {
		return res, err
	}
	if !alive {
		return res, fmt.Errorf("flood generator exited early (see %s/trafgen.log)", b.work)
	}
	res.FloodPps = float64((g1.TxPackets+g1.TxDropped)-(g0.TxPackets+g0.TxDropped)) / elapsed
	res.ReachedServerPps = float64(s1.RxPackets-s0.RxPackets) / elapsed
	res.Attempted, res.Completed = ok+failed, ok
	if res.Attempted > 0 {
		res.Share = float64(ok) / float64(res.Attempted)
	}
	if secs > 0 {
		res.UnderFloodPerSecond = float64(ok) / secs
	}
	b.logf("  %-9s SYN flood %.0f pps: %d/%d legitimate SMTP sessions completed (%.1f%%), half-open max %d",
		r.c.Name, res.FloodPps, ok, res.Attempted, 100*res.Share, res.HalfOpenMax)
	return res, nil
}

// startSMTPServer runs the lab's SMTP server on 10.10.10.2:25 in the inside
// namespace until the bench ends.
func (b *Bench) startSMTPServer() (*smtpd.Server, error) {
	ln, err := b.listenIn(RoleIn, net.JoinHostPort(MailAddr, "25"))
	if err != nil {
		return nil, fmt.Errorf("smtp server: %w", err)
	}
	srv := smtpd.NewServer(smtpd.NewMailbox(1000, 64<<20))
	go srv.Serve(ln)
	return srv, nil
}
