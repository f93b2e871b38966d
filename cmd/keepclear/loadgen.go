package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keepclear/keepclear/internal/loadgen"
	"github.com/keepclear/keepclear/internal/sim"
)

func runLoadgen(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keepclear loadgen --token AGENCY_TOKEN [--watch-token LIAISON_TOKEN] [flags]\n"+
			"       keepclear loadgen --write-sites FILE\n\n"+
			"Drives a running keepclear server with NDJSON batches over N connections, at a\n"+
			"given rate or flat out, and reports fixes/s accepted and the latency from sending\n"+
			"a fix to seeing its enter event on a WebSocket client (p50/p95/p99).\n"+
			"The workload is DESIGN.md's: vehicles in a 10 km disc around the sites written by\n"+
			"--write-sites (1,000 sites × 150 m); start the server on those sites first.\n"+
			"Only loopback targets are allowed.\n\nflags:")
		fs.PrintDefaults()
	}
	cfg := loadgen.Config{}
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	fs.StringVar(&cfg.Token, "token", "", "agency token to submit with")
	fs.StringVar(&cfg.WatchToken, "watch-token", "", "liaison/admin token for the WebSocket latency probe (none: no latency)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fixes per second in total (0 = flat out)")
	fs.DurationVar(&cfg.Duration, "duration", 20*time.Second, "how long to send")
	fs.DurationVar(&cfg.Warmup, "warmup", 5*time.Second, "left out of the fix→event latency (at the start every vehicle is new and enters at once)")
	fs.Float64Var(&cfg.Acc, "acc", 3, "accuracy (m) the fixes report; only enters confirmed by their own fix are timed")
	fs.IntVar(&cfg.Conns, "conns", 8, "concurrent connections")
	fs.IntVar(&cfg.Batch, "batch", 500, "fixes per request")
	fs.IntVar(&cfg.Vehicles, "vehicles", 10000, "simulated vehicles")
	sites := fs.Int("sites", 1000, "sites in the workload (for --write-sites)")
	writeSites := fs.String("write-sites", "", "write the workload's sites GeoJSON to this file and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *writeSites != "" {
		if err := os.WriteFile(*writeSites, []byte(sim.BenchSitesGeoJSON(*sites, 10000, 1)), 0o644); err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "loadgen: wrote %d sites to %s\n", *sites, *writeSites)
		return 0
	}
	if err := loadgen.Run(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	return 0
}
