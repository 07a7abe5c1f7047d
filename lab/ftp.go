package lab

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
)

// The lab's FTP servers are pyftpdlib (Debian package python3-pyftpdlib)
// run inside a namespace: a real server, with its own FTP bounce and
// privileged-port checks, so what it accepts is what a real one would.

// FTPPython is the interpreter that has pyftpdlib: Debian's. A python3
// earlier on PATH (pyenv, a venv) may lack it.
const FTPPython = "/usr/bin/python3"

// FTPAddr is where `cbacd lab` runs its FTP server: the upstream host,
// outside the firewall, port 21 (anonymous, read-only, serving FTPFile).
const FTPAddr = "172.22.1.1"

// FTPFile and FTPText: the one file the lab's FTP server offers.
const (
	FTPFile = "cbac-lab.txt"
	FTPText = "cbac lab: hello by FTP from 172.22.1.1 (upstream, outside the firewall)\n"
)

// Passive data ports of the lab's FTP servers (pyftpdlib -r).
const (
	FTPPassiveLow  = 30000
	FTPPassiveHigh = 30099
)

// FTPServer is one pyftpdlib instance: port 21 on Addr in Role's
// namespace, serving Root, active and passive mode allowed.
type FTPServer struct {
	Role     string
	Addr     string
	Root     string
	User     string // "" : anonymous login, read-only
	Password string
	Write    bool // the user may store, rename and delete
	Debug    bool // log every command and reply (pyftpdlib -D)
}

// FTPCommand returns the command that runs s (`ip netns exec NS
// /usr/bin/python3 -m pyftpdlib ...`); ctx kills it. pyftpdlib logs
// "starting FTP server" once it listens. CheckFTP says whether it is
// installed.
func (l *Lab) FTPCommand(ctx context.Context, s FTPServer) *exec.Cmd {
	argv := []string{FTPPython, "-m", "pyftpdlib", "-i", s.Addr, "-p", "21", "-d", s.Root,
		"-r", fmt.Sprintf("%d-%d", FTPPassiveLow, FTPPassiveHigh)}
	if s.User != "" {
		argv = append(argv, "-u", s.User, "-P", s.Password)
	}
	if s.Write {
		argv = append(argv, "-w")
	}
	if s.Debug {
		argv = append(argv, "-D")
	}
	return l.Exec(ctx, s.Role, argv...)
}

// CheckFTP returns an error naming the Debian package if FTPPython cannot
// import pyftpdlib.
func CheckFTP(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, FTPPython, "-c", "import pyftpdlib").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s cannot import pyftpdlib (apt-get install python3-pyftpdlib): %v: %s",
			FTPPython, err, bytes.TrimSpace(out))
	}
	return nil
}
