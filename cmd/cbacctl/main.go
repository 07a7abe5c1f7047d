// Command cbacctl talks to a running cbacd over its control socket, with
// the IOS exec commands operators know:
//
//	cbacctl show ip inspect all
//	cbacctl show ip inspect sessions [detail]
//	cbacctl show ip inspect statistics
//	cbacctl show ip nat translations
//	cbacctl show access-lists [NAME]
//	cbacctl debug ip inspect smtp
//	cbacctl clear ip inspect session ID|all
//	cbacctl capture drops [-c N] [-reason R] [-s SNAPLEN] -w FILE.pcapng
//	cbacctl capture interface NAME [-c N] [-s SNAPLEN] -w FILE.pcapng
//
// Abbreviations work as on IOS ("cbacctl sh ip insp sess det").
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"cbac/config"
)

func main() {
	sock := flag.String("s", config.DefaultControlSocket, "cbacd control socket")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: cbacctl [-s SOCKET] COMMAND...\n(try: cbacctl help)\n")
	}
	flag.Parse()
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
	var out bytes.Buffer
	w := &lineWriter{dst: os.Stdout, buf: &out}
	if err := client(ctx, *sock, strings.Join(flag.Args(), " "), w); err != nil {
		fmt.Fprintf(os.Stderr, "cbacctl: %v\n", err)
		os.Exit(1)
	}
	if w.failed {
		os.Exit(1)
	}
}

// lineWriter copies the reply to stdout and notes an error line ("% ...").
type lineWriter struct {
	dst    *os.File
	buf    *bytes.Buffer
	failed bool
	start  bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	if !l.start && len(p) > 0 {
		l.start = true
		l.failed = p[0] == '%'
	}
	return l.dst.Write(p)
}
