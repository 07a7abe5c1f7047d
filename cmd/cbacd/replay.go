package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
)

func replayMain(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	cfgPath := fs.String("c", "", "configuration file")
	in := fs.String("r", "", "input capture (pcapng, or classic pcap with -i)")
	out := fs.String("w", "", "output capture (pcapng): every transmitted frame")
	dev := fs.String("i", "", "ingress device for a classic pcap file")
	until := fs.Duration("until", 0, "keep the clock running this long after the last packet (timers fire)")
	tick := fs.Duration("tick", time.Second, "virtual time between timer-only batches")
	show := fs.Bool("show", false, "print show ip inspect sessions detail and statistics at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" || *in == "" || *out == "" {
		return fmt.Errorf("replay: -c, -r and -w are required")
	}
	c, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	rs, err := control.Compile(c, nil)
	if err != nil {
		return err
	}
	inf, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer inf.Close()
	outf, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	h, err := control.NewIOSHandler(os.Stderr, "", "cbacd")
	if err != nil {
		return err
	}
	log := slog.New(h)
	var srv *control.Server
	var dp *dataplane.Dataplane
	opts := dataplane.ReplayOptions{
		Device: *dev, Tick: *tick, After: *until,
		Dataplane: func(d *dataplane.Dataplane) {
			dp = d
			srv = control.NewServer(d, c, log)
		},
		OnEvent: func(e *dataplane.Event) { srv.HandleEvent(e, time.Unix(0, e.Now)) },
	}
	st, rerr := dataplane.Replay(rs, inf, outf, opts)
	if cerr := outf.Close(); cerr != nil && rerr == nil {
		rerr = cerr
	}
	fmt.Fprintf(os.Stderr, "replay: %d frames read, %d written to %s\n", st.Read, st.Written, *out)
	if *show && dp != nil {
		all := control.Sessions(dp)
		control.ShowSessions(os.Stdout, all, true)
		t := control.StatsTotal(dp)
		control.ShowStatistics(os.Stdout, dp, &t)
	}
	return rerr
}
