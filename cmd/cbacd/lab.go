package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cbac/examples"
	"cbac/lab"
	"cbac/lab/smtpd"
)

// labMain builds the seed's network in network namespaces, starts an SMTP
// server on the mail server (10.10.10.2:25), a web server on the outside
// (203.0.113.1:80, in the upstream namespace) and, when python3-pyftpdlib
// is installed, an anonymous FTP server on the upstream host
// (172.22.1.1:21), runs cbacd inside
// the firewall namespace on out0/in0 and tears everything down on Ctrl-C.
// It prints the configuration file it runs, the control socket and the
// cbacctl command line that reaches it.
// A lab left by a crash is removed when the next one starts.
func labMain(args []string) error {
	fs := newFlagSet("lab", "cbacd lab [-c FILE.toml] [-prefix cbac-] [-socket PATH] [-workers N]")
	cfgPath := fs.String("c", "", "configuration (default: the embedded seed-3640.toml)")
	prefix := fs.String("prefix", "cbac-", "namespace name prefix")
	sock := fs.String("socket", "/run/cbac-lab.sock", "control socket of the lab's cbacd")
	workers := fs.Int("workers", 0, "workers (0: one per RX queue)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("lab: network namespaces and AF_XDP need root (run with sudo)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := *cfgPath
	if cfg == "" {
		dir, err := os.MkdirTemp("", "cbac-lab-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg = filepath.Join(dir, "seed-3640.toml")
		if err := os.WriteFile(cfg, examples.Seed3640, 0o600); err != nil {
			return err
		}
	}

	l := lab.New(*prefix)
	fmt.Printf("cbacd lab: building the seed network (namespaces %s*)\n", *prefix)
	if err := l.Up(ctx); err != nil {
		l.Down()
		return fmt.Errorf("lab: %w", err)
	}
	defer func() {
		if err := l.Down(); err != nil {
			fmt.Fprintf(os.Stderr, "cbacd lab: teardown: %v\n", err)
		} else {
			fmt.Println("cbacd lab: torn down")
		}
	}()

	mb := smtpd.NewMailbox(10000, 256<<20)
	srv := smtpd.NewServer(mb)
	ln, err := l.Listen("mail", "tcp", "10.10.10.2:25")
	if err != nil {
		return fmt.Errorf("lab: smtp server: %w", err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	web, err := l.ServeWeb()
	if err != nil {
		return fmt.Errorf("lab: web server: %w", err)
	}
	defer web.Close()

	if stopFTP, err := serveLabFTP(ctx, l); err != nil {
		fmt.Fprintf(os.Stderr, "cbacd lab: no FTP server on %s: %v\n", lab.FTPAddr, err)
	} else {
		defer stopFTP()
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	argv := []string{"netns", "exec", l.NS("fw"), self, "-c", cfg, "-socket", *sock}
	if *workers > 0 {
		argv = append(argv, "-workers", fmt.Sprint(*workers))
	}
	child := exec.Command("ip", argv...)
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := child.Start(); err != nil {
		return fmt.Errorf("lab: start cbacd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()

	if err := waitSocket(ctx, *sock, exited, 30*time.Second); err != nil {
		child.Process.Signal(syscall.SIGTERM)
		<-exited
		return err
	}
	fmt.Println()
	l.Describe(os.Stdout)
	fmt.Printf(`
  configuration:  %s
  control socket: %s
  cbacctl:        %s -s %s show ip inspect sessions detail
  mail received:  shown here as it arrives

cbacd lab: ready (Ctrl-C tears it down)
`, cfg, *sock, cbacctlCommand(), *sock)

	go func() {
		seen := 0
		for {
			msgs, err := mb.WaitMessages(ctx, seen+1)
			if err != nil {
				return
			}
			for _, m := range msgs[seen:] {
				fmt.Printf("cbacd lab: mail delivered to 10.10.10.2: from <%s> to %v, %d bytes\n", m.From, m.To, len(m.Data))
			}
			seen = len(msgs)
		}
	}()

	select {
	case <-ctx.Done():
		child.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			child.Process.Kill()
			<-exited
		}
		return nil
	case err := <-exited:
		return fmt.Errorf("lab: cbacd exited: %v", err)
	}
}

// cbacctlCommand is how the user runs cbacctl: the binary beside this
// cbacd (`make lab` builds both into bin/), else cbacctl on PATH, else
// `go run ./cmd/cbacctl` (this cbacd came from `go run` in the source tree).
func cbacctlCommand() string {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "cbacctl")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			if wd, err := os.Getwd(); err == nil {
				if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
					return rel
				}
			}
			return p
		}
	}
	if p, err := exec.LookPath("cbacctl"); err == nil {
		return p
	}
	return "go run ./cmd/cbacctl"
}

// waitSocket waits until the daemon answers on its control socket.
func waitSocket(ctx context.Context, path string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("lab: cbacd exited during start: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("lab: cbacd did not open %s within %v", path, limit)
}

// serveLabFTP starts pyftpdlib on lab.FTPAddr:21 in the upstream namespace,
// anonymous and read-only, serving a directory that holds lab.FTPFile. It
// returns once the server listens; stop ends it and removes the directory.
func serveLabFTP(ctx context.Context, l *lab.Lab) (stop func(), err error) {
	if err := lab.CheckFTP(ctx); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cbac-lab-ftp-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, lab.FTPFile), []byte(lab.FTPText), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := l.FTPCommand(context.Background(), lab.FTPServer{Role: lab.RoleUpstream, Addr: lab.FTPAddr, Root: dir})
	r, w, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	// The log goes to a pipe read until the server listens, then drained
	// (not printed: it would mix with the lab's output).
	ready := make(chan bool, 1)
	go func() {
		defer r.Close()
		buf := make([]byte, 4096)
		var seen []byte
		sent := false
		for {
			n, err := r.Read(buf)
			if !sent {
				seen = append(seen, buf[:n]...)
				if strings.Contains(string(seen), "starting FTP server") {
					ready <- true
					sent, seen = true, nil
				}
			}
			if err != nil {
				if !sent {
					ready <- false
				}
				return
			}
		}
	}()
	select {
	case ok := <-ready:
		if ok {
			return stop, nil
		}
		stop()
		return nil, fmt.Errorf("pyftpdlib exited during start")
	case <-time.After(20 * time.Second):
		stop()
		return nil, fmt.Errorf("pyftpdlib not listening after 20s")
	}
}
