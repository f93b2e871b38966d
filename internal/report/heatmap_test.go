package report

import (
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
)

func TestWeekBounds(t *testing.T) {
	van, _ := time.LoadLocation("America/Vancouver")
	from, to, err := WeekBounds("2026-W47", van)
	if err != nil || !from.Equal(time.Date(2026, 11, 16, 0, 0, 0, 0, van)) || !to.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, van)) {
		t.Errorf("%v %v %v", from, to, err)
	}
	// The week of the DST change is 169 hours long.
	from, to, _ = WeekBounds("2026-W44", van)
	if to.Sub(from) != 169*time.Hour {
		t.Errorf("W44 lasts %v", to.Sub(from))
	}
	for _, bad := range []string{"2026-47", "2026-W54", "2025-W53", "x-W1", "2026-W0"} {
		if _, _, err := WeekBounds(bad, van); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if CurrentWeek(time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC), van) != "2026-W47" {
		t.Error("Sunday night in Vancouver is still week 47")
	}
}

func TestBuild(t *testing.T) {
	sites, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.10111,49.28111]},"properties":{"id":"insite","name":"Insite","kind":"sis","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"frontage","radius_m":30},{"name":"vicinity","radius_m":150}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	s := sites[0]
	cells := []store.CellRow{
		{Cell: monitor.Cell{Site: "insite", Zone: "vicinity", Week: "2026-W47", HourOfWeek: 10, CellLat: 492811, CellLon: -1231012}, CellValue: monitor.CellValue{Fixes: 4, StationaryS: 120}},
		{Cell: monitor.Cell{Site: "insite", Zone: "vicinity", Week: "2026-W47", HourOfWeek: 34, CellLat: 492811, CellLon: -1231012}, CellValue: monitor.CellValue{Fixes: 1}},
		{Cell: monitor.Cell{Site: "insite", Zone: "frontage", Week: "2026-W47", HourOfWeek: 10, CellLat: 492811, CellLon: -1231012}, CellValue: monitor.CellValue{Fixes: 4, StationaryS: 120}},
	}
	// Monday 10:30 at the site (UTC-07:00 all year since 2026c).
	t1 := time.Date(2026, 11, 16, 10, 30, 0, 0, s.Location)
	evs := []event.Event{
		{Visit: "a", Site: "insite", Zone: "vicinity", Kind: event.Enter, T: t1},
		{Visit: "b", Site: "insite", Zone: "frontage", Kind: event.Enter, T: t1, Breach: true, Confirmed: true, Fixes: 2},
		{Visit: "b", Site: "insite", Zone: "frontage", Kind: event.Exit, T: t1.Add(time.Minute), Breach: true, Confirmed: true, Fixes: 5},
		{Visit: "c", Site: "insite", Zone: "vicinity", Kind: event.Enter, T: t1.AddDate(0, 0, 7)}, // next week
	}
	h, err := Build(s, "2026-W47", cells, evs)
	if err != nil {
		t.Fatal(err)
	}
	mon10 := h.Days[0][10]
	if mon10.Entries != 1 || mon10.Breaches != 1 || mon10.Fixes != 4 || mon10.StationaryMin != 2 {
		t.Errorf("Monday 10:00: %+v", mon10)
	}
	if h.Days[1][10].Fixes != 1 || h.Entries != 1 || h.Breaches != 1 || h.Zone != "vicinity" {
		t.Errorf("%+v", h)
	}
	if len(h.Spots) != 1 || h.Spots[0].Fixes != 5 || h.Spots[0].StationaryS != 120 {
		t.Errorf("spots: %+v", h.Spots)
	}
}

// Only confirmed events make a breach; unconfirmed visits, passes between
// fixes and rows stored before the evidence rule are counted apart; a
// resumed visit is one visit.
func TestBuildCountsOnlyConfirmedBreaches(t *testing.T) {
	sites, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.10111,49.28111]},"properties":{"id":"insite","name":"Insite","kind":"sis","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"frontage","radius_m":30,"no_entry":true}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 11, 16, 10, 30, 0, 0, sites[0].Location) // Monday 10:30 at the site
	ev := func(visit string, kind event.Kind, min int, breach, confirmed bool, fixes int, interpolated bool) event.Event {
		return event.Event{Visit: visit, Site: "insite", Zone: "frontage", Kind: kind, T: t1.Add(time.Duration(min) * time.Minute),
			Breach: breach, Confirmed: confirmed, Fixes: fixes, Interpolated: interpolated}
	}
	evs := []event.Event{
		// One loose fix: unconfirmed, never a breach even if a row says so.
		ev("loose", event.Enter, 0, true, false, 1, false),
		ev("loose", event.Exit, 1, false, false, 1, false),
		// A pass between two fixes.
		ev("pass", event.Enter, 2, true, false, 0, true),
		ev("pass", event.Exit, 2, false, false, 0, true),
		// Stored before migration 0002 with breach = true.
		ev("old", event.Enter, 3, true, false, 0, false),
		// Confirmed at its second fix; lost, resumed, left: one breach.
		ev("back", event.Enter, 60, false, false, 1, false),
		ev("back", event.Dwell, 61, true, true, 2, false),
		ev("back", event.SignalLost, 62, true, true, 2, false),
		ev("back", event.Resumed, 90, true, true, 3, false),
		ev("back", event.Exit, 95, true, true, 5, false),
	}
	h, err := Build(sites[0], "2026-W47", nil, evs)
	if err != nil {
		t.Fatal(err)
	}
	if h.Breaches != 1 || h.Unconfirmed != 1 || h.BetweenFixes != 1 || h.LegacyBreaches != 1 || h.Entries != 4 {
		t.Errorf("breaches %d unconfirmed %d between fixes %d legacy %d entries %d",
			h.Breaches, h.Unconfirmed, h.BetweenFixes, h.LegacyBreaches, h.Entries)
	}
	if h.Days[0][10].Breaches != 0 || h.Days[0][11].Breaches != 1 {
		t.Errorf("the breach is counted in the hour of its first confirmed breach event: %+v %+v", h.Days[0][10], h.Days[0][11])
	}
	if got := notCounted(h); got != "Not counted as breaches: 1 unconfirmed visit (a single loose fix near the edge); "+
		"1 pass between fixes (seen only on the line between two fixes); "+
		"1 visit flagged as a breach before events recorded their evidence (whether confirmed is unknown)." {
		t.Errorf("notCounted: %s", got)
	}
}
