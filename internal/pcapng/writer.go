// Package pcapng writes pcapng files (draft-ietf-opsawg-pcapng): a Section
// Header Block, one Interface Description Block per interface and Enhanced
// Packet Blocks that carry a comment (opt_comment) and the direction
// (epb_flags). gopacket's pcapgo.NgWriter writes no packet options, which
// is what `cbacctl capture` needs to name each drop's reason.
package pcapng

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Block types and option codes (draft-ietf-opsawg-pcapng sections 4 and 3.5).
const (
	blockSHB = 0x0A0D0D0A
	blockIDB = 0x00000001
	blockEPB = 0x00000006

	byteOrderMagic = 0x1A2B3C4D

	optEnd         = 0
	optComment     = 1 // opt_comment, any block
	optSHBUserAppl = 4 // shb_userappl
	optIfName      = 2 // if_name
	optIfDesc      = 3 // if_description
	optIfTsresol   = 9 // if_tsresol
	optEPBFlags    = 2 // epb_flags

	// LinkTypeEthernet is LINKTYPE_ETHERNET.
	LinkTypeEthernet = 1
)

// Direction is the inbound/outbound field of epb_flags (bits 0-1).
type Direction uint32

const (
	DirUnknown  Direction = 0
	DirInbound  Direction = 1
	DirOutbound Direction = 2
)

// Interface describes one capture interface (an IDB).
type Interface struct {
	Name        string // if_name, e.g. the Linux device
	Description string // if_description, e.g. the IOS interface name
	LinkType    uint16
	SnapLen     uint32
}

// Packet is one Enhanced Packet Block.
type Packet struct {
	Interface int // index in the order AddInterface was called
	Time      time.Time
	Len       int // original length; at least len(Data)
	Data      []byte
	Direction Direction
	Comment   string // opt_comment; empty: none
}

// Writer writes one section with little-endian blocks.
type Writer struct {
	w      *bufio.Writer
	ifaces int
	buf    []byte
	opts   bool // the block being built has options
}

// ErrInterface is returned for a packet on an interface never added.
var ErrInterface = errors.New("pcapng: no such interface")

// NewWriter writes the Section Header Block; app names the writing
// application (shb_userappl).
func NewWriter(w io.Writer, app string) (*Writer, error) {
	pw := &Writer{w: bufio.NewWriter(w)}
	b := pw.start(blockSHB)
	b = binary.LittleEndian.AppendUint32(b, byteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // major version
	b = binary.LittleEndian.AppendUint16(b, 0) // minor version
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	if app != "" {
		b = pw.appendOption(b, optSHBUserAppl, []byte(app))
	}
	return pw, pw.finish(b)
}

// AddInterface writes an Interface Description Block with nanosecond
// timestamps and returns the interface's index.
func (w *Writer) AddInterface(i Interface) (int, error) {
	b := w.start(blockIDB)
	b = binary.LittleEndian.AppendUint16(b, i.LinkType)
	b = binary.LittleEndian.AppendUint16(b, 0) // reserved
	b = binary.LittleEndian.AppendUint32(b, i.SnapLen)
	if i.Name != "" {
		b = w.appendOption(b, optIfName, []byte(i.Name))
	}
	if i.Description != "" {
		b = w.appendOption(b, optIfDesc, []byte(i.Description))
	}
	b = w.appendOption(b, optIfTsresol, []byte{9}) // 10^-9 s
	if err := w.finish(b); err != nil {
		return 0, err
	}
	w.ifaces++
	return w.ifaces - 1, nil
}

// WritePacket writes an Enhanced Packet Block.
func (w *Writer) WritePacket(p *Packet) error {
	if p.Interface < 0 || p.Interface >= w.ifaces {
		return fmt.Errorf("%w: %d", ErrInterface, p.Interface)
	}
	if p.Len < len(p.Data) {
		return fmt.Errorf("pcapng: original length %d below captured length %d", p.Len, len(p.Data))
	}
	ts := uint64(p.Time.UnixNano())
	b := w.start(blockEPB)
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Interface))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.Data)))
	b = binary.LittleEndian.AppendUint32(b, uint32(p.Len))
	b = append(b, p.Data...)
	b = pad(b)
	if p.Direction != DirUnknown {
		b = w.appendOption(b, optEPBFlags, binary.LittleEndian.AppendUint32(nil, uint32(p.Direction)))
	}
	if p.Comment != "" {
		b = w.appendOption(b, optComment, []byte(p.Comment))
	}
	return w.finish(b)
}

// Flush writes buffered blocks to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// start begins a block in w's scratch buffer: type, length (filled in by
// finish).
func (w *Writer) start(typ uint32) []byte {
	w.opts = false
	b := binary.LittleEndian.AppendUint32(w.buf[:0], typ)
	return binary.LittleEndian.AppendUint32(b, 0)
}

// finish ends the options (if any were written, with opt_endofopt), sets
// both total lengths and writes the block.
func (w *Writer) finish(b []byte) error {
	if w.opts {
		b = binary.LittleEndian.AppendUint32(b, optEnd) // opt_endofopt: code 0, length 0
	}
	b = binary.LittleEndian.AppendUint32(b, 0) // trailing length, set below
	n := uint32(len(b))
	binary.LittleEndian.PutUint32(b[4:], n)
	binary.LittleEndian.PutUint32(b[n-4:], n)
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// appendOption appends one option, padded to 32 bits.
func (w *Writer) appendOption(b []byte, code uint16, v []byte) []byte {
	w.opts = true
	if len(v) > 0xffff {
		v = v[:0xffff]
	}
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return pad(append(b, v...))
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
