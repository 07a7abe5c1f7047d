package control

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net/url"
	"strings"
	"sync"
	"time"

	"cbac/dataplane"
	"cbac/ftpfsm"
	"cbac/inspect"
	"cbac/packet"
	"cbac/smtpfsm"
)

// Message formats a worker event as its IOS log line, and reports whether
// it is an alert (rate limited) or not (audit trail, refusals at a
// capacity limit: never dropped).
// Trace events are not log messages (see TraceLine).
func Message(e *dataplane.Event, rs *dataplane.Ruleset) (msg string, alert bool) {
	ini := hostPort(e.Key.Src, e.Key.SrcPort)
	res := hostPort(e.Key.Dst, e.Key.DstPort)
	switch e.Kind {
	case dataplane.EvAuditStart:
		return fmt.Sprintf("%%FW-6-SESS_AUDIT_TRAIL_START: Start %s session: initiator (%s) -- responder (%s)", e.Proto, ini, res), false
	case dataplane.EvAuditStop:
		return fmt.Sprintf("%%FW-6-SESS_AUDIT_TRAIL: Stop %s session: initiator (%s) sent %d bytes -- responder (%s) sent %d bytes",
			e.Proto, ini, e.Bytes[0], res, e.Bytes[1]), false
	case dataplane.EvACLLog:
		verb := "denied"
		if e.Permit {
			verb = "permitted"
		}
		name := fmt.Sprint(e.ACL)
		if rs != nil && int(e.ACL) < len(rs.ACLs) {
			name = rs.ACLs[e.ACL].Name()
		}
		k := e.Key
		switch k.Proto {
		case packet.ProtoTCP, packet.ProtoUDP:
			return fmt.Sprintf("%%SEC-6-IPACCESSLOGP: list %s %s %s %s(%d) -> %s(%d), 1 packet", name, verb, protoName(k.Proto),
				packet.IPString(k.Src), k.SrcPort, packet.IPString(k.Dst), k.DstPort), true
		case packet.ProtoICMP:
			return fmt.Sprintf("%%SEC-6-IPACCESSLOGDP: list %s %s icmp %s -> %s, 1 packet", name, verb,
				packet.IPString(k.Src), packet.IPString(k.Dst)), true
		}
		return fmt.Sprintf("%%SEC-6-IPACCESSLOGNP: list %s %s %d %s -> %s, 1 packet", name, verb, k.Proto,
			packet.IPString(k.Src), packet.IPString(k.Dst)), true
	case dataplane.EvSMTPAlert:
		return smtpAlertMessage(e, ini, res), true
	case dataplane.EvStreamDiffers:
		return fmt.Sprintf("%%FW-4-SMTP_RETRANSMIT_DIFFERS: Retransmitted SMTP data differs from the first copy, first copy forwarded: initiator (%s) -- responder (%s)", ini, res), true
	case dataplane.EvJavaBlock:
		// IOS's message: the applet's server, as the client addressed
		// it, then the client, as it sent.
		return fmt.Sprintf("%%FW-3-HTTP_JAVA_BLOCK: JAVA applet is blocked from (%s) to (%s)", res, ini), true
	case dataplane.EvMaxData:
		return fmt.Sprintf("%%FW-4-SMTP_MAX_DATA: SMTP max-data exceeded, session reset: initiator (%s) -- responder (%s)", ini, res), true
	case dataplane.EvFTPAlert:
		k, a, client, server := e.FTPAlertAnnouncement()
		return string(ftpfsm.AppendMessage(nil, k, &a, client, server)), true
	case dataplane.EvThreshold:
		ev := inspect.Event{Kind: inspect.EventKind(e.Aux[0]), Count: int(e.Aux[1]), Limit: int(e.Aux[2]),
			Rate: int(e.Aux[3]), Host: e.Key.Dst, Minutes: int(e.Alert)}
		return ev.Message(), true
	case dataplane.EvInterceptAuto:
		// IOS has no auto mode; the line reads as its aggressive-mode
		// debug lines do (count and threshold).
		if e.Aux[0] == 1 {
			return fmt.Sprintf("%%TCP-4-INTERCEPT_AUTO_ON: TCP intercept auto mode: intercepting new connections (SYN cookies on), count (%d/%d) incomplete on worker %d",
				e.Aux[1], e.Aux[2], e.Aux[3]), false
		}
		return fmt.Sprintf("%%TCP-6-INTERCEPT_AUTO_OFF: TCP intercept auto mode: watching new connections (SYN cookies off), count (%d/%d) incomplete on worker %d",
			e.Aux[1], e.Aux[2], e.Aux[3]), false
	// Refusals at a capacity limit: the worker reports them at most once
	// a second (dataplane refusalLog), so they bypass the alert limit.
	case dataplane.EvTableFull:
		return fmt.Sprintf("%%FW-4-SESSION_TABLE_FULL: Session table full (%d sessions on worker %d, dataplane.max_sessions), %d new %s refused",
			e.Aux[0], e.Aux[2], e.Aux[1], plural(e.Aux[1], "session", "sessions")), false
	case dataplane.EvInspectFull:
		return fmt.Sprintf("%%FW-4-INSPECT_SESSIONS_MAX: Inspected sessions at their maximum (%d on worker %d, dataplane.inspected_sessions), %d new SMTP %s refused",
			e.Aux[0], e.Aux[2], e.Aux[1], plural(e.Aux[1], "session", "sessions")), false
	}
	return fmt.Sprintf("event %d", e.Kind), true
}

// plural is one if n is 1, else many.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// smtpAlertMessage formats the first alert of an SMTP alert set.
// The alert set is in the low 16 bits of e.Alert, the ESMTP parameter of
// a violation in the top byte.
func smtpAlertMessage(e *dataplane.Event, ini, res string) string {
	a := smtpfsm.AlertSet(e.Alert & 0xffff)
	param := smtpfsm.Param(e.Alert >> 24)
	from := fmt.Sprintf("from initiator (%s) -- responder (%s)", ini, res)
	var lines []string
	for k := smtpfsm.AlertKind(0); k < 16; k++ {
		if !a.Has(k) {
			continue
		}
		var what string
		switch k {
		case smtpfsm.AlertInvalidCommand:
			what = fmt.Sprintf("Invalid SMTP command (%s)", e.TextString())
		case smtpfsm.AlertLongLine:
			what = "SMTP command line longer than 512 octets"
		case smtpfsm.AlertESMTPViolation:
			what = fmt.Sprintf("ESMTP violation (%s)", param)
		case smtpfsm.AlertMaxData:
			what = "SMTP max-data exceeded"
		case smtpfsm.AlertBadReply:
			what = "Malformed SMTP reply"
		case smtpfsm.AlertPipelining:
			what = "SMTP commands pipelined without PIPELINING"
		case smtpfsm.AlertBareCR:
			what = "Bare CR in SMTP command line"
		case smtpfsm.AlertBadDataEnd:
			what = "SMTP end-of-data look-alike with bare CR or LF"
		default:
			what = "SMTP alert"
		}
		lines = append(lines, fmt.Sprintf("%%FW-4-%s: %s %s", k, what, from))
	}
	return strings.Join(lines, "\n")
}

// TraceLine formats a `debug ip inspect smtp` event.
func TraceLine(e *dataplane.Event) string {
	return string(e.Trace.Format(nil))
}

// IOSHandler is a slog.Handler that writes IOS-style log lines:
// "*Nov 23 15:54:01.123: %FW-6-...". Attributes follow as key=value.
type IOSHandler struct {
	mu  sync.Mutex
	out io.Writer
	sys *syslog.Writer
}

// NewIOSHandler writes to out and, if syslogAddr ("udp://host:514",
// "tcp://...", "unix:///dev/log") is set, to syslog.
func NewIOSHandler(out io.Writer, syslogAddr string, tag string) (*IOSHandler, error) {
	h := &IOSHandler{out: out}
	if syslogAddr != "" {
		u, err := url.Parse(syslogAddr)
		if err != nil || u.Scheme == "" {
			return nil, fmt.Errorf("syslog address %q: want udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH", syslogAddr)
		}
		addr := u.Host
		if u.Scheme == "unix" || u.Scheme == "unixgram" {
			addr = u.Path
		}
		w, err := syslog.Dial(u.Scheme, addr, syslog.LOG_LOCAL7|syslog.LOG_INFO, tag)
		if err != nil {
			return nil, fmt.Errorf("syslog %s: %w", syslogAddr, err)
		}
		h.sys = w
	}
	return h, nil
}

func (h *IOSHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *IOSHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Format("*Jan _2 15:04:05.000: "))
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteByte('=')
		b.WriteString(a.Value.String())
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.out, b.String())
	if h.sys != nil {
		line := strings.TrimSuffix(b.String()[len("*Jan _2 15:04:05.000: "):], "\n")
		switch {
		case r.Level >= slog.LevelError:
			h.sys.Err(line)
		case r.Level >= slog.LevelWarn:
			h.sys.Warning(line)
		default:
			h.sys.Info(line)
		}
	}
	return err
}

func (h *IOSHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *IOSHandler) WithGroup(string) slog.Handler      { return h }

// rateLimiter is a token bucket: at most rate alerts per second, burst of
// the same size. The alerts it refuses are counted, never lost silently:
// suppressed in all (show ip inspect statistics) and pending since the
// last report (Server.ReportSuppressed logs it once per period).
type rateLimiter struct {
	rate       float64
	tokens     float64
	last       time.Time
	logged     uint64 // alerts allowed
	suppressed uint64 // alerts refused, in all
	pending    uint64 // alerts refused since the last report
	period     time.Time
}

func (r *rateLimiter) allow(now time.Time) bool {
	if r.rate <= 0 {
		r.logged++
		return true
	}
	if r.last.IsZero() {
		r.tokens = r.rate
	} else {
		r.tokens += now.Sub(r.last).Seconds() * r.rate
		if r.tokens > r.rate {
			r.tokens = r.rate
		}
	}
	r.last = now
	if r.tokens >= 1 {
		r.tokens--
		r.logged++
		return true
	}
	r.suppressed++
	r.pending++
	return false
}

// SuppressedPeriod is how often the count of rate-limited alerts is logged
// (when it is not zero).
const SuppressedPeriod = time.Minute

// ReportSuppressed logs, at most once per SuppressedPeriod, how many alerts
// the rate limiter refused since the last report, as IOS reports
// rate-limited messages:
//
//	%FW-4-ALERTS_SUPPRESSED: 42 alert messages suppressed by rate limiting in the last 60 seconds (alert_rate 10 per second)
//
// PumpEvents calls it with the wall clock, off the packet path; tests pass
// their own clock.
func (s *Server) ReportSuppressed(now time.Time) {
	s.mu.Lock()
	r := &s.limit
	if r.period.IsZero() {
		r.period = now
	}
	since := now.Sub(r.period)
	n, rate := r.pending, r.rate
	if since < SuppressedPeriod {
		n = 0
	} else {
		r.pending, r.period = 0, now
	}
	s.mu.Unlock()
	if n > 0 {
		s.Log.Warn(fmt.Sprintf("%%FW-4-ALERTS_SUPPRESSED: %d alert messages suppressed by rate limiting in the last %d seconds (alert_rate %g per second)",
			n, int(since.Seconds()), rate))
	}
}

// showControl prints the control plane's part of show ip inspect statistics:
// the alert log counts and the running configuration generation.
func (s *Server) showControl(w io.Writer) {
	s.mu.Lock()
	logged, suppressed, rate := s.limit.logged, s.limit.suppressed, s.limit.rate
	gen, file := s.generation, s.cfg.File
	s.mu.Unlock()
	fmt.Fprintf(w, "Alert messages: %d logged, %d suppressed by rate limiting (alert_rate %g per second)\n", logged, suppressed, rate)
	fmt.Fprintf(w, "Configuration: generation %d, from %s\n", gen, file)
}
