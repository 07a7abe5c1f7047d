package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// scrapeTimeout bounds one scrape: a worker that does not reach the end of
// its batch in that time (it never should) fails the scrape instead of
// holding the connection.
const scrapeTimeout = 10 * time.Second

// Handler serves the Prometheus text format for src on /metrics, with the
// Go runtime's and the process's metrics (go_*, process_*) beside cbac_*.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.HTTPErrorOnError,
		Timeout:       scrapeTimeout,
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "cbacd: metrics at /metrics")
	})
	return mux
}

// Server is a running metrics endpoint.
type Server struct {
	Addr net.Addr // the address it listens on (the port chosen for ":0")
	http *http.Server
	done chan struct{}
}

// Listen starts serving Handler(src) on addr (host:port) in a goroutine.
// It returns once the socket is bound, so a bad address or a port in use
// is an error here, not later.
func Listen(addr string, src Source, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	s := &Server{
		Addr: ln.Addr(),
		http: &http.Server{
			Handler:           Handler(src),
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      scrapeTimeout + 5*time.Second,
			IdleTimeout:       time.Minute,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.Warn("metrics endpoint stopped: " + err.Error())
		}
	}()
	return s, nil
}

// Close stops the endpoint: it waits up to a second for scrapes in
// progress, then closes their connections.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	<-s.done
	return err
}
