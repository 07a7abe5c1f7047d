package dataplane

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Device is the ingress device for a classic pcap file (which names no
	// interface); pcapng files name theirs in the interface blocks.
	Device string
	// Tick, if > 0, runs extra batches with no traffic every Tick of
	// virtual time between packets, so timers fire in time order.
	Tick time.Duration
	// After, if > 0, keeps the virtual clock running this long after the
	// last packet (timer-only batches every Tick), so timers can fire.
	After time.Duration
	// OnEvent receives the workers' events as they happen (optional).
	OnEvent func(*Event)
	// Dataplane, if non-nil, receives the dataplane before any packet is
	// processed (tests use it to inspect state afterwards).
	Dataplane func(*Dataplane)
}

// ReplayStats summarise a replay.
type ReplayStats struct {
	Read, Written int
}

// ErrCapture is wrapped by errors about the input capture.
var ErrCapture = errors.New("capture")

const (
	replayFrameSize = 2048
	replayFrames    = 8192
)

// Replay runs the pipeline over a capture, offline and deterministic: one
// worker, in-memory rings, and each packet's timestamp as the clock. Every
// transmitted frame is written to out (pcapng) on its egress device's
// interface. A truncated or corrupt capture ends the replay with an error
// naming the frame; what was processed so far is written.
func Replay(rs *Ruleset, in io.Reader, out io.Writer, o ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	umem := make([]byte, replayFrames*replayFrameSize)
	queues := make([]Queue, len(rs.Ifaces))
	fakes := make([]*FakeQueue, len(rs.Ifaces))
	for i := range queues {
		fakes[i] = NewFakeQueue(umem, replayFrameSize, 256)
		queues[i] = fakes[i]
	}
	dp, err := New(rs, Options{Workers: 1, UMEM: umem, FrameSize: replayFrameSize, Queues: [][]Queue{queues}, BatchSize: 64})
	if err != nil {
		return st, err
	}
	if o.Dataplane != nil {
		o.Dataplane(dp)
	}
	w := dp.Workers[0]

	ngw, err := pcapgo.NewNgWriterInterface(out, pcapgo.NgInterface{
		Name: rs.Ifaces[0].Device, LinkType: layers.LinkTypeEthernet, SnapLength: 65535,
	}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "cbacd replay"}})
	if err != nil {
		return st, fmt.Errorf("replay: open output: %w", err)
	}
	for _, f := range rs.Ifaces[1:] {
		if _, err := ngw.AddInterface(pcapgo.NgInterface{Name: f.Device, LinkType: layers.LinkTypeEthernet, SnapLength: 65535}); err != nil {
			return st, fmt.Errorf("replay: output interface %s: %w", f.Device, err)
		}
	}
	evbuf := make([]Event, 0, 256)
	var lastNow int64
	step := func(now int64) error {
		lastNow = now
		w.Step(now)
		for p, q := range fakes {
			var werr error
			q.Drain(func(frame []byte) {
				ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, now).UTC(), CaptureLength: len(frame), Length: len(frame), InterfaceIndex: p}
				if werr == nil {
					werr = ngw.WritePacket(ci, frame)
					st.Written++
				}
			})
			if werr != nil {
				return fmt.Errorf("replay: write output: %w", werr)
			}
		}
		if o.OnEvent != nil {
			for {
				evbuf = dp.Events(0, evbuf[:0])
				for i := range evbuf {
					o.OnEvent(&evbuf[i])
				}
				if len(evbuf) < cap(evbuf) {
					break
				}
			}
		}
		return nil
	}
	advance := func(to int64) error {
		if o.Tick <= 0 || lastNow == 0 {
			return nil
		}
		for t := lastNow + int64(o.Tick); t < to; t += int64(o.Tick) {
			if err := step(t); err != nil {
				return err
			}
		}
		return nil
	}

	src, err := openCapture(in, o.Device)
	if err != nil {
		return st, err
	}
	var runErr error
	for {
		data, ci, rerr := src.read()
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			runErr = fmt.Errorf("%w: frame %d: %w", ErrCapture, st.Read+1, rerr)
			break
		}
		st.Read++
		dev := src.device(ci.InterfaceIndex)
		port := -1
		for i := range rs.Ifaces {
			if rs.Ifaces[i].Device == dev {
				port = i
			}
		}
		if port < 0 {
			runErr = fmt.Errorf("%w: frame %d: interface %q is not a configured device", ErrCapture, st.Read, dev)
			break
		}
		now := ci.Timestamp.UnixNano()
		if err := advance(now); err != nil {
			runErr = err
			break
		}
		fakes[port].Inject(data)
		if err := step(now); err != nil {
			runErr = err
			break
		}
	}
	if runErr == nil && o.After > 0 && lastNow != 0 {
		end := lastNow + int64(o.After)
		if err := advance(end); err != nil {
			runErr = err
		} else {
			runErr = step(end)
		}
	}
	if err := ngw.Flush(); err != nil && runErr == nil {
		runErr = fmt.Errorf("replay: write output: %w", err)
	}
	return st, runErr
}

// capture reads classic pcap or pcapng.
type capture struct {
	ng      *pcapgo.NgReader
	framing *ngFraming
	classic *pcapgo.Reader
	dev     string
}

// ErrTruncated is wrapped by the error about a capture that ends inside a
// frame (a capture being written, or cut by a copy): the frames before it
// were whole and have been processed.
var ErrTruncated = errors.New("capture truncated: the file ends inside a frame")

// ngFraming follows the pcapng block structure (type, total length, body)
// of the bytes NgReader reads, so that an end of file inside a block can be
// told from a clean end: pcapgo returns io.EOF for both.
type ngFraming struct {
	r      io.Reader
	big    bool     // byte order of the current section
	hdr    [12]byte // the current block's header, being collected
	hn     int
	remain uint64 // bytes of the current block not yet seen
}

func (f *ngFraming) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	b := p[:n]
	for len(b) > 0 {
		if f.remain > 0 {
			k := uint64(len(b))
			if k > f.remain {
				k = f.remain
			}
			f.remain -= k
			b = b[k:]
			continue
		}
		need := 8
		if f.hn >= 4 && binary.BigEndian.Uint32(f.hdr[:4]) == 0x0a0d0d0a {
			need = 12 // a section header: the byte-order magic follows
		}
		k := copy(f.hdr[f.hn:need], b)
		f.hn += k
		b = b[k:]
		if f.hn < need {
			continue
		}
		if need == 12 {
			f.big = binary.BigEndian.Uint32(f.hdr[8:12]) == 0x1a2b3c4d
		}
		length := binary.LittleEndian.Uint32(f.hdr[4:8])
		if f.big {
			length = binary.BigEndian.Uint32(f.hdr[4:8])
		}
		if uint64(length) > uint64(need) {
			f.remain = uint64(length) - uint64(need)
		}
		f.hn = 0
	}
	return n, err
}

// atBoundary reports whether every block seen so far is complete.
func (f *ngFraming) atBoundary() bool { return f.hn == 0 && f.remain == 0 }

func openCapture(r io.Reader, dev string) (*capture, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: reading header: %v", ErrCapture, err)
	}
	if binary.BigEndian.Uint32(magic) == 0x0a0d0d0a {
		fr := &ngFraming{r: br}
		ng, err := pcapgo.NewNgReader(fr, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("%w: pcapng header: %v", ErrCapture, err)
		}
		return &capture{ng: ng, framing: fr}, nil
	}
	c, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: pcap header: %v", ErrCapture, err)
	}
	if c.LinkType() != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%w: link type %v (Ethernet needed)", ErrCapture, c.LinkType())
	}
	if dev == "" {
		return nil, fmt.Errorf("%w: a classic pcap file names no interface: give the ingress device (-i)", ErrCapture)
	}
	return &capture{classic: c, dev: dev}, nil
}

func (c *capture) read() ([]byte, gopacket.CaptureInfo, error) {
	if c.ng != nil {
		data, ci, err := c.ng.ReadPacketData()
		if err == io.EOF && !c.framing.atBoundary() {
			err = ErrTruncated
		}
		if err == nil && ci.CaptureLength < ci.Length {
			return nil, ci, fmt.Errorf("truncated by the capture's snap length (%d of %d bytes)", ci.CaptureLength, ci.Length)
		}
		return data, ci, err
	}
	data, ci, err := c.classic.ReadPacketData()
	if err == io.ErrUnexpectedEOF || (err == io.EOF && ci.CaptureLength > 0) {
		// A record header without its data, or cut inside either.
		err = ErrTruncated
	}
	if err == nil && ci.CaptureLength < ci.Length {
		return nil, ci, fmt.Errorf("truncated by the capture's snap length (%d of %d bytes)", ci.CaptureLength, ci.Length)
	}
	return data, ci, err
}

func (c *capture) device(idx int) string {
	if c.ng == nil {
		return c.dev
	}
	intf, err := c.ng.Interface(idx)
	if err != nil {
		return ""
	}
	return intf.Name
}
