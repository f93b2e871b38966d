// Package server is keepclear's HTTP face: ingest endpoints for agencies and
// phone apps, the event API, sites administration, heatmaps, the live
// WebSocket, metrics, health, and the dashboard. It holds no SQL and no
// detection logic: those come in through small interfaces.
package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/auth"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/ingest"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Pipeline is the ingest use case.
type Pipeline interface {
	Submit(ctx context.Context, fixes []feed.Fix) (ingest.Result, error)
	SetSites(sites []*site.Site)
	Sites() []*site.Site
	OpenVisits() []monitor.OpenVisit
	Healthy() bool
	Devices() int64
	OpenVisitCount() int64
}

// Live is the fan-out of events and positions.
type Live interface {
	Subscribe() (msgs <-chan []byte, cancel func())
	Snapshot() ([]event.Event, []monitor.Position)
	Len() int
}

// Config holds the server's limits.
type Config struct {
	MaxBodyBytes int64         // largest request body, after gunzip (default 16 MiB)
	MaxFixAge    time.Duration // fixes older than this are rejected (default 7 days)
	MaxFixAhead  time.Duration // fixes further in the future are rejected (default 5 min)
	MaxBatch     int           // most fixes in one request (default 50,000)
}

// Server serves the HTTP API.
type Server struct {
	ingest   ingestLog
	cfg      Config
	log      *slog.Logger
	store    store.Store
	pipe     Pipeline
	live     Live
	auth     *auth.Authenticator
	web      fs.FS
	reg      *prometheus.Registry
	metrics  *Metrics
	mux      *http.ServeMux
	http     *http.Server
	ln       net.Listener
	Now      func() time.Time
	closeHub []func()
}

// New builds a server. reg receives the metrics (and should already hold the
// Go runtime collectors if they are wanted).
func New(cfg Config, log *slog.Logger, st store.Store, pipe Pipeline, live Live, a *auth.Authenticator, web fs.FS, reg *prometheus.Registry, m *Metrics) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxFixAge == 0 {
		cfg.MaxFixAge = 7 * 24 * time.Hour
	}
	if cfg.MaxFixAhead == 0 {
		cfg.MaxFixAhead = 5 * time.Minute
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 50_000
	}
	s := &Server{cfg: cfg, log: log, store: st, pipe: pipe, live: live, auth: a, web: web, reg: reg, metrics: m, Now: time.Now}
	s.routes()
	return s
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	s.mux = mux
	handle := func(pattern string, h http.HandlerFunc, roles ...auth.Role) {
		route := pattern
		if i := strings.IndexByte(route, ' '); i >= 0 {
			route = route[i+1:]
		}
		mux.Handle(pattern, s.instrument(route, s.authorize(h, roles...)))
	}
	// Ingest: agency tokens only.
	handle("POST /api/v1/fixes", s.handleFixes, auth.Agency)
	// Phone apps: a server URL typed with a trailing slash works too.
	for _, path := range []string{"/osmand", "/osmand/{$}", "/osmand/{token}", "/osmand/{token}/{$}"} {
		handle("GET "+path, s.handleOsmAnd, auth.Agency)
		handle("POST "+path, s.handleOsmAnd, auth.Agency)
	}
	handle("POST /owntracks", s.handleOwnTracks, auth.Agency)
	handle("POST /owntracks/{$}", s.handleOwnTracks, auth.Agency)
	handle("GET /api/v1/ingest/summary", s.handleIngestSummary, auth.Admin)
	// Reading and administration.
	handle("GET /api/v1/sites", s.handleSites, auth.Liaison, auth.Manager, auth.Researcher)
	handle("PUT /api/v1/sites/{id}", s.handlePutSite, auth.Admin)
	handle("DELETE /api/v1/sites/{id}", s.handleDeleteSite, auth.Admin)
	handle("GET /api/v1/events", s.handleEvents, auth.Liaison, auth.Manager, auth.Researcher)
	handle("GET /api/v1/events/{id}", s.handleEvent, auth.Liaison, auth.Manager, auth.Researcher)
	handle("GET /api/v1/events/{id}/annotations", s.handleAnnotations, auth.Liaison, auth.Manager, auth.Researcher)
	handle("POST /api/v1/events/{id}/annotations", s.handleAnnotate, auth.Liaison)
	handle("GET /api/v1/heatmap", s.handleHeatmap, auth.Liaison, auth.Manager, auth.Researcher)
	handle("GET /api/v1/report", s.handleReport, auth.Liaison, auth.Manager, auth.Researcher)
	handle("GET /api/v1/whoami", s.handleWhoami, auth.Liaison, auth.Manager, auth.Researcher, auth.Agency)
	handle("GET /ws/live", s.handleLive, auth.Liaison, auth.Manager)
	// Open: health, metrics, and the dashboard (its login page asks for a token).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	if s.web != nil {
		mux.Handle("GET /", http.FileServerFS(s.web))
	}
}

// Handler is the server's root handler.
func (s *Server) Handler() http.Handler { return s.recoverer(http.HandlerFunc(s.route)) }

// route serves the mux, and answers what no route takes — 404, and 405 for
// a route that exists with another method — as JSON like every other
// error, counted in the request metrics under the route "unmatched" (the
// path itself is never a label, nor echoed: OsmAnd paths hold tokens).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	_, pattern := s.mux.Handler(r)
	if pattern != "" && pattern != "GET /" {
		s.mux.ServeHTTP(w, r) // (the mux, not the handler: it sets the path values)
		return
	}
	route := "unmatched"
	if pattern == "GET /" {
		route = "/" // the dashboard's files
	}
	start := time.Now()
	jw := &jsonErrorWriter{ResponseWriter: w, method: r.Method}
	s.mux.ServeHTTP(jw, r)
	if s.metrics != nil && (route != "/" || jw.status >= 400) {
		s.metrics.request(route, metricMethod(r.Method), jw.status, time.Since(start))
	}
}

// metricMethod bounds the method label to the methods HTTP defines.
func metricMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return m
	}
	return "other"
}

// jsonErrorWriter turns the mux's and the file server's plain-text 404 and
// 405 into the JSON error every other failure gets.
type jsonErrorWriter struct {
	http.ResponseWriter
	method string
	status int
	done   bool
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	e := errorf(code, "", "not found")
	if code == http.StatusMethodNotAllowed {
		e = errorf(code, "", "method %s not allowed here; allowed: %s", metricMethod(w.method), w.Header().Get("Allow"))
	}
	w.Header().Del("Content-Length")
	writeJSON(w.ResponseWriter, code, e)
	w.done = true
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.done {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Listen binds addr, so that bind errors come back at once (and ":0" works).
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown.
func (s *Server) Serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// OnShutdown registers f to run when shutdown starts (hijacked WebSocket
// connections are not closed by http.Server.Shutdown).
func (s *Server) OnShutdown(f func()) { s.http.RegisterOnShutdown(f) }

// Shutdown stops accepting, lets in-flight requests finish, then returns.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// apiError is the JSON error body of every failure.
type apiError struct {
	Status int    `json:"-"`
	Msg    string `json:"error"`
	Field  string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, field, format string, a ...any) *apiError {
	return &apiError{Status: status, Msg: fmt.Sprintf(format, a...), Field: field}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// fail writes err as JSON; only unexpected errors are logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(404, "", "not found")
	case errors.Is(err, store.ErrInvalid):
		ae = errorf(400, "", "%s", strings.TrimPrefix(err.Error(), "store: invalid: "))
	case errors.Is(err, store.ErrConflict):
		ae = errorf(409, "", "conflict")
	case errors.Is(err, ingest.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		ae = errorf(503, "", "storage unavailable; retry (retried fixes are not counted twice)")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		ae = errorf(503, "", "request cancelled or timed out; retry")
	default:
		s.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err) // the route, not the path: OsmAnd paths hold tokens
		ae = errorf(500, "", "internal error")
	}
	writeJSON(w, ae.Status, ae)
}

type ctxKey int

const principalKey ctxKey = 0

func principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey).(auth.Principal)
	return p
}

// token finds the request's token: bearer header, the OsmAnd path, HTTP
// Basic password (OwnTracks), or access_token (WebSocket only: browsers
// cannot set headers there).
func token(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
	}
	if t := r.PathValue("token"); t != "" {
		return t
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	if strings.HasPrefix(r.URL.Path, "/ws/") {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

func (s *Server) authorize(h http.HandlerFunc, roles ...auth.Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.auth.Authenticate(r.Context(), token(r))
		if errors.Is(err, auth.ErrUnauthorized) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="keepclear"`)
			s.fail(w, r, errorf(401, "", "missing or invalid token"))
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !p.Can(roles...) {
			need := make([]string, len(roles))
			for i, role := range roles {
				need[i] = string(role)
			}
			s.fail(w, r, errorf(403, "", "this needs a token of role %s; this one is %s", strings.Join(need, " or "), p.Role))
			return
		}
		if ok, wait := s.auth.Allow(p); !ok {
			w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
			s.fail(w, r, errorf(429, "", "rate limit exceeded; retry after %s", wait.Round(time.Millisecond)))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack lets the WebSocket upgrade through the wrapper.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: connection cannot be hijacked")
	}
	w.status = http.StatusSwitchingProtocols
	return h.Hijack()
}

// instrument counts requests by route template and status.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if s.metrics != nil {
			s.metrics.request(route, r.Method, sw.status, time.Since(start))
		}
	})
}

// recoverer turns a panic into a 500 and a log line: the server never dies
// of one request.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "route", r.Pattern, "panic", v, "stack", string(debug.Stack()))
				writeJSON(w, 500, errorf(500, "", "internal error"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		writeJSON(w, 503, map[string]string{"status": "unavailable", "error": "store: " + err.Error()})
		return
	}
	if !s.pipe.Healthy() {
		writeJSON(w, 503, map[string]string{"status": "unavailable", "error": "store writes are failing"})
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	writeJSON(w, 200, map[string]string{"name": p.Name, "role": string(p.Role), "agency": p.Agency})
}
