// Package report builds what site managers look at: the weekly heatmaps
// (day-of-week × hour of entries and dwell time, and where vehicles
// stopped) from the stored aggregates and events.
package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
)

// Hour is one cell of the day-of-week × hour matrix.
type Hour struct {
	Entries       int     `json:"entries"`
	Breaches      int     `json:"breaches"`
	Fixes         int64   `json:"fixes"`
	StationaryMin float64 `json:"stationary_min"`
}

// Spot is one ~10 m cell of the spatial heatmap.
type Spot struct {
	Lat         float64 `json:"lat"`
	Lon         float64 `json:"lon"`
	Fixes       int64   `json:"fixes"`
	StationaryS float64 `json:"stationary_s"`
}

// Heatmap is one site's week.
type Heatmap struct {
	Site string    `json:"site"`
	Name string    `json:"name"`
	Week string    `json:"week"`
	Zone string    `json:"zone"` // the zone the matrix and spots count (the widest)
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Days[0] is Monday, in the site's time zone; Days[d][h] the hour h.
	Days     [7][24]Hour `json:"days"`
	Spots    []Spot      `json:"spots"`
	Entries  int         `json:"entries"`
	Breaches int         `json:"breaches"` // visits with a confirmed breach, any zone
	// Visits that never count as breaches, any zone: Unconfirmed ones (no
	// confirmed event: a single loose fix near the edge) and BetweenFixes
	// ones (a pass interpolated between two fixes).
	Unconfirmed  int `json:"unconfirmed_visits"`
	BetweenFixes int `json:"between_fixes_visits"`
	// LegacyBreaches are visits flagged as breaches by events stored before
	// the evidence rule (migration 0002): nobody can tell whether they were
	// confirmed, so they are not counted in Breaches, only reported.
	LegacyBreaches int `json:"legacy_breaches"`
}

// IsBreach reports whether e counts as a breach: by its zone's rule, and
// only with the evidence of a confirmed visit. An unconfirmed or
// interpolated event is never a breach (the engine already emits them with
// breach=false; this holds for any stored row, whatever wrote it).
func IsBreach(e *event.Event) bool {
	return e.Breach && e.Confirmed && !e.Interpolated
}

// legacy reports whether e was stored before events carried their evidence:
// every event since has a fix inside or is interpolated.
func legacy(e *event.Event) bool {
	return !e.Confirmed && !e.Interpolated && e.Fixes == 0
}

// visitEvidence is what a visit's events of the week prove.
type visitEvidence struct {
	confirmed, interpolated, legacy, legacyBreach bool
}

func (v *visitEvidence) add(e *event.Event) {
	v.confirmed = v.confirmed || e.Confirmed
	v.interpolated = v.interpolated || e.Interpolated
	v.legacy = v.legacy || legacy(e)
	v.legacyBreach = v.legacyBreach || legacy(e) && e.Breach
}

// WeekBounds parses "2026-W47" and returns the week's start and end in loc.
func WeekBounds(week string, loc *time.Location) (time.Time, time.Time, error) {
	ys, ws, ok := strings.Cut(week, "-W")
	y, err1 := strconv.Atoi(ys)
	w, err2 := strconv.Atoi(ws)
	if !ok || err1 != nil || err2 != nil || w < 1 || w > 53 || y < 2000 || y > 2100 {
		return time.Time{}, time.Time{}, fmt.Errorf("bad week %q (want e.g. 2026-W47)", week)
	}
	// ISO week 1 holds January 4th.
	jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, loc)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	from := monday.AddDate(0, 0, 7*(w-1))
	if fy, fw := from.ISOWeek(); fy != y || fw != w {
		return time.Time{}, time.Time{}, fmt.Errorf("bad week %q: %d has no week %d", week, y, w)
	}
	return from, from.AddDate(0, 0, 7), nil
}

// CurrentWeek is the ISO week holding t in loc.
func CurrentWeek(t time.Time, loc *time.Location) string {
	y, w := t.In(loc).ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// Build assembles a site's heatmap from its cells and its events of the week.
func Build(s *site.Site, week string, cells []store.CellRow, events []event.Event) (*Heatmap, error) {
	from, to, err := WeekBounds(week, s.Location)
	if err != nil {
		return nil, err
	}
	widest := ""
	r := -1.0
	for _, z := range s.Zones {
		if z.RadiusM > r {
			widest, r = z.Name, z.RadiusM
		}
	}
	h := &Heatmap{Site: s.ID, Name: s.Name, Week: week, Zone: widest, From: from, To: to}
	spots := map[[2]int32]*Spot{}
	for _, c := range cells {
		if c.Zone != widest || c.HourOfWeek < 0 || c.HourOfWeek >= 168 {
			continue
		}
		cell := &h.Days[c.HourOfWeek/24][c.HourOfWeek%24]
		cell.Fixes += c.Fixes
		cell.StationaryMin += c.StationaryS / 60
		k := [2]int32{c.CellLat, c.CellLon}
		sp := spots[k]
		if sp == nil {
			lat, lon := c.CellLatLon()
			sp = &Spot{Lat: lat, Lon: lon}
			spots[k] = sp
		}
		sp.Fixes += c.Fixes
		sp.StationaryS += c.StationaryS
	}
	for _, sp := range spots {
		h.Spots = append(h.Spots, *sp)
	}
	sort.Slice(h.Spots, func(i, j int) bool {
		if h.Spots[i].StationaryS != h.Spots[j].StationaryS {
			return h.Spots[i].StationaryS > h.Spots[j].StationaryS
		}
		return h.Spots[i].Lat < h.Spots[j].Lat || h.Spots[i].Lat == h.Spots[j].Lat && h.Spots[i].Lon < h.Spots[j].Lon
	})
	// A visit is counted once, by its id: a visit reopened by a resumed
	// event keeps its id, so it is one visit.
	breachVisits := map[string]bool{}
	visits := map[string]*visitEvidence{}
	var order []string
	for i := range events {
		e := &events[i]
		if e.Site != s.ID || e.T.Before(from) || !e.T.Before(to) {
			continue
		}
		lt := e.T.In(s.Location)
		cell := &h.Days[(int(lt.Weekday())+6)%7][lt.Hour()]
		if e.Kind == event.Enter && e.Zone == widest {
			cell.Entries++
			h.Entries++
		}
		if IsBreach(e) && !breachVisits[e.Visit] {
			breachVisits[e.Visit] = true
			cell.Breaches++
			h.Breaches++
		}
		v := visits[e.Visit]
		if v == nil {
			v = &visitEvidence{}
			visits[e.Visit] = v
			order = append(order, e.Visit)
		}
		v.add(e)
	}
	for _, id := range order {
		switch v := visits[id]; {
		case v.confirmed:
		case v.interpolated:
			h.BetweenFixes++
		case v.legacy:
			if v.legacyBreach {
				h.LegacyBreaches++
			}
		default:
			h.Unconfirmed++
		}
	}
	return h, nil
}
