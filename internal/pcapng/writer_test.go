package pcapng_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"cbac/internal/pcapng"
)

// frame is an Ethernet/IPv4/TCP SYN 172.22.1.100:40001 -> 172.22.1.110:80.
var frame = []byte{
	0x02, 0xcb, 0x00, 0x00, 0x00, 0x10, 0x02, 0x00, 0x00, 0x00, 0x01, 0x64, 0x08, 0x00, // Ethernet
	0x45, 0x00, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x1f, 0xd1, // IPv4
	0xac, 0x16, 0x01, 0x64, 0xac, 0x16, 0x01, 0x6e,
	0x9c, 0x41, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // TCP
	0x50, 0x02, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
}

var t0 = time.Date(2026, 12, 6, 2, 0, 0, 123456789, time.UTC)

var packets = []pcapng.Packet{
	{Interface: 0, Time: t0, Len: len(frame), Data: frame, Comment: "inbound ACL deny"},
	{Interface: 1, Time: t0.Add(time.Millisecond), Len: 1514, Data: frame[:17], Direction: pcapng.DirOutbound},
	{Interface: 1, Time: t0.Add(2 * time.Millisecond), Len: 3, Data: []byte{1, 2, 3}, Direction: pcapng.DirInbound, Comment: "runt frame"},
}

func write(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := pcapng.NewWriter(&buf, "cbacctl test")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []pcapng.Interface{
		{Name: "out0", Description: "Ethernet2/0", LinkType: pcapng.LinkTypeEthernet, SnapLen: 256},
		{Name: "in0", Description: "Ethernet2/1", LinkType: pcapng.LinkTypeEthernet, SnapLen: 256},
	} {
		if _, err := w.AddInterface(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range packets {
		if err := w.WritePacket(&packets[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WritePacket(&pcapng.Packet{Interface: 2, Data: frame, Len: len(frame)}); !errors.Is(err, pcapng.ErrInterface) {
		t.Errorf("packet on interface 2: %v", err)
	}
	if err := w.WritePacket(&pcapng.Packet{Interface: 0, Data: frame, Len: 3}); err == nil {
		t.Error("length below the captured length accepted")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Read back by gopacket's reader: interfaces, lengths, data, timestamps.
func TestReadBackPcapgo(t *testing.T) {
	b := write(t)
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range packets {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(data, p.Data) || ci.Length != p.Len || ci.InterfaceIndex != p.Interface || !ci.Timestamp.Equal(p.Time) {
			t.Errorf("packet %d: %+v %x, want %+v", i, ci, data, p)
		}
	}
	if _, _, err := r.ReadPacketData(); err == nil {
		t.Error("more packets than written")
	}
	if r.NInterfaces() != 2 {
		t.Fatalf("%d interfaces", r.NInterfaces())
	}
	for i, want := range [][2]string{{"out0", "Ethernet2/0"}, {"in0", "Ethernet2/1"}} {
		ifc, _ := r.Interface(i)
		if ifc.Name != want[0] || ifc.Description != want[1] || ifc.LinkType != layers.LinkTypeEthernet || ifc.SnapLength != 256 {
			t.Errorf("interface %d: %+v, want %v", i, ifc, want)
		}
	}
}

// Read back by tshark (installed in CI): comments, directions, interfaces.
func TestReadBackTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	f := filepath.Join(t.TempDir(), "t.pcapng")
	if err := os.WriteFile(f, write(t), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", f, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "frame.interface_description", "-e", "frame.packet_flags_direction",
		"-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	// The direction prints as 0x02 or 0x00000002 depending on the version.
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.Split(line, "|")
		if len(f) == 6 && f[2] != "" {
			d, err := strconv.ParseUint(f[2], 0, 32)
			if err != nil {
				t.Fatalf("direction %q: %v", f[2], err)
			}
			f[2] = strconv.FormatUint(d, 10)
		}
		got = append(got, strings.Join(f, "|"))
	}
	want := []string{
		"out0|Ethernet2/0||54|54|inbound ACL deny",
		"in0|Ethernet2/1|2|1514|17|",
		"in0|Ethernet2/1|1|3|3|runt frame",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tshark read\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
