package control

import (
	"fmt"
	"io"
	"sort"

	"cbac/dataplane"
)

// InterceptStatsTotal sums the workers' TCP intercept counters.
func InterceptStatsTotal(dp *dataplane.Dataplane) dataplane.InterceptStats {
	var t dataplane.InterceptStats
	for i := range dp.Workers {
		dp.Do(i, func(w *dataplane.Worker) {
			s := &w.Intercept
			t.SYNACKs += s.SYNACKs
			t.XDPSYNACKs += s.XDPSYNACKs
			t.Opened += s.Opened
			t.SYNsResent += s.SYNsResent
			t.Joined += s.Joined
			t.ServerResets += s.ServerResets
			t.Aborted += s.Aborted
			t.ClientResets += s.ClientResets
			t.AutoSwitches += s.AutoSwitches
			t.Cookies = t.Cookies || s.Cookies
			t.LastMinute += s.LastMinute
			t.Waiting += s.Waiting
			t.Aggressive = t.Aggressive || s.Aggressive
		})
	}
	return t
}

// InterceptConns collects every worker's intercepted connections, oldest
// first.
func InterceptConns(dp *dataplane.Dataplane) []dataplane.InterceptConn {
	var all []dataplane.InterceptConn
	for i := range dp.Workers {
		dp.Do(i, func(w *dataplane.Worker) { all = w.InterceptConns(all) })
	}
	sort.SliceStable(all, func(a, b int) bool { return all[a].Age > all[b].Age })
	return all
}

// ShowTCPInterceptConnections prints "show tcp intercept connections" in
// IOS's layout: the connections still opening towards the server
// (Incomplete, state SYNSENT: cbacd sent the server its SYN) and the
// joined ones (Established, ESTAB), each with its age, the time left on
// its timer, and the mode (I: intercept; W: watched, SYNRCVD once the
// server's SYN/ACK passed).
func ShowTCPInterceptConnections(w io.Writer, conns []dataplane.InterceptConn) {
	for _, joined := range []bool{false, true} {
		if joined {
			fmt.Fprintln(w, "\nEstablished:")
		} else {
			fmt.Fprintln(w, "Incomplete:")
		}
		fmt.Fprintf(w, "%-21s %-21s %-8s %-8s %-8s %s\n", "Client", "Server", "State", "Create", "Timeout", "Mode")
		for _, c := range conns {
			if c.Joined != joined {
				continue
			}
			state, mode := "SYNSENT", "I"
			if c.Watched {
				mode = "W"
				if c.SynAck {
					state = "SYNRCVD"
				}
			}
			if joined {
				state = "ESTAB"
				if c.TCPState == "SIS_CLOSING" {
					state = "FINWAIT"
				}
			}
			fmt.Fprintf(w, "%-21s %-21s %-8s %-8s %-8s %s\n", hostPort(c.Client, c.ClientPort), hostPort(c.Server, c.ServerPort),
				state, hms(c.Age), hms(c.Timeout), mode)
		}
	}
}

// ShowTCPInterceptStatistics prints "show tcp intercept statistics" in
// IOS's layout, then cbacd's counters of the exchange.
func ShowTCPInterceptStatistics(w io.Writer, rs *dataplane.Ruleset, conns []dataplane.InterceptConn, st *dataplane.InterceptStats, badCookies uint64) {
	if rs.Intercept == nil {
		fmt.Fprintln(w, "TCP intercept is not enabled")
		return
	}
	incomplete := 0
	for _, c := range conns {
		if !c.Joined {
			incomplete++
		}
	}
	verb := "intercepting"
	if m := rs.Intercept.Mode; m == dataplane.InterceptWatch || (m == dataplane.InterceptAuto && !st.Cookies) {
		verb = "watching"
	}
	fmt.Fprintf(w, "%s new connections using access-list %s\n", verb, rs.ACLs[rs.Intercept.List].Name())
	fmt.Fprintf(w, "%d incomplete, %d established connections (total %d)\n", incomplete, len(conns)-incomplete, len(conns))
	fmt.Fprintf(w, "1 minute connection request rate %d requests/sec\n", st.LastMinute/60)
	showInterceptCounters(w, st, badCookies)
}

func showInterceptCounters(w io.Writer, st *dataplane.InterceptStats, bad uint64) {
	fmt.Fprintf(w, "Cookies: %d SYN/ACKs sent, %d valid ACKs, %d bad cookies dropped\n", st.SYNACKs, st.Opened, bad)
	if st.XDPSYNACKs > 0 {
		fmt.Fprintf(w, "Cookie SYN/ACKs sent by the XDP program: %d\n", st.XDPSYNACKs)
	}
	fmt.Fprintf(w, "Server side: %d established, %d refused (RST to client), %d reset at both ends (synwait or thresholds), %d SYNs resent\n",
		st.Joined, st.ServerResets, st.Aborted, st.SYNsResent)
	fmt.Fprintf(w, "Client resets before the server answered: %d\n", st.ClientResets)
	if st.AutoSwitches > 0 || st.Cookies {
		on := "off"
		if st.Cookies {
			on = "on"
		}
		fmt.Fprintf(w, "Auto mode: cookies %s, %d switches\n", on, st.AutoSwitches)
	}
}
