package control

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"cbac/dataplane"
)

// `capture drops [count N] [reason R] [snaplen N]` and `capture interface
// NAME [count N] [snaplen N]` stream captured frames to the client, which
// writes the file (cbacctl capture ... -w FILE.pcapng): the daemon runs as
// root in its own namespace, the file belongs to the user's shell.
//
// The stream, after the command line: either an error line "% ..." (the
// capture did not start) or the line "CBAC-CAPTURE 1" followed by records,
// each a type byte, a 4-byte big-endian length of the rest, then:
//
//	'I' interface (one per port, in port order, before any packet):
//	    device length (1), device, IOS name length (1), IOS name
//	'P' packet: time (8, Unix ns), original length (4), port (1),
//	    direction (1: dataplane.CaptureDir), comment length (1), comment,
//	    frame bytes (up to the snap length)
//	'E' end: frames sent (8), frames lost to a full ring (8); last record
//
// The capture ends after count frames (0: no limit) or when the client
// half-closes or hangs up; the end record follows in every case the
// connection still allows.

const captureMagic = "CBAC-CAPTURE 1\n"

const (
	recInterface = 'I'
	recPacket    = 'P'
	recEnd       = 'E'
	maxRecord    = 1 << 20
)

// CaptureDefaultSnap is the default snap length in bytes.
const CaptureDefaultSnap = 256

// drainInterval is how often the rings are drained; with the default
// 2048-frame rings a worker may capture up to ~200k frames/s without loss.
const drainInterval = 10 * time.Millisecond

// ErrCaptureStream is wrapped by errors about a malformed capture stream.
var ErrCaptureStream = errors.New("capture stream")

// ParseReasons turns a drop reason as the user writes it (its name as
// `show ip inspect statistics` prints it, case-insensitive, with '-' or
// '_' for spaces) into a CaptureFilter reason set. A name that is no
// reason's whole name selects every reason it begins ("tcp": all TCP
// reasons).
func ParseReasons(s string) (uint64, error) {
	norm := func(x string) string {
		return strings.ToLower(strings.NewReplacer("-", " ", "_", " ").Replace(x))
	}
	q := norm(s)
	var prefix uint64
	var names []string
	for r := dataplane.Reason(1); r < dataplane.NumReasons; r++ {
		n := norm(r.String())
		names = append(names, strings.ReplaceAll(r.String(), " ", "-"))
		if n == q {
			return 1 << r, nil
		}
		if q != "" && strings.HasPrefix(n, q) {
			prefix |= 1 << r
		}
	}
	if prefix == 0 {
		return 0, fmt.Errorf("%w: no drop reason %q; reasons: %s", ErrUsage, s, strings.Join(names, ", "))
	}
	return prefix, nil
}

// captureFilter parses the words after "capture drops" / "capture interface".
func (s *Server) captureFilter(fields []string) (f dataplane.CaptureFilter, count uint64, err error) {
	rs := s.DP.Ruleset()
	f = dataplane.CaptureFilter{Port: -1, Snap: CaptureDefaultSnap}
	args := fields[2:]
	if fields[1] == "drops" {
		f.Drops, f.Reasons = true, dataplane.AllReasons
	} else {
		if len(args) == 0 {
			return f, 0, fmt.Errorf("%w: capture interface needs an interface name or device", ErrUsage)
		}
		for i, ifc := range rs.Ifaces {
			if strings.EqualFold(args[0], ifc.Name) || args[0] == ifc.Device {
				f.Port = i
			}
		}
		if f.Port < 0 {
			return f, 0, fmt.Errorf("%w: no interface %q", ErrUsage, args[0])
		}
		args = args[1:]
	}
	for len(args) > 0 {
		if len(args) < 2 {
			return f, 0, fmt.Errorf("%w: %q needs a value", ErrUsage, args[0])
		}
		k, v := args[0], args[1]
		args = args[2:]
		switch {
		case k == "count":
			count, err = strconv.ParseUint(v, 10, 64)
		case k == "snaplen":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 16)
			f.Snap = int(n)
		case k == "reason" && f.Drops:
			f.Reasons, err = ParseReasons(v)
		default:
			err = fmt.Errorf("%w: unknown capture option %q", ErrUsage, k)
		}
		if err != nil {
			return f, 0, fmt.Errorf("capture %s %s: %w", k, v, err)
		}
	}
	return f, count, nil
}

// capture runs one capture for a client (see the stream format above).
func (s *Server) capture(ctx context.Context, fields []string, w io.Writer) error {
	f, count, err := s.captureFilter(fields)
	if err != nil {
		return err
	}
	c, err := s.DP.StartCapture(f)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			s.DP.StopCapture(c)
		}
	}()
	// Wall clock of the workers' clock zero (they share one time base).
	var epoch int64
	s.DP.Do(0, func(wk *dataplane.Worker) { epoch = time.Now().UnixNano() - wk.Clock() })

	cw := captureWriter{w: bufio.NewWriter(w)}
	cw.w.WriteString(captureMagic)
	for _, ifc := range s.DP.Ruleset().Ifaces {
		cw.iface(ifc.Device, ifc.Name)
	}
	var frames uint64
	take := func(r *dataplane.CaptureRecord) bool {
		if (count > 0 && frames >= count) || cw.err != nil {
			return false
		}
		comment := ""
		if r.Dir == dataplane.CaptureDrop {
			comment = r.Reason.String()
		}
		cw.packet(epoch+r.Now, r, comment)
		frames++
		return true
	}
	t := time.NewTicker(drainInterval)
	defer t.Stop()
	for done := false; !done; {
		c.Drain(take)
		if cw.flush() != nil {
			return nil // the client is gone
		}
		if count > 0 && frames >= count {
			break
		}
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
		}
	}
	s.DP.StopCapture(c)
	stopped = true
	c.Drain(take)
	cw.end(frames, c.Lost())
	cw.flush()
	return nil
}

// captureWriter encodes stream records; the first error sticks.
type captureWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (cw *captureWriter) record(typ byte, body []byte) {
	if cw.err != nil {
		return
	}
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(body)))
	if _, cw.err = cw.w.Write(h[:]); cw.err == nil {
		_, cw.err = cw.w.Write(body)
	}
}

func (cw *captureWriter) iface(dev, name string) {
	b := append(cw.buf[:0], byte(len(dev)))
	b = append(b, dev[:len(dev)&0xff]...)
	b = append(b, byte(len(name)))
	b = append(b, name[:len(name)&0xff]...)
	cw.buf = b
	cw.record(recInterface, b)
}

func (cw *captureWriter) packet(unixNano int64, r *dataplane.CaptureRecord, comment string) {
	b := binary.BigEndian.AppendUint64(cw.buf[:0], uint64(unixNano))
	b = binary.BigEndian.AppendUint32(b, r.Len)
	b = append(b, r.Port, byte(r.Dir), byte(len(comment)))
	b = append(b, comment[:len(comment)&0xff]...)
	b = append(b, r.Data...)
	cw.buf = b
	cw.record(recPacket, b)
}

func (cw *captureWriter) end(frames, lost uint64) {
	b := binary.BigEndian.AppendUint64(cw.buf[:0], frames)
	b = binary.BigEndian.AppendUint64(b, lost)
	cw.record(recEnd, b)
}

func (cw *captureWriter) flush() error {
	if cw.err == nil {
		cw.err = cw.w.Flush()
	}
	return cw.err
}

// CaptureInterface is one port of the capturing daemon.
type CaptureInterface struct {
	Device string // Linux device, e.g. out0
	Name   string // IOS name, e.g. Ethernet2/0
}

// CapturePacket is one captured frame.
type CapturePacket struct {
	Time    time.Time
	Len     int // length of the whole frame
	Port    int // index into the interfaces
	Dir     dataplane.CaptureDir
	Comment string // the drop reason, for dropped frames
	Data    []byte // valid during the callback
}

// CaptureSummary is the end record.
type CaptureSummary struct {
	Frames, Lost uint64
}

// ReadCapture reads a capture stream to its end record, calling iface for
// every interface record and packet for every packet. An error line from
// the daemon comes back as an error with its text.
func ReadCapture(r io.Reader, iface func(CaptureInterface) error, packet func(*CapturePacket) error) (CaptureSummary, error) {
	br := bufio.NewReader(r)
	line, err := br.ReadString('\n')
	if err != nil && line == "" {
		return CaptureSummary{}, fmt.Errorf("%w: %v", ErrCaptureStream, err)
	}
	if line != captureMagic {
		rest, _ := io.ReadAll(io.LimitReader(br, 64<<10))
		msg := strings.TrimSpace(strings.TrimPrefix(line+string(rest), "% "))
		return CaptureSummary{}, errors.New(msg)
	}
	var ifaces int
	var h [5]byte
	body := make([]byte, 0, 4096)
	var p CapturePacket
	for {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return CaptureSummary{}, fmt.Errorf("%w: ended without its end record: %v", ErrCaptureStream, err)
		}
		n := binary.BigEndian.Uint32(h[1:])
		if n > maxRecord {
			return CaptureSummary{}, fmt.Errorf("%w: record of %d bytes", ErrCaptureStream, n)
		}
		body = body[:0]
		if cap(body) < int(n) {
			body = make([]byte, 0, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return CaptureSummary{}, fmt.Errorf("%w: truncated record: %v", ErrCaptureStream, err)
		}
		switch h[0] {
		case recInterface:
			dev, rest, ok := lenPrefixed(body)
			name, rest2, ok2 := lenPrefixed(rest)
			if !ok || !ok2 || len(rest2) != 0 {
				return CaptureSummary{}, fmt.Errorf("%w: bad interface record", ErrCaptureStream)
			}
			ifaces++
			if err := iface(CaptureInterface{Device: string(dev), Name: string(name)}); err != nil {
				return CaptureSummary{}, err
			}
		case recPacket:
			if len(body) < 15 {
				return CaptureSummary{}, fmt.Errorf("%w: short packet record", ErrCaptureStream)
			}
			comment, data, ok := lenPrefixed(body[14:])
			p = CapturePacket{
				Time: time.Unix(0, int64(binary.BigEndian.Uint64(body))), Len: int(binary.BigEndian.Uint32(body[8:])),
				Port: int(body[12]), Dir: dataplane.CaptureDir(body[13]), Comment: string(comment), Data: data,
			}
			if !ok || p.Port >= ifaces || p.Len < len(p.Data) || p.Dir > dataplane.CaptureOut {
				return CaptureSummary{}, fmt.Errorf("%w: bad packet record", ErrCaptureStream)
			}
			if err := packet(&p); err != nil {
				return CaptureSummary{}, err
			}
		case recEnd:
			if len(body) != 16 {
				return CaptureSummary{}, fmt.Errorf("%w: bad end record", ErrCaptureStream)
			}
			return CaptureSummary{Frames: binary.BigEndian.Uint64(body), Lost: binary.BigEndian.Uint64(body[8:])}, nil
		default:
			return CaptureSummary{}, fmt.Errorf("%w: unknown record type %#x", ErrCaptureStream, h[0])
		}
	}
}

// lenPrefixed splits a one-byte-length-prefixed string off b.
func lenPrefixed(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return nil, nil, false
	}
	return b[1 : 1+b[0]], b[1+b[0]:], true
}

// CaptureClient sends a capture command to the control socket at path and
// reads the stream (ReadCapture). When ctx ends (Ctrl-C) it half-closes
// the connection, so the daemon stops the capture and sends what it still
// holds and the end record; it waits for those at most 5 seconds.
func CaptureClient(ctx context.Context, path, cmd string, iface func(CaptureInterface) error, packet func(*CapturePacket) error) (CaptureSummary, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return CaptureSummary{}, fmt.Errorf("cannot reach cbacd at %s: %w", path, err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
		return CaptureSummary{}, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			if uc, ok := c.(*net.UnixConn); ok {
				uc.CloseWrite()
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
		case <-done:
		}
	}()
	return ReadCapture(c, iface, packet)
}
