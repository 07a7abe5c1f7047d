package main

import (
	"flag"
	"fmt"
	"os"

	"cbac/config"
	"cbac/control"
)

func checkMain(args []string) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("c", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return fmt.Errorf("check: -c FILE.toml is required")
	}
	c, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	if _, err := control.Compile(c, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "%s: configuration OK (%d interfaces, %d inspection rules, %d access lists)\n",
		*cfgPath, len(c.Interfaces), len(c.Inspect.Rules), len(c.AccessLists))
	return nil
}
