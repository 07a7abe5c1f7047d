package main

import (
	"fmt"
	"os"

	"cbac/config"
	"cbac/control"
)

// checkMain loads and compiles a configuration as the daemon would at
// start, without binding anything: the errors name the file, the line and
// the key.
func checkMain(args []string) error {
	fs := newFlagSet("check", "cbacd check -c FILE.toml")
	cfgPath := fs.String("c", "", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("%w: check: -c FILE.toml is required", errUsage)
	}
	c, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := control.Compile(c, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s: configuration is valid (%d interfaces, %d inspection rules, %d access lists)\n",
		*cfgPath, len(c.Interfaces), len(c.Inspect.Rules), len(c.AccessLists))
	return nil
}
