package control

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"cbac/dataplane"
	"cbac/packet"
)

// Sessions collects every worker's sessions.
func Sessions(dp *dataplane.Dataplane) []dataplane.SessionInfo {
	var all []dataplane.SessionInfo
	for i := range dp.Workers {
		dp.Do(i, func(w *dataplane.Worker) { all = w.Sessions(all) })
	}
	sort.Slice(all, func(a, b int) bool {
		if all[a].Created != all[b].Created {
			return all[a].Created < all[b].Created
		}
		return all[a].ID < all[b].ID
	})
	return all
}

// StatsTotal sums the workers' counters.
func StatsTotal(dp *dataplane.Dataplane) dataplane.Stats {
	var t dataplane.Stats
	for i := range dp.Workers {
		dp.Do(i, func(w *dataplane.Worker) {
			s := &w.Stats
			for r := range s.Drops {
				t.Drops[r] += s.Drops[r]
			}
			for p := range s.RxPackets {
				t.RxPackets[p] += s.RxPackets[p]
				t.RxBytes[p] += s.RxBytes[p]
				t.TxPackets[p] += s.TxPackets[p]
				t.TxBytes[p] += s.TxBytes[p]
			}
			if t.ACLHits == nil {
				t.ACLHits = make([][]uint64, len(s.ACLHits))
			}
			for a := range s.ACLHits {
				if len(t.ACLHits[a]) < len(s.ACLHits[a]) {
					t.ACLHits[a] = make([]uint64, len(s.ACLHits[a]))
				}
				for e := range s.ACLHits[a] {
					t.ACLHits[a][e] += s.ACLHits[a][e]
				}
			}
			t.SessionsCreated += s.SessionsCreated
			t.SessionsDeleted += s.SessionsDeleted
			t.ARPAnswered += s.ARPAnswered
			t.ARPLearned += s.ARPLearned
			t.ARPRequests += s.ARPRequests
			t.HandedOver += s.HandedOver
			t.FramesGivenBack += s.FramesGivenBack
			t.EventsDropped += s.EventsDropped
			t.SMTPRewritten += s.SMTPRewritten
			t.HTTPInspected += s.HTTPInspected
			t.HTTPTrusted += s.HTTPTrusted
			t.HTTPArchives += s.HTTPArchives
			t.Forwarded += s.Forwarded
			for k := range s.SMTPAlerts {
				t.SMTPAlerts[k] += s.SMTPAlerts[k]
			}
			for k := range s.FTPAlerts {
				t.FTPAlerts[k] += s.FTPAlerts[k]
			}
			t.PinholesOpened += s.PinholesOpened
			t.PinholesUsed += s.PinholesUsed
			t.PinholesFull += s.PinholesFull
			t.RunNs += s.RunNs
			t.BusyNs += s.BusyNs
			for c := range s.HalfOpenResets {
				t.HalfOpenResets[c] += s.HalfOpenResets[c]
			}
		})
	}
	return t
}

func hostPort(a uint32, p uint16) string {
	return fmt.Sprintf("%s:%d", packet.IPString(a), p)
}

func hms(ns int64) string {
	if ns < 0 {
		ns = 0
	}
	s := ns / 1e9
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// ShowSessions prints "show ip inspect sessions [detail]" in IOS layout:
// Established, Half-open and Terminating sections.
//
// An FTP data session is shown under the control session that announced
// it, indented, whatever its own state; without its control session (it
// ended) it is shown in its own section.
func ShowSessions(w io.Writer, all []dataplane.SessionInfo, detail bool) {
	ids := make(map[uint32]bool, len(all))
	for i := range all {
		ids[all[i].ID] = true
	}
	children := map[uint32][]*dataplane.SessionInfo{}
	for i := range all {
		if p := all[i].Parent; p != 0 && ids[p-1] {
			children[p-1] = append(children[p-1], &all[i])
		}
	}
	line := func(s *dataplane.SessionInfo, indent string) {
		fmt.Fprintf(w, "%s Session %08X (%s)=>(%s) %s %s\n", indent, s.ID,
			hostPort(s.Orig.Src, s.Orig.SrcPort), hostPort(s.Orig.Dst, s.Orig.DstPort), s.Kind, s.State)
		if detail {
			fmt.Fprintf(w, "%s  Created %s, Last heard %s\n", indent, hms(s.Now-s.Created), hms(s.Now-s.LastSeen))
			fmt.Fprintf(w, "%s  Bytes sent (initiator:responder) [%d:%d]\n", indent, s.Bytes[0], s.Bytes[1])
		}
	}
	sections := []struct {
		title string
		pick  func(*dataplane.SessionInfo) bool
	}{
		{"Established Sessions", func(s *dataplane.SessionInfo) bool { return !s.HalfOpen && !s.Closing }},
		{"Half-open Sessions", func(s *dataplane.SessionInfo) bool { return s.HalfOpen && !s.Closing }},
		{"Terminating Sessions", func(s *dataplane.SessionInfo) bool { return s.Closing }},
	}
	for _, sec := range sections {
		first := true
		for i := range all {
			s := &all[i]
			if !sec.pick(s) || s.Parent != 0 && ids[s.Parent-1] {
				continue
			}
			if first {
				fmt.Fprintln(w, sec.title)
				first = false
			}
			line(s, "")
			for _, c := range children[s.ID] {
				line(c, " ")
			}
		}
	}
}

// ShowNAT prints "show ip nat translations": the static entries, then one
// line per translated session, as IOS does.
func ShowNAT(w io.Writer, rs *dataplane.Ruleset, all []dataplane.SessionInfo) {
	row := func(pro, ig, il, ol, og string) {
		fmt.Fprintf(w, "%-4s%-22s%-22s%-22s%s\n", pro, ig, il, ol, og)
	}
	row("Pro", "Inside global", "Inside local", "Outside local", "Outside global")
	for _, s := range all {
		o, r := s.Orig, s.Reply
		var ig, il, out string
		switch {
		case o.Src != r.Dst: // initiator inside, translated on the way out
			ig, il, out = hostPort(r.Dst, r.DstPort), hostPort(o.Src, o.SrcPort), hostPort(o.Dst, o.DstPort)
		case o.Dst != r.Src: // initiator outside, responder translated
			ig, il, out = hostPort(o.Dst, o.DstPort), hostPort(r.Src, r.SrcPort), hostPort(o.Src, o.SrcPort)
		default:
			continue
		}
		row(protoName(o.Proto), ig, il, out, out)
	}
	for _, p := range rs.NAT.Pairs() {
		row("---", packet.IPString(p.InsideGlobal), packet.IPString(p.InsideLocal), "---", "---")
	}
}

func protoName(p uint8) string {
	switch p {
	case packet.ProtoTCP:
		return "tcp"
	case packet.ProtoUDP:
		return "udp"
	case packet.ProtoICMP:
		return "icmp"
	}
	return fmt.Sprint(p)
}

// ShowAccessLists prints "show access-lists [NAME]" with match counts.
func ShowAccessLists(w io.Writer, rs *dataplane.Ruleset, st *dataplane.Stats, name string) error {
	found := false
	for i, l := range rs.ACLs {
		if name != "" && l.Name() != name {
			continue
		}
		found = true
		var hits []uint64
		if i < len(st.ACLHits) {
			hits = st.ACLHits[i]
		}
		l.Show(w, hits)
	}
	if name != "" && !found {
		return fmt.Errorf("access list %s is not defined", name)
	}
	return nil
}

// ShowStatistics prints "show ip inspect statistics": session table use,
// per-port packets, and every non-zero drop reason.
func ShowStatistics(w io.Writer, dp *dataplane.Dataplane, st *dataplane.Stats) {
	rs := dp.Ruleset()
	live, half, held, parked := 0, 0, 0, 0
	framesFree, frames := 0, 0
	inspected, allocated, ftpInspected := 0, 0, 0
	var now int64 // the workers' clock (their latest batch)
	for i := range dp.Workers {
		dp.Do(i, func(wk *dataplane.Worker) {
			l, h := wk.SessionCount()
			live += l
			half += h
			fh, fp := wk.FramesHeld()
			held += fh
			parked += fp
			ff, ft := wk.FramesFree()
			framesFree += ff
			frames = ft
			n, a, _ := wk.InspectedSessions()
			inspected += n
			allocated += a
			ftpInspected += wk.FTPSessions()
			now = max(now, wk.Now())
		})
	}
	fmt.Fprintf(w, "Sessions: %d in use of %d, %d half-open; %d created, %d deleted\n",
		live, rs.MaxSessions, half, st.SessionsCreated, st.SessionsDeleted)
	limit := "max_sessions"
	if rs.InspectedSessions > 0 {
		limit = fmt.Sprint(rs.InspectedSessions)
	}
	fmt.Fprintf(w, "SMTP inspection: %d sessions inspected (open connections) of %s; %d states allocated; %d refused at the limit\n",
		inspected, limit, allocated, st.Drops[dataplane.DropSMTPPoolFull])
	open, expired := dp.OpenPinholes(now)
	fmt.Fprintf(w, "FTP inspection: %d control sessions inspected; data connections announced %d, admitted %d, waiting %d (%d expired), not opened (table full) %d\n",
		ftpInspected, st.PinholesOpened, st.PinholesUsed, open, expired, st.PinholesFull)
	fmt.Fprintf(w, "HTTP Java blocking: %d sessions inspected, %d of java-list servers not inspected; %d applets blocked; %d archived applets passed (not inspectable)\n",
		st.HTTPInspected, st.HTTPTrusted, st.Drops[dataplane.DropHTTPJavaBlock], st.HTTPArchives)
	fmt.Fprint(w, "Half-open sessions reset on both ends:")
	for c := dataplane.ResetCause(0); c < dataplane.NumResetCauses; c++ {
		sep := ","
		if c == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %d %s", sep, st.HalfOpenResets[c], c)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Workers: %d; frames handed over between workers: %d, free frames given back: %d\n", len(dp.Workers), st.HandedOver, st.FramesGivenBack)
	fmt.Fprintf(w, "Packets forwarded: %d; SMTP bytes rewritten: %d\n", st.Forwarded, st.SMTPRewritten)
	fmt.Fprintf(w, "SMTP replay copy: %d frames held until the server's ACK (%d of them transmitted)\n", held, parked)
	if rs.Intercept != nil {
		ic := InterceptStatsTotal(dp)
		fmt.Fprint(w, "TCP intercept: ")
		showInterceptCounters(w, &ic, st.Drops[dataplane.DropInterceptBadCookie])
	}
	fmt.Fprintf(w, "UMEM frames: %d free in the workers' pools of %d (the rest in the kernel's rings or in flight)\n", framesFree, frames)
	fmt.Fprintf(w, "ARP: %d answered, %d learned, %d requests sent\n", st.ARPAnswered, st.ARPLearned, st.ARPRequests)
	fmt.Fprintln(w, "Interfaces:")
	for p, f := range rs.Ifaces {
		fmt.Fprintf(w, "  %-14s %-8s rx %d packets %d bytes, tx %d packets %d bytes\n",
			f.Name, f.Device, st.RxPackets[p], st.RxBytes[p], st.TxPackets[p], st.TxBytes[p])
	}
	fmt.Fprintln(w, "Drops:")
	n := 0
	for r := dataplane.Reason(1); r < dataplane.NumReasons; r++ {
		if st.Drops[r] == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-36s %d\n", r.String(), st.Drops[r])
		n++
	}
	if n == 0 {
		fmt.Fprintln(w, "  none")
	}
	if st.EventsDropped > 0 {
		fmt.Fprintf(w, "Events lost (log ring full): %d\n", st.EventsDropped)
	}
}

// ShowARP prints the ARP cache in IOS "show arp" layout.
func ShowARP(w io.Writer, dp *dataplane.Dataplane) {
	rs := dp.Ruleset()
	fmt.Fprintln(w, "Protocol  Address          Age (min)  Hardware Addr   Type   Interface")
	for i, f := range rs.Ifaces {
		fmt.Fprintf(w, "Internet  %-16s %9s  %-15s ARPA   %s\n", packet.IPString(f.Addr), "-", dotMAC(f.MAC), f.Name)
		_ = i
	}
	for _, n := range dp.Neigh.Entries() {
		age := "-"
		if !n.Static {
			age = "0"
		}
		fmt.Fprintf(w, "Internet  %-16s %9s  %-15s ARPA   %s\n", packet.IPString(n.Addr), age, dotMAC(n.MAC), ifaceName(rs, n.Port))
	}
}

// dotMAC writes a MAC the IOS way: aabb.ccdd.eeff.
func dotMAC(m packet.MAC) string {
	s := strings.ReplaceAll(m.String(), ":", "")
	return s[0:4] + "." + s[4:8] + "." + s[8:12]
}
