package lab

import (
	"net/http"
	"time"
)

// WebAddr is where the lab's web server listens: "the internet" behind the
// upstream router (RemoteAddr, port 80). The seed's IN-OUT rule inspects
// http, so `curl http://203.0.113.1/` from the inside host crosses cbacd.
const WebAddr = "203.0.113.1:80"

// WebPage is the text the lab's web server answers every GET with.
const WebPage = "cbac lab: hello from 203.0.113.1 (upstream, outside the firewall)\n"

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
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(WebPage))
}
