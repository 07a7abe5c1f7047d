package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
	"cbac/internal/sdnotify"
	"cbac/metrics"
	"cbac/packet"
)

// runMain runs the daemon: bind the devices, run the workers, serve the
// control socket; SIGHUP reloads the configuration (a failed reload keeps
// the old one); SIGINT/SIGTERM detach everything and exit. The wire carries
// nothing once cbacd has stopped (fail closed).
func runMain(args []string) error {
	fs := newFlagSet("cbacd", "cbacd -c FILE.toml [flags] (cbacd help: the other commands)")
	cfgPath := fs.String("c", "", "configuration file (TOML)")
	sock := fs.String("socket", "", "control socket (default: [control] socket of the configuration)")
	workers := fs.Int("workers", 0, "workers (0: one per RX queue)")
	mode := fs.String("xdp-mode", "auto", "XDP attach mode: auto, native or generic")
	force := fs.Bool("force", false, "replace an XDP program already attached to a device")
	cpus := fs.String("cpus", "", "pin worker i to the i-th of these CPUs, e.g. 1 or 2,3; auto: to CPUs that service none of the devices' interrupts or RPS, if enough (default: not pinned)")
	spin := fs.String("spin", "auto", "how long a worker polls its rings after its last frame before it sleeps in poll(2): auto (200us while it has a backlog, else 10us), never, or a duration such as 50us")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the run to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	spinFor, err := dataplane.ParseSpin(*spin)
	if err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("%w: -c FILE.toml is required", errUsage)
	}
	c, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	h, err := control.NewIOSHandler(os.Stdout, c.Logging.Syslog, "cbacd")
	if err != nil {
		return err
	}
	log := slog.New(h)
	rs, err := control.Compile(c, deviceMAC)
	if err != nil {
		return err
	}
	cpuList, err := parseCPUs(*cpus)
	if err != nil {
		return err
	}
	n := *workers
	if n == 0 {
		n = c.Dataplane.Workers
	}
	x, err := dataplane.OpenXDP(rs, dataplane.XDPOptions{
		Workers: n, Frames: c.Dataplane.Frames, RingSize: c.Dataplane.RingSize,
		Mode: *mode, Force: *force, Seed: uint64(time.Now().UnixNano()), CPUs: cpuList, Spin: spinFor,
	})
	if err != nil {
		return err
	}
	defer x.Close()
	for _, dev := range x.StaleRemoved {
		log.Info("cbacd: " + dev + ": removed the XDP program a cbacd that exited without detaching left there")
	}
	placement := fmt.Sprintf("workers pinned to CPUs %v (-cpus)", cpuList)
	switch *cpus {
	case "", "none":
		placement = "workers not pinned: the scheduler places them"
	case "auto":
		placement = autoPlacement(x, rs)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := control.NewServer(x.DP, c, log)
	srv.SocketStats = func(w io.Writer) {
		fmt.Fprintln(w, "XDP sockets (kernel counters):")
		for wk, ports := range x.SocketStats() {
			for p, st := range ports {
				fmt.Fprintf(w, "  worker %d %-8s rx_dropped %d rx_invalid_descs %d tx_invalid_descs %d rx_ring_full %d fill_ring_empty %d tx_ring_empty %d\n",
					wk, rs.Ifaces[p].Device, st.Rx_dropped, st.Rx_invalid_descs, st.Tx_invalid_descs,
					st.Rx_ring_full, st.Rx_fill_ring_empty_descs, st.Tx_ring_empty_descs)
			}
		}
		if x.DP.Ruleset().Intercept == nil {
			return
		}
		fmt.Fprintln(w, "SYN shedding in XDP under overload (tcp intercept):")
		for wk, ports := range x.ShedStats() {
			for p, sh := range ports {
				fmt.Fprintf(w, "  worker %d %-8s %d SYNs shed, shedding %.1f%% now\n", wk, rs.Ifaces[p].Device, sh.SYNs, 100*sh.Share)
			}
		}
	}
	srv.Load = func() (*config.Config, error) { return config.Load(*cfgPath) }
	srv.MACs = deviceMAC
	srv.Notify = func(reload func() error) error { return notifyReload(reload, log)() }
	if c.Metrics.Listen != "" { // [metrics] listen: read at start only
		ms, err := metrics.Listen(c.Metrics.Listen, metrics.Source{DP: x.DP, Server: srv, Sockets: x.SocketStats, Shed: x.ShedStats}, log)
		if err != nil {
			return err
		}
		defer ms.Close()
		log.Info("cbacd: metrics at http://" + ms.Addr.String() + "/metrics")
	}
	path := *sock
	if path == "" {
		path = c.Control.Socket
	}
	ln, err := control.Listen(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			srv.Reload("SIGHUP") // logs the outcome
		}
	}()
	go srv.Serve(ctx, ln)
	go srv.PumpEvents(ctx, 50*time.Millisecond)
	for _, f := range rs.Ifaces {
		log.Info(fmt.Sprintf("%%LINK-3-UPDOWN: Interface %s (%s, %s/%d, %s), changed state to up",
			f.Name, f.Device, packet.IPString(f.Addr), f.PrefixLen, f.MAC))
	}
	log.Info(fmt.Sprintf("%%SYS-5-RESTART: cbacd %s running, %d worker(s), control socket %s", c.Hostname, len(x.DP.Workers), path))
	log.Info("%SYS-6-WORKERS: " + placement)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	go notifyReady(ctx, x.DP, log)
	x.Run(ctx)
	sdnotify.Stopping()
	log.Info("%SYS-5-RELOAD: cbacd stopping: XDP programs detached, the wire carries nothing until it restarts")
	return nil
}

// deviceMAC reads a device's own MAC address.
func deviceMAC(dev string) (packet.MAC, bool) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil || len(ifi.HardwareAddr) != 6 {
		return packet.MAC{}, false
	}
	var m packet.MAC
	copy(m[:], ifi.HardwareAddr)
	return m, true
}

// parseCPUs reads a comma-separated CPU list ("1", "2,3"); "", "none"
// and "auto" are no list.
func parseCPUs(s string) ([]int, error) {
	if s == "" || s == "none" || s == "auto" {
		return nil, nil
	}
	// The CPUs this process may run on (taskset narrows them; Go's
	// NumCPU counts them, not their numbers).
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("-cpus: %w", err)
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n >= 1024 || !allowed.IsSet(n) {
			return nil, fmt.Errorf("-cpus %q: CPU %q is not one this process may run on", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// autoPlacement (-cpus auto) pins the workers to CPUs that service none
// of the devices' receive work, when there are enough of them
// (placement.go), and says what it did.
func autoPlacement(x *dataplane.XDP, rs *dataplane.Ruleset) string {
	var set unix.CPUSet
	var allowed []int
	if unix.SchedGetaffinity(0, &set) == nil {
		for c := 0; c < 1024; c++ {
			if set.IsSet(c) {
				allowed = append(allowed, c)
			}
		}
	}
	var devs []string
	for _, f := range rs.Ifaces {
		devs = append(devs, f.Device)
	}
	pick, avoided := realRoots.workerCPUs(allowed, devs, len(x.DP.Workers))
	switch {
	case pick != nil:
		x.SetCPUs(pick)
		return fmt.Sprintf("workers pinned to CPUs %v (-cpus auto), away from CPUs %v that service the devices' interrupts or RPS", pick, avoided)
	case avoided != nil:
		return fmt.Sprintf("workers not pinned (-cpus auto): CPUs %v service the devices' interrupts or RPS and too few others are left", avoided)
	}
	return "workers not pinned (-cpus auto): the devices have no interrupt or RPS CPUs to avoid"
}
