package lab

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFeaturesSetAttrs(t *testing.T) {
	for _, on := range []bool{false, true} {
		b := featuresSetAttrs("eth0", []string{"rx-gro", "tx-checksum-ip-generic"}, on)
		attrs := parseAttrs(b)
		if len(attrs) != 2 || attrs[0].typ != unix.ETHTOOL_A_FEATURES_HEADER || attrs[1].typ != unix.ETHTOOL_A_FEATURES_WANTED {
			t.Fatalf("top-level attrs %+v", attrs)
		}
		if binary.NativeEndian.Uint16(b[2:4])&unix.NLA_F_NESTED == 0 {
			t.Error("header not marked nested")
		}
		hdr := parseAttrs(attrs[0].val)
		if len(hdr) != 1 || hdr[0].typ != unix.ETHTOOL_A_HEADER_DEV_NAME || string(hdr[0].val) != "eth0\x00" {
			t.Errorf("header %+v", hdr)
		}
		// Decoding the request's bitset as a reply with a mask gives back
		// the requested values: without NOMASK, VALUE carries the bit.
		got := parseBitset(attrs[1].val)
		if len(got) != 2 || got["rx-gro"] != on || got["tx-checksum-ip-generic"] != on {
			t.Errorf("on=%v: bitset decodes to %v", on, got)
		}
	}
}

func TestParseBitsetNomask(t *testing.T) {
	bit := appendAttrString(nil, unix.ETHTOOL_A_BITSET_BIT_NAME, "tx-generic-segmentation")
	bits := appendAttr(nil, unix.ETHTOOL_A_BITSET_BITS_BIT|unix.NLA_F_NESTED, bit)
	set := appendAttr(nil, unix.ETHTOOL_A_BITSET_NOMASK, nil)
	set = appendAttr(set, unix.ETHTOOL_A_BITSET_BITS|unix.NLA_F_NESTED, bits)
	got := parseBitset(set)
	if len(got) != 1 || !got["tx-generic-segmentation"] {
		t.Errorf("NOMASK bitset decodes to %v", got)
	}
}

func TestParseNlError(t *testing.T) {
	errno := -int32(unix.EOPNOTSUPP)
	body := binary.NativeEndian.AppendUint32(nil, uint32(errno))
	body = append(body, make([]byte, 16)...) // the request's header, capped
	body = appendAttrString(body, unix.NLMSGERR_ATTR_MSG, "no such feature")
	err := parseNlError(body, unix.NLM_F_ACK_TLVS|unix.NLM_F_CAPPED)
	if !errors.Is(err, unix.EOPNOTSUPP) || err.Error() != "operation not supported: no such feature" {
		t.Errorf("err = %v", err)
	}
	if err := parseNlError(make([]byte, 20), 0); err != nil {
		t.Errorf("ACK decodes to %v", err)
	}
}

func TestParseAttrsMalformed(t *testing.T) {
	for _, b := range [][]byte{nil, {1}, {3, 0, 1, 0}, {8, 0, 1, 0, 1}, {200, 0, 1, 0, 0, 0, 0, 0}} {
		if a := parseAttrs(b); len(a) != 0 {
			t.Errorf("parseAttrs(%v) = %v", b, a)
		}
	}
}
