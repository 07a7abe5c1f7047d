// Command cbacctl talks to a running cbacd over its control socket, with
// the IOS exec commands operators know:
//
//	cbacctl show ip inspect all
//	cbacctl show ip inspect sessions [detail]
//	cbacctl show ip inspect statistics
//	cbacctl show ip nat translations
//	cbacctl show access-lists [NAME]
//	cbacctl show arp
//	cbacctl debug ip inspect smtp
//	cbacctl clear ip inspect session ID|all
//	cbacctl clear access-list counters
//	cbacctl reload
//	cbacctl capture drops [-c N] [-reason R] [-s SNAPLEN] -w FILE.pcapng
//	cbacctl capture interface NAME [-c N] [-s SNAPLEN] -w FILE.pcapng
//
// Abbreviations work as on IOS ("cbacctl sh ip insp sess det").
//
// Exit status: 0 when the command ran (and for -h), 1 when cbacd refused it
// (its answer has a "% ..." line, as IOS prints errors) or cannot be
// reached, 2 for no command or a bad flag.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"cbac/config"
)

func main() {
	sock := flag.String("s", config.DefaultControlSocket, "cbacd control socket")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: cbacctl [-s SOCKET] COMMAND...\n\n%s\n\nflags:\n", commands)
		flag.PrintDefaults()
	}
	flag.Parse() // -h: usage, exit 0; a bad flag: exit 2
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if flag.Arg(0) == "capture" {
		code := capture(ctx, *sock, flag.Args()[1:], os.Stderr)
		stop()
		os.Exit(code)
	}
	w := &errorLines{dst: os.Stdout, lineStart: true}
	if err := client(ctx, *sock, strings.Join(flag.Args(), " "), w); err != nil {
		fmt.Fprintf(os.Stderr, "cbacctl: %v\n", err)
		os.Exit(1)
	}
	if w.failed {
		os.Exit(1)
	}
}

// errorLines copies the reply to dst and notes whether a line starts with
// "%": cbacd's error lines, as IOS prints them.
type errorLines struct {
	dst       io.Writer
	lineStart bool
	failed    bool
}

func (l *errorLines) Write(p []byte) (int, error) {
	for _, c := range p {
		if l.lineStart && c == '%' {
			l.failed = true
		}
		l.lineStart = c == '\n'
	}
	return l.dst.Write(p)
}
