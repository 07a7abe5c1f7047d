package iosconfig_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"cbac/config"
	"cbac/iosconfig"
)

// FuzzImport: any input either fails with an error or gives TOML that
// BurntSushi/toml decodes and cbac's loader accepts, with every input
// line translated or reported. Interfaces that need a device get one
// from the mapping error, so that the translation itself is exercised.
func FuzzImport(f *testing.F) {
	for _, path := range []string{"testdata/seed-3640.running-config", "testdata/branch.running-config"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(base + "ip route 10.1.0.0 255.255.0.0 Ethernet0/1\nip nat inside source static 10.0.0.2 192.0.2.2\n")
	f.Add("banner motd ^C\n^C\nip access-list extended X\n 10 remark r\n 10 permit ip any any\n")
	// TCP intercept: every setting, values the loader refuses, a list
	// that is not defined, and settings without a list.
	f.Add("ip tcp intercept list 120\nip tcp intercept mode watch\nip tcp intercept drop-mode random\n" +
		"ip tcp intercept max-incomplete low 2000\nip tcp intercept one-minute high 5\nip tcp intercept watch-timeout 9\n" +
		"ip tcp intercept finrst-timeout 2\nip tcp intercept connection-timeout 60\naccess-list 120 permit tcp any any\n")
	f.Add("ip tcp intercept list 130\nip tcp intercept mode intercept\n")
	f.Add("ip tcp intercept mode watch\nip tcp intercept max-incomplete high 1\n")
	f.Fuzz(func(t *testing.T, in string) {
		opt := iosconfig.Options{}
		res, err := iosconfig.Import(strings.NewReader(in), opt)
		var me *iosconfig.MappingError
		if errors.As(err, &me) && len(me.Missing) > 0 && len(me.Unknown) == 0 {
			opt.Devices = map[string]string{}
			for i, m := range me.Missing {
				opt.Devices[m.Name] = "dev" + strings.Repeat("x", i)
			}
			res, err = iosconfig.Import(strings.NewReader(in), opt)
		}
		if err != nil {
			return
		}
		var v map[string]any
		if _, err := toml.Decode(string(res.TOML), &v); err != nil {
			t.Fatalf("TOML does not decode: %v\n%s", err, res.TOML)
		}
		if _, err := config.Parse("fuzz.toml", res.TOML); err != nil {
			t.Fatalf("the loader refuses the translation: %v\ninput:\n%q\nTOML:\n%s", err, in, res.TOML)
		}
		checkAccounted(t, res)
	})
}
