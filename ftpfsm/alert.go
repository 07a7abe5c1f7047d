package ftpfsm

import "strconv"

// AlertKind names why a command was refused or a reply not trusted. String
// gives the IOS-style message name; AppendMessage the whole line.
type AlertKind uint8

const (
	AlertNone AlertKind = iota
	// AlertNotAuthenticated: PORT or EPRT (or a 227/229 reply) before the
	// server accepted a login (IOS FTP_SESSION_NOT_AUTHENTICATED).
	AlertNotAuthenticated
	// AlertNonMatchingAddr: PORT or EPRT naming an address that is not the
	// client's (FTP bounce), EPRT naming an IPv6 address on this IPv4
	// connection, or a 227 naming an address that is not the server's
	// (IOS FTP_NON_MATCHING_IP_ADDR).
	AlertNonMatchingAddr
	// AlertPrivPort: PORT or EPRT naming a port below 1024 (IOS
	// FTP_PRIV_PORT).
	AlertPrivPort
	// AlertMalformed: a PORT or EPRT whose argument does not parse (cbac's
	// own: a server may read it otherwise than the firewall did).
	AlertMalformed
	// AlertLongLine: a command line longer than 512 octets; rewritten from
	// octet 513 on, so that no server that cuts lines finds a command in
	// the rest (cbac's own).
	AlertLongLine
	// AlertBareCR: a CR not followed by LF inside a command line; the rest
	// of the line is rewritten, so that no server that ends lines at CR
	// finds a command in it (cbac's own).
	AlertBareCR
	numAlerts
)

var alertNames = [numAlerts]string{
	"",
	"FTP_SESSION_NOT_AUTHENTICATED",
	"FTP_NON_MATCHING_IP_ADDR",
	"FTP_PRIV_PORT",
	"FTP_MALFORMED_PORT",
	"FTP_LONG_LINE",
	"FTP_BARE_CR",
}

// Severity in the IOS message name (%FW-<sev>-...).
var alertSeverity = [numAlerts]byte{'0', '3', '3', '3', '4', '4', '4'}

// String returns the IOS-style message name, e.g. "FTP_PRIV_PORT".
func (k AlertKind) String() string {
	if k < numAlerts {
		return alertNames[k]
	}
	return "FTP_UNKNOWN"
}

// AlertSet is a set of alert kinds, bit k standing for AlertKind k.
type AlertSet uint16

// Has reports whether k is in the set.
func (a AlertSet) Has(k AlertKind) bool { return a&(1<<k) != 0 }

// AppendMessage appends the log line for k about announcement a (a may be
// nil for AlertLongLine and AlertBareCR) on the control connection between
// client and server (host-order addresses), without timestamp, e.g.
// "%FW-3-FTP_PRIV_PORT: Privileged port 21 used in PORT command -- FTP
// client 10.10.10.5 FTP server 192.0.2.10". It allocates only by growing
// dst; it is meant for the control plane, not the packet path.
func AppendMessage(dst []byte, k AlertKind, a *Announcement, client, server uint32) []byte {
	if k == AlertNone || k >= numAlerts {
		return dst
	}
	dst = append(dst, "%FW-"...)
	dst = append(dst, alertSeverity[k], '-')
	dst = append(dst, k.String()...)
	dst = append(dst, ": "...)
	var kind Kind
	var addr uint32
	var port uint16
	if a != nil {
		kind, addr, port = a.Kind, a.Addr, a.Port
	}
	switch k {
	case AlertNotAuthenticated:
		dst = append(dst, "Command issued before the session is authenticated -- FTP client "...)
		dst = appendIP(dst, client)
		dst = append(dst, ", FTP server "...)
		return appendIP(dst, server)
	case AlertNonMatchingAddr:
		dst = append(dst, "Non-matching address "...)
		if kind == KindEPRT && addr == 0 {
			dst = append(dst, "(IPv6)"...)
		} else {
			dst = appendIP(dst, addr)
		}
		dst = append(dst, " used in "...)
		dst = appendWhat(dst, kind)
	case AlertPrivPort:
		dst = append(dst, "Privileged port "...)
		dst = strconv.AppendUint(dst, uint64(port), 10)
		dst = append(dst, " used in "...)
		dst = appendWhat(dst, kind)
	case AlertMalformed:
		dst = append(dst, "Malformed address in "...)
		dst = appendWhat(dst, kind)
	case AlertLongLine:
		dst = append(dst, "FTP command line longer than 512 octets"...)
	case AlertBareCR:
		dst = append(dst, "Bare CR in FTP command line"...)
	}
	dst = append(dst, " -- FTP client "...)
	dst = appendIP(dst, client)
	dst = append(dst, " FTP server "...)
	return appendIP(dst, server)
}

func appendWhat(dst []byte, k Kind) []byte {
	dst = append(dst, k.String()...)
	if k.Client() {
		return append(dst, " command"...)
	}
	return append(dst, " reply"...)
}

func appendIP(dst []byte, a uint32) []byte {
	dst = strconv.AppendUint(dst, uint64(a>>24), 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, uint64(a>>16&0xff), 10)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, uint64(a>>8&0xff), 10)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, uint64(a&0xff), 10)
}
