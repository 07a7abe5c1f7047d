// Package metrics exports cbacd's counters and gauges in the Prometheus
// text format ([metrics] listen). Nothing is added to the packet path: a
// Collector reads the workers at scrape time through the control plane's
// accessors (Dataplane.Do between two batches, as `show ip inspect
// statistics` does), and the kernel's AF_XDP socket counters through
// getsockopt.
package metrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"cbac/control"
	"cbac/dataplane"
	"cbac/ftpfsm"
	"cbac/internal/version"
	"cbac/smtpfsm"
)

// Source is what a Collector reads.
type Source struct {
	DP *dataplane.Dataplane
	// Server gives the reload counts and the configuration generation; nil
	// leaves those metrics out.
	Server *control.Server
	// Sockets returns the kernel's XDP statistics per [worker][port]; nil
	// without AF_XDP sockets (tests, replay).
	Sockets func() [][]unix.XDPStatistics
	// Shed returns the XDP program's SYN shedding per [worker][port]; nil
	// without XDP programs.
	Shed func() [][]dataplane.Shed
}

// Collector is a prometheus.Collector over a running dataplane.
type Collector struct {
	src   Source
	build version.Info

	drops, rxPackets, rxBytes, txPackets, txBytes                                 *prometheus.Desc
	forwarded, handedOver, eventsLost, smtpRewritten                              *prometheus.Desc
	sessions, sessionsMax, halfOpen, created, deleted                             *prometheus.Desc
	aggressive, oneMinute, violations, natTranslations, natStatic                 *prometheus.Desc
	busy, run, busyRatio                                                          *prometheus.Desc
	poolFree, poolInUse, framesHeld                                               *prometheus.Desc
	reloads, generation, workers, buildInfo                                       *prometheus.Desc
	xskRxDropped, xskRxInvalid, xskTxInvalid, xskRxFull, xskFillEmpty, xskTxEmpty *prometheus.Desc
	synShed, synShedShare                                                         *prometheus.Desc
	cookieSYNACKs                                                                 *prometheus.Desc
}

// NewCollector returns a Collector reading src.
func NewCollector(src Source) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("cbac_"+name, help, labels, nil)
	}
	return &Collector{
		src:   src,
		build: version.Read(),

		drops:         d("drops_total", "Frames dropped (or not forwarded), by reason (show ip inspect statistics).", "reason"),
		rxPackets:     d("interface_receive_packets_total", "Frames received on the interface.", "interface", "device"),
		rxBytes:       d("interface_receive_bytes_total", "Bytes of the frames received on the interface.", "interface", "device"),
		txPackets:     d("interface_transmit_packets_total", "Frames transmitted on the interface.", "interface", "device"),
		txBytes:       d("interface_transmit_bytes_total", "Bytes of the frames transmitted on the interface.", "interface", "device"),
		forwarded:     d("forwarded_packets_total", "Packets forwarded between the interfaces."),
		handedOver:    d("handed_over_frames_total", "Frames handed from the worker that received them to the worker owning their session."),
		eventsLost:    d("events_lost_total", "Log events lost because a worker's event ring was full."),
		smtpRewritten: d("smtp_rewritten_bytes_total", "SMTP command bytes turned into x by inspection."),

		sessions:    d("sessions", "Sessions by protocol and state (show ip inspect sessions).", "protocol", "state"),
		sessionsMax: d("sessions_max", "Session table capacity ([dataplane] max_sessions)."),
		halfOpen:    d("sessions_half_open", "Half-open sessions of all workers (max-incomplete counts these)."),
		created:     d("sessions_created_total", "Sessions created."),
		deleted:     d("sessions_deleted_total", "Sessions deleted."),
		aggressive:  d("inspect_aggressive", "1 while the max-incomplete or one-minute thresholds hold the firewall in aggressive mode, else 0."),
		oneMinute:   d("inspect_one_minute_sessions", "Sessions created in the last minute (one-minute thresholds)."),
		violations:  d("inspect_violations_total", "Application inspection violations by protocol and kind (smtp, ftp, http).", "protocol", "kind"),

		natTranslations: d("nat_translations", "Sessions whose addresses static NAT translates (dynamic lines of show ip nat translations)."),
		natStatic:       d("nat_static_entries", "Static NAT entries (ip nat inside source static)."),

		busy:      d("worker_busy_seconds_total", "Time a worker spent on batches that had frames; its rate is the busy ratio.", "worker"),
		run:       d("worker_run_seconds_total", "Time a worker has run batches (busy or idle).", "worker"),
		busyRatio: d("worker_busy_ratio", "Busy time over run time of a worker since it started.", "worker"),

		poolFree:   d("pool_free", "Free entries of a worker's preallocated pool.", "pool", "worker"),
		poolInUse:  d("pool_in_use", "Entries of a worker's preallocated pool in use.", "pool", "worker"),
		framesHeld: d("umem_frames_held", "UMEM frames held by SMTP stream guards until the server acknowledges their data.", "worker"),

		reloads:    d("reloads_total", "Configuration reloads (SIGHUP or cbacctl reload) by result.", "result"),
		generation: d("config_generation", "Generation of the running configuration: 1 at start, +1 per successful reload."),
		workers:    d("workers", "Worker goroutines (one per RX queue)."),
		buildInfo:  d("build_info", "Build of the running cbacd; always 1.", "version", "revision", "goversion"),

		xskRxDropped: d("xdp_socket_rx_dropped_total", "Kernel XDP socket counter rx_dropped: frames dropped for reasons other than invalid descriptors.", "worker", "device"),
		xskRxInvalid: d("xdp_socket_rx_invalid_descs_total", "Kernel XDP socket counter rx_invalid_descs.", "worker", "device"),
		xskTxInvalid: d("xdp_socket_tx_invalid_descs_total", "Kernel XDP socket counter tx_invalid_descs.", "worker", "device"),
		xskRxFull:    d("xdp_socket_rx_ring_full_total", "Kernel XDP socket counter rx_ring_full: frames dropped because the RX ring was full.", "worker", "device"),
		xskFillEmpty: d("xdp_socket_fill_ring_empty_total", "Kernel XDP socket counter rx_fill_ring_empty_descs: times the fill ring was empty.", "worker", "device"),
		xskTxEmpty:   d("xdp_socket_tx_ring_empty_total", "Kernel XDP socket counter tx_ring_empty_descs: times the TX ring was empty.", "worker", "device"),

		synShed:       d("xdp_syn_shed_total", "Pure SYNs dropped by the XDP program under overload (tcp intercept configured) before reaching the RX ring.", "worker", "device"),
		synShedShare:  d("xdp_syn_shed_share", "Share (0-1) of pure SYNs the XDP program drops now.", "worker", "device"),
		cookieSYNACKs: d("tcp_intercept_synacks_total", "Cookie SYN/ACKs sent by tcp intercept, by sender: the worker, or the XDP program (for destinations the worker handed over).", "worker", "sender"),
	}
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.drops, c.rxPackets, c.rxBytes, c.txPackets, c.txBytes,
		c.forwarded, c.handedOver, c.eventsLost, c.smtpRewritten,
		c.sessions, c.sessionsMax, c.halfOpen, c.created, c.deleted,
		c.aggressive, c.oneMinute, c.violations, c.natTranslations, c.natStatic,
		c.busy, c.run, c.busyRatio, c.poolFree, c.poolInUse, c.framesHeld,
		c.reloads, c.generation, c.workers, c.buildInfo,
		c.xskRxDropped, c.xskRxInvalid, c.xskTxInvalid, c.xskRxFull, c.xskFillEmpty, c.xskTxEmpty,
		c.synShed, c.synShedShare, c.cookieSYNACKs,
	} {
		ch <- d
	}
}

// worker is what one scrape reads of one worker, inside Do.
type worker struct {
	stats     dataplane.Stats // without ACLHits
	pools     dataplane.Pools
	counts    dataplane.SessionCounts
	intercept dataplane.InterceptStats
}

// Collect reads every worker between two of its batches (Dataplane.Do)
// and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	dp := c.src.DP
	rs := dp.Ruleset()
	ws := make([]worker, len(dp.Workers))
	for i := range dp.Workers {
		r := &ws[i]
		dp.Do(i, func(w *dataplane.Worker) {
			r.stats = w.Stats
			r.stats.ACLHits = nil // shared with the worker: not read here
			r.pools = w.Pools()
			w.CountSessions(&r.counts)
			r.intercept = w.Intercept
		})
	}
	var total dataplane.Stats
	var counts dataplane.SessionCounts
	for i := range ws {
		s := &ws[i].stats
		for r := range s.Drops {
			total.Drops[r] += s.Drops[r]
		}
		for p := range s.RxPackets {
			total.RxPackets[p] += s.RxPackets[p]
			total.RxBytes[p] += s.RxBytes[p]
			total.TxPackets[p] += s.TxPackets[p]
			total.TxBytes[p] += s.TxBytes[p]
		}
		for k := range s.SMTPAlerts {
			total.SMTPAlerts[k] += s.SMTPAlerts[k]
		}
		for k := range s.FTPAlerts {
			total.FTPAlerts[k] += s.FTPAlerts[k]
		}
		total.Forwarded += s.Forwarded
		total.HandedOver += s.HandedOver
		total.EventsDropped += s.EventsDropped
		total.SMTPRewritten += s.SMTPRewritten
		total.SessionsCreated += s.SessionsCreated
		total.SessionsDeleted += s.SessionsDeleted
		for k := range ws[i].counts.ByKind {
			for st := range ws[i].counts.ByKind[k] {
				counts.ByKind[k][st] += ws[i].counts.ByKind[k][st]
			}
		}
		counts.Translated += ws[i].counts.Translated
	}

	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}

	for r := dataplane.Reason(1); r < dataplane.NumReasons; r++ {
		counter(c.drops, total.Drops[r], ReasonLabel(r))
	}
	for p, f := range rs.Ifaces {
		counter(c.rxPackets, total.RxPackets[p], f.Name, f.Device)
		counter(c.rxBytes, total.RxBytes[p], f.Name, f.Device)
		counter(c.txPackets, total.TxPackets[p], f.Name, f.Device)
		counter(c.txBytes, total.TxBytes[p], f.Name, f.Device)
	}
	counter(c.forwarded, total.Forwarded)
	counter(c.handedOver, total.HandedOver)
	counter(c.eventsLost, total.EventsDropped)
	counter(c.smtpRewritten, total.SMTPRewritten)

	for k := dataplane.ProtoKind(1); k < dataplane.NumProtoKinds; k++ {
		for st := dataplane.SISState(0); st < dataplane.NumSISStates; st++ {
			gauge(c.sessions, float64(counts.ByKind[k][st]), k.String(), st.String())
		}
	}
	gauge(c.sessionsMax, float64(rs.MaxSessions))
	on, half, rate := dp.Aggressive()
	gauge(c.halfOpen, float64(half))
	counter(c.created, total.SessionsCreated)
	counter(c.deleted, total.SessionsDeleted)
	gauge(c.aggressive, b2f(on))
	gauge(c.oneMinute, float64(rate))
	for k := smtpfsm.AlertKind(0); k < smtpfsm.NumAlerts; k++ {
		counter(c.violations, total.SMTPAlerts[k], "smtp", ViolationLabel(k.String()))
	}
	for k := ftpfsm.AlertNotAuthenticated; k <= ftpfsm.AlertBareCR; k++ {
		counter(c.violations, total.FTPAlerts[k], "ftp", ViolationLabel(k.String()))
	}
	// HTTP's one violation: a Java applet blocked (docs/behaviour.md "HTTP inspection").
	counter(c.violations, total.Drops[dataplane.DropHTTPJavaBlock], "http", "java_block")
	gauge(c.natTranslations, float64(counts.Translated))
	gauge(c.natStatic, float64(len(rs.NAT.Pairs())))

	for i := range ws {
		id := strconv.Itoa(i)
		s, p := &ws[i].stats, &ws[i].pools
		ch <- prometheus.MustNewConstMetric(c.busy, prometheus.CounterValue, float64(s.BusyNs)/1e9, id)
		ch <- prometheus.MustNewConstMetric(c.run, prometheus.CounterValue, float64(s.RunNs)/1e9, id)
		ratio := 0.0
		if s.RunNs > 0 {
			ratio = float64(s.BusyNs) / float64(s.RunNs)
		}
		gauge(c.busyRatio, ratio, id)
		gauge(c.poolFree, float64(p.FramesFree), "umem_frames", id)
		gauge(c.framesHeld, float64(p.FramesHeld), id)
		gauge(c.poolFree, float64(p.SMTPFree), "smtp_states", id)
		gauge(c.poolInUse, float64(p.SMTPInUse), "smtp_states", id)
		gauge(c.poolFree, float64(p.ARPPendingMax-p.ARPPending), "arp_pending", id)
		gauge(c.poolInUse, float64(p.ARPPending), "arp_pending", id)
		gauge(c.poolFree, float64(p.EventsMax-p.EventsQueued), "event_ring", id)
		gauge(c.poolInUse, float64(p.EventsQueued), "event_ring", id)
		gauge(c.poolInUse, float64(p.Reassembling), "reassembly_datagrams", id)
	}

	if srv := c.src.Server; srv != nil {
		ok, failed, gen := srv.ReloadCounts()
		counter(c.reloads, ok, "success")
		counter(c.reloads, failed, "failure")
		gauge(c.generation, float64(gen))
	}
	gauge(c.workers, float64(len(dp.Workers)))
	rev := c.build.Revision
	if rev != "" && c.build.Modified {
		rev += "-modified"
	}
	gauge(c.buildInfo, 1, c.build.Version, rev, c.build.GoVersion)

	if c.src.Sockets != nil {
		for w, ports := range c.src.Sockets() {
			id := strconv.Itoa(w)
			for p, st := range ports {
				if p >= len(rs.Ifaces) {
					break
				}
				dev := rs.Ifaces[p].Device
				counter(c.xskRxDropped, st.Rx_dropped, id, dev)
				counter(c.xskRxInvalid, st.Rx_invalid_descs, id, dev)
				counter(c.xskTxInvalid, st.Tx_invalid_descs, id, dev)
				counter(c.xskRxFull, st.Rx_ring_full, id, dev)
				counter(c.xskFillEmpty, st.Rx_fill_ring_empty_descs, id, dev)
				counter(c.xskTxEmpty, st.Tx_ring_empty_descs, id, dev)
			}
		}
	}
	if c.src.Shed != nil {
		for w, ports := range c.src.Shed() {
			id := strconv.Itoa(w)
			for p, sh := range ports {
				if p >= len(rs.Ifaces) {
					break
				}
				dev := rs.Ifaces[p].Device
				counter(c.synShed, sh.SYNs, id, dev)
				gauge(c.synShedShare, sh.Share, id, dev)
			}
		}
	}
	if rs.Intercept != nil {
		for i := range ws {
			id := strconv.Itoa(i)
			ic := &ws[i].intercept
			counter(c.cookieSYNACKs, ic.SYNACKs-ic.XDPSYNACKs, id, "worker")
			counter(c.cookieSYNACKs, ic.XDPSYNACKs, id, "xdp")
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ReasonLabel is a drop reason's value of the reason label: its `show ip
// inspect statistics` text in lower snake case ("TCP out of window" is
// "tcp_out_of_window").
func ReasonLabel(r dataplane.Reason) string { return snake(r.String()) }

// ViolationLabel is the kind label of an inspection alert: its IOS message
// name without the protocol ("SMTP_INVALID_COMMAND" is "invalid_command").
func ViolationLabel(name string) string {
	if i := strings.IndexByte(name, '_'); i >= 0 {
		name = name[i+1:]
	}
	return snake(name)
}

// snake lowers s and joins its runs of letters and digits with '_'.
func snake(s string) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(r)
		} else {
			gap = true
		}
	}
	return b.String()
}
