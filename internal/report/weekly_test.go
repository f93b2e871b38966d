package report_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/report"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/store/sqlite"
)

func TestWeeklyReport(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sites, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.10111,49.28111]},"properties":{"id":"insite","name":"Insite","kind":"sis","opening_hours":"Mo-Su 09:00-03:00","timezone":"America/Vancouver","zones":[{"name":"frontage","radius_m":30,"max_dwell_s":0},{"name":"vicinity","radius_m":150}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	// Week 47: two entries, one visit with a breach (annotated); week 45: one entry.
	mon := time.Date(2026, 11, 16, 10, 0, 0, 0, sites[0].Location) // Monday 10:00 at the site
	ev := func(id, visit, zone string, kind event.Kind, at time.Time, breach bool) event.Event {
		return event.Event{ID: id, Visit: visit, Site: "insite", Zone: zone, Kind: kind, Device: "0123456789abcdef", Agency: "vpd",
			T: at, DurationS: 95, StationaryS: 80, MinDistanceM: 6, InHours: true, Breach: breach, Confirmed: true, Fixes: 3,
			Lat: 49.28111, Lon: -123.10111}
	}
	evs := []event.Event{
		ev("a-1", "a", "vicinity", event.Enter, mon, false),
		ev("b-1", "b", "frontage", event.Enter, mon.Add(10*time.Second), false),
		ev("b-2", "b", "frontage", event.Dwell, mon.Add(20*time.Second), true),
		ev("b-3", "b", "frontage", event.Exit, mon.Add(2*time.Minute), true),
		ev("a-2", "a", "vicinity", event.Exit, mon.Add(3*time.Minute), false),
		ev("c-1", "c", "vicinity", event.Enter, mon.Add(3*time.Hour), false),
		ev("d-1", "d", "vicinity", event.Enter, mon.AddDate(0, 0, -14), false),
	}
	cell := monitor.Cell{Site: "insite", Zone: "vicinity", Week: "2026-W47", HourOfWeek: 10, CellLat: 492811, CellLon: -1231012}
	ctx := context.Background()
	if err := db.Write(ctx, &store.Batch{Events: evs, Cells: map[monitor.Cell]*monitor.CellValue{cell: {Fixes: 9, StationaryS: 80}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Annotate(ctx, store.Annotation{EventID: "b-2", Role: "liaison", Author: "liaison-1", Label: "called_by_staff", Text: "staff asked for help"}); err != nil {
		t.Fatal(err)
	}
	r, err := report.Gather(ctx, db, sites, "2026-W47", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	sw := r.Sites[0]
	if sw.Heatmap.Entries != 2 || sw.Heatmap.Breaches != 1 || len(sw.Breaches) != 1 || len(sw.Trend) != report.TrendWeeks {
		t.Fatalf("entries %d breaches %d list %d trend %d", sw.Heatmap.Entries, sw.Heatmap.Breaches, len(sw.Breaches), len(sw.Trend))
	}
	if sw.Trend[0].Week != "2026-W42" || sw.Trend[3].Entries != 1 || sw.Trend[5].Entries != 2 {
		t.Errorf("trend %+v", sw.Trend)
	}
	b := sw.Breaches[0]
	if b.Visit != "b" || len(b.Annotations) != 1 || strings.Join(b.Kinds, ",") != "enter,dwell,exit" {
		t.Errorf("breach %+v", b)
	}
	var html bytes.Buffer
	if err := report.Render(&html, r); err != nil {
		t.Fatal(err)
	}
	out := html.String()
	for _, want := range []string{"weekly report, week 2026-W47", "<h2>Insite</h2>", "2 entries, 1 visits with a breach",
		"staff asked for help", "called by staff", "liaison-1", "Mon 16 Nov 10:00", "01234567", "W42", "<svg"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Count(out, "<svg") != 3 || strings.Contains(out, "<script") || strings.Contains(out, "http://") || strings.Contains(out, "https://") {
		t.Error("the report is not self-contained with three charts")
	}
	if strings.Contains(out, "0123456789abcdef") {
		t.Error("the full pseudonym is printed; the report shows a short form")
	}
}

// The report lists a resumed visit once, without the void signal_lost, says
// which of its events were unconfirmed or between fixes, and names the
// visits that do not count as breaches for want of evidence.
func TestWeeklyReportEvidenceAndResumedVisits(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sites, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.10111,49.28111]},"properties":{"id":"insite","name":"Insite","kind":"sis","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"frontage","radius_m":30,"no_entry":true}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	mon := time.Date(2026, 11, 16, 10, 0, 0, 0, sites[0].Location)
	n := 0
	ev := func(visit string, kind event.Kind, min int, breach, confirmed bool, fixes int, interpolated bool) event.Event {
		n++
		return event.Event{ID: fmt.Sprintf("%s-%d", visit, n), Visit: visit, Site: "insite", Zone: "frontage", Kind: kind, Device: "0123456789abcdef", Agency: "vpd",
			T: mon.Add(time.Duration(min) * time.Minute), DurationS: float64(min * 60), InHours: true, Breach: breach, Confirmed: confirmed,
			Fixes: fixes, Interpolated: interpolated, Lat: 49.28111, Lon: -123.10111}
	}
	evs := []event.Event{
		ev("back", event.Enter, 0, false, false, 1, false),
		ev("back", event.Dwell, 1, true, true, 2, false),
		ev("back", event.SignalLost, 2, true, true, 2, false),
		ev("back", event.Resumed, 30, true, true, 3, false),
		ev("back", event.Exit, 40, true, true, 6, false),
		ev("lost", event.Enter, 100, true, true, 2, false),
		ev("lost", event.SignalLost, 110, true, true, 4, false), // never resumed: it did end there
		ev("loose", event.Enter, 200, false, false, 1, false),
		ev("loose", event.Exit, 201, false, false, 1, false),
		ev("pass", event.Enter, 300, false, false, 0, true),
		ev("pass", event.Exit, 300, false, false, 0, true),
	}
	ctx := context.Background()
	if err := db.Write(ctx, &store.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	r, err := report.Gather(ctx, db, sites, "2026-W47", mon.AddDate(0, 0, 7))
	if err != nil {
		t.Fatal(err)
	}
	sw := r.Sites[0]
	if sw.Heatmap.Breaches != 2 || len(sw.Breaches) != 2 {
		t.Fatalf("breaches %d, listed %d; want 2 visits", sw.Heatmap.Breaches, len(sw.Breaches))
	}
	if got := strings.Join(sw.Breaches[0].Kinds, ", "); got != "enter (unconfirmed), dwell, resumed, exit" {
		t.Errorf("resumed visit: %s", got)
	}
	if got := strings.Join(sw.Breaches[1].Kinds, ", "); got != "enter, signal_lost" {
		t.Errorf("visit lost for good: %s", got)
	}
	if sw.Trend[len(sw.Trend)-1].Breaches != 2 {
		t.Errorf("trend: %+v", sw.Trend)
	}
	var html bytes.Buffer
	if err := report.Render(&html, r); err != nil {
		t.Fatal(err)
	}
	out := html.String()
	for _, want := range []string{"2 visits with a breach", "enter (unconfirmed), dwell, resumed, exit",
		"1 unconfirmed visit (a single loose fix near the edge)", "1 pass between fixes"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
