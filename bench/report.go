package bench

// Output: the plain table, the JSON file, the SVG chart and the summary.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// Scenario headings: the table prints each, and the smoke test looks for
// each with every contender below it.
const (
	HeadCeiling    = "Generator ceiling"
	HeadThroughput = "1. Throughput"
	HeadCost       = "2. Cost"
	HeadItem6      = "cbacd against Linux"
	HeadConn       = "3. Connection setup"
	HeadSMTP       = "4. SMTP transactions"
	HeadFlood      = "5. SYN flood"
	HeadCapacity   = "6. Capacity"
	HeadData       = "7. SMTP data throughput"
	HeadMTA        = "8. smtp-source -> smtp-sink"
	HeadPlacement  = "9. Worker placement"
	HeadSYNFlood   = "10. SYN flood: tcp intercept vs nftables synproxy"
)

// headings in the table's order.
var headings = []string{HeadCeiling, HeadThroughput, HeadCost, HeadItem6, HeadConn, HeadSMTP, HeadFlood, HeadCapacity, HeadData, HeadMTA}

// zeroLoss renders a zero-loss rate: ">=N" when the generator's full rate
// passed, "<N" when no rate tried passed.
func zeroLoss(t *ThroughputResult) string {
	switch {
	case t.GeneratorLimited:
		return ">=" + kpps(t.ZeroLossPps)
	case t.ZeroLossPps <= 0 && t.LowestFailedPps > 0:
		return "<" + kpps(t.LowestFailedPps)
	}
	return kpps(t.ZeroLossPps)
}

func kpps(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v/1000)
}

// throughputOf returns the result for contender, size and flows.
func (r *Results) throughputOf(c string, size, flows int) *ThroughputResult {
	for i := range r.Throughput {
		t := &r.Throughput[i]
		if t.Contender == c && t.FrameSize == size && t.Flows == flows {
			return t
		}
	}
	return nil
}

func (r *Results) costOf(c string) *CostResult {
	for i := range r.Cost {
		if r.Cost[i].Contender == c {
			return &r.Cost[i]
		}
	}
	return nil
}

func (r *Results) sizesAndFlows() (sizes, flows []int) {
	seenS, seenF := map[int]bool{}, map[int]bool{}
	for _, t := range r.Throughput {
		if !seenS[t.FrameSize] {
			seenS[t.FrameSize] = true
			sizes = append(sizes, t.FrameSize)
		}
		if !seenF[t.Flows] {
			seenF[t.Flows] = true
			flows = append(flows, t.Flows)
		}
	}
	return sizes, flows
}

// WriteTable prints the comparison table.
func (r *Results) WriteTable(w io.Writer) {
	m := r.Machine
	mode := "full"
	if m.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "cbacbench (%s run): %d CPUs %s, kernel %s, %d MiB, %s; generator cpu %d, DUT cpu %d; load %s -> %s; %.0f s\n",
		mode, m.CPUs, m.CPUModel, m.Kernel, m.MemoryMB, m.GoVersion, m.GenCPU, m.DUTCPU, m.LoadStart, m.LoadEnd, m.DurationSec)
	fmt.Fprintln(w, "Contenders:")
	for _, c := range r.Contenders {
		fmt.Fprintf(w, "  %-10s %s\n", c.Name, c.Describe)
	}
	if r.mtaOf(cbacdDefaultPlacement.Name) != nil {
		fmt.Fprintf(w, "  %-10s %s (scenario 8)\n", cbacdDefaultPlacement.Name, cbacdDefaultPlacement.Describe)
	}

	if r.ran("throughput") {
		r.writeThroughput(w)
	}
	if r.ran("tcp") {
		r.writeTCP(w)
	}
	if r.ran("flood") {
		r.writeFlood(w)
	}
	if r.ran("synflood") {
		r.writeSYNFlood(w)
	}
	if r.ran("capacity") {
		r.writeCapacity(w)
	}
	if r.ran("data") {
		r.writeData(w)
	}
	if r.ran("mta") {
		r.writeMTA(w)
	}
	r.writePlacement(w)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nErrors:")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  - %s\n", e)
		}
	}
}

// writeThroughput prints the generator's ceiling and scenario 1.
func (r *Results) writeThroughput(w io.Writer) {
	fmt.Fprintf(w, "\n%s (trafgen %s, straight into the sink, no DUT)\n", HeadCeiling, r.Machine.Trafgen)
	fmt.Fprintf(w, "  %-10s %12s %12s\n", "frame", "offered kpps", "delivered")
	for _, c := range r.Ceiling {
		fmt.Fprintf(w, "  %-10s %12s %12s\n", fmt.Sprintf("%dB", c.FrameSize), kpps(c.OfferedPps), kpps(c.DeliveredPps))
	}

	sizes, flows := r.sizesAndFlows()
	fmt.Fprintf(w, "\n%s, RFC 2544: highest offered rate with loss <= 0.1%%, NATed UDP inside -> outside, kpps (\">=\": the generator's full rate passed)\n", HeadThroughput)
	fmt.Fprintf(w, "  %-10s", "contender")
	for _, s := range sizes {
		for _, f := range flows {
			fmt.Fprintf(w, " %13s", fmt.Sprintf("%dB/%s", s, flowName(f)))
		}
	}
	fmt.Fprintln(w)
	for _, c := range r.Contenders {
		fmt.Fprintf(w, "  %-10s", c.Name)
		for _, s := range sizes {
			for _, f := range flows {
				v := "-"
				if t := r.throughputOf(c.Name, s, f); t != nil {
					v = zeroLoss(t)
				}
				fmt.Fprintf(w, " %13s", v)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  delivered kpps when offered the generator's full rate:\n")
	for _, c := range r.Contenders {
		fmt.Fprintf(w, "  %-10s", c.Name)
		for _, s := range sizes {
			for _, f := range flows {
				v := "-"
				if t := r.throughputOf(c.Name, s, f); t != nil {
					v = kpps(t.MaxDeliveredPps)
				}
				fmt.Fprintf(w, " %13s", v)
			}
		}
		fmt.Fprintln(w)
	}

	short, trials := 0, 0
	for _, t := range r.Throughput {
		short += t.ShortTrials
		trials += len(t.Trials)
	}
	if short > 0 {
		fmt.Fprintf(w, "  note: %d of %d trials offered less than 95%% of their target with no loss (generator core busy, or the DUT pushing back through the kernel); on a busy machine the zero-loss rates are lower bounds\n", short, trials)
	}
}

// writeTCP prints scenarios 2, 3 and 4 (and the cbacd against Linux comparison).
func (r *Results) writeTCP(w io.Writer) {
	fmt.Fprintf(w, "\n%s: CPU-ns per forwarded packet on the DUT core at a fixed rate (64B NATed UDP)\n", HeadCost)
	fmt.Fprintf(w, "  %-10s %10s %10s %8s %10s %10s %10s %10s\n", "contender", "rate kpps", "delivered", "loss", "DUT ns/p", "process", "softirq", "core busy")
	for _, c := range r.Contenders {
		if x := r.costOf(c.Name); x != nil {
			fmt.Fprintf(w, "  %-10s %10s %10s %7.2f%% %10.0f %10.0f %10.0f %10.0f\n", c.Name, kpps(x.RatePps), kpps(x.DeliveredPps),
				100*x.Loss, x.DUTNs, x.ProcessNs, x.SoftirqNs, x.CoreBusyNs)
		} else {
			fmt.Fprintf(w, "  %-10s %10s\n", c.Name, "-")
		}
	}

	r.writeItem6(w)

	fmt.Fprintf(w, "\n%s rate (RFC 3511 5.2 / RFC 9411 7.2): handshake, 64-byte request, 64-byte reply, close; inside -> outside\n", HeadConn)
	fmt.Fprintf(w, "  %-10s %12s %10s %8s %8s\n", "contender", "conn/s", "completed", "failed", "clients")
	for _, c := range r.Contenders {
		writeRate(w, c.Name, r.ConnRate)
	}
	fmt.Fprintf(w, "\n%s per second: outside client -> 172.22.1.110:25 (EHLO, MAIL, RCPT, DATA, QUIT)\n", HeadSMTP)
	fmt.Fprintf(w, "  %-10s %12s %10s %8s %8s\n", "contender", "mails/s", "completed", "failed", "clients")
	for _, c := range r.Contenders {
		writeRate(w, c.Name, r.SMTP)
	}
}

// writeFlood prints scenario 5.
func (r *Results) writeFlood(w io.Writer) {
	fmt.Fprintf(w, "\n%s: random-source SYNs to 172.22.1.110:25 at the generator's full rate, legitimate SMTP sessions (5 s timeout) meanwhile\n", HeadFlood)
	fmt.Fprintf(w, "  %-10s %10s %12s %12s %10s %10s %s\n", "contender", "flood kpps", "to server", "legit done", "share", "half-open", "policy")
	for _, c := range r.Contenders {
		found := false
		for _, f := range r.Flood {
			if f.Contender == c.Name {
				found = true
				half := "-"
				if strings.HasPrefix(f.Contender, "cbacd") {
					half = fmt.Sprintf("%d max", f.HalfOpenMax)
				}
				fmt.Fprintf(w, "  %-10s %10s %12s %12s %9.1f%% %10s %s\n", f.Contender, kpps(f.FloodPps), kpps(f.ReachedServerPps),
					fmt.Sprintf("%d/%d", f.Completed, f.Attempted), 100*f.Share, half, f.Policy)
			}
		}
		if !found {
			fmt.Fprintf(w, "  %-10s %10s (no static NAT: 172.22.1.110 does not exist)\n", c.Name, "n/a")
		}
	}
}

// writeSYNFlood prints scenario 10.
func (r *Results) writeSYNFlood(w io.Writer) {
	fmt.Fprintf(w, "\n%s: random-source SYNs to 172.22.1.110:25 at the generator's full rate; legitimate SMTP sessions (5 s timeout) and an established bulk stream to port 2525 meanwhile; SYN/ACK kpps and CPU in the 2 s of flood alone that follow; ns/SYN/ACK = the DUT core's busy time (every piece of the DUT's work runs there: its processes, its devices' NAPI threads, softirq) per SYN/ACK; softirq = process time + every CPU's softirq+irq time, for reference\n", HeadSYNFlood)
	fmt.Fprintf(w, "  %-22s %10s %12s %12s %10s %14s %12s %20s\n", "contender", "flood kpps", "SYN/ACK kpps", "ns/SYN/ACK", "softirq", "per core-sec", "legit done", "bulk Mbit/s")
	for _, f := range r.SYNFlood {
		fmt.Fprintf(w, "  %-22s %10s %12s %12.0f %10.0f %14.0f %12s %20s\n", f.Contender, kpps(f.FloodPps), kpps(f.SYNACKPps), f.Cost.CoreBusyNs, f.Cost.Ns, f.PerCoreSecond,
			fmt.Sprintf("%d/%d %.1f%%", f.Completed, f.Attempted, 100*f.Share),
			fmt.Sprintf("%.0f->%.0f %.0f%%", f.BulkBaselineMbps, f.BulkFloodMbps, 100*f.BulkShare))
		if f.BulkError != "" {
			fmt.Fprintf(w, "  %-22s bulk stream ended during the flood: %s\n", "", f.BulkError)
		}
	}
	for _, c := range synfloodContenders {
		fmt.Fprintf(w, "  %-22s %s\n", c.Name, c.Describe)
	}
}

// writeCapacity prints scenario 6.
func (r *Results) writeCapacity(w io.Writer) {
	fmt.Fprintf(w, "\n%s: memory per session\n", HeadCapacity)
	for _, c := range r.Capacity {
		fmt.Fprintf(w, "  %-32s %9d sessions %8.0f bytes/session  %s\n", c.What, c.Sessions, c.BytesPerSession, c.Note)
	}
}

// writeItem6 prints the cbacd against Linux comparison: NATed 64-byte UDP through
// cbacd, Linux forwarding and nftables, delivered packets/s and CPU-ns per
// forwarded packet, from the same run.
func (r *Results) writeItem6(w io.Writer) {
	flows := 0
	for _, c := range r.Cost {
		flows = c.Flows
	}
	fmt.Fprintf(w, "\n%s: 64-byte NATed UDP (%s flows) on veth, same run\n", HeadItem6, flowName(flows))
	fmt.Fprintf(w, "  %-10s %16s %18s %14s\n", "contender", "zero-loss kpps", "delivered kpps (*)", "CPU-ns/packet")
	for _, c := range r.Contenders {
		t := r.throughputOf(c.Name, 64, flows)
		x := r.costOf(c.Name)
		zl, del, ns := "-", "-", "-"
		if t != nil {
			zl, del = zeroLoss(t), kpps(t.MaxDeliveredPps)
		}
		if x != nil {
			ns = fmt.Sprintf("%.0f", x.DUTNs)
		}
		fmt.Fprintf(w, "  %-10s %16s %18s %14s\n", c.Name, zl, del, ns)
	}
	fmt.Fprintln(w, "  (*) offered the generator's full rate; CPU-ns on the DUT core at the fixed rate of scenario 2")
}

func (r *Results) dataOf(c string) *DataResult {
	for i := range r.Data {
		if r.Data[i].Contender == c {
			return &r.Data[i]
		}
	}
	return nil
}

// writeData prints scenario 7.
func (r *Results) writeData(w io.Writer) {
	size, rounds := "-", 0
	for _, d := range r.Data {
		size, rounds = fmt.Sprintf("%d MiB", d.Bytes>>20), d.Rounds
	}
	fmt.Fprintf(w, "\n%s: SMTP transactions with a %s DATA body to 172.22.1.110:25 vs the same bytes on plain TCP to :%d, outside -> inside, %d-byte frames, %d rounds; DUT CPU-ns per forwarded packet (data and ACKs) and per data frame\n",
		HeadData, size, DataPlainPort, dataFrameSize, rounds)
	fmt.Fprintf(w, "  %-10s %9s %9s %6s %9s %9s %6s %10s %10s %6s  %s\n", "contender", "smtp Gb/s", "tcp Gb/s", "ratio",
		"smtp ns/p", "tcp ns/p", "ratio", "smtp ns/fr", "tcp ns/fr", "ratio", "path")
	var drops []string
	for _, c := range r.Contenders {
		d := r.dataOf(c.Name)
		switch {
		case d == nil:
			fmt.Fprintf(w, "  %-10s %9s\n", c.Name, "-")
		case d.Skipped != "":
			fmt.Fprintf(w, "  %-10s %9s (%s)\n", c.Name, "n/a", d.Skipped)
		default:
			fmt.Fprintf(w, "  %-10s %9.2f %9.2f %5.2fx %9.0f %9.0f %5.2fx %10.0f %10.0f %5.2fx  %s\n", c.Name,
				d.SMTP.Gbps, d.TCP.Gbps, d.ThroughputRatio, d.SMTP.Cost.DUTNs, d.TCP.Cost.DUTNs, d.CostRatio,
				d.SMTP.DataFrameNs, d.TCP.DataFrameNs, d.FrameCostRatio, d.Path)
			for _, t := range []struct {
				what string
				m    map[string]uint64
			}{{"smtp", d.SMTP.CBACDDrops}, {"tcp", d.TCP.CBACDDrops}} {
				if len(t.m) > 0 {
					drops = append(drops, fmt.Sprintf("%s %s: %s", c.Name, t.what, formatCounts(t.m)))
				}
			}
		}
	}
	fmt.Fprintln(w, "  ratio: smtp / tcp (target: inspection costs at most 10% over plain TCP: ns/frame ratio <= 1.10); the hosts' TCP receive runs on the DUT core too and is counted in both")
	for _, s := range drops {
		fmt.Fprintf(w, "  drops by %s\n", s)
	}
}

// formatCounts prints a counter map sorted by name.
func formatCounts(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", k, m[k])
	}
	return b.String()
}

// ran reports whether the run included scenario name (Options.Scenarios).
func (r *Results) ran(name string) bool {
	if len(r.Machine.Scenarios) == 0 {
		return true
	}
	for _, s := range r.Machine.Scenarios {
		if s == name {
			return true
		}
	}
	return false
}

func (r *Results) mtaOf(c string) *MTAResult {
	for i := range r.MTA {
		if r.MTA[i].Contender == c {
			return &r.MTA[i]
		}
	}
	return nil
}

// writeMTA prints scenario 8.
func (r *Results) writeMTA(w io.Writer) {
	if len(r.MTA) == 0 {
		return
	}
	x := r.MTA[0]
	for _, m := range r.MTA {
		if m.Skipped == "" {
			x = m
			break
		}
	}
	fmt.Fprintf(w, "\n%s: Postfix smtp-source -s %d -l %d -m %d from 172.22.1.100 to 172.22.1.110:25, smtp-sink on 10.10.10.2:25 (MTA tools on every CPU); p50/p99: sequential %d-byte transactions of a Go client alongside (connect to 221); CPU: the whole machine over smtp-source's run (/proc/stat), and the test's own (smtp-source, smtp-sink, cbacd, this program, all softirq+irq)\n",
		HeadMTA, x.Sessions, x.Length, x.Messages, x.Length)
	fmt.Fprintf(w, "  %-13s %8s %8s %8s %8s %8s %9s %11s %8s %11s %8s %s\n", "contender", "mails/s", "counted", "p50 ms", "p99 ms", "CPU-s", "cpu busy", "mails/CPU-s", "test s", "mails/test s", "cbacd s", "refused / after")
	names := []string{}
	for _, m := range r.MTA {
		names = append(names, m.Contender)
	}
	for _, n := range names {
		m := r.mtaOf(n)
		if m.Skipped != "" {
			fmt.Fprintf(w, "  %-13s %8s (%s)\n", n, "n/a", m.Skipped)
			continue
		}
		extra := ""
		if strings.HasPrefix(n, "cbacd") {
			extra = fmt.Sprintf("refused %s; %d sessions, %d half-open after", formatCounts(m.Refused), m.SessionsAfter, m.HalfOpenAfter)
		}
		if m.Error != "" {
			extra += " ERROR " + m.Error
		}
		fmt.Fprintf(w, "  %-13s %8.0f %8d %8.2f %8.2f %8.1f %9s %11.0f %8.1f %11.0f %8.1f %s\n", n, m.MailsPerSec, m.Counted, m.P50Ms, m.P99Ms,
			m.CPU.BusySeconds, fmtShares(m.CPU.PerCPUBusy), m.MailsPerCPUSec, m.CPU.TestSeconds, m.MailsPerTestCPUSec, m.CPU.CBACDSeconds, extra)
	}
}

// writePlacement prints scenario 9.
func (r *Results) writePlacement(w io.Writer) {
	if len(r.Placement) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s: cbacd, 64B NATed UDP (1k flows) at the generator's full rate, a busy loop pinned to cpu %d (the generator's); medians of %d interleaved rounds\n",
		HeadPlacement, r.Placement[0].BusyCPU, len(r.Placement[0].Rounds))
	fmt.Fprintf(w, "  %-8s %-10s %12s %14s  %s\n", "xdp", "placement", "offered kpps", "delivered kpps", "delivered kpps per round (worker cpu)")
	for _, p := range r.Placement {
		var rounds []string
		for i, v := range p.Rounds {
			rounds = append(rounds, fmt.Sprintf("%s (%d)", kpps(v), p.WorkerCPUs[i]))
		}
		line := strings.Join(rounds, ", ")
		if p.Error != "" {
			line += " ERROR " + p.Error
		}
		fmt.Fprintf(w, "  %-8s %-10s %12s %14s  %s\n", p.XDPMode, p.Placement, kpps(p.OfferedPps), kpps(p.DeliveredPps), line)
	}
	for _, p := range r.Placement {
		if p.Logged != "" && p.XDPMode == r.Placement[0].XDPMode {
			fmt.Fprintf(w, "  cbacd %s: %s\n", p.Placement, p.Logged)
		}
	}
}

func writeRate(w io.Writer, name string, rs []RateResult) {
	for _, x := range rs {
		if x.Contender != name {
			continue
		}
		if x.Skipped != "" {
			fmt.Fprintf(w, "  %-10s %12s (%s)\n", name, "n/a", x.Skipped)
			return
		}
		fmt.Fprintf(w, "  %-10s %12.0f %10d %8d %8d\n", name, x.PerSecond, x.Completed, x.Failed, x.Concurrency)
		return
	}
	fmt.Fprintf(w, "  %-10s %12s\n", name, "-")
}

func flowName(n int) string {
	switch {
	case n >= 1000000 && n%1000000 == 0:
		return fmt.Sprintf("%dM", n/1000000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// WriteFiles writes results.json, results.txt, results.svg and SUMMARY.md
// into dir.
func (r *Results) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var table strings.Builder
	r.WriteTable(&table)
	var svg strings.Builder
	r.WriteSVG(&svg)
	var sum strings.Builder
	r.WriteSummary(&sum)
	for name, data := range map[string]string{
		"results.json": string(j) + "\n", "results.txt": table.String(), "results.svg": svg.String(), "SUMMARY.md": sum.String(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Chart colours per contender, in Contenders order.
var colours = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"}

type bar struct {
	group, label string
	value        float64
	colour       string
	text         string
}

// WriteSVG draws four panels of bars: 64-byte zero-loss throughput per flow
// count, CPU-ns per packet, connections per second, SMTP per second.
func (r *Results) WriteSVG(w io.Writer) {
	colour := map[string]string{}
	for i, c := range r.Contenders {
		colour[c.Name] = colours[i%len(colours)]
	}
	type panel struct {
		title string
		bars  []bar
	}
	var panels []panel
	_, flows := r.sizesAndFlows()
	sizes, _ := r.sizesAndFlows()
	for _, s := range sizes {
		p := panel{title: fmt.Sprintf("Zero-loss throughput, %d-byte NATed UDP (kpps)", s)}
		for _, f := range flows {
			for _, c := range r.Contenders {
				if t := r.throughputOf(c.Name, s, f); t != nil {
					txt := zeroLoss(t)
					p.bars = append(p.bars, bar{group: flowName(f) + " flows", label: c.Name, value: t.ZeroLossPps / 1000, colour: colour[c.Name], text: txt})
				}
			}
		}
		panels = append(panels, p)
	}
	p := panel{title: "CPU-ns per forwarded packet on the DUT core (lower is better)"}
	for _, c := range r.Contenders {
		if x := r.costOf(c.Name); x != nil {
			p.bars = append(p.bars, bar{group: "", label: c.Name, value: x.DUTNs, colour: colour[c.Name], text: fmt.Sprintf("%.0f", x.DUTNs)})
		}
	}
	panels = append(panels, p)
	for _, rs := range []struct {
		title string
		rs    []RateResult
	}{{"Connection setup (connections/s)", r.ConnRate}, {"SMTP transactions/s", r.SMTP}} {
		p := panel{title: rs.title}
		for _, c := range r.Contenders {
			for _, x := range rs.rs {
				if x.Contender == c.Name && x.Skipped == "" {
					p.bars = append(p.bars, bar{label: c.Name, value: x.PerSecond, colour: colour[c.Name], text: fmt.Sprintf("%.0f", x.PerSecond)})
				}
			}
		}
		panels = append(panels, p)
	}
	p = panel{title: "Legitimate SMTP sessions completed under SYN flood (%)"}
	for _, f := range r.Flood {
		p.bars = append(p.bars, bar{label: f.Contender, value: 100 * f.Share, colour: colour[f.Contender], text: fmt.Sprintf("%.0f%%", 100*f.Share)})
	}
	panels = append(panels, p)

	const width, panelH, top = 900, 220, 60
	height := top + len(panels)*panelH + 20
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">
<rect width="100%%" height="100%%" fill="white"/>
<text x="20" y="24" font-size="16" font-weight="bold">cbacbench: cbacd vs Linux forwarding vs nftables conntrack+NAT</text>
<text x="20" y="44" fill="#555">%s, %d CPUs, kernel %s; generator on cpu %d, DUT on cpu %d</text>
`, width, height, width, height, xmlEscape(r.Machine.CPUModel), r.Machine.CPUs, xmlEscape(r.Machine.Kernel), r.Machine.GenCPU, r.Machine.DUTCPU)
	// Legend.
	for i, c := range r.Contenders {
		x := 560 + (i%2)*170
		y := 14 + (i/2)*18
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>
`, x, y, colour[c.Name], x+16, y+11, xmlEscape(c.Name))
	}
	for i, p := range panels {
		y0 := top + i*panelH
		fmt.Fprintf(w, `<text x="20" y="%d" font-weight="bold">%s</text>
`, y0+16, xmlEscape(p.title))
		max := 0.0
		for _, b := range p.bars {
			max = math.Max(max, b.value)
		}
		if len(p.bars) == 0 || max <= 0 {
			fmt.Fprintf(w, `<text x="40" y="%d" fill="#999">no data</text>
`, y0+60)
			continue
		}
		const plotH = 150
		base := y0 + 30 + plotH
		fmt.Fprintf(w, `<line x1="40" y1="%d" x2="%d" y2="%d" stroke="#333"/>
`, base, width-20, base)
		n := len(p.bars)
		gap := 0
		groups := 0
		for j, b := range p.bars {
			if j == 0 || b.group != p.bars[j-1].group {
				groups++
			}
		}
		slot := float64(width-80) / float64(n+groups)
		x := 40.0
		for j, b := range p.bars {
			if j == 0 || b.group != p.bars[j-1].group {
				x += slot / 2
				if b.group != "" {
					fmt.Fprintf(w, `<text x="%.0f" y="%d" fill="#555">%s</text>
`, x, base+16, xmlEscape(b.group))
				}
				gap++
			}
			h := b.value / max * plotH
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>
<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>
`, x, float64(base)-h, slot*0.8, h, b.colour, xmlEscape(b.label), xmlEscape(b.text), x+slot*0.4, float64(base)-h-3, xmlEscape(b.text))
			x += slot
		}
	}
	fmt.Fprintln(w, "</svg>")
}

func xmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

// WriteSummary writes the README summary: the headline figures and the
// project's targets, met or not.
func (r *Results) WriteSummary(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "# cbacbench results\n\n")
	fmt.Fprintf(w, "Machine: %d CPUs (%s), kernel %s, %d MiB; %s; %s. Generator (trafgen) on cpu %d, device under test on cpu %d; cbacd XDP mode %s. Load average %s at the start, %s at the end; %.0f s.\n\n",
		m.CPUs, m.CPUModel, m.Kernel, m.MemoryMB, m.GoVersion, m.Trafgen, m.GenCPU, m.DUTCPU, m.XDPMode, m.LoadStart, m.LoadEnd, m.DurationSec)
	if m.Quick {
		fmt.Fprintf(w, "**Quick run** (CI smoke mode): short trials, figures are indicative only.\n\n")
	}
	fmt.Fprintf(w, "Reproduce: `go build -o bin/ ./cmd/... && sudo bin/cbacbench -out bench/results` (full run, about 10-15 minutes on 2 cores).\n")
	fmt.Fprintf(w, "Files: [results.txt](results.txt) (the table), [results.json](results.json), [results.svg](results.svg).\n\n")
	fmt.Fprintf(w, "![cbacbench chart](results.svg)\n\n")

	flows := 0
	for _, c := range r.Cost {
		flows = c.Flows
	}
	cb, nft, bare := r.throughputOf("cbacd", 64, flows), r.throughputOf("nftables", 64, flows), r.throughputOf("xdp-bare", 64, flows)
	ccb, cnft := r.costOf("cbacd"), r.costOf("nftables")
	fmt.Fprintf(w, "## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	if cb != nil && nft != nil && nft.ZeroLossPps > 0 {
		ratio := cb.ZeroLossPps / nft.ZeroLossPps
		fmt.Fprintf(w, "| cbacd zero-loss throughput >= 1.5x nftables conntrack+NAT (64B, %s flows) | %.0f vs %.0f kpps = %.2fx | %s |\n",
			flowName(flows), cb.ZeroLossPps/1000, nft.ZeroLossPps/1000, ratio, yesNo(ratio >= 1.5))
	}
	if ccb != nil && cnft != nil && cnft.DUTNs > 0 {
		ratio := ccb.DUTNs / cnft.DUTNs
		fmt.Fprintf(w, "| cbacd CPU-ns/packet <= 0.8x nftables | %.0f vs %.0f ns = %.2fx | %s |\n", ccb.DUTNs, cnft.DUTNs, ratio, yesNo(ratio <= 0.8))
	}
	if cb != nil && bare != nil && bare.ZeroLossPps > 0 {
		ratio := cb.ZeroLossPps / bare.ZeroLossPps
		fmt.Fprintf(w, "| full features keep >= 0.75x of the bare forwarder's throughput | %.0f vs %.0f kpps = %.2fx | %s |\n",
			cb.ZeroLossPps/1000, bare.ZeroLossPps/1000, ratio, yesNo(ratio >= 0.75))
	}
	for _, f := range r.Flood {
		if f.Contender == "cbacd" {
			fmt.Fprintf(w, "| legitimate SMTP sessions complete under SYN flood | %d of %d (%.0f%%) at %.0f kpps of SYNs; half-open max %d | %s |\n",
				f.Completed, f.Attempted, 100*f.Share, f.FloodPps/1000, f.HalfOpenMax, yesNo(f.Completed > 0 && f.Share >= 0.5))
		}
	}
	if d := r.dataOf("cbacd"); d != nil && d.Skipped == "" && d.TCP.DataFrameNs > 0 && d.TCP.Gbps > 0 {
		fmt.Fprintf(w, "| SMTP inspection costs <= 10%% over plain TCP (cbacd, %d-byte frames, DUT CPU-ns per data frame; per packet %.0f vs %.0f) | %.0f vs %.0f ns = %.2fx | %s |\n",
			d.FrameSize, d.SMTP.Cost.DUTNs, d.TCP.Cost.DUTNs, d.SMTP.DataFrameNs, d.TCP.DataFrameNs, d.FrameCostRatio, yesNo(d.FrameCostRatio <= 1.10))
		fmt.Fprintf(w, "| SMTP data throughput >= 1/1.1 of plain TCP (cbacd, %d x %d MiB each) | %.2f vs %.2f Gbit/s = %.2fx | %s |\n",
			d.Rounds, d.Bytes>>20, d.SMTP.Gbps, d.TCP.Gbps, d.ThroughputRatio, yesNo(d.ThroughputRatio >= 1/1.10))
	}
	if cb != nil && nft != nil {
		fmt.Fprintf(w, "| cbacd delivers at least as much as nftables conntrack+NAT (64B NATed UDP) | %.0f vs %.0f kpps delivered at full offered rate | %s |\n",
			cb.MaxDeliveredPps/1000, nft.MaxDeliveredPps/1000, yesNo(cb.MaxDeliveredPps >= nft.MaxDeliveredPps))
	}
	if cb, nft := r.mtaOf("cbacd"), r.mtaOf("nftables"); cb != nil && nft != nil && nft.MailsPerSec > 0 && cb.Skipped == "" {
		ratio := cb.MailsPerSec / nft.MailsPerSec
		fmt.Fprintf(w, "| smtp-source -> smtp-sink: cbacd >= 1.0x nftables mails/s (16 sessions, 2 KB) | %.0f vs %.0f mails/s = %.2fx | %s |\n",
			cb.MailsPerSec, nft.MailsPerSec, ratio, yesNo(ratio >= 1.0))
		if d := r.mtaOf("cbacd-default"); d != nil && d.Skipped == "" {
			ratio := d.MailsPerSec / nft.MailsPerSec
			fmt.Fprintf(w, "| the same, cbacd with its default placement (not pinned) | %.0f vs %.0f mails/s = %.2fx | %s |\n",
				d.MailsPerSec, nft.MailsPerSec, ratio, yesNo(ratio >= 1.0))
		}
		if nft.MailsPerTestCPUSec > 0 {
			ratio := cb.MailsPerTestCPUSec / nft.MailsPerTestCPUSec
			fmt.Fprintf(w, "| smtp-source -> smtp-sink: mails per CPU-second of the test's processes and softirq, cbacd vs nftables | %.0f vs %.0f = %.2fx | %s |\n",
				cb.MailsPerTestCPUSec, nft.MailsPerTestCPUSec, ratio, yesNo(ratio >= 1.0))
		}
		if nft.MailsPerCPUSec > 0 {
			ratio := cb.MailsPerCPUSec / nft.MailsPerCPUSec
			fmt.Fprintf(w, "| smtp-source -> smtp-sink: mails per CPU-second of the machine, cbacd vs nftables | %.0f vs %.0f = %.2fx | %s |\n",
				cb.MailsPerCPUSec, nft.MailsPerCPUSec, ratio, yesNo(ratio >= 1.0))
		}
	}
	r.writeSYNFloodTargets(w)
	fmt.Fprintf(w, "\n## Table\n\n```\n")
	r.WriteTable(w)
	fmt.Fprintf(w, "```\n\n## Method\n\n%s", methodText)
}

// writeSYNFloodTargets adds scenario 10's targets to the summary's table:
// SMTP completion >= 99% and established traffic >= 50% for each cbacd
// contender, cookie SYN/ACKs per core-second >= 2x synproxy's.
func (r *Results) writeSYNFloodTargets(w io.Writer) {
	var nft *SYNFloodResult
	for i := range r.SYNFlood {
		if r.SYNFlood[i].Contender == "nft-synproxy" {
			nft = &r.SYNFlood[i]
		}
	}
	for _, f := range r.SYNFlood {
		if f.Contender == "nft-synproxy" {
			continue
		}
		fmt.Fprintf(w, "| %s: legitimate SMTP sessions complete under SYN flood >= 99%% | %d of %d (%.1f%%) at %.0f kpps of SYNs | %s |\n",
			f.Contender, f.Completed, f.Attempted, 100*f.Share, f.FloodPps/1000, yesNo(f.Attempted > 0 && f.Share >= 0.99))
		if nft != nil && nft.PerCoreSecond > 0 {
			ratio := f.PerCoreSecond / nft.PerCoreSecond
			fmt.Fprintf(w, "| %s: cookie SYN/ACKs per core-second >= 2x nftables synproxy | %.0f vs %.0f = %.2fx | %s |\n",
				f.Contender, f.PerCoreSecond, nft.PerCoreSecond, ratio, yesNo(ratio >= 2))
		}
		fmt.Fprintf(w, "| %s: established bulk stream under SYN flood >= 50%% of its rate without | %.0f vs %.0f Mbit/s = %.0f%% | %s |\n",
			f.Contender, f.BulkFloodMbps, f.BulkBaselineMbps, 100*f.BulkShare, yesNo(f.BulkShare >= 0.5))
	}
	if nft != nil {
		fmt.Fprintf(w, "| (reference) nft-synproxy: SMTP sessions; bulk stream | %d of %d (%.1f%%); %.0f vs %.0f Mbit/s = %.0f%% | - |\n",
			nft.Completed, nft.Attempted, 100*nft.Share, nft.BulkFloodMbps, nft.BulkBaselineMbps, 100*nft.BulkShare)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

const methodText = `- Topology: three network namespaces joined by veth pairs: the inside host (generator, SMTP server), the device under test (in0, out0: the seed's devices, MACs and addresses), the outside (sink, TCP server, SMTP client, SYN flood). A fourth veth pair joins the generator straight to the sink for the generator's ceiling.
- Every contender runs on the same veths in one run: cbacd with the seed configuration (static ARP added; DoS thresholds raised except in the SYN flood, where the seed's are kept), nftables (conntrack, dnat/snat of the seed's static NAT, a forward chain equivalent to ACL 101 plus ct state established,related and the IN-OUT protocols), Linux ip_forward, and cbacd with an empty policy (the AF_XDP forwarder alone).
- Two cores: the generator (trafgen, and this program's TCP/SMTP clients and servers) on one, the device under test on the other. RPS steers in0's and out0's receive processing to the DUT core, so the kernel's forwarding and cbacd's generic XDP + AF_XDP copy run there; cbacd's threads are pinned there too. Native XDP on veth runs in the veth's NAPI, which either runs on the sender's core (the generator's) or, threaded, competes with the busy-polling worker: generic XDP keeps the ingress path the same for every contender.
- Throughput (RFC 2544 26.1): trafgen sends from its TX_RING; a tc token bucket on the generator's device sets the offered rate. Offered = the generator device's tx packets (+ drops), delivered = the sink device's rx packets, counted by the kernel; the sink drops the UDP at ingress (nftables netdev hook). A trial passes with loss <= 0.1% and at least 95% of the target rate really offered; binary search from just under the rate delivered at full load.
- Cost: at a fixed rate, cbacd's process time (utime+stime, /proc/PID/stat) plus the DUT core's softirq+irq time (/proc/stat, which holds the kernel's forwarding and the sink's receive for every contender), per delivered packet. Tick-based (10 ms): windows hold at least hundreds of thousands of packets.
- Connection setup: 32 client goroutines in the inside namespace, each loop: connect to 203.0.113.1:8080, 64-byte request, 64-byte reply, server closes. SMTP: 16 clients from 172.22.1.100 to 172.22.1.110:25 (the lab's SMTP server on 10.10.10.2), one mail per connection. SYN flood: trafgen from the outside with random sources in 198.18.0.0/16 at full rate, 4 legitimate SMTP clients with a 5 s timeout per session meanwhile; cbacd's half-open count from show ip inspect statistics.
- SYN flood against synproxy (scenario 10): as the SYN flood above, plus an established bulk stream from 172.22.1.100 to 172.22.1.110:2525; cbacd with [tcp_intercept] (intercept mode, cookies) in generic and native XDP mode against nftables synproxy on the forward path. SYN/ACKs are counted by the contender (cbacd's show ip inspect statistics, an nftables counter in synproxy's output hook) over 2 s of flood alone (the bulk stream closed, the legitimate sessions done). Placement as two machines would have it: the veths' receive processing (NAPI) runs in kernel threads, the DUT's devices' (in0, out0: native XDP and the frames cbacd's XDP program answers) pinned to the DUT core, the outside host's end of out0 to the generator's core; cbacd and RPS on the DUT core as everywhere; trafgen at nice 19 on the generator's core, so that the hosts' own work there (clients, bulk stream, their receive) comes first. CPU per SYN/ACK = the DUT core's busy time (/proc/stat: user, system, softirq, irq; every piece of the DUT's work runs there, for every contender alike) per SYN/ACK; SYN/ACKs per core-second = 1e9 / that. The contender's process time plus every CPU's softirq+irq time is printed beside it (it misses work done in NAPI threads). The outside host's end of out0 carries an XDP program for this scenario (on a veth in native mode, frames an XDP program sends back out the device they came in on reach the peer only then) that drops frames to the flood's made-up sources (198.18.0.0/15): on a real network those answers leave through the firewall's upstream, not into the host sharing the link with the flood; every contender's answers die there alike.
- SMTP data throughput (scenario 7): the mail host runs a minimal SMTP server on port 25 that counts message bodies instead of storing them and a discard server on port 2525; cbacd gets "tcp = {}" on the OUT-IN rule, "permit tcp any host 172.22.1.110 eq 2525" in ACL 101 and a practically unlimited smtp max_data (nftables accepts 2525 too; linux-fwd and xdp-bare, without NAT, are reached at 10.10.10.2). From 172.22.1.100: a warm-up of a tenth of the body each way, then rounds (3, quick 2; the order alternates) of one SMTP transaction (HELO, MAIL, RCPT, DATA) whose body is N bytes of 64-byte text lines written 1 MiB at a time, timed from the first body byte to the 250 (which must count N bytes), and the same N bytes on a plain TCP connection to port 2525, timed to the sink's count and close. DUT cost as in scenario 2 over each transfer, per packet received by either host (data and ACKs) and per data frame (the same body bytes, so the ns/frame ratio is the ratio of the DUT CPU time the transfers took); cbacd's drop counters are read around each transfer. cbacd clamps the window of an inspected SMTP session to the room in its replay copy (dataplane.inspected_buffer, 256 KiB by default; -inspected-buffer changes it for this scenario), which bounds one session's throughput to about that window per round trip. The client and the sinks' reads run on the generator core; the hosts' TCP receive processing runs in softirq on the DUT core (the frames arrive from its transmit) and is counted for both transfers alike.
- smtp-source -> smtp-sink (scenario 8): Postfix's smtp-source in the outside namespace (-s 16 -l 2048, one message per session) to 172.22.1.110:25, smtp-sink -c on 10.10.10.2:25 in the inside namespace, both free to run on every CPU (taskset over all online CPUs); mails/s = the messages smtp-sink counted (its -c counter, less the sample's) over smtp-source's run. smtp-source prints no per-transaction time: a Go client of this program runs sequential transactions of the same size alongside the load (connect, HELO as smtp-source sends it, MAIL, RCPT, DATA with 2 KB, QUIT; timed from connect to the 221 reply; 20 ms apart) and their p50/p99 are reported. CPU is the whole machine's non-idle time over smtp-source's run from /proc/stat (the MTA tools, the contender, the kernel's TCP and forwarding), and mails per CPU-second divides the count by it; on a machine shared with other work that counts the other work too, so the test's own CPU time is reported beside it: smtp-source's (its rusage), smtp-sink's, cbacd's and this program's (/proc/PID/stat) and every CPU's softirq+irq time (forwarding and TCP receive, for every contender alike). cbacd runs pinned to the DUT core as in the other scenarios, and again with its default placement (cbacd-default); its refusal drops and session table are read after the run; contenders without the static NAT (linux-fwd, xdp-bare, xdp-bare-native) send to the mail host's own address, 10.10.10.2:25: the floors under the contenders that filter and translate.
- Worker placement (scenario 9): a shell busy loop pinned to the generator's CPU (other load on a shared machine), cbacd with its default placement (not pinned: the scheduler's choice), -cpus auto (away from the CPUs of the devices' interrupts and RPS: here RPS sends in0's and out0's receive work to the DUT CPU, so auto picks the generator's CPU), -cpus DUT and -cpus GEN (where the old default, worker i on CPU i, put worker 0), in the run's XDP mode and native mode, in interleaved rounds; 64-byte NATed UDP over 1k flows at the generator's full rate (the generator shares its CPU with the busy loop and, placed there, the worker, so it offers less than its ceiling: delivered is what counts); the worker's CPU is where cbacd's busiest thread last ran.
- Capacity: the Go heap of cbacd's dataplane for max_sessions, and after creating sessions through the in-memory pipeline; cbacd's RSS growth with 1M NATed UDP flows from the generator (full run).
`

// CheckTable reports an error unless table holds every scenario heading and,
// in each per-contender section, a line for every contender (the smoke
// test's check).
func CheckTable(table string, contenders []Contender) error {
	sections := map[string]string{}
	for _, block := range strings.Split(table, "\n\n") {
		for _, h := range headings {
			if strings.HasPrefix(block, h) {
				sections[h] = block
			}
		}
	}
	var missing []string
	for _, h := range headings {
		block, ok := sections[h]
		if !ok {
			missing = append(missing, "section "+h)
			continue
		}
		if h == HeadCeiling || h == HeadCapacity {
			// The heading, the ceiling's column headers, a line of figures.
			lines := strings.Count(strings.TrimRight(block, "\n"), "\n") + 1
			if want := map[string]int{HeadCeiling: 3, HeadCapacity: 2}[h]; lines < want {
				missing = append(missing, "figures under "+h)
			}
			continue
		}
		for _, c := range contenders {
			found := false
			for _, line := range strings.Split(block, "\n") {
				fs := strings.Fields(line)
				if len(fs) >= 2 && fs[0] == c.Name && fs[1] != "-" {
					found = true
				}
			}
			if !found {
				missing = append(missing, c.Name+" under "+h)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("table lacks: %s", strings.Join(missing, "; "))
	}
	return nil
}
