package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cbac/config"
	"cbac/dataplane"
)

// Server is the control plane of a running dataplane: it answers cbacctl's
// commands and turns worker events into log lines.
type Server struct {
	DP  *dataplane.Dataplane
	Log *slog.Logger
	// Load reads the configuration file again for Reload; nil when the
	// daemon cannot reload (replay).
	Load func() (*config.Config, error)
	// MACs gives the devices' own MACs to Compile on reload.
	MACs MACSource
	// SocketStats prints the AF_XDP sockets' kernel statistics for
	// `show ip inspect statistics`; nil without sockets (replay, tests).
	SocketStats func(w io.Writer)

	// Notify, if set, wraps each reload (systemd's RELOADING=1 and READY=1).
	Notify func(reload func() error) error

	reloadMu                 sync.Mutex    // one reload at a time (Reload)
	reloadsOK, reloadsFailed atomic.Uint64 // reloads applied and refused (ReloadCounts)

	mu         sync.Mutex // guards the fields below
	cfg        *config.Config
	generation int                      // of cfg: 1 as started, +1 per applied reload
	subs       map[chan string]struct{} // debug ip inspect smtp listeners
	limit      rateLimiter
}

// NewServer makes a control server for dp running cfg.
func NewServer(dp *dataplane.Dataplane, cfg *config.Config, log *slog.Logger) *Server {
	s := &Server{DP: dp, Log: log, cfg: cfg, generation: 1, subs: map[chan string]struct{}{}}
	s.limit.rate = float64(dp.Ruleset().AlertRate)
	return s
}

func (s *Server) config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// ErrUsage is wrapped by the error for a command line cbacctl cannot run.
var ErrUsage = errors.New("usage")

// ErrStopped is returned for a command that needs the workers after they
// stopped (cbacd is exiting).
var ErrStopped = errors.New("the dataplane has stopped")

// usageError is a bad command line: its text is IOS's message followed by
// the command list.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg + "\n" + Usage }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Usage lists the commands (cbacctl -h, and after a bad command).
const Usage = `commands:
  show ip inspect all | config | sessions [detail] | statistics
  show ip nat translations
  show tcp intercept connections | statistics
  show access-lists [NAME]
  show arp
  debug ip inspect smtp        (streams the trace until interrupted)
  capture drops [count N] [reason R] [snaplen N]   (a frame stream: use cbacctl capture)
  capture interface NAME [count N] [snaplen N]
  clear ip inspect session ID|all
  clear access-list counters
  reload`

// words of the command language; IOS-style unique prefixes are accepted.
var grammar = map[string][]string{
	"":                         {"show", "debug", "undebug", "clear", "reload", "capture", "help"},
	"show":                     {"ip", "access-lists", "arp", "tcp"},
	"show tcp":                 {"intercept"},
	"show tcp intercept":       {"connections", "statistics"},
	"show ip":                  {"inspect", "nat"},
	"show ip inspect":          {"all", "config", "sessions", "statistics"},
	"show ip inspect sessions": {"detail"},
	"show ip nat":              {"translations"},
	"debug":                    {"ip"},
	"debug ip":                 {"inspect"},
	"debug ip inspect":         {"smtp"},
	"undebug":                  {"ip", "all"},
	"undebug ip":               {"inspect"},
	"undebug ip inspect":       {"smtp"},
	"clear":                    {"ip", "access-list"},
	"clear ip":                 {"inspect"},
	"clear ip inspect":         {"session"},
	"clear access-list":        {"counters"},
	"capture":                  {"drops", "interface"},
}

// expand resolves abbreviations ("sh ip insp all") against the grammar;
// words past the grammar (names, IDs, "detail") are kept as they are.
func expand(fields []string) ([]string, error) {
	var out []string
	for _, f := range fields {
		ctx := strings.Join(out, " ")
		words, ok := grammar[ctx]
		if !ok {
			out = append(out, f)
			continue
		}
		match := ""
		for _, w := range words {
			if w == strings.ToLower(f) {
				match = w
				break
			}
			if strings.HasPrefix(w, strings.ToLower(f)) {
				if match != "" {
					return nil, usageErrorf("Ambiguous command: %q", f)
				}
				match = w
			}
		}
		if match == "" {
			return nil, usageErrorf("Invalid input detected at '%s'", f)
		}
		out = append(out, match)
	}
	return out, nil
}

// Exec runs one command and writes its output. A bad command returns an
// error wrapping ErrUsage with the usage text; it never panics.
func (s *Server) Exec(ctx context.Context, line string, w io.Writer) error {
	fields, err := expand(strings.Fields(line))
	if err != nil {
		return err
	}
	cmd := strings.Join(fields, " ")
	dp := s.DP
	if dp.Stopped() {
		return ErrStopped
	}
	rs := dp.Ruleset()
	switch {
	case cmd == "help" || cmd == "":
		fmt.Fprintln(w, Usage)
	case cmd == "show ip inspect all":
		s.config().ShowInspectAll(w)
	case cmd == "show ip inspect config":
		s.config().ShowInspectConfig(w)
	case cmd == "show ip inspect sessions":
		ShowSessions(w, Sessions(dp), false)
	case cmd == "show ip inspect sessions detail":
		ShowSessions(w, Sessions(dp), true)
	case cmd == "show ip inspect statistics":
		st := StatsTotal(dp)
		ShowStatistics(w, dp, &st)
		s.showControl(w)
		if s.SocketStats != nil {
			s.SocketStats(w)
		}
	case cmd == "show tcp intercept connections":
		ShowTCPInterceptConnections(w, InterceptConns(dp))
	case cmd == "show tcp intercept statistics":
		st := InterceptStatsTotal(dp)
		all := StatsTotal(dp)
		ShowTCPInterceptStatistics(w, rs, InterceptConns(dp), &st, all.Drops[dataplane.DropInterceptBadCookie])
	case cmd == "show ip nat translations":
		ShowNAT(w, rs, Sessions(dp))
	case cmd == "show access-lists" || (len(fields) == 3 && fields[0] == "show" && fields[1] == "access-lists"):
		st := StatsTotal(dp)
		name := ""
		if len(fields) == 3 {
			name = fields[2]
		}
		return ShowAccessLists(w, rs, &st, name)
	case cmd == "show arp":
		ShowARP(w, dp)
	case cmd == "debug ip inspect smtp":
		return s.debugSMTP(ctx, w)
	case len(fields) >= 2 && fields[0] == "capture":
		return s.capture(ctx, fields, w)
	case cmd == "undebug ip inspect smtp" || cmd == "undebug all":
		dp.DebugSMTP.Store(false)
		fmt.Fprintln(w, "INSPECT SMTP Inspection debugging is off")
	case len(fields) == 5 && strings.HasPrefix(cmd, "clear ip inspect session "):
		n := 0
		if fields[4] == "all" {
			for i := range dp.Workers {
				dp.Do(i, func(wk *dataplane.Worker) { n += wk.ClearSession(0, true) })
			}
		} else {
			id, err := strconv.ParseUint(fields[4], 16, 32)
			if err != nil {
				return usageErrorf("Session ID %q is not hexadecimal (see show ip inspect sessions)", fields[4])
			}
			for i := range dp.Workers {
				dp.Do(i, func(wk *dataplane.Worker) { n += wk.ClearSession(uint32(id), false) })
			}
			if n == 0 {
				return fmt.Errorf("no session %s", fields[4])
			}
		}
		fmt.Fprintf(w, "%d session(s) cleared\n", n)
	case cmd == "clear access-list counters":
		for i := range dp.Workers {
			dp.Do(i, func(wk *dataplane.Worker) {
				for a := range wk.Stats.ACLHits {
					clear(wk.Stats.ACLHits[a])
				}
			})
		}
	case cmd == "reload":
		if s.Load == nil {
			return errors.New("reload is not available here (no configuration file to read)")
		}
		if err := s.Reload("cbacctl"); err != nil {
			return fmt.Errorf("reload failed, old configuration (generation %d) kept: %w", s.Generation(), err)
		}
		fmt.Fprintf(w, "configuration reloaded from %s (generation %d)\n", s.config().File, s.Generation())
	default:
		return usageErrorf("Incomplete command: %q", cmd)
	}
	if dp.Stopped() {
		// A worker stopped while the command ran: what it printed may
		// lack that worker's part.
		return ErrStopped
	}
	return nil
}

// debugSMTP streams trace lines until ctx ends (the client hangs up).
func (s *Server) debugSMTP(ctx context.Context, w io.Writer) error {
	ch := make(chan string, 1024)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	s.DP.DebugSMTP.Store(true)
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		last := len(s.subs) == 0
		s.mu.Unlock()
		if last {
			s.DP.DebugSMTP.Store(false)
		}
	}()
	fmt.Fprintln(w, "INSPECT SMTP Inspection debugging is on")
	if f, ok := w.(interface{ Flush() error }); ok {
		f.Flush()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case line := <-ch:
			if _, err := fmt.Fprintln(w, line); err != nil {
				return nil
			}
			if f, ok := w.(interface{ Flush() error }); ok {
				if f.Flush() != nil {
					return nil
				}
			}
		}
	}
}

// HandleEvent logs one worker event (rate-limiting alerts) or passes a
// trace line to the debug listeners.
func (s *Server) HandleEvent(e *dataplane.Event, now time.Time) {
	if e.Kind == dataplane.EvSMTPTrace {
		line := TraceLine(e)
		s.mu.Lock()
		for ch := range s.subs {
			select {
			case ch <- line:
			default:
			}
		}
		s.mu.Unlock()
		return
	}
	msg, alert := Message(e, s.DP.Ruleset())
	if alert {
		s.mu.Lock()
		ok := s.limit.allow(now)
		s.mu.Unlock()
		if !ok {
			return // counted; ReportSuppressed logs the count
		}
	}
	for _, line := range strings.Split(msg, "\n") {
		s.Log.Info(line)
	}
}

// PumpEvents drains the workers' event rings every interval until ctx ends.
func (s *Server) PumpEvents(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	buf := make([]dataplane.Event, 0, 256)
	for {
		for i := range s.DP.Workers {
			for {
				buf = s.DP.Events(i, buf[:0])
				now := time.Now()
				for j := range buf {
					s.HandleEvent(&buf[j], now)
				}
				if len(buf) < cap(buf) {
					break
				}
			}
		}
		s.ReportSuppressed(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Listen opens the control socket (mode 0600: root only), replacing a
// stale socket file left by a crash.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another cbacd is running", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return l, nil
}

// Serve answers connections: one command line per connection; the reply
// is the command's output, then the connection closes. Errors are sent as
// "% message" lines, as IOS prints them.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	go func() { <-ctx.Done(); l.Close() }()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.serveConn(ctx, c)
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(io.LimitReader(c, 4096))
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return
	}
	c.SetReadDeadline(time.Time{})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// The client hanging up ends a streaming command.
		var b [1]byte
		r.Read(b[:])
		cancel()
	}()
	bw := bufio.NewWriter(c)
	if err := s.Exec(cctx, strings.TrimSpace(line), bw); err != nil {
		fmt.Fprintf(bw, "%% %v\n", err)
	}
	bw.Flush()
}

// Client sends one command to the control socket at path and copies the
// reply to w (cbacctl).
func Client(ctx context.Context, path, cmd string, w io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("cannot reach cbacd at %s: %w", path, err)
	}
	defer c.Close()
	go func() { <-ctx.Done(); c.Close() }()
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		return err
	}
	_, err = io.Copy(w, c)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
