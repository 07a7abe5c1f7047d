package ftpfsm

// The address-and-port text parser, shared by the command and reply
// machines. It is fed one byte at a time and keeps only the numbers read so
// far.
//
//	numbers (PORT, 227): h1,h2,h3,h4,p1,p2   each 1-3 digits, 0-255 (RFC 959 section 4.1.2)
//	EPRT:                <d>1<d>a.b.c.d<d>port<d>   (RFC 2428 section 2)
//	EPSV reply (229):    <d><d><d>port<d>           (RFC 2428 section 3)
//
// <d> is any printable octet (33-126) but a digit, chosen by the sender.
// Octets and port are decimal without sign; a field of more digits than its
// largest value has (3, or 5 for a port) is malformed, so the text of a
// well-formed announcement is short (MaxHold bounds it). EPRT with network
// protocol 2 (IPv6) is malformed for this IPv4-only firewall and flagged v6.

const (
	fmtNumbers uint8 = iota
	fmtEPRT
	fmt229
)

// Results of textParser.step.
const (
	pMore     uint8 = iota // the byte belongs to the text; more to come
	pDone                  // the text ended before this byte (numbers only)
	pDoneIncl              // this byte was the text's last
	pBad                   // malformed
)

type textParser struct {
	format uint8
	field  uint8 // numbers: 0-5; EPRT and 229: stage (below)
	digits uint8
	delim  byte
	v6     bool
	val    uint32
	addr   uint32
	port   uint16
}

// EPRT and 229 stages.
const (
	stDelim1 uint8 = iota
	stProto        // EPRT only
	stDelim2
	stAddr0 // EPRT: octets 0-3 (stAddr0..stAddr0+3)
	stPort  = stAddr0 + 4
)

func (p *textParser) init(format uint8) { *p = textParser{format: format} }

func isDelim(c byte) bool { return c >= 33 && c <= 126 && (c < '0' || c > '9') }

// digit adds c to the field; max is the field's largest value, n its
// largest number of digits. It reports false if the field overflows.
func (p *textParser) digit(c byte, max uint32, n uint8) bool {
	if p.digits == n {
		return false
	}
	p.digits++
	p.val = p.val*10 + uint32(c-'0')
	return p.val <= max
}

func (p *textParser) step(c byte) uint8 {
	isDigit := c >= '0' && c <= '9'
	switch p.format {
	case fmtNumbers:
		switch {
		case isDigit:
			if !p.digit(c, 255, 3) {
				return pBad
			}
			return pMore
		case c == ',' && p.digits > 0 && p.field < 5:
			p.commitNumber()
			return pMore
		case c != ',' && p.digits > 0 && p.field == 5:
			p.commitNumber()
			return pDone
		}
		return pBad
	case fmtEPRT:
		switch {
		case p.field == stDelim1:
			if !isDelim(c) {
				return pBad
			}
			p.delim = c
			p.field = stProto
			return pMore
		case p.field == stProto:
			if c == '2' {
				p.v6 = true // RFC 2428 network protocol 2: IPv6
			}
			if c != '1' {
				return pBad
			}
			p.field = stDelim2
			return pMore
		case p.field == stDelim2:
			if c != p.delim {
				return pBad
			}
			p.field = stAddr0
			return pMore
		case p.field < stPort:
			if isDigit {
				if !p.digit(c, 255, 3) {
					return pBad
				}
				return pMore
			}
			last := p.field == stAddr0+3
			if p.digits == 0 || (last && c != p.delim) || (!last && c != '.') {
				return pBad
			}
			p.addr = p.addr<<8 | p.val
			p.val, p.digits = 0, 0
			p.field++
			return pMore
		}
		return p.portStep(c, isDigit, false)
	default: // fmt229
		switch p.field {
		case stDelim1:
			if !isDelim(c) {
				return pBad
			}
			p.delim = c
			p.field = stDelim2 // two more delimiters: stDelim2, then stAddr0
			return pMore
		case stDelim2, stAddr0:
			if c != p.delim {
				return pBad
			}
			if p.field == stDelim2 {
				p.field = stAddr0
			} else {
				p.field = stPort
			}
			return pMore
		}
		return p.portStep(c, isDigit, true)
	}
}

// portStep reads the port and its closing delimiter (EPRT and 229).
func (p *textParser) portStep(c byte, isDigit, nonZero bool) uint8 {
	if isDigit {
		if !p.digit(c, 65535, 5) {
			return pBad
		}
		return pMore
	}
	if c != p.delim || p.digits == 0 || (nonZero && p.val == 0) {
		return pBad
	}
	p.port = uint16(p.val)
	return pDoneIncl
}

func (p *textParser) commitNumber() {
	if p.field < 4 {
		p.addr = p.addr<<8 | p.val
	} else {
		p.port = p.port<<8 | uint16(p.val)
	}
	p.val, p.digits = 0, 0
	p.field++
}
