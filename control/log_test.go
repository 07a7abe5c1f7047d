package control_test

import (
	"testing"

	"cbac/control"
	"cbac/dataplane"
)

// Refusals at a capacity limit come from the workers already rate-limited
// (once a second with a count); the log never drops them.
func TestCapacityMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind dataplane.EventKind
		aux  [4]int64
		want string
	}{
		{"table full, one", dataplane.EvTableFull, [4]int64{262144, 1, 3},
			"%FW-4-SESSION_TABLE_FULL: Session table full (262144 sessions on worker 3, dataplane.max_sessions), 1 new session refused"},
		{"table full, many", dataplane.EvTableFull, [4]int64{4, 17, 0},
			"%FW-4-SESSION_TABLE_FULL: Session table full (4 sessions on worker 0, dataplane.max_sessions), 17 new sessions refused"},
		{"inspected sessions", dataplane.EvInspectFull, [4]int64{500, 2, 1},
			"%FW-4-INSPECT_SESSIONS_MAX: Inspected sessions at their maximum (500 on worker 1, dataplane.inspected_sessions), 2 new SMTP sessions refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := dataplane.Event{Kind: tc.kind, Aux: tc.aux}
			msg, alert := control.Message(&e, nil)
			if msg != tc.want || alert {
				t.Errorf("Message = %q, alert %v; want %q, false", msg, alert, tc.want)
			}
		})
	}
}
