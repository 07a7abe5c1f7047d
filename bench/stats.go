package bench

// Reading cbacd's `show ip inspect statistics` by name, for the scenarios
// that watch cbacd from outside and for the integration tests.

import (
	"fmt"
	"regexp"
	"strconv"

	"cbac/dataplane"
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

// ParseInspectStatistics reads the text of `show ip inspect statistics`.
func ParseInspectStatistics(text string) (InspectStats, error) {
	var st InspectStats
	m := statSessionsRE.FindStringSubmatch(text)
	if m == nil {
		return st, fmt.Errorf("show ip inspect statistics: no Sessions line in %q", text)
	}
	st.Sessions, _ = strconv.Atoi(m[1])
	st.MaxSessions, _ = strconv.Atoi(m[2])
	st.HalfOpen, _ = strconv.Atoi(m[3])
	st.Created, _ = strconv.ParseUint(m[4], 10, 64)
	st.Deleted, _ = strconv.ParseUint(m[5], 10, 64)
	st.Drops = parseDrops(text)
	return st, nil
}

// RefusedDrops are the drop reasons that mean a new session was refused
// for want of room (session table, inspected sessions, a blocked host) or
// a frame for want of a free UMEM frame: none may appear under
// well-behaved load.
var RefusedDrops = []string{
	dataplane.DropSessionTableFull.String(),
	dataplane.DropHostBlocked.String(),
	dataplane.DropSMTPPoolFull.String(),
	dataplane.DropNoFrame.String(),
}
