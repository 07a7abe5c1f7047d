// Command cbacd is the cbac firewall dataplane daemon.
//
//	cbacd -c FILE.toml                 bind the configured devices (AF_XDP) and run
//	cbacd check -c FILE.toml           load and compile a configuration, then exit
//	cbacd lab [-c FILE.toml]           build the seed network in namespaces and run it
//	cbacd replay -c FILE -r IN -w OUT  run the pipeline over a capture (offline)
//	cbacd import-ios [-map A=DEV] FILE translate an IOS running-config to TOML
//	cbacd version                      print the module version, VCS revision and Go version
package main

import (
	"fmt"
	"os"
)

func main() {
	args := os.Args[1:]
	var err error
	switch {
	case len(args) > 0 && args[0] == "lab":
		err = labMain(args[1:])
	case len(args) > 0 && args[0] == "replay":
		err = replayMain(args[1:])
	case len(args) > 0 && args[0] == "check":
		err = checkMain(args[1:])
	case len(args) > 0 && args[0] == "import-ios":
		os.Exit(importIOSMain(args[1:], os.Stdin, os.Stdout, os.Stderr))
	case len(args) > 0 && (args[0] == "version" || args[0] == "-version" || args[0] == "--version"):
		versionMain()
		return
	case len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help"):
		fmt.Print(usage)
		return
	default:
		err = runMain(args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cbacd: %v\n", err)
		os.Exit(1)
	}
}

const usage = `usage:
  cbacd -c FILE.toml [-workers N] [-cpus LIST] [-spin auto|never|DURATION]
        [-xdp-mode native|generic] [-force]
        run the firewall on the configured devices (root; AF_XDP);
        workers are not pinned by default (the scheduler places them);
        -cpus 2,3 pins worker i to the i-th CPU of the list; -cpus auto to
        the CPUs that service none of the devices' interrupts or RPS, if
        there are enough of them; -spin: how long a worker keeps polling
        its rings after its last frame before it sleeps in poll(2): auto
        (default) 200us while it has a backlog, else 10us; never; or a
        fixed time such as 50us (1us-1s)
  cbacd check -c FILE.toml
        load and compile a configuration, report errors, exit
  cbacd lab [-c FILE.toml] [-prefix cbac-]
        build the seed network in network namespaces and run cbacd in it
  cbacd replay -c FILE.toml -r IN.pcapng -w OUT.pcapng [-i DEVICE] [-until DURATION]
        run the pipeline over a capture; packet timestamps are the clock
  cbacd import-ios [-map IOSNAME=DEVICE,...] FILE|-
        translate an IOS running-config into cbacd TOML (stdout); untranslated
        lines on stderr; exit 2 if a security-relevant line was not translated
  cbacd version (or -version)
        print the module version, VCS revision and Go version
`
