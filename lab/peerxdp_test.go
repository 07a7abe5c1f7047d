package lab

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// TestPeerDropProgram runs the dropping peer program on frames
// (BPF_PROG_TEST_RUN): IPv4 to the prefix is dropped, IPv4 elsewhere, ARP
// and runts pass.
func TestPeerDropProgram(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads an XDP program")
	}
	insns, err := dropInstructions(netip.MustParsePrefix("198.18.0.0/15"))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: PeerProgramName, Type: ebpf.XDP, License: "GPL", Instructions: insns})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	frame := func(etype uint16, dst [4]byte) []byte {
		b := make([]byte, 60)
		binary.BigEndian.PutUint16(b[12:], etype)
		b[14] = 0x45
		copy(b[30:], dst[:])
		return b
	}
	for _, c := range []struct {
		name  string
		frame []byte
		want  uint32
	}{
		{"IPv4 to 198.18.3.4", frame(0x0800, [4]byte{198, 18, 3, 4}), 1},
		{"IPv4 to 198.19.255.255", frame(0x0800, [4]byte{198, 19, 255, 255}), 1},
		{"IPv4 to 198.20.0.1", frame(0x0800, [4]byte{198, 20, 0, 1}), 2},
		{"IPv4 to 172.22.1.100", frame(0x0800, [4]byte{172, 22, 1, 100}), 2},
		{"ARP", frame(0x0806, [4]byte{198, 18, 3, 4}), 2},
		{"runt", frame(0x0800, [4]byte{198, 18, 3, 4})[:30], 2},
	} {
		got, _, err := prog.Test(c.frame)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: action %d, want %d", c.name, got, c.want)
		}
	}
	if _, err := dropInstructions(netip.MustParsePrefix("2001:db8::/32")); err == nil {
		t.Error("an IPv6 prefix was accepted")
	}
}
