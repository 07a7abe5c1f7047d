// Command cbacbench load-tests cbacd against Linux forwarding, nftables
// conntrack+NAT and the bare AF_XDP forwarder, on veths in network
// namespaces it builds and removes itself (see package bench).
//
//	sudo cbacbench                      full run (10-15 minutes), table on stdout
//	sudo cbacbench -quick               smoke run (about 3 minutes)
//	sudo cbacbench -out bench/results   also write results.json, .txt, .svg, SUMMARY.md
//	sudo cbacbench -scenarios mta,placement   only these scenarios
//	sudo cbacbench -soak 10m -out bench/results/soak   the soak (not in CI)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"cbac/bench"
)

func main() {
	quick := flag.Bool("quick", false, "smoke run: one frame size, one flow count, short trials (about 3 minutes)")
	out := flag.String("out", "", "directory for results.json, results.txt, results.svg and SUMMARY.md")
	cbacd := flag.String("cbacd", "", "cbacd binary (default: next to cbacbench, then $PATH)")
	prefix := flag.String("prefix", "cbb-", "namespace name prefix")
	genCPU := flag.Int("gen-cpu", 0, "CPU of the generator")
	dutCPU := flag.Int("dut-cpu", 1, "CPU of the device under test")
	mode := flag.String("xdp-mode", "generic", "cbacd XDP mode on the veths: generic or native")
	contenders := flag.String("contenders", "", "comma-separated subset of cbacd,cbacd-native,nftables,linux-fwd,xdp-bare (default: these), xdp-bare-native")
	costRate := flag.Float64("cost-rate", 0, "fixed rate (pps) of the cost scenario (0: half the lowest zero-loss rate)")
	trial := flag.Duration("trial", 0, "measurement window of a throughput trial (default 1s, quick 500ms)")
	dataMiB := flag.Int64("data-mib", 0, "body size in MiB of each SMTP data throughput transfer (default 200, quick 20)")
	dataRounds := flag.Int("data-rounds", 0, "SMTP data throughput: transfers of each kind (default 3, quick 2)")
	inspBuf := flag.Int("inspected-buffer", 0, "SMTP data throughput: cbacd's dataplane.inspected_buffer in bytes (default: cbacd's)")
	scenarios := flag.String("scenarios", "", "comma-separated subset of "+strings.Join(bench.ScenarioNames, ",")+" (default: all)")
	soak := flag.Duration("soak", 0, "run the soak for this long (e.g. 10m) instead of the scenarios: mixed traffic through cbacd, its state sampled every second; -out gets series.csv, soak.json, SUMMARY.md")
	soakReport := flag.String("soak-report", "", "recompute the checks of this soak.json and rewrite the soak's files in -out")
	mtaMessages := flag.Int("mta-messages", 0, "smtp-source -> smtp-sink: messages per contender (default 100000, quick 20000)")
	mtaSpins := flag.String("mta-spin", "", "smtp-source -> smtp-sink: run cbacd once per cbacd -spin value of this comma-separated list (e.g. 200us,never,auto) instead of cbacd and cbacd-default")
	spin := flag.String("spin", "", "cbacd -spin for every cbacd contender (default: cbacd's)")
	soakFlood := flag.Int("soak-flood", 0, "with -soak: add ip tcp intercept (172.22.1.110 port 25, intercept mode) to cbacd and a SYN flood of this many SYNs/s from the outside for the whole soak")
	keep := flag.Bool("keep-work", false, "keep the work directory (cbacd's logs, configurations and statistics) after a clean run")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "cbacbench: unexpected argument %q (every option is a flag; see -h)\n", flag.Arg(0))
		os.Exit(2)
	}

	o := bench.DefaultOptions(*quick)
	o.Prefix, o.GenCPU, o.DUTCPU, o.XDPMode, o.CostRate = *prefix, *genCPU, *dutCPU, *mode, *costRate
	if *trial > 0 {
		o.Trial = *trial
	}
	if *dataMiB > 0 {
		o.DataBytes = *dataMiB << 20
	}
	if *dataRounds > 0 {
		o.DataRounds = *dataRounds
	}
	o.InspectedBuffer = *inspBuf
	o.Soak, o.SoakFlood = *soak, *soakFlood
	if *mtaMessages > 0 {
		o.MTAMessages = *mtaMessages
	}
	if *mtaSpins != "" {
		o.MTASpins = strings.Split(*mtaSpins, ",")
	}
	o.Spin = *spin
	o.KeepWork = *keep
	if *scenarios != "" {
		o.Scenarios = strings.Split(*scenarios, ",")
		for _, s := range o.Scenarios {
			if !slices.Contains(bench.ScenarioNames, s) {
				fmt.Fprintf(os.Stderr, "cbacbench: -scenarios: unknown scenario %q (want %s)\n", s, strings.Join(bench.ScenarioNames, ","))
				os.Exit(2)
			}
		}
	}
	if *contenders != "" {
		o.Contenders = strings.Split(*contenders, ",")
	}
	o.CBACD = *cbacd
	if o.CBACD == "" {
		o.CBACD = findCBACD()
	}
	if *soakReport != "" {
		if *out == "" {
			fmt.Fprintln(os.Stderr, "cbacbench: -soak-report needs -out")
			os.Exit(2)
		}
		if err := bench.ReportSoak(*soakReport, *out); err != nil {
			fmt.Fprintf(os.Stderr, "cbacbench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := bench.Run(ctx, o)
	if res != nil && res.Soak != nil {
		if *out != "" {
			if werr := res.WriteSoak(*out, err); werr != nil {
				fmt.Fprintf(os.Stderr, "cbacbench: %v\n", werr)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "cbacbench: wrote %s/{series.csv,soak.json,SUMMARY.md}\n", *out)
		}
	} else if res != nil {
		res.WriteTable(os.Stdout)
		if *out != "" {
			if werr := res.WriteFiles(*out); werr != nil {
				fmt.Fprintf(os.Stderr, "cbacbench: %v\n", werr)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stderr, "cbacbench: wrote %s/{results.json,results.txt,results.svg,SUMMARY.md}\n", *out)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cbacbench: %v (after %s)\n", err, time.Since(start).Round(time.Second))
		os.Exit(1)
	}
}

// findCBACD looks for cbacd beside this binary, then in $PATH.
func findCBACD() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "cbacd")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("cbacd"); err == nil {
		return p
	}
	return ""
}
