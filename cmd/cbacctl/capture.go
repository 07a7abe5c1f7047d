package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"cbac/control"
	"cbac/dataplane"
	"cbac/internal/pcapng"
)

const captureUsage = `usage:
  cbacctl capture drops [-c N] [-reason R] [-s SNAPLEN] -w FILE.pcapng
  cbacctl capture interface NAME [-c N] [-s SNAPLEN] -w FILE.pcapng
NAME is the IOS interface name (Ethernet2/0) or its device (out0); R is a
drop reason as show ip inspect statistics prints it, with - for spaces
(inbound-ACL-deny), or the start of several ("tcp"). -w - writes to stdout.
The capture ends after N frames (0: no limit) or on Ctrl-C.`

// capture runs `cbacctl capture ...`: it asks cbacd for a capture and
// writes the frames it streams to a pcapng file, one interface per device
// (description: the IOS name), each drop's reason as the packet comment.
// It returns the exit status.
func capture(ctx context.Context, sock string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, captureUsage) }
	count := fs.Uint64("c", 1000, "stop after `N` frames (0: until interrupted)")
	reason := fs.String("reason", "", "capture only drops for this `reason`")
	snap := fs.Int("s", control.CaptureDefaultSnap, "keep the first `SNAPLEN` bytes of each frame")
	file := fs.String("w", "", "write the pcapng to `FILE` (- for stdout)")
	// Flags may come before or after the positional words.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos, args = append(pos, args[0]), args[1:]
	}
	var cmd string
	switch {
	case len(pos) == 1 && pos[0] == "drops":
		cmd = "capture drops"
		if *reason != "" {
			cmd += " reason " + strings.ReplaceAll(*reason, " ", "-")
		}
	case len(pos) == 2 && pos[0] == "interface" && *reason == "":
		cmd = "capture interface " + pos[1]
	default:
		fs.Usage()
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "cbacctl: capture needs -w FILE")
		return 2
	}
	if *snap < 1 {
		fmt.Fprintf(stderr, "cbacctl: snap length %d: must be at least 1\n", *snap)
		return 2
	}
	cmd += " count " + strconv.FormatUint(*count, 10) + " snaplen " + strconv.Itoa(*snap)

	// The file is made once cbacd has started the capture (its first
	// interface record), so a refused capture leaves no empty file.
	var w *pcapng.Writer
	var f *os.File
	sum, err := control.CaptureClient(ctx, sock, cmd,
		func(i control.CaptureInterface) error {
			if w == nil {
				var err error
				if f, err = openOutput(*file); err != nil {
					return err
				}
				if w, err = pcapng.NewWriter(f, "cbacctl"); err != nil {
					return err
				}
			}
			_, err := w.AddInterface(pcapng.Interface{Name: i.Device, Description: i.Name,
				LinkType: pcapng.LinkTypeEthernet, SnapLen: uint32(*snap)})
			return err
		},
		func(p *control.CapturePacket) error {
			dir := pcapng.DirUnknown
			switch p.Dir {
			case dataplane.CaptureIn:
				dir = pcapng.DirInbound
			case dataplane.CaptureOut:
				dir = pcapng.DirOutbound
			}
			if err := w.WritePacket(&pcapng.Packet{Interface: p.Port, Time: p.Time, Len: p.Len, Data: p.Data,
				Direction: dir, Comment: p.Comment}); err != nil {
				return err
			}
			if *file == "-" {
				return w.Flush() // a reader on the pipe sees each frame as it comes
			}
			return nil
		})
	if w != nil {
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
	}
	if f != nil && f != os.Stdout {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if errors.Is(err, control.ErrCaptureStream) && ctx.Err() != nil {
			err = fmt.Errorf("interrupted before cbacd ended the capture: %w", err)
		}
		fmt.Fprintf(stderr, "cbacctl: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "%d frames captured, %d frames lost\n", sum.Frames, sum.Lost)
	return 0
}

func openOutput(name string) (*os.File, error) {
	if name == "-" {
		return os.Stdout, nil
	}
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
}
