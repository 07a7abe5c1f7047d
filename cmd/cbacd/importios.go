package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"cbac/config"
	"cbac/control"
	"cbac/iosconfig"
)

// Exit codes of "cbacd import-ios".
const (
	importOK       = 0
	importFailed   = 1 // I/O or usage error, or a translation cbacd would not load
	importSecurity = 2 // a security-relevant line was not translated
)

// importIOSMain runs "cbacd import-ios [-map IOS=DEV,...] FILE": the TOML
// on stdout, the report on stderr. FILE "-" is standard input.
func importIOSMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-ios", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mapping := fs.String("map", "", "IOS interface to Linux device, e.g. Ethernet2/0=out0,Ethernet2/1=in0 (DEVICE - leaves one out)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cbacd import-ios [-map IOSNAME=DEVICE,...] FILE|-")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return importOK // asked for the usage
		}
		return importFailed
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cbacd import-ios: "+format+"\n", a...)
		return importFailed
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return importFailed
	}
	devices, err := parseDeviceMap(*mapping)
	if err != nil {
		return fail("-map: %v", err)
	}
	name := fs.Arg(0)
	var in io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fail("%v", err)
		}
		defer f.Close()
		in = f
	} else {
		name = "standard input"
	}
	res, err := iosconfig.Import(in, iosconfig.Options{Name: name, Devices: devices})
	if err != nil {
		return fail("%s: %v", name, err)
	}
	// The translation must be what "cbacd check" accepts.
	c, err := config.Parse("imported configuration", res.TOML)
	if err == nil {
		_, err = control.Compile(c, nil)
	}
	if err != nil {
		res.WriteReport(stderr)
		return fail("the translation of %s does not load: %v", name, err)
	}
	if _, err := stdout.Write(res.TOML); err != nil {
		return fail("write: %v", err)
	}
	if err := res.WriteReport(stderr); err != nil {
		return importFailed
	}
	if res.Security() > 0 {
		return importSecurity
	}
	return importOK
}

// parseDeviceMap parses "IOS=DEV,IOS=DEV".
func parseDeviceMap(s string) (map[string]string, error) {
	m := map[string]string{}
	if s == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		ios, dev, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || ios == "" || dev == "" {
			return nil, fmt.Errorf("%q: want IOSNAME=DEVICE", kv)
		}
		if err := checkDevice(dev); err != nil {
			return nil, fmt.Errorf("%q: %w", kv, err)
		}
		for k := range m {
			if strings.EqualFold(k, ios) {
				return nil, fmt.Errorf("%s is mapped twice", ios)
			}
		}
		m[ios] = dev
	}
	return m, nil
}

// checkDevice accepts a Linux network device name (or "-").
func checkDevice(dev string) error {
	if dev == iosconfig.SkipDevice {
		return nil
	}
	if len(dev) > 15 || dev == "." || dev == ".." || strings.ContainsAny(dev, "/: \t") {
		return errors.New("not a Linux device name (at most 15 characters, no '/', ':' or blanks)")
	}
	return nil
}
