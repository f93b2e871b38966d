package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/keepclear/keepclear/internal/site"
)

// runSites is `keepclear sites check FILE`: it validates a sites file and
// prints, per site, its zones and their rules, warnings, and whether it is
// open now on its own clock.
func runSites(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sites check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: keepclear sites check [--now RFC3339] SITES.geojson\n\n"+
			"Validates a sites file and prints, per site, its zones with their rules,\n"+
			"warnings, and whether it is open now (local time and UTC offset).\n"+
			"Exit status: 0 when the file is valid (warnings allowed), 2 when it is\n"+
			"invalid or cannot be read (every problem is listed with its feature\n"+
			"index, as replay and serve report a bad sites file) or for bad flags.\n\nflags:")
		fs.PrintDefaults()
	}
	nowFlag := fs.String("now", "", "judge open/closed at this RFC 3339 time instead of the clock")
	if len(args) == 0 || args[0] != "check" {
		fs.Usage()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "sites check: want one sites file")
		fs.Usage()
		return 2
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			fmt.Fprintf(stderr, "sites check: --now: %v\n", err)
			return 2
		}
		now = t
	}
	path := fs.Arg(0)
	sites, err := loadSites(path)
	if err != nil {
		var ve *site.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "sites check: %s: invalid, %d problem(s):\n", path, len(ve.Problems))
			for _, p := range ve.Problems {
				fmt.Fprintf(stderr, "  %s\n", p)
			}
		} else {
			fmt.Fprintf(stderr, "sites check: %s: %v\n", path, err)
		}
		return 2
	}
	warnings := 0
	for i, s := range sites {
		warnings += printSite(stdout, i, s, now)
	}
	fmt.Fprintf(stdout, "%s: valid, %d site(s), %d warning(s)\n", path, len(sites), warnings)
	return 0
}

// SiteWarnings are what is legal in a sites file but probably not meant.
func siteWarnings(s *site.Site) []string {
	var ws []string
	for _, z := range s.Zones {
		if z.MaxDwellS == nil {
			ws = append(ws, fmt.Sprintf("zone %q: no max_dwell_s: stops are not judged", z.Name))
		}
		if z.MaxDwellS == nil && !z.NoEntry {
			ws = append(ws, fmt.Sprintf("zone %q: neither no_entry nor max_dwell_s: nothing in it is a breach", z.Name))
		}
	}
	if s.Holidays != "" && !s.Hours.UsesPH() {
		ws = append(ws, fmt.Sprintf("holidays %q is set but opening_hours has no PH rule: holidays are treated as ordinary days", s.Holidays))
	}
	return ws
}

func printSite(w io.Writer, i int, s *site.Site, now time.Time) int {
	fmt.Fprintf(w, "feature %d: site %q %q (%s)\n", i, s.ID, s.Name, s.Kind)
	c := s.Footprint.Center()
	shape := "point"
	if s.Footprint.Polygon() != nil {
		shape = "polygon footprint centred on"
	}
	fmt.Fprintf(w, "  location: %s %.6f,%.6f (lat,lon)\n", shape, c[1], c[0])
	if s.Kind == site.KindMobile {
		fmt.Fprintf(w, "  moved by: agency %q's device %s\n", s.Agency, orDash(s.Device))
	}
	holidays := "none"
	if s.Holidays != "" {
		holidays = s.Holidays
	}
	fmt.Fprintf(w, "  opening_hours: %s (holidays: %s)\n", s.Hours, holidays)
	lt := now.In(s.Location)
	state := "closed"
	if s.InHours(now) {
		state = "open"
	}
	ph := ""
	if cal := s.Hours.Holidays(); cal != nil {
		y, m, d := lt.Date()
		if name := cal.Name(y, m, d); name != "" {
			ph = fmt.Sprintf(", public holiday: %s", name)
		} else if cal.Is(y, m, d) {
			ph = ", public holiday"
		}
	}
	fmt.Fprintf(w, "  now: %s at %s %s (UTC%s)%s\n", state, lt.Format("Mon 2006-01-02 15:04"), s.Location, lt.Format("-07:00"), ph)
	fmt.Fprintln(w, "  zones:")
	for _, z := range s.Zones {
		dwell := "max_dwell_s none"
		if z.MaxDwellS != nil {
			dwell = fmt.Sprintf("max_dwell_s %g", *z.MaxDwellS)
		}
		fmt.Fprintf(w, "    %-12s radius %g m, no_entry %v, %s, hours_only %v\n", z.Name, z.RadiusM, z.NoEntry, dwell, !z.AppliesAlways())
	}
	ws := siteWarnings(s)
	for _, m := range ws {
		fmt.Fprintf(w, "  warning: %s\n", m)
	}
	return len(ws)
}

func orDash(s string) string {
	if s == "" {
		return "(stored as a key)"
	}
	return s
}
