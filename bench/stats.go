package bench

// Reading cbacd's `show ip inspect statistics` by name, for the scenarios
// that watch cbacd from outside and for the integration tests.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// InspectStats is what `show ip inspect statistics` reports.
type InspectStats struct {
	Sessions, MaxSessions, HalfOpen int
	Created, Deleted                uint64
	// Drops by reason name ("SMTP inspection pool full"); the command
	// lists only non-zero reasons.
	Drops map[string]uint64
}

var statSessionsRE = regexp.MustCompile(`(?m)^Sessions: (\d+) in use of (\d+), (\d+) half-open; (\d+) created, (\d+) deleted$`)

// dropLineRE is a line of the Drops section: the reason, then its count.
var dropLineRE = regexp.MustCompile(`^\s+(\S.*?)\s+(\d+)$`)

// ParseInspectStatistics reads the text of `show ip inspect statistics`.
func ParseInspectStatistics(text string) (InspectStats, error) {
	st := InspectStats{Drops: map[string]uint64{}}
	m := statSessionsRE.FindStringSubmatch(text)
	if m == nil {
		return st, fmt.Errorf("show ip inspect statistics: no Sessions line in %q", text)
	}
	st.Sessions, _ = strconv.Atoi(m[1])
	st.MaxSessions, _ = strconv.Atoi(m[2])
	st.HalfOpen, _ = strconv.Atoi(m[3])
	st.Created, _ = strconv.ParseUint(m[4], 10, 64)
	st.Deleted, _ = strconv.ParseUint(m[5], 10, 64)
	inDrops := false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, " ") {
			inDrops = line == "Drops:"
			continue
		}
		if !inDrops {
			continue
		}
		if d := dropLineRE.FindStringSubmatch(line); d != nil {
			st.Drops[d[1]], _ = strconv.ParseUint(d[2], 10, 64)
		}
	}
	return st, nil
}

// RefusedDrops are the drop reasons that mean a session, or a frame of
// one, was refused for want of a resource (table, pool, frames) or by a
// DoS threshold: none may appear under well-behaved load.
var RefusedDrops = []string{
	"session table full",
	"half-open threshold",
	"host blocked (max-incomplete host)",
	"SMTP inspection pool full",
	"inspected stream buffer full",
	"no free frame",
}
