package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/auth"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/ingest"
	"github.com/keepclear/keepclear/internal/live"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/server"
	"github.com/keepclear/keepclear/internal/sim"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/tzdb"
	"github.com/keepclear/keepclear/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keepclear serve [flags]\n\n"+
			"Runs the server. With no flags: the SQLite file keepclear.db, the sample sites,\n"+
			"http://127.0.0.1:8080/. Every flag can also come from the environment as\n"+
			"KEEPCLEAR_<NAME> (dashes as underscores, e.g. KEEPCLEAR_DB) or from --config,\n"+
			"a file of \"name = value\" lines; a flag beats the environment beats the file.\n\nflags:")
		fs.PrintDefaults()
	}
	config := fs.String("config", "", "config file of name = value lines")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (host:port)")
	dsn := dbFlag(fs)
	sitesPath := fs.String("sites", "fixtures/sites.geojson", "sites GeoJSON to load when the database holds none")
	secret := fs.String("secret", "", "pseudonym secret (default: read or created in --secret-file)")
	secretFile := fs.String("secret-file", "", "file holding the pseudonym secret (default: the SQLite file's path + .secret, or keepclear.secret)")
	demo := fs.Bool("demo", false, "also drive a simulated patrol feed through the ingest path, so the live map moves")
	demoVehicles := fs.Int("demo-vehicles", 20, "vehicles in the --demo feed")
	maxBody := fs.Int64("max-body", 16<<20, "largest request body in bytes (after gunzip)")
	rateLimit := fs.Float64("rate-limit", 2000, "requests per second per token (0 = unlimited)")
	rateBurst := fs.Int("rate-burst", 4000, "burst of requests per token")
	maxAge := fs.Duration("max-fix-age", 7*24*time.Hour, "reject fixes older than this")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	pprofAddr := fs.String("pprof", "", "also serve Go's profiler (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060 (off by default)")
	cfg := detectionFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := applyConfig(fs, *config); err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "serve: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	st, kind, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "serve: open database: %v\n", err)
		return 1
	}
	defer st.Close()

	sec, err := loadSecret(*secret, *secretFile, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	cfg.Secret, cfg.Aggregate = sec, true
	sites, err := loadOrSeedSites(ctx, st, *sitesPath)
	if err != nil {
		fmt.Fprintf(stderr, "serve: sites: %v\n", err)
		return 1
	}
	mon, err := monitor.New(*cfg, sites)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 2
	}
	states, err := st.DeviceStates(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	mon.Restore(states, time.Now())

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub := live.New(200, 250*time.Millisecond)
	var pipe *ingest.Pipeline
	metrics := server.NewMetrics(reg, server.Gauges{
		OpenVisits: func() float64 { return float64(pipe.OpenVisitCount()) },
		Devices:    func() float64 { return float64(pipe.Devices()) },
	})
	pipe = ingest.New(mon, st, hub, metrics, log, ingest.Options{})
	authn := auth.NewAuthenticator(st, *rateLimit, *rateBurst)
	srv := server.New(server.Config{MaxBodyBytes: *maxBody, MaxFixAge: *maxAge}, log, st, pipe, hub, authn, web.FS(), reg, metrics)
	if err := srv.Listen(*addr); err != nil {
		fmt.Fprintf(stderr, "serve: listen: %v\n", err)
		pipe.Close()
		return 1
	}
	srv.OnShutdown(hub.Close)
	url := "http://" + srv.Addr().String() + "/"
	fmt.Fprintf(stdout, "keepclear %s serving %d sites on %s (%s; tz database %s)\n", version, len(sites), url, kind, tzdb.Default())
	if len(states) > 0 {
		fmt.Fprintf(stdout, "resuming %d devices with open visits\n", len(states))
	}
	if !web.HasVendor() {
		fmt.Fprintln(stdout, "note: the map libraries were not built in; run `make web` (npm) and rebuild for the dashboard map")
	}
	if err := firstTokens(ctx, st, stdout, url); err != nil {
		fmt.Fprintf(stderr, "serve: tokens: %v\n", err)
	}
	if *pprofAddr != "" {
		prof, err := servePprof(*pprofAddr, log)
		if err != nil {
			fmt.Fprintf(stderr, "serve: --pprof: %v\n", err)
			srv.Shutdown(context.Background())
			pipe.Close()
			return 2
		}
		defer prof.Close()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	demoDone := make(chan struct{})
	demoCtx, stopDemo := context.WithCancel(ctx)
	if *demo {
		fmt.Fprintf(stdout, "demo: %d simulated vehicles patrol the sites\n", *demoVehicles)
		go func() { defer close(demoDone); runDemo(demoCtx, pipe, sites, *demoVehicles, log) }()
	} else {
		close(demoDone)
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		if err != nil {
			log.Error("server stopped", "err", err)
		}
	}
	log.Info("shutting down")
	stopDemo()
	<-demoDone
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	pipe.Close() // flushes aggregates and open visits' state
	log.Info("stopped")
	return 0
}

// servePprof serves the profiler on a loopback address only: profiles show
// the process's memory, so they are never exposed beside the API.
// Close stops it.
func servePprof(addr string, log *slog.Logger) (*http.Server, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiler", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return hs, nil
}

// loadSecret returns the pseudonym secret: given, or read from (or created
// in) a file beside the database — never in the database itself, so that a
// copy of the database alone cannot test guesses of device ids.
func loadSecret(secret, file, dsn string) ([]byte, error) {
	if secret != "" {
		return []byte(secret), nil
	}
	if file == "" {
		file = "keepclear.secret"
		if !strings.Contains(dsn, "://") && dsn != ":memory:" {
			file = dsn + ".secret"
		}
	}
	b, err := os.ReadFile(file)
	if err == nil {
		if s := bytes.TrimSpace(b); len(s) >= 16 {
			return s, nil
		}
		return nil, fmt.Errorf("secret file %s holds fewer than 16 bytes", file)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	s := []byte(hex.EncodeToString(raw))
	if err := os.WriteFile(file, append(s, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("create secret file: %w", err)
	}
	return s, nil
}

// loadOrSeedSites reads the sites from the database, seeding it from the
// sites file when it holds none.
func loadOrSeedSites(ctx context.Context, st store.Store, path string) ([]*site.Site, error) {
	recs, err := st.Sites(ctx)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		var sites []*site.Site
		for _, r := range recs {
			s, err := site.ParseFeature(r.Feature)
			if err != nil {
				return nil, fmt.Errorf("stored site %s: %w", r.ID, err)
			}
			sites = append(sites, s)
		}
		return sites, nil
	}
	sites, err := loadSites(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range sites {
		b, _ := s.StoredFeature().MarshalJSON()
		if err := st.PutSite(ctx, store.SiteRecord{ID: s.ID, Feature: b}); err != nil {
			return nil, err
		}
	}
	return sites, nil
}

// firstTokens creates an admin and a demo agency token on a database that
// has none, and prints them: the only time they are shown.
func firstTokens(ctx context.Context, st store.Store, w io.Writer, url string) error {
	list, err := st.Tokens(ctx)
	if err != nil || len(list) > 0 {
		return err
	}
	admin, _, err := auth.Create(ctx, st, "first admin", auth.Admin, "")
	if err != nil {
		return err
	}
	agency, _, err := auth.Create(ctx, st, "demo agency feed", auth.Agency, "demo")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nA new database: two tokens were made (shown once; keep them):\n"+
		"  admin (dashboard, sites, everything but submitting): %s\n"+
		"  agency \"demo\" (submits fixes):                      %s\n"+
		"Open %s and sign in with the admin token. Post a fix:\n"+
		"  curl -H 'Authorization: Bearer %s' --data-binary '{\"device\":\"car-17\",\"t\":\"%s\",\"lat\":49.28111,\"lon\":-123.10111,\"acc\":5}' %sapi/v1/fixes\n\n",
		admin, agency, url, agency, time.Now().UTC().Format(time.RFC3339), url)
	return nil
}

// runDemo drives a simulated patrol through the ingest path in real time.
func runDemo(ctx context.Context, pipe *ingest.Pipeline, sites []*site.Site, vehicles int, log *slog.Logger) {
	s := sim.New(sim.Config{Seed: uint64(time.Now().UnixNano()), Vehicles: vehicles, Agency: "demo",
		Start: time.Now().Truncate(time.Second), Interval: 5 * time.Second}, sites)
	var next feed.Fix
	have := s.Next(&next)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for have {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var batch []feed.Fix
		for have && !next.T.After(time.Now()) {
			batch = append(batch, next)
			have = s.Next(&next)
		}
		if len(batch) == 0 {
			continue
		}
		if _, err := pipe.Submit(ctx, batch); err != nil && ctx.Err() == nil {
			log.Warn("demo feed", "err", err)
		}
	}
}
