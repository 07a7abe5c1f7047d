// Command cbacd is the cbac firewall dataplane daemon.
//
//	cbacd -c FILE.toml                 bind the configured devices (AF_XDP) and run
//	cbacd check -c FILE.toml           load and compile a configuration, then exit
//	cbacd lab [-c FILE.toml]           build the seed network in namespaces and run it
//	cbacd replay -c FILE -r IN -w OUT  run the pipeline over a capture (offline)
//	cbacd import-ios [-map A=DEV] FILE translate an IOS running-config to TOML
//	cbacd version                      print the module version, VCS revision and Go version
//
// Exit status: 0 on success (and for -h, help), 1 when the command failed
// (a configuration error, a bad capture, a device that cannot be bound), 2
// for a command line cbacd cannot run (an unknown command or flag, a
// missing required flag). import-ios has its own (see importios.go): 2
// there says that a security-relevant line was not translated.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	os.Exit(cbacdMain(os.Args[1:]))
}

// errUsage marks a command line that cannot run (exit status 2).
var errUsage = errors.New("usage")

// errFlags is a flag error the flag package has already reported with the
// command's usage (exit status 2, nothing more to print).
var errFlags = errors.New("bad flags")

// cbacdMain runs the command line args and returns the exit status.
func cbacdMain(args []string) int {
	if len(args) > 0 && (args[0] == "-version" || args[0] == "--version") {
		versionMain()
		return 0
	}
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = runMain(args)
	case "lab":
		err = labMain(args)
	case "replay":
		err = replayMain(args)
	case "check":
		err = checkMain(args)
	case "import-ios":
		return importIOSMain(args, os.Stdin, os.Stdout, os.Stderr)
	case "version":
		versionMain()
		return 0
	case "help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "cbacd: unknown command %q\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "cbacd: %v\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(os.Stderr, "cbacd: %v\n", err)
	return 1
}

// newFlagSet makes a subcommand's flag set: errors are returned (not
// fatal), and -h prints synopsis and the flags.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args: flag.ErrHelp for -h, errFlags for a bad flag (the
// flag package has printed it), errUsage for arguments left over.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlags
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

const usage = `usage:
  cbacd -c FILE.toml [-socket PATH] [-workers N] [-cpus LIST] [-spin auto|never|DURATION]
        [-xdp-mode auto|native|generic] [-force]
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
  cbacd replay -c FILE.toml -r IN.pcapng -w OUT.pcapng [-i DEVICE] [-until DURATION] [-show]
        run the pipeline over a capture; packet timestamps are the clock
  cbacd import-ios [-map IOSNAME=DEVICE,...] FILE|-
        translate an IOS running-config into cbacd TOML (stdout); untranslated
        lines on stderr; exit 2 if a security-relevant line was not translated
  cbacd version (or -version)
        print the module version, VCS revision and Go version
  cbacd help
        this text ("cbacd COMMAND -h" lists a command's flags)
`
