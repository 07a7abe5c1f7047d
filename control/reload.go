package control

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"cbac/config"
)

// ErrStartOnly is wrapped by a reload refused because the new file changes
// keys that are read only when cbacd starts.
var ErrStartOnly = errors.New("keys that apply only at start changed")

// startOnly lists the keys read only when cbacd starts: they size the
// UMEM, the rings, the per-worker tables and buffers, the log outputs and
// the control socket, all built once. A reload cannot apply them, so one
// that changes any of them is refused (the running configuration stays):
// restart cbacd to change them. Interfaces may not move to other devices
// either (dataplane.Swap refuses that).
var startOnly = []struct {
	key string
	get func(*config.Config) any
}{
	{"dataplane.workers", func(c *config.Config) any { return c.Dataplane.Workers }},
	{"dataplane.frames", func(c *config.Config) any { return c.Dataplane.Frames }},
	{"dataplane.ring_size", func(c *config.Config) any { return c.Dataplane.RingSize }},
	{"dataplane.max_sessions", func(c *config.Config) any { return c.Dataplane.MaxSessions }},
	{"dataplane.fail_open", func(c *config.Config) any { return c.Dataplane.FailOpen }},
	{"dataplane.inspected_buffer", func(c *config.Config) any { return c.Dataplane.InspectedBuffer }},
	{"reassembly.max_datagrams", func(c *config.Config) any { return c.Reassembly.MaxDatagrams }},
	{"reassembly.max_fragments", func(c *config.Config) any { return c.Reassembly.MaxFragments }},
	{"reassembly.timeout", func(c *config.Config) any { return c.Reassembly.Timeout }},
	{"control.socket", func(c *config.Config) any { return c.Control.Socket }},
	{"logging.syslog", func(c *config.Config) any { return c.Logging.Syslog }},
	{"metrics.listen", func(c *config.Config) any { return c.Metrics.Listen }},
}

// StartOnlyChanges names the start-only keys whose values differ between
// the running configuration and next, with both values
// ("dataplane.max_sessions 1048576 -> 4096"); nil if none.
func StartOnlyChanges(running, next *config.Config) []string {
	var out []string
	for _, k := range startOnly {
		a, b := k.get(running), k.get(next)
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s %v -> %v", k.key, a, b))
		}
	}
	return out
}

// Reload reads the configuration again (s.Load), checks it, compiles it
// and swaps it in; by says who asked ("SIGHUP", "cbacctl"). A reload that
// fails in any step, or changes a key that applies only at start, leaves
// the running configuration in place. Both outcomes are logged with the
// configuration generation (1 at start, one more per applied reload).
func (s *Server) Reload(by string) error {
	if s.Load == nil {
		return errors.New("reload is not available")
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	running := s.config()
	gen := s.Generation()
	var err error
	if s.Notify != nil {
		err = s.Notify(func() error { return s.reloadLocked(running) })
	} else {
		err = s.reloadLocked(running)
	}
	if err != nil {
		s.reloadsFailed.Add(1)
		// One log line, even for a file with several errors.
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		s.Log.Warn(fmt.Sprintf("%%SYS-4-CONFIG_RELOAD_FAILED: Reload of %s by %s failed: %s; generation %d keeps running",
			running.File, by, msg, gen))
		return err
	}
	s.reloadsOK.Add(1)
	s.Log.Info(fmt.Sprintf("%%SYS-5-CONFIG_I: Configured from %s by %s (generation %d)", s.config().File, by, s.Generation()))
	return nil
}

// ReloadCounts returns how many reloads were applied and refused since
// start, and the generation of the running configuration. Safe from any
// goroutine (the metrics collector).
func (s *Server) ReloadCounts() (ok, failed, generation uint64) {
	return s.reloadsOK.Load(), s.reloadsFailed.Load(), uint64(s.Generation())
}

// reloadLocked loads, checks, compiles and installs the next configuration;
// s.reloadMu is held.
func (s *Server) reloadLocked(running *config.Config) error {
	next, err := s.Load()
	if err != nil {
		return err
	}
	if ch := StartOnlyChanges(running, next); len(ch) > 0 {
		return fmt.Errorf("%s: %w (restart cbacd to apply them): %s", next.File, ErrStartOnly, strings.Join(ch, ", "))
	}
	rs, err := Compile(next, s.MACs)
	if err != nil {
		return err
	}
	if err := s.DP.Swap(rs); err != nil {
		return fmt.Errorf("%s: %w", next.File, err)
	}
	s.mu.Lock()
	s.cfg = next
	s.generation++
	s.limit.rate = float64(rs.AlertRate)
	s.mu.Unlock()
	return nil
}

// Generation is the number of the running configuration: 1 as started,
// one more for each reload that was applied.
func (s *Server) Generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generation
}
