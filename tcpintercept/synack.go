package tcpintercept

import "cbac/packet"

// SYNACKLen is the most WriteSYNACK and WriteServerSYN write: a 20-byte
// header and 20 bytes of options (MSS, timestamps with SACK-permitted,
// window scale).
const SYNACKLen = packet.TCPMinHeaderLen + 20

// writeSegment writes a TCP header with SYN options o into b and returns
// its length. The checksum is left zero.
func writeSegment(b []byte, sport, dport uint16, seq, ack uint32, flags uint8, window uint16, o *packet.SynOptions) int {
	n := packet.TCPMinHeaderLen + o.Len()
	t := packet.TCP(b[:n])
	t.SetSrcPort(sport)
	t.SetDstPort(dport)
	t.SetSeq(seq)
	t.SetAck(ack)
	t[12] = 0
	t.SetDataOffset(n)
	t.SetFlags(flags)
	t.SetWindow(window)
	t.SetChecksum(0)
	t.SetUrgentPointer(0)
	packet.WriteSynOptions(t[packet.TCPMinHeaderLen:], o)
	return n
}

// WriteSYNACK writes into b (at least SYNACKLen bytes) the TCP header of the
// SYN/ACK that answers SYN s with cookie c, checksummed for the IPv4
// addresses s.Dst -> s.Src, and returns its length (the IPv4 header is the
// caller's: packet.WriteIPv4Header).
//
// It advertises mss (cbacd's: what the server side is expected to take) and,
// only when the SYN had timestamps, timestamps (TSval the cookie's, TSecr the
// client's TSval), SACK-permitted and window scale wscale (taken as 0..14) if the SYN had
// them, and ECE if the SYN asked for ECN: without timestamps nothing but the
// MSS can be remembered, so nothing else is offered (as Linux does). The
// window is 0, as netfilter SYNPROXY's: the client may not send data before
// the server has answered and cbacd has sent it the server's window
// (ClientWindow).
func WriteSYNACK(b []byte, s *SYN, c *Cookie, mss uint16, wscale int8) int {
	o := packet.SynOptions{MSS: mss, WScale: -1}
	flags := packet.SYN | packet.ACK
	if s.TS {
		o.TS, o.TSval, o.TSecr = true, c.TSval, s.TSval
		o.SACKPerm = s.SACKPerm
		if s.WScale >= 0 {
			o.WScale = int8(shift(wscale))
		}
		if s.ECN {
			flags |= packet.ECE
		}
	}
	n := writeSegment(b, s.DstPort, s.SrcPort, c.ISN, s.ISN+1, flags, 0, &o)
	t := packet.TCP(b[:n])
	t.SetChecksum(t.CalculateChecksum(s.Dst, s.Src))
	return n
}

// CookieMSS is the MSS cbacd's cookie SYN/ACK advertises: Ethernet's, the
// protected server's MSS being unknown when cbacd answers.
const CookieMSS = 1460

// WriteSYNACKFrame writes over b, the Ethernet frame of SYN s (with room
// for at least the Ethernet and IPv4 headers and SYNACKLen bytes), the
// whole SYN/ACK that answers it with cookie c (WriteSYNACK), sent back to
// the SYN's source MAC address from mac, and returns the frame's length.
// The XDP program's cookie step writes the same bytes.
func WriteSYNACKFrame(b []byte, s *SYN, c *Cookie, mss uint16, wscale int8, mac packet.MAC) int {
	const l3 = packet.EthernetHeaderLen
	n := WriteSYNACK(b[l3+packet.IPv4MinHeaderLen:], s, c, mss, wscale)
	packet.WriteIPv4Header(b[l3:], s.Dst, s.Src, packet.ProtoTCP, 64, n, 0)
	eth := packet.Ethernet(b)
	eth.SetDst(eth.Src())
	eth.SetSrc(mac)
	return l3 + packet.IPv4MinHeaderLen + n
}

// WriteServerSYN writes into b (at least SYNACKLen bytes) the SYN that
// cbacd sends the server for tuple t once the client's ACK opened cookie o,
// checksummed, and returns its length. It carries the client's ISN, so the
// client's sequence space needs no translation, and the options the cookie
// kept; TSval is the client's (its ACK's), TSecr 0 (RFC 7323 section 3.2: no
// ACK bit). window is the client's ACK window, scaled back to bytes since a
// SYN's window is never scaled (RFC 7323 section 2.2), at most 65535.
func WriteServerSYN(b []byte, t *Tuple, o *Opened, window uint16) int {
	opts := packet.SynOptions{MSS: o.MSS, WScale: o.WScale, SACKPerm: o.SACKPerm, TS: o.TS, TSval: o.TSval}
	flags := packet.SYN
	if o.ECN {
		flags |= packet.ECE | packet.CWR
	}
	if o.WScale > 0 {
		window = rescale(window, uint8(o.WScale), 0)
	}
	n := writeSegment(b, t.SrcPort, t.DstPort, o.ISN, 0, flags, window, &opts)
	seg := packet.TCP(b[:n])
	seg.SetChecksum(seg.CalculateChecksum(t.Src, t.Dst))
	return n
}

// ACKLen is the most WriteServerACK and WriteClientACK write: a 20-byte
// header and NOP, NOP, Timestamps.
const ACKLen = packet.TCPMinHeaderLen + 12

// WriteServerACK writes into b (at least ACKLen bytes) the ACK that
// completes the server's handshake once its SYN/ACK made h (h.ServerISN,
// h.ServerTSval, h.ServerTS) and sp, checksummed, and returns its length:
// seq the client's ISN + 1, ack the server's ISN + 1, window the client's
// ACK window field in the server's scale, TSval the client's and TSecr the
// server's when both use timestamps.
func WriteServerACK(b []byte, t *Tuple, o *Opened, h *Halves, sp *Splice, clientWindow uint16) int {
	opts := packet.SynOptions{WScale: -1}
	if sp.ts {
		opts.TS, opts.TSval, opts.TSecr = true, o.TSval, h.ServerTSval
	}
	w := rescale(clientWindow, sp.c2sFrom, sp.c2sTo)
	n := writeSegment(b, t.SrcPort, t.DstPort, o.ISN+1, h.ServerISN+1, packet.ACK, w, &opts)
	seg := packet.TCP(b[:n])
	seg.SetChecksum(seg.CalculateChecksum(t.Src, t.Dst))
	return n
}

// WriteClientACK writes into b (at least ACKLen bytes) the window update
// that opens the client's window once the server answered, checksummed, and
// returns its length: seq the cookie + 1, ack the client's ISN + 1, window
// the server's SYN/ACK window in the client's scale (ClientWindow), TSval
// the cookie's (the server's SYN/ACK TSval in the client's view) and TSecr
// the client's when the client uses timestamps.
func WriteClientACK(b []byte, t *Tuple, o *Opened, sp *Splice, serverWindow uint16) int {
	opts := packet.SynOptions{WScale: -1}
	if o.TS {
		opts.TS, opts.TSval, opts.TSecr = true, o.TSecr, o.TSval
	}
	n := writeSegment(b, t.DstPort, t.SrcPort, o.Cookie+1, o.ISN+1, packet.ACK, sp.ClientWindow(serverWindow), &opts)
	seg := packet.TCP(b[:n])
	seg.SetChecksum(seg.CalculateChecksum(t.Dst, t.Src))
	return n
}
