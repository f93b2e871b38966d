package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/replay"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/tzdb"
	"golang.org/x/term"
)

// defaultReplaySecret keys replay pseudonyms when --secret is not given, so
// that replays are reproducible. A server never uses it.
const defaultReplaySecret = "keepclear-replay"

// detectionFlags registers the detection rule parameters on fs.
func detectionFlags(fs *flag.FlagSet) *monitor.Config {
	c := &monitor.Config{}
	fs.Func("tzdata", "tz database for opening hours: embedded (IANA "+tzdb.Embedded().Version()+", the default: the same verdicts on every machine) or system (the host's)",
		func(v string) error { return tzdb.Use(v) })
	fs.StringVar(&c.Rotation, "rotation", "week", "pseudonym key period: week (ISO week) or day")
	fs.DurationVar(&c.MaxGap, "max-gap", 30*time.Minute, "silence (arrival clock), or a gap between a device's fixes, that closes its visits with signal_lost")
	fs.DurationVar(&c.SilentAfter, "silent-after", 5*time.Minute, "silence after which a vehicle in a zone is shown as silent on the live map")
	fs.Float64Var(&c.AccuracyLimit, "accuracy-limit", 50, "fixes with a worse accuracy (m) never enter a zone, set a distance or move a stay")
	fs.Float64Var(&c.MaxSpeed, "max-speed", 70, "fixes implying a faster jump (m/s) are dropped")
	fs.IntVar(&c.RepeatCount, "repeat-count", 3, "entries of one zone that make a repeat_pass ...")
	fs.DurationVar(&c.RepeatWindow, "repeat-window", 30*time.Minute, "... within this window")
	return c
}

func loadSites(path string) ([]*site.Site, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return site.Load(f)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func runReplay(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keepclear replay --sites SITES.geojson [flags] FEED...\n\n"+
			"Runs feed files (NDJSON, CSV with a header, GPX; .gz too; - for standard input)\n"+
			"through the detection engine and writes boundary events to standard output.\n"+
			"Bad records are listed on standard error with their line; a summary follows.\n"+
			"Exit status: 0 when every input was read (however many records were rejected),\n"+
			"1 when an input could not be read, 2 for bad flags or an invalid sites file.\n\nflags:")
		fs.PrintDefaults()
	}
	sitesPath := fs.String("sites", "fixtures/sites.geojson", "sites GeoJSON file")
	format := fs.String("format", "ndjson", "event output: ndjson or csv")
	input := fs.String("input-format", "", "feed format: ndjson, csv or gpx (default: by file extension)")
	agency := fs.String("agency", "replay", "agency for records that name none")
	secret := fs.String("secret", "", "pseudonym secret (default: a fixed replay secret, or $KEEPCLEAR_SECRET)")
	progress := fs.Bool("progress", true, "show a progress bar when standard error is a terminal")
	cfg := detectionFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "replay: no feed files given")
		fs.Usage()
		return 2
	}
	sites, err := loadSites(*sitesPath)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %s: %v\n", *sitesPath, err)
		return 2
	}
	cfg.Secret = []byte(firstNonEmpty(*secret, os.Getenv("KEEPCLEAR_SECRET"), defaultReplaySecret))
	m, err := monitor.New(*cfg, sites)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 2
	}
	var inputs []replay.Input
	for _, p := range fs.Args() {
		inputs = append(inputs, replay.FileInput(p, feed.Format(*input), stdin))
	}
	sum, err := replay.Run(m, inputs, replay.Options{
		Output: *format, Agency: *agency, Progress: *progress && isTerminal(stderr),
	}, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "replay: %v\n", err)
		return 1
	}
	sum.Print(stderr)
	if len(sum.Unreadable) > 0 {
		return 1
	}
	return 0
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
