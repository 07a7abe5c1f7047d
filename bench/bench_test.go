package bench

import (
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	"cbac/acl"
	"cbac/dataplane"
	"cbac/packet"
)

func TestFlowPeriods(t *testing.T) {
	for _, n := range []int{1, 1000, 60000, 100000, 1000000} {
		t.Run(flowName(n), func(t *testing.T) {
			p1, p2, err := flowPeriods(n)
			if err != nil {
				t.Fatal(err)
			}
			if p1*p2 != n || gcd(p1, p2) != 1 || 1024+p1-1 > 65535 || 9+p2-1 > 65535 {
				t.Fatalf("flowPeriods(%d) = %d, %d", n, p1, p2)
			}
			if n > 100000 {
				return
			}
			// trafgen steps both ports every packet: n packets, n distinct flows.
			seen := map[[2]int]bool{}
			for i := 0; i < n; i++ {
				seen[[2]int{i % p1, i % p2}] = true
			}
			if len(seen) != n {
				t.Fatalf("%d distinct flows in %d packets, want %d", len(seen), n, n)
			}
		})
	}
	if _, _, err := flowPeriods(0); err == nil {
		t.Error("flowPeriods(0): no error")
	}
}

func TestUDPConfig(t *testing.T) {
	cfg, err := udpConfig(throughDUT, 64, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"da=" + InsideMAC, "sa=" + InHostMAC, "sa=10.10.10.5", "da=203.0.113.1",
		"sp=dinc(1024, 4148)", "dp=dinc(9, 40)", "fill(0x00, 18)"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config %q lacks %q", cfg, want)
		}
	}
	cfg, _ = udpConfig(throughDUT, 1518, 1)
	if !strings.Contains(cfg, "sp=1024, dp=9") || !strings.Contains(cfg, "fill(0x00, 1472)") {
		t.Errorf("1518-byte single-flow config %q", cfg)
	}
	if _, err := udpConfig(throughDUT, 40, 1); err == nil {
		t.Error("40-byte frames: no error")
	}
}

// Every cbacd contender's configuration loads and compiles; the seed's
// policy is kept, the thresholds are raised only where intended.
func TestCBACDConfigs(t *testing.T) {
	for _, c := range append(append([]Contender(nil), Contenders...), seedFloodContender) {
		if c.Kind != KindCBACD && c.Kind != KindBareXDP {
			continue
		}
		name := c.Name
		if c.SeedThresholds {
			name += "-seed"
		}
		t.Run(name, func(t *testing.T) {
			rs, err := CompileContender(c, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs.Ifaces) != 2 || rs.MaxSessions != 1<<16 || len(rs.StaticARP) != 4 {
				t.Fatalf("%d interfaces, max sessions %d, %d static ARP entries", len(rs.Ifaces), rs.MaxSessions, len(rs.StaticARP))
			}
			if c.Kind == KindBareXDP {
				if len(rs.ACLs) != 0 || len(rs.Rules) != 0 {
					t.Errorf("bare forwarder has %d ACLs, %d inspection rules", len(rs.ACLs), len(rs.Rules))
				}
				return
			}
			checkBulkData(t, rs, false)
			if len(rs.ACLs) != 1 || len(rs.Rules) != 2 {
				t.Errorf("seed policy: %d ACLs, %d inspection rules", len(rs.ACLs), len(rs.Rules))
			}
			high := rs.Thresholds.MaxIncompleteHigh
			if c.SeedThresholds && (high != 500 || rs.Thresholds.HostMax != 50) {
				t.Errorf("seed thresholds changed: %+v", rs.Thresholds)
			}
			if !c.SeedThresholds && high < 1000000 {
				t.Errorf("thresholds not raised: %+v", rs.Thresholds)
			}
		})
	}
}

func sampleResults() *Results {
	r := &Results{Machine: Machine{CPUs: 2, CPUModel: "Test CPU <x>", Kernel: "6.0", Quick: true}, Contenders: Contenders}
	for i, c := range Contenders {
		f := float64(i + 1)
		r.Throughput = append(r.Throughput, ThroughputResult{Contender: c.Name, FrameSize: 64, Flows: 1000, ZeroLossPps: 100000 * f, MaxDeliveredPps: 120000 * f})
		r.Cost = append(r.Cost, CostResult{Contender: c.Name, FrameSize: 64, Flows: 1000, RatePps: 50000, CPUCost: CPUCost{DUTNs: 500 * f}})
		r.ConnRate = append(r.ConnRate, RateResult{Contender: c.Name, PerSecond: 1000 * f, Completed: 100})
		if c.NAT {
			r.SMTP = append(r.SMTP, RateResult{Contender: c.Name, PerSecond: 100 * f})
			r.Flood = append(r.Flood, FloodResult{Contender: c.Name, FloodPps: 500000, Attempted: 10, Completed: 9, Share: 0.9})
		} else {
			r.SMTP = append(r.SMTP, RateResult{Contender: c.Name, Skipped: "no NAT"})
		}
	}
	for i, c := range Contenders {
		f := float64(i + 1)
		smtp, tcp := DataTransfer{Port: 25, Gbps: 0.95 * f}, DataTransfer{Port: DataPlainPort, Gbps: f}
		smtp.Cost.DUTNs, tcp.Cost.DUTNs = 1200*f, 1000*f
		smtp.DataFrameNs, tcp.DataFrameNs = 1800*f, 1500*f
		if c.Kind == KindCBACD {
			smtp.CBACDDrops = map[string]uint64{"inspected stream buffer full": 3}
		}
		r.Data = append(r.Data, DataResult{Contender: c.Name, Bytes: 200 << 20, Rounds: 3, FrameSize: dataFrameSize, Path: "test",
			SMTP: smtp, TCP: tcp, ThroughputRatio: smtp.Gbps / tcp.Gbps, CostRatio: smtp.Cost.DUTNs / tcp.Cost.DUTNs,
			FrameCostRatio: smtp.DataFrameNs / tcp.DataFrameNs})
	}
	for i, c := range Contenders {
		if !c.NAT {
			r.MTA = append(r.MTA, MTAResult{Contender: c.Name, Skipped: "no NAT"})
			continue
		}
		f := float64(i + 1)
		r.MTA = append(r.MTA, MTAResult{Contender: c.Name, Messages: 100000, Sessions: mtaSessions, Length: mtaLength,
			Counted: 100000, MailsPerSec: 5000 * f, P50Ms: 2, P99Ms: 9, MailsPerCPUSec: 2500 * f,
			CPU: MachineCPU{BusySeconds: 40 / f, PerCPUBusy: []float64{1, 0.9}}})
	}
	r.Placement = []PlacementResult{{XDPMode: "generic", Placement: "default", DeliveredPps: 2e5, Rounds: []float64{2e5}, WorkerCPUs: []int{1}}}
	r.Capacity = []CapacityResult{{What: "cbacd table", Sessions: 1 << 20, BytesPerSession: 300}}
	r.Ceiling = []CeilingResult{{FrameSize: 64, OfferedPps: 1e6, DeliveredPps: 1e6}}
	return r
}

func TestReportHasEveryContenderAndScenario(t *testing.T) {
	r := sampleResults()
	var b strings.Builder
	r.WriteTable(&b)
	if err := CheckTable(b.String(), Contenders); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	// A missing contender is caught.
	var short strings.Builder
	r.Contenders = Contenders[:len(Contenders)-1]
	r.WriteTable(&short)
	if err := CheckTable(short.String(), Contenders); err == nil {
		t.Error("CheckTable accepted a table without xdp-bare")
	}
	// So is a contender without scenario 7 figures, and a table without
	// its section.
	r = sampleResults()
	r.Data = r.Data[1:]
	var noData strings.Builder
	r.WriteTable(&noData)
	if err := CheckTable(noData.String(), Contenders); err == nil || !strings.Contains(err.Error(), "cbacd under "+HeadData) {
		t.Errorf("CheckTable with no scenario 7 result for cbacd: %v", err)
	}
	cut, _, _ := strings.Cut(b.String(), "\n"+HeadData)
	if err := CheckTable(cut, Contenders); err == nil || !strings.Contains(err.Error(), "section "+HeadData) {
		t.Errorf("CheckTable without the scenario 7 section: %v", err)
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	var b strings.Builder
	sampleResults().WriteSVG(&b)
	d := xml.NewDecoder(strings.NewReader(b.String()))
	rects := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("svg: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
	}
	// background + legend (one per contender) + bars: throughput, cost and
	// connections for every contender, SMTP and flood for the NAT ones.
	nat := 0
	for _, c := range Contenders {
		if c.NAT {
			nat++
		}
	}
	if want := 1 + len(Contenders) + 3*len(Contenders) + 2*nat; rects != want {
		t.Errorf("%d rects, want %d", rects, want)
	}
}

func TestSummaryTargets(t *testing.T) {
	var b strings.Builder
	sampleResults().WriteSummary(&b)
	s := b.String()
	// cbacd 100 kpps vs nftables 300 kpps (sampleResults scales by the
	// contender's position): the 1.5x target is not met, and the summary
	// says so.
	for _, want := range []string{"100 vs 300 kpps = 0.33x | no", "500 vs 1500 ns = 0.33x | yes", "100 vs 500 kpps = 0.20x | no",
		"per packet 1200 vs 1000) | 1800 vs 1500 ns = 1.20x | no", "0.95 vs 1.00 Gbit/s = 0.95x | yes", "## Table", HeadData,
		"drops by cbacd smtp: inspected stream buffer full 3"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// The scenario 7 variant of a cbacd contender adds plain tcp inspection of
// port 2525 on the OUT-IN rule and ACL 101, and lifts max_data; the rest
// of the seed policy stays.
func TestCBACDBulkDataConfig(t *testing.T) {
	for _, c := range Contenders {
		if c.Kind != KindCBACD {
			continue
		}
		c.BulkData, c.InspectedBuffer = true, 1<<18
		t.Run(c.Name, func(t *testing.T) {
			rs, err := CompileContender(c, 1<<16)
			if err != nil {
				t.Fatal(err)
			}
			if rs.StreamBuffer != 1<<18 {
				t.Errorf("inspected_buffer %d, want %d", rs.StreamBuffer, 1<<18)
			}
			if len(rs.ACLs) != 1 || len(rs.Rules) != 2 || len(rs.StaticARP) != 4 || rs.Thresholds.MaxIncompleteHigh < 1000000 {
				t.Errorf("%d ACLs, %d inspection rules, %d static ARP, thresholds %+v", len(rs.ACLs), len(rs.Rules), len(rs.StaticARP), rs.Thresholds)
			}
			checkBulkData(t, rs, true)
		})
	}
}

// checkBulkData checks what OUT-IN and ACL 101 make of ports 25 and 2525.
func checkBulkData(t *testing.T, rs *dataplane.Ruleset, bulk bool) {
	t.Helper()
	var outIn *dataplane.Rule
	for _, r := range rs.Rules {
		if r.Name == "OUT-IN" {
			outIn = r
		}
	}
	if outIn == nil {
		t.Fatal("no OUT-IN rule")
	}
	smtp, plain := outIn.Match(packet.ProtoTCP, 25), outIn.Match(packet.ProtoTCP, DataPlainPort)
	if smtp == nil || smtp.Kind != dataplane.InspectSMTP {
		t.Fatalf("OUT-IN for port 25: %+v", smtp)
	}
	wantEntries := 1
	if bulk {
		wantEntries = 2
		if smtp.SMTP.MaxData < 1<<62 {
			t.Errorf("smtp max_data %d", smtp.SMTP.MaxData)
		}
		if plain == nil || plain.Kind != dataplane.InspectTCP {
			t.Errorf("OUT-IN for port %d: %+v", DataPlainPort, plain)
		}
	} else {
		if smtp.SMTP.MaxData != 20000000 {
			t.Errorf("seed max_data changed: %d", smtp.SMTP.MaxData)
		}
		if plain != nil {
			t.Errorf("OUT-IN inspects port %d without BulkData", DataPlainPort)
		}
	}
	if n := rs.ACLs[0].Len(); n != wantEntries {
		t.Errorf("ACL 101 has %d entries, want %d", n, wantEntries)
	}
	tuple := func(port uint16) *acl.Tuple {
		return &acl.Tuple{Proto: packet.ProtoTCP, Src: ip4(ClientAddr), Dst: ip4(MailGlobal), SrcPort: 40000, DstPort: port}
	}
	if _, ok := rs.ACLs[0].Match(tuple(25)); !ok {
		t.Error("ACL 101 denies port 25")
	}
	if _, ok := rs.ACLs[0].Match(tuple(DataPlainPort)); ok != bulk {
		t.Errorf("ACL 101 permits port %d: %v", DataPlainPort, ok)
	}
}

func TestSelectedOnRequest(t *testing.T) {
	names := func(cs []Contender) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	def := names((&Bench{}).selected())
	if slices.Contains(def, "xdp-bare-native") || !slices.Contains(def, "xdp-bare") || len(def) != len(Contenders)-1 {
		t.Errorf("default selection: %v", def)
	}
	got := names((&Bench{opts: Options{Contenders: []string{"xdp-bare-native", "cbacd"}}}).selected())
	if !slices.Equal(got, []string{"cbacd", "xdp-bare-native"}) {
		t.Errorf("named selection: %v (want the list's order)", got)
	}
	// Scenario 8 reaches the mail host through the static NAT where the
	// contender has one, and at its own address otherwise.
	for _, c := range Contenders {
		if want := map[bool]string{true: MailGlobal, false: MailAddr}[c.NAT]; mtaHost(c) != want {
			t.Errorf("mtaHost(%s) = %s, want %s", c.Name, mtaHost(c), want)
		}
	}
}
