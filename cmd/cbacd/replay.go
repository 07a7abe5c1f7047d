package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"cbac/config"
	"cbac/control"
	"cbac/dataplane"
)

// replayMain runs the pipeline over a capture. The output is written to a
// temporary file beside -w and renamed when the replay succeeds, so a
// failed replay never leaves an empty or partial file under the name asked
// for (nor replaces a file that was there). One exception keeps the
// README's promise: a capture that ends inside a frame (a file still being
// written, or cut by a copy) keeps what was processed from the whole frames
// before the cut, if that is at least one transmitted frame; the command
// still fails. An output that is no regular file (-w /dev/stdout, a pipe)
// is written as the replay goes.
func replayMain(args []string) error {
	fs := newFlagSet("replay", "cbacd replay -c FILE.toml -r IN.pcapng -w OUT.pcapng [-i DEVICE] [-until DURATION] [-tick DURATION] [-show]")
	cfgPath := fs.String("c", "", "configuration file")
	in := fs.String("r", "", "input capture (pcapng, or classic pcap with -i)")
	out := fs.String("w", "", "output capture (pcapng): every transmitted frame")
	dev := fs.String("i", "", "ingress device for a classic pcap file")
	until := fs.Duration("until", 0, "keep the clock running this long after the last packet (timers fire)")
	tick := fs.Duration("tick", time.Second, "virtual time between timer-only batches")
	show := fs.Bool("show", false, "print show ip inspect sessions detail and statistics at the end")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" || *in == "" || *out == "" {
		return fmt.Errorf("%w: replay: -c, -r and -w are required", errUsage)
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
	r := &replayer{cfg: c, rs: rs, show: *show, opts: dataplane.ReplayOptions{Device: *dev, Tick: *tick, After: *until}}

	dst := linkTarget(*out) // replace the file a link points to, not the link
	if fi, err := os.Stat(dst); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(dst, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("replay: output: %w", err)
		}
		defer f.Close()
		st, err := r.run(inf, f)
		if err != nil {
			return fmt.Errorf("replay %s: %w", *in, err)
		}
		fmt.Fprintf(os.Stderr, "replay: %d frames read, %d written to %s\n", st.Read, st.Written, *out)
		return nil
	}

	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("replay: output: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; removed otherwise
	st, rerr := r.run(inf, tmp)
	if rerr != nil {
		rerr = fmt.Errorf("replay %s: %w", *in, rerr)
	}
	werr := tmp.Chmod(0o644)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	keep := werr == nil && (rerr == nil || errors.Is(rerr, dataplane.ErrTruncated) && st.Written > 0)
	if keep {
		werr = os.Rename(tmp.Name(), dst)
	}
	switch {
	case werr != nil && rerr == nil:
		return fmt.Errorf("replay: output %s: %w", *out, werr)
	case rerr != nil && keep && werr == nil:
		return fmt.Errorf("%w; what the frames before it transmitted is kept in %s (%d frames)", rerr, *out, st.Written)
	case rerr != nil:
		return fmt.Errorf("%w; no output written", rerr)
	}
	fmt.Fprintf(os.Stderr, "replay: %d frames read, %d written to %s\n", st.Read, st.Written, *out)
	return nil
}

// replayer runs one replay with the daemon's control plane: events are
// logged on stderr as cbacd logs them, and -show prints the sessions and
// statistics left at the end.
type replayer struct {
	cfg  *config.Config
	rs   *dataplane.Ruleset
	opts dataplane.ReplayOptions
	show bool
}

func (r *replayer) run(in io.Reader, out io.Writer) (dataplane.ReplayStats, error) {
	h, err := control.NewIOSHandler(os.Stderr, "", "cbacd")
	if err != nil {
		return dataplane.ReplayStats{}, err
	}
	log := slog.New(h)
	var srv *control.Server
	var dp *dataplane.Dataplane
	o := r.opts
	o.Dataplane = func(d *dataplane.Dataplane) {
		dp = d
		srv = control.NewServer(d, r.cfg, log)
	}
	o.OnEvent = func(e *dataplane.Event) { srv.HandleEvent(e, time.Unix(0, e.Now)) }
	st, err := dataplane.Replay(r.rs, in, out, o)
	if r.show && dp != nil {
		control.ShowSessions(os.Stdout, control.Sessions(dp), true)
		t := control.StatsTotal(dp)
		control.ShowStatistics(os.Stdout, dp, &t)
	}
	return st, err
}

// linkTarget follows path's symbolic links (a bounded number) to the name
// that holds, or will hold, the file; the target need not exist yet.
func linkTarget(path string) string {
	for range 40 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return path
		}
		to, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(path), to)
		}
		path = to
	}
	return path
}
