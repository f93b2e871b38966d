package report

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
)

// Source is the part of the store a report reads.
type Source interface {
	Events(ctx context.Context, q store.EventQuery) ([]event.Event, string, error)
	Cells(ctx context.Context, site, week string) ([]store.CellRow, error)
	Annotations(ctx context.Context, eventID string) ([]store.Annotation, error)
}

// SiteEvents returns every event of a site in [from, to).
func SiteEvents(ctx context.Context, src Source, siteID string, from, to time.Time) ([]event.Event, error) {
	var out []event.Event
	q := store.EventQuery{Site: siteID, From: from, To: to, Limit: store.MaxLimit}
	for {
		page, next, err := src.Events(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

// SiteHeatmap builds one site's heatmap for a week from the store.
func SiteHeatmap(ctx context.Context, src Source, s *site.Site, week string) (*Heatmap, error) {
	from, to, err := WeekBounds(week, s.Location)
	if err != nil {
		return nil, err
	}
	cells, err := src.Cells(ctx, s.ID, week)
	if err != nil {
		return nil, err
	}
	evs, err := SiteEvents(ctx, src, s.ID, from, to)
	if err != nil {
		return nil, err
	}
	return Build(s, week, cells, evs)
}

// WeekTotal is one week of a site's trend.
type WeekTotal struct {
	Week          string
	Entries       int
	Breaches      int
	StationaryMin float64
}

// Breach is a visit with a breach in the week, with what liaisons said.
type Breach struct {
	Visit       string
	Zone        string
	Agency      string
	Device      string
	Start, End  time.Time
	DurationS   float64
	StationaryS float64
	MinDistance float64
	// Kinds are the events of the visit in the week, in order, in words
	// with their evidence: "enter (unconfirmed)", "exit (between fixes)".
	// A signal_lost that a later resumed event voids is left out: the
	// visit did not end there.
	Kinds       []string
	Annotations []store.Annotation
	breached    bool
}

// kindWords names an event of a visit's list, with what its evidence lacks.
func kindWords(e *event.Event) string {
	k := string(e.Kind)
	switch {
	case e.Interpolated:
		return k + " (between fixes)"
	case !e.Confirmed && !legacy(e):
		return k + " (unconfirmed)"
	}
	return k
}

// SiteWeek is one site's part of the weekly report.
type SiteWeek struct {
	Site     *site.Site
	Heatmap  *Heatmap
	Trend    []WeekTotal // oldest first, this week last
	Breaches []Breach
}

// Weekly is the weekly report.
type Weekly struct {
	Week      string
	Generated time.Time
	Sites     []SiteWeek
}

// TrendWeeks is how many weeks the trend shows, this one included.
const TrendWeeks = 6

// PreviousWeek is the ISO week before week.
func PreviousWeek(week string) (string, error) {
	from, _, err := WeekBounds(week, time.UTC)
	if err != nil {
		return "", err
	}
	y, w := from.AddDate(0, 0, -7).ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w), nil
}

// Gather assembles the weekly report for sites from the store.
func Gather(ctx context.Context, src Source, sites []*site.Site, week string, now time.Time) (*Weekly, error) {
	if _, _, err := WeekBounds(week, time.UTC); err != nil {
		return nil, err
	}
	r := &Weekly{Week: week, Generated: now}
	for _, s := range sites {
		sw := SiteWeek{Site: s}
		w := week
		var weeks []string
		for i := 0; i < TrendWeeks; i++ {
			weeks = append([]string{w}, weeks...)
			w, _ = PreviousWeek(w)
		}
		for _, wk := range weeks {
			h, err := SiteHeatmap(ctx, src, s, wk)
			if err != nil {
				return nil, fmt.Errorf("report: %s %s: %w", s.ID, wk, err)
			}
			t := WeekTotal{Week: wk, Entries: h.Entries, Breaches: h.Breaches}
			for _, d := range h.Days {
				for _, c := range d {
					t.StationaryMin += c.StationaryMin
				}
			}
			sw.Trend = append(sw.Trend, t)
			if wk == week {
				sw.Heatmap = h
			}
		}
		breaches, err := breachList(ctx, src, s, sw.Heatmap)
		if err != nil {
			return nil, err
		}
		sw.Breaches = breaches
		r.Sites = append(r.Sites, sw)
	}
	return r, nil
}

func breachList(ctx context.Context, src Source, s *site.Site, h *Heatmap) ([]Breach, error) {
	evs, err := SiteEvents(ctx, src, s.ID, h.From, h.To)
	if err != nil {
		return nil, err
	}
	// A signal_lost followed by a resumed event of the same visit is void.
	void := map[int]bool{}
	lost := map[string]int{} // visit → index of its latest signal_lost
	for i := range evs {
		switch evs[i].Kind {
		case event.SignalLost:
			lost[evs[i].Visit] = i
		case event.Resumed:
			if j, ok := lost[evs[i].Visit]; ok {
				void[j] = true
				delete(lost, evs[i].Visit)
			}
		}
	}
	byVisit := map[string]*Breach{}
	var order []string
	for i := range evs {
		e := &evs[i]
		b := byVisit[e.Visit]
		if b == nil {
			b = &Breach{Visit: e.Visit, Zone: e.Zone, Agency: e.Agency, Device: e.Device, Start: e.T, End: e.T, MinDistance: e.MinDistanceM}
			byVisit[e.Visit] = b
			order = append(order, e.Visit)
		}
		if e.T.Before(b.Start) {
			b.Start = e.T
		}
		if e.T.After(b.End) {
			b.End = e.T
		}
		b.DurationS = max(b.DurationS, e.DurationS)
		b.StationaryS = max(b.StationaryS, e.StationaryS)
		b.MinDistance = min(b.MinDistance, e.MinDistanceM)
		if !void[i] {
			b.Kinds = append(b.Kinds, kindWords(e))
		}
		b.breached = b.breached || IsBreach(e)
		anns, err := src.Annotations(ctx, e.ID)
		if err != nil {
			return nil, err
		}
		b.Annotations = append(b.Annotations, anns...)
	}
	var out []Breach
	for _, v := range order {
		if b := byVisit[v]; b.breached {
			out = append(out, *b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
