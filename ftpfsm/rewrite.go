package ftpfsm

import "strconv"

// MaxText is the longest address-and-port text AppendText writes
// ("|1|255.255.255.255|65535|").
const MaxText = 25

// AppendText appends to dst the address-and-port text of an announcement
// of kind k naming addr and port, in the syntax that k's text has (see
// Announcement): PORT and 227 "h1,h2,h3,h4,p1,p2"; EPRT
// "<d>1<d>a.b.c.d<d>port<d>"; 229 "<d><d><d>port<d>" (addr unused). delim
// is the delimiter of EPRT and 229 texts; keep the one the sender chose (a
// zero delim writes '|', RFC 2428's example). It never writes more than
// MaxText octets and allocates nothing when dst has room for them.
func AppendText(dst []byte, k Kind, delim byte, addr uint32, port uint16) []byte {
	if !isDelim(delim) {
		delim = '|'
	}
	switch k {
	case KindPORT, Kind227:
		for sh := 24; sh >= 0; sh -= 8 {
			dst = strconv.AppendUint(dst, uint64(addr>>sh&0xff), 10)
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(port>>8), 10)
		dst = append(dst, ',')
		return strconv.AppendUint(dst, uint64(port&0xff), 10)
	case KindEPRT:
		dst = append(dst, delim, '1', delim)
		dst = appendIP(dst, addr)
		dst = append(dst, delim)
	case Kind229:
		dst = append(dst, delim, delim, delim)
	default:
		return dst
	}
	dst = strconv.AppendUint(dst, uint64(port), 10)
	return append(dst, delim)
}

// Replacement returns the text that replaces a's address-and-port text when
// the announced address and port become addr and port (static NAT), built
// in buf, and the change in length: len(text) - (a.End - a.Start). The
// caller writes text over [a.Start, a.End) and shifts the rest of the
// stream by delta (Shift.Add).
func Replacement(buf *[MaxText]byte, a *Announcement, addr uint32, port uint16) (text []byte, delta int) {
	text = AppendText(buf[:0], a.Kind, a.Delim, addr, port)
	return text, len(text) - (a.End - a.Start)
}
