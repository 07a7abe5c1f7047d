package inspect

import "fmt"

// EventKind names an admission event; String is its IOS mnemonic.
type EventKind uint8

const (
	_ EventKind = iota
	// EventAlertOn: aggressive mode entered (%FW-4-ALERT_ON). Count is the
	// half-open count, Limit max-incomplete high, Rate the one-minute rate.
	EventAlertOn
	// EventAlertOff: aggressive mode left (%FW-4-ALERT_OFF). Limit is
	// max-incomplete low.
	EventAlertOff
	// EventHostAlertOn: a host exceeded its half-open TCP limit
	// (%FW-4-HOST_TCP_ALERT_ON). Limit is the per-host maximum.
	EventHostAlertOn
	// EventBlockHost: new TCP connections to Host refused for Minutes
	// (%FW-2-BLOCK_HOST).
	EventBlockHost
	// EventUnblockHost: the block of Host ended (%FW-4-UNBLOCK_HOST).
	EventUnblockHost
)

var eventNames = [...]string{"", "ALERT_ON", "ALERT_OFF", "HOST_TCP_ALERT_ON", "BLOCK_HOST", "UNBLOCK_HOST"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "UNKNOWN"
}

// Event is what the control plane logs. Time is the worker's now when it
// happened. Plain values, no pointers: workers hand events over by copy.
type Event struct {
	Kind               EventKind
	Count, Limit, Rate int
	Host               uint32
	Minutes            int
	Time               int64
}

// Message is the IOS log line of the event. Control plane only (fmt).
func (e Event) Message() string {
	switch e.Kind {
	case EventAlertOn:
		return fmt.Sprintf("%%FW-4-ALERT_ON: getting aggressive, count (%d/%d) current 1-min rate: %d", e.Count, e.Limit, e.Rate)
	case EventAlertOff:
		return fmt.Sprintf("%%FW-4-ALERT_OFF: calming down, count (%d/%d) current 1-min rate: %d", e.Count, e.Limit, e.Rate)
	case EventHostAlertOn:
		return fmt.Sprintf("%%FW-4-HOST_TCP_ALERT_ON: Max tcp half-open connections (%d) exceeded for host %s.", e.Limit, ipString(e.Host))
	case EventBlockHost:
		return fmt.Sprintf("%%FW-2-BLOCK_HOST: Blocking new TCP connections to host %s for %d minutes (half-open count %d exceeded).", ipString(e.Host), e.Minutes, e.Limit)
	case EventUnblockHost:
		return fmt.Sprintf("%%FW-4-UNBLOCK_HOST: New TCP connections to host %s no longer blocked", ipString(e.Host))
	}
	return fmt.Sprintf("%%FW-4-UNKNOWN: event kind %d", e.Kind)
}

// ipString formats a host-order IPv4 address.
func ipString(a uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
}
