package iosconfig_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"cbac/iosconfig"
)

// largeConfig is a running-config with n access-list entries, n/10
// unclosed-looking banner delimiters and n/100 interfaces: the import
// must stay linear in it.
func largeConfig(n int) string {
	var b strings.Builder
	b.WriteString("hostname big\n")
	for i := 0; i < n/100; i++ {
		s := strconv.Itoa(i)
		b.WriteString("interface Ethernet" + s + "\n ip address 10." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ".1 255.255.255.0\n ip access-group 101 in\n shutdown\n")
	}
	for i := 0; i < n; i++ {
		b.WriteString("access-list 101 permit tcp any host 192.0.2." + strconv.Itoa(i%250) + " eq " + strconv.Itoa(1+i%65535) + "\n")
		if i%10 == 0 {
			b.WriteString("banner exec ~\n")
		}
	}
	b.WriteString("interface Ethernet-last\n ip address 172.16.0.1 255.255.0.0\n ip access-group 101 in\n")
	return b.String()
}

func benchImport(b *testing.B, in string, devices map[string]string) {
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := iosconfig.Import(strings.NewReader(in), iosconfig.Options{Devices: devices}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImportSeed(b *testing.B) {
	in, err := os.ReadFile("testdata/seed-3640.running-config")
	if err != nil {
		b.Fatal(err)
	}
	benchImport(b, string(in), seedMap)
}

// BenchmarkImportLarge at two sizes: ns/op grows with the input, not its
// square.
func BenchmarkImportLarge(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchImport(b, largeConfig(n), map[string]string{"Ethernet-last": "eth0"})
		})
	}
}
