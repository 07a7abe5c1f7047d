package metrics_test

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"cbac/dataplane"
	"cbac/metrics"
)

// udp is the i-th of up to 250 times 50000 distinct UDP flows from the inside
// host to the outside.
func udp(b testing.TB, i int) []byte {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP,
		SrcIP: net.ParseIP("10.10.10.5").To4(), DstIP: net.IPv4(203, 0, 113, byte(1+i/50000)).To4(), Id: 1}
	u := &layers.UDP{SrcPort: layers.UDPPort(1024 + i%50000), DstPort: 5353}
	u.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
		&layers.Ethernet{SrcMAC: macHost, DstMAC: macIn0, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload("x")); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// withSessions is a fixture holding n UDP sessions.
func withSessions(b *testing.B, n int) *fixture {
	// Thresholds out of reach: UDP sessions stay half-open until a reply.
	toml := strings.NewReplacer(
		`one_minute = { low = 400, high = 500 }`, `one_minute = { low = 900000, high = 1000000 }`,
		`max_incomplete = { low = 400, high = 500 }`, `max_incomplete = { low = 900000, high = 1000000 }`,
	).Replace(string(seed(b, false)))
	f := newFixture(b, []byte(toml))
	for i := 0; i < n; i += 64 { // one batch
		var frames [][]byte
		for j := i; j < min(i+64, n); j++ {
			frames = append(frames, udp(b, j))
		}
		f.send(b, portIn, frames...)
	}
	if live, _ := f.dp.Workers[0].SessionCount(); live != n {
		b.Fatalf("%d sessions, want %d", live, n)
	}
	return f
}

// How long a scrape holds a worker to count its sessions (Dataplane.Do).
func BenchmarkCountSessions100k(b *testing.B) {
	f := withSessions(b, 100000)
	w := f.dp.Workers[0]
	b.ReportAllocs()
	for b.Loop() {
		var c dataplane.SessionCounts
		w.CountSessions(&c)
		if c.ByKind[dataplane.InspectUDP][dataplane.SISOpening] != 100000 {
			b.Fatalf("counted %v", c.ByKind[dataplane.InspectUDP])
		}
	}
}

// A whole scrape (collect, encode, HTTP) of a dataplane with 100k sessions.
func BenchmarkScrape100k(b *testing.B) {
	f := withSessions(b, 100000)
	ts := httptest.NewServer(metrics.Handler(metrics.Source{DP: f.dp, Server: f.srv}))
	defer ts.Close()
	b.ReportAllocs()
	for b.Loop() {
		scrape(b, ts.URL)
	}
}
