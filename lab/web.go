package lab

import (
	"net/http"
	"time"
)

// WebAddr is where the lab's web server listens: "the internet" behind the
// upstream router (RemoteAddr, port 80). The seed's IN-OUT rule inspects
// http, so `curl http://203.0.113.1/` from the inside host crosses cbacd.
const WebAddr = "203.0.113.1:80"

// WebPage is the text the lab's web server answers every GET with, but
// for WebClassPath and WebJarPath.
const WebPage = "cbac lab: hello from 203.0.113.1 (upstream, outside the firewall)\n"

// A Java applet, unarchived and archived, for cbacd's Java blocking
// (ip inspect name N http [java-list ACL]). The class is served as
// application/octet-stream (the type common servers give .class files
// they have no type for), so only its class-file magic 0xCAFEBABE tells
// it; the jar is a zip, which Java blocking does not look into.
const (
	WebClassPath = "/Applet.class"
	WebJarPath   = "/applet.jar"
	// WebClass is the start of a class file: magic, version 52 (Java 8),
	// then a constant pool count and filler.
	WebClass = "\xca\xfe\xba\xbe\x00\x00\x00\x34\x00\x10cbac lab applet, not a whole class\n"
	// WebJar is the start of a zip local file header.
	WebJar = "PK\x03\x04\x14\x00\x08\x00cbac lab archive, not a whole jar\n"
)

// ServeWeb listens on WebAddr inside the upstream namespace and serves
// WebPage until the returned server is closed.
func (l *Lab) ServeWeb() (*http.Server, error) {
	ln, err := l.Listen(RoleUpstream, "tcp4", WebAddr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(serveWebPage),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go srv.Serve(ln)
	return srv, nil
}

func serveWebPage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case WebClassPath:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte(WebClass))
	case WebJarPath:
		w.Header().Set("Content-Type", "application/java-archive")
		w.Write([]byte(WebJar))
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(WebPage))
	}
}
