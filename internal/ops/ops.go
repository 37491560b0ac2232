// Package ops serves syncd's operations endpoints on the ops port: Prometheus
// /metrics, /healthz (the process is live) and /readyz (the database answers
// and every stream has committed an up-to-date boundary, or reached its end,
// since start, and none is halted; with pull-wake subscriptions, each finished
// its first round and none of its streams failed). The server starts before
// the database is open: until then /readyz answers 503 with the reason.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/syncd-io/syncd/internal/redact"
	"github.com/syncd-io/syncd/internal/syncer"
)

// StatusSource reports the streams of this process.
type StatusSource interface {
	Status() []syncer.StreamStatus
}

// Pinger checks that the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// SubscriptionState is one pull-wake subscription as /readyz reports it.
type SubscriptionState struct {
	ID         string     `json:"id"`
	Ready      bool       `json:"ready"`
	Claimed    bool       `json:"claimed"`
	Generation int64      `json:"generation"`
	Linked     int        `json:"streams_linked"`
	Pending    int        `json:"streams_pending"`
	Failed     int        `json:"streams_failed"`
	LastAck    *time.Time `json:"last_ack,omitempty"`
	Error      string     `json:"error,omitempty"`
}

// SubscriptionSource reports the subscriptions served by this process.
type SubscriptionSource func() []SubscriptionState

// Server is the ops HTTP server.
type Server struct {
	srv      *http.Server
	log      *slog.Logger
	listener net.Listener

	mu      sync.Mutex
	streams StatusSource // nil until Attach
	db      Pinger       // nil until Attach
	waiting string       // why streams and db are absent (see Waiting)
	redact  *redact.Redactor
	subs    SubscriptionSource // nil without subscriptions
}

// New builds the server; gather serves /metrics (a registry passed in).
// streams and db may be nil when the server starts before the database is
// open: see Attach and Waiting.
func New(addr string, gather prometheus.Gatherer, streams StatusSource, db Pinger, log *slog.Logger) *Server {
	s := &Server{streams: streams, db: db, log: log, waiting: "starting"}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	s.srv = &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return s
}

// Attach gives the server the streams and the database once they exist;
// /readyz reports on them from then on.
func (s *Server) Attach(streams StatusSource, db Pinger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams, s.db = streams, db
}

// Waiting sets the reason /readyz gives while the server has no database
// (such as "waiting for the database: connection refused").
func (s *Server) Waiting(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting = reason
}

// Redact masks r's secrets in /readyz bodies.
func (s *Server) Redact(r *redact.Redactor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redact = r
}

// ServeSubscriptions adds the pull-wake subscriptions to /readyz: each is
// ready once its first round finished and no stream of it failed.
func (s *Server) ServeSubscriptions(src SubscriptionSource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = src
}

// Handler returns the server's routes, for tests.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Listen binds the address, so a taken port fails startup instead of later.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.srv.Addr)
	if err != nil {
		return err
	}
	s.listener = ln
	return nil
}

// Addr returns the bound address (after Listen).
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.listener)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server, waiting for in-flight requests until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// readiness is the body of /readyz.
type readiness struct {
	Ready    bool              `json:"ready"`
	Database string            `json:"database"`
	Streams  []streamReadiness `json:"streams"`
	// Subscriptions is set when streams are served through subscriptions.
	Subscriptions []SubscriptionState `json:"subscriptions,omitempty"`
}

type streamReadiness struct {
	Stream   string `json:"stream"`
	Ready    bool   `json:"ready"`
	UpToDate bool   `json:"up_to_date"`
	Closed   bool   `json:"closed"`
	Halted   string `json:"halted,omitempty"`
	Offset   string `json:"offset"`
	// Problem says why the stream is stuck when an operator can fix it
	// (the server refuses the token).
	Problem string `json:"problem,omitempty"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	streams, db, waiting, red, subs := s.streams, s.db, s.waiting, s.redact, s.subs
	s.mu.Unlock()
	if streams == nil || db == nil {
		writeJSON(w, http.StatusServiceUnavailable, readiness{Database: red.String(waiting), Streams: []streamReadiness{}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	body := readiness{Ready: true, Database: "ok"}
	if err := db.Ping(ctx); err != nil {
		body.Ready, body.Database = false, red.String("unreachable: "+err.Error())
	}
	for _, st := range streams.Status() {
		ok := st.Ready && st.Halted == ""
		body.Ready = body.Ready && ok
		body.Streams = append(body.Streams, streamReadiness{st.Name, ok, st.UpToDate, st.Closed, red.String(st.Halted), st.Offset, red.String(st.Problem)})
	}
	if subs != nil {
		for _, sub := range subs() {
			sub.Ready = sub.Ready && sub.Failed == 0
			sub.Error = red.String(sub.Error)
			body.Ready = body.Ready && sub.Ready
			body.Subscriptions = append(body.Subscriptions, sub)
		}
	}
	code := http.StatusOK
	if !body.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
