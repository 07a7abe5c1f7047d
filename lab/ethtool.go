package lab

// Offload features of the lab hosts' interfaces, through the ethtool
// generic-netlink family (Linux >= 5.6), the same requests as
// `ethtool -K DEV tx off tso off gso off gro off`.
//
// Why: on a veth the sending stack leaves the TCP/UDP checksum to "the
// hardware" (CHECKSUM_PARTIAL) and may hand over 64 KB GSO segments. A frame
// that crosses cbacd's AF_XDP sockets is raw bytes: the checksum would never
// be filled in and the receiver would drop the segment, and a GSO segment
// larger than the MTU cannot be carried at all. So every host computes its
// checksums in software and sends segments no larger than the MTU.
//
// Kernels without ethtool netlink fall back to the ethtool binary.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// hostOffloadsOff are the netdev feature names (the kernel's
// netdev_features_strings) that the lab turns off on every host interface.
var hostOffloadsOff = []string{
	"tx-checksum-ipv4",
	"tx-checksum-ip-generic",
	"tx-checksum-ipv6",
	"tx-checksum-sctp",
	"tx-tcp-segmentation",
	"tx-tcp-ecn-segmentation",
	"tx-tcp-mangleid-segmentation",
	"tx-tcp6-segmentation",
	"tx-udp-segmentation",
	"tx-generic-segmentation",
	"rx-gro",
}

// errNoEthtoolNetlink: the kernel has no "ethtool" generic netlink family.
var errNoEthtoolNetlink = errors.New("kernel has no ethtool netlink family")

// disableOffloads turns off checksum offload and segmentation offloads on
// dev inside namespace ns.
func disableOffloads(ns, dev string) error {
	err := inNetns(ns, func() error {
		return setFeatures(dev, hostOffloadsOff, false)
	})
	if errors.Is(err, errNoEthtoolNetlink) {
		return ethtoolExec(ns, dev)
	}
	if err != nil {
		return fmt.Errorf("disable offloads on %s in %s: %w", dev, ns, err)
	}
	return nil
}

// ethtoolExec is the fallback for kernels without ethtool netlink.
func ethtoolExec(ns, dev string) error {
	path, err := exec.LookPath("ethtool")
	if err != nil {
		return fmt.Errorf("disable offloads on %s in %s: kernel lacks ethtool netlink and the ethtool program is not installed (apt-get install ethtool): %w", dev, ns, err)
	}
	out, err := exec.Command("ip", "netns", "exec", ns, path, "-K", dev,
		"tx", "off", "tso", "off", "gso", "off", "gro", "off").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ethtool -K %s in %s: %w: %s", dev, ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Features returns the active offload features of dev in the namespace of
// role, by name (e.g. "tx-checksum-ip-generic" -> false).
func (l *Lab) Features(role, dev string) (map[string]bool, error) {
	var active map[string]bool
	err := inNetns(l.NS(role), func() error {
		var err error
		active, err = getFeatures(dev)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("features of %s in %s: %w", dev, l.NS(role), err)
	}
	return active, nil
}

// genlConn is a generic netlink socket in the calling thread's namespace.
type genlConn struct {
	fd  int
	seq uint32
}

func dialGenl() (*genlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink SO_RCVTIMEO: %w", err)
	}
	// Extended ACK: the kernel's error text comes back with the errno.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &genlConn{fd: fd}, nil
}

func (c *genlConn) Close() error { return unix.Close(c.fd) }

// request sends one generic netlink request with NLM_F_ACK and returns the
// payloads (after the genl header) of the reply messages of the same
// sequence number, up to and including the ACK.
func (c *genlConn) request(family uint16, cmd uint8, attrs []byte) ([][]byte, error) {
	c.seq++
	msg := make([]byte, 0, 20+len(attrs))
	msg = binary.NativeEndian.AppendUint32(msg, uint32(20+len(attrs)))
	msg = binary.NativeEndian.AppendUint16(msg, family)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	msg = binary.NativeEndian.AppendUint32(msg, c.seq)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = append(msg, cmd, 1, 0, 0) // genlmsghdr: cmd, version, reserved
	msg = append(msg, attrs...)
	if err := unix.Sendto(c.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("netlink send: %w", err)
	}
	var replies [][]byte
	buf := make([]byte, 1<<16)
	// Bounded: a request yields one reply and one ACK; allow some slack.
	for range 64 {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("netlink receive: %w", err)
		}
		b := buf[:n]
		for len(b) >= 16 {
			mlen := int(binary.NativeEndian.Uint32(b[0:4]))
			if mlen < 16 || mlen > len(b) {
				return nil, errors.New("netlink: truncated message")
			}
			typ := binary.NativeEndian.Uint16(b[4:6])
			flags := binary.NativeEndian.Uint16(b[6:8])
			seq := binary.NativeEndian.Uint32(b[8:12])
			body := b[16:mlen]
			b = b[nlAlign(mlen):]
			if seq != c.seq {
				continue
			}
			switch typ {
			case unix.NLMSG_ERROR:
				return replies, parseNlError(body, flags)
			case unix.NLMSG_DONE:
				return replies, nil
			default:
				if len(body) >= 4 {
					replies = append(replies, append([]byte(nil), body[4:]...))
				}
			}
		}
	}
	return nil, errors.New("netlink: no ACK after 64 datagrams")
}

// parseNlError decodes struct nlmsgerr and an extended-ACK message text.
func parseNlError(body []byte, flags uint16) error {
	if len(body) < 4 {
		return errors.New("netlink: short error message")
	}
	errno := int32(binary.NativeEndian.Uint32(body[0:4]))
	if errno == 0 {
		return nil
	}
	err := error(unix.Errno(-errno))
	if flags&unix.NLM_F_ACK_TLVS != 0 && len(body) >= 20 {
		skip := 20 // errno + original header
		if flags&unix.NLM_F_CAPPED == 0 {
			skip = 4 + int(binary.NativeEndian.Uint32(body[4:8]))
		}
		if skip <= len(body) {
			for _, a := range parseAttrs(body[skip:]) {
				if a.typ == unix.NLMSGERR_ATTR_MSG {
					err = fmt.Errorf("%w: %s", err, strings.TrimRight(string(a.val), "\x00"))
				}
			}
		}
	}
	return err
}

// familyID resolves a generic netlink family name to its id.
func (c *genlConn) familyID(name string) (uint16, error) {
	replies, err := c.request(unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY,
		appendAttrString(nil, unix.CTRL_ATTR_FAMILY_NAME, name))
	if errors.Is(err, unix.ENOENT) {
		return 0, errNoEthtoolNetlink
	}
	if err != nil {
		return 0, fmt.Errorf("resolve genl family %s: %w", name, err)
	}
	for _, r := range replies {
		for _, a := range parseAttrs(r) {
			if a.typ == unix.CTRL_ATTR_FAMILY_ID && len(a.val) >= 2 {
				return binary.NativeEndian.Uint16(a.val), nil
			}
		}
	}
	return 0, fmt.Errorf("resolve genl family %s: no id in reply", name)
}

// setFeatures sets (on) or clears (!on) the named features of dev.
// Features the device cannot change are left alone by the kernel.
func setFeatures(dev string, names []string, on bool) error {
	c, err := dialGenl()
	if err != nil {
		return err
	}
	defer c.Close()
	fam, err := c.familyID(unix.ETHTOOL_GENL_NAME)
	if err != nil {
		return err
	}
	_, err = c.request(fam, unix.ETHTOOL_MSG_FEATURES_SET, featuresSetAttrs(dev, names, on))
	if err != nil {
		return fmt.Errorf("ethtool features set: %w", err)
	}
	return nil
}

// featuresSetAttrs builds ETHTOOL_MSG_FEATURES_SET attributes: a header with
// the device name and a WANTED bitset listing the bits to change, in the
// verbose form (by name); a bit without the VALUE flag is cleared.
func featuresSetAttrs(dev string, names []string, on bool) []byte {
	header := appendAttrString(nil, unix.ETHTOOL_A_HEADER_DEV_NAME, dev)
	var bits []byte
	for _, n := range names {
		bit := appendAttrString(nil, unix.ETHTOOL_A_BITSET_BIT_NAME, n)
		if on {
			bit = appendAttr(bit, unix.ETHTOOL_A_BITSET_BIT_VALUE, nil)
		}
		bits = appendAttr(bits, unix.ETHTOOL_A_BITSET_BITS_BIT|unix.NLA_F_NESTED, bit)
	}
	wanted := appendAttr(nil, unix.ETHTOOL_A_BITSET_BITS|unix.NLA_F_NESTED, bits)
	attrs := appendAttr(nil, unix.ETHTOOL_A_FEATURES_HEADER|unix.NLA_F_NESTED, header)
	return appendAttr(attrs, unix.ETHTOOL_A_FEATURES_WANTED|unix.NLA_F_NESTED, wanted)
}

// getFeatures returns dev's active features by name.
func getFeatures(dev string) (map[string]bool, error) {
	c, err := dialGenl()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	fam, err := c.familyID(unix.ETHTOOL_GENL_NAME)
	if err != nil {
		return nil, err
	}
	header := appendAttrString(nil, unix.ETHTOOL_A_HEADER_DEV_NAME, dev)
	replies, err := c.request(fam, unix.ETHTOOL_MSG_FEATURES_GET,
		appendAttr(nil, unix.ETHTOOL_A_FEATURES_HEADER|unix.NLA_F_NESTED, header))
	if err != nil {
		return nil, fmt.Errorf("ethtool features get: %w", err)
	}
	for _, r := range replies {
		for _, a := range parseAttrs(r) {
			if a.typ == unix.ETHTOOL_A_FEATURES_ACTIVE {
				return parseBitset(a.val), nil
			}
		}
	}
	return nil, errors.New("ethtool features get: no active bitset in reply")
}

// parseBitset decodes a verbose ethtool bitset into name -> value. With
// NOMASK every listed bit is set; otherwise the VALUE flag says so.
func parseBitset(b []byte) map[string]bool {
	out := make(map[string]bool)
	nomask := false
	var bits []byte
	for _, a := range parseAttrs(b) {
		switch a.typ {
		case unix.ETHTOOL_A_BITSET_NOMASK:
			nomask = true
		case unix.ETHTOOL_A_BITSET_BITS:
			bits = a.val
		}
	}
	for _, bit := range parseAttrs(bits) {
		if bit.typ != unix.ETHTOOL_A_BITSET_BITS_BIT {
			continue
		}
		name, value := "", nomask
		for _, f := range parseAttrs(bit.val) {
			switch f.typ {
			case unix.ETHTOOL_A_BITSET_BIT_NAME:
				name = strings.TrimRight(string(f.val), "\x00")
			case unix.ETHTOOL_A_BITSET_BIT_VALUE:
				value = true
			}
		}
		if name != "" {
			out[name] = value
		}
	}
	return out
}

// Netlink attribute encoding: struct nlattr {u16 len; u16 type} + value,
// padded to 4 bytes.

func nlAlign(n int) int { return (n + 3) &^ 3 }

func appendAttr(b []byte, typ uint16, val []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(val)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendAttrString(b []byte, typ uint16, s string) []byte {
	return appendAttr(b, typ, append([]byte(s), 0))
}

type nlAttr struct {
	typ uint16 // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
	val []byte
}

func parseAttrs(b []byte) []nlAttr {
	var out []nlAttr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			break
		}
		out = append(out, nlAttr{typ: binary.NativeEndian.Uint16(b[2:4]) & 0x3fff, val: b[4:l]})
		if nlAlign(l) >= len(b) {
			break
		}
		b = b[nlAlign(l):]
	}
	return out
}
