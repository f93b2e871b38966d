package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/sim"
)

func runSim(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keepclear sim [flags] > feed.ndjson\n\n"+
			"Writes a seeded synthetic patrol feed over the sites: vehicles on patrol,\n"+
			"some parking out front, some driving by, with GPS noise. Same seed, same feed.\n\nflags:")
		fs.PrintDefaults()
	}
	sitesPath := fs.String("sites", "fixtures/sites.geojson", "sites GeoJSON file")
	cfg := sim.Config{}
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.IntVar(&cfg.Vehicles, "vehicles", 20, "patrol vehicles")
	fs.StringVar(&cfg.Agency, "agency", "sim", "their agency")
	start := fs.String("start", "2026-11-16T16:00:00Z", "time of the first fix (RFC 3339)")
	fs.DurationVar(&cfg.Interval, "interval", 5*time.Second, "time between a vehicle's fixes")
	fs.DurationVar(&cfg.Duration, "duration", 2*time.Hour, "simulated time span")
	fs.Float64Var(&cfg.NoiseM, "noise", 6, "GPS noise sigma, metres")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fmt.Fprintf(stderr, "sim: --start: %v\n", err)
		return 2
	}
	cfg.Start = t
	sites, err := loadSites(*sitesPath)
	if err != nil {
		fmt.Fprintf(stderr, "sim: %s: %v\n", *sitesPath, err)
		return 2
	}
	s := sim.New(cfg, sites)
	w := bufio.NewWriterSize(stdout, 64<<10)
	var f feed.Fix
	var b []byte
	n := 0
	for s.Next(&f) {
		b = f.AppendJSON(b[:0])
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			fmt.Fprintf(stderr, "sim: %v\n", err)
			return 1
		}
		if n++; n%4096 == 0 && ctx.Err() != nil {
			break
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "sim: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "sim: %d fixes from %d vehicles over %s\n", n, cfg.Vehicles, cfg.Duration)
	return 0
}
