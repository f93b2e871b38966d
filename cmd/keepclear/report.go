package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keepclear/keepclear/internal/report"
	"github.com/keepclear/keepclear/internal/site"
)

func runReport(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keepclear report [--week 2026-W47] [--site ID] [--out FILE] [--db DSN]\n\n"+
			"Writes the weekly report as one self-contained, printable HTML file: per site a\n"+
			"day-of-week × hour heatmap of entries and minutes stopped, where vehicles were,\n"+
			"the trend against the previous weeks, and the visits with a breach with their\n"+
			"annotations.\n\nflags:")
		fs.PrintDefaults()
	}
	config := fs.String("config", "", "config file of name = value lines")
	dsn := dbFlag(fs)
	week := fs.String("week", "", "ISO week (default: last week)")
	only := fs.String("site", "", "one site's id (default: every site)")
	out := fs.String("out", "", "file to write (default: standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := applyConfig(fs, *config); err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 2
	}
	if *week == "" {
		*week = report.CurrentWeek(time.Now().AddDate(0, 0, -7), time.UTC)
	}
	st, _, err := openStore(ctx, *dsn)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	defer st.Close()
	recs, err := st.Sites(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	var sites []*site.Site
	for _, r := range recs {
		s, err := site.ParseFeature(r.Feature)
		if err != nil {
			fmt.Fprintf(stderr, "report: stored site %s: %v\n", r.ID, err)
			return 1
		}
		if *only == "" || s.ID == *only {
			sites = append(sites, s)
		}
	}
	if len(sites) == 0 {
		fmt.Fprintf(stderr, "report: no sites (or no site %q) in the database\n", *only)
		return 2
	}
	r, err := report.Gather(ctx, st, sites, *week, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 2
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(stderr, "report: %v\n", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	if err := report.Render(w, r); err != nil {
		fmt.Fprintf(stderr, "report: %v\n", err)
		return 1
	}
	if *out != "" {
		fmt.Fprintf(stdout, "report: week %s, %d sites → %s\n", *week, len(sites), *out)
	}
	return 0
}
