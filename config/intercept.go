package config

import "time"

// IOS "ip tcp intercept" defaults.
const (
	DefaultInterceptThresholdLow  = 900
	DefaultInterceptThresholdHigh = 1100
	DefaultInterceptWatch         = 30 * time.Second
	DefaultInterceptFinRst        = 5 * time.Second
	DefaultInterceptConnection    = 86400 * time.Second
)

// InterceptMode is "ip tcp intercept mode".
type InterceptMode string

// The modes IOS knows.
const (
	InterceptModeIntercept InterceptMode = "intercept"
	InterceptModeWatch     InterceptMode = "watch"
	InterceptModeAuto      InterceptMode = "auto"
)

// TCPIntercept is [tcp_intercept], IOS "ip tcp intercept ...". Enabled is
// false when the file has no such table (and then nothing else is set).
type TCPIntercept struct {
	Enabled bool
	// List names the access list of the connections to protect, matched
	// on the addresses the client connects to (as the interface's
	// inbound ACL sees them: inside global for a statically translated
	// server).
	List string
	Mode InterceptMode
	// MaxIncomplete and OneMinute: "ip tcp intercept max-incomplete" and
	// "one-minute" (incomplete connections; per minute).
	MaxIncomplete Threshold
	OneMinute     Threshold
	DropMode      string // "oldest" or "random"
	// WatchTimeout: watch mode's time to establish (halved in
	// aggressive mode).
	WatchTimeout time.Duration
	// FinRstTimeout: how long an intercepted connection is kept after a
	// FIN exchange or an RST.
	FinRstTimeout time.Duration
	// ConnectionTimeout: idle time of an intercepted connection.
	ConnectionTimeout time.Duration
}

type fileTCPIntercept struct {
	List              *string       `toml:"list"`
	Mode              *string       `toml:"mode"`
	MaxIncomplete     fileThreshold `toml:"max_incomplete"`
	OneMinute         fileThreshold `toml:"one_minute"`
	DropMode          *string       `toml:"drop_mode"`
	WatchTimeout      duration      `toml:"watch_timeout"`
	FinRstTimeout     duration      `toml:"finrst_timeout"`
	ConnectionTimeout duration      `toml:"connection_timeout"`
}

// resolveIntercept fills c.TCPIntercept from the file's table (present:
// some key under tcp_intercept was decoded).
func resolveIntercept(f *fileTCPIntercept, present bool) TCPIntercept {
	if !present {
		return TCPIntercept{}
	}
	return TCPIntercept{
		Enabled:           true,
		List:              stringOr(f.List, ""),
		Mode:              InterceptMode(stringOr(f.Mode, string(InterceptModeIntercept))),
		MaxIncomplete:     Threshold{intOr(f.MaxIncomplete.Low, DefaultInterceptThresholdLow), intOr(f.MaxIncomplete.High, DefaultInterceptThresholdHigh)},
		OneMinute:         Threshold{intOr(f.OneMinute.Low, DefaultInterceptThresholdLow), intOr(f.OneMinute.High, DefaultInterceptThresholdHigh)},
		DropMode:          stringOr(f.DropMode, "oldest"),
		WatchTimeout:      f.WatchTimeout.or(DefaultInterceptWatch),
		FinRstTimeout:     f.FinRstTimeout.or(DefaultInterceptFinRst),
		ConnectionTimeout: f.ConnectionTimeout.or(DefaultInterceptConnection),
	}
}

// validateIntercept checks [tcp_intercept]: the list is required and
// defined; mode and drop_mode are IOS's words; thresholds ordered; timers
// whole positive seconds.
func (c *Config) validateIntercept(p *problems) {
	ti := &c.TCPIntercept
	if !ti.Enabled {
		return
	}
	if ti.List == "" {
		p.add("tcp_intercept.list", errorf(ErrValue, "list is required: the access list of the connections to protect (ip tcp intercept list)"))
	} else {
		c.checkACL(p, "tcp_intercept.list", ti.List)
	}
	switch ti.Mode {
	case InterceptModeIntercept, InterceptModeWatch, InterceptModeAuto:
	default:
		p.add("tcp_intercept.mode", errorf(ErrValue, `bad mode %q: want "intercept", "watch" or "auto"`, ti.Mode))
	}
	threshold(p, "tcp_intercept.max_incomplete", ti.MaxIncomplete)
	threshold(p, "tcp_intercept.one_minute", ti.OneMinute)
	switch ti.DropMode {
	case "oldest", "random":
	default:
		p.add("tcp_intercept.drop_mode", errorf(ErrValue, `bad drop_mode %q: want "oldest" or "random"`, ti.DropMode))
	}
	positive(p, "tcp_intercept.watch_timeout", ti.WatchTimeout)
	positive(p, "tcp_intercept.finrst_timeout", ti.FinRstTimeout)
	positive(p, "tcp_intercept.connection_timeout", ti.ConnectionTimeout)
}
