package monitor

import (
	"slices"

	"github.com/keepclear/keepclear/geo"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/paulmach/orb"
)

// Passes between fixes (DESIGN.md "Passes between fixes"): when the straight
// segment between two consecutive accepted fixes of a device, at most
// PassMaxGap apart (a plausible speed: the jump filter has passed the
// second), crosses a zone that neither fix is inside, the pass is recorded
// as an enter and an exit at the times interpolated along the segment, with
// interpolated: true, confirmed: false, fixes: 0 and min_distance_m from the
// segment. A pass is never a breach and never counts toward repeat_pass.

// passSlack is how far beyond its widest zone the index reaches for a site,
// so that the one search a fix gets also finds the zones a step of up to
// passSlack metres may have crossed (a zone crossed by the step is within
// radius + step of its end). Longer steps get a search along the segment.
const passSlack = 30.0

type passRef struct {
	si, zi  int32
	in, out float64 // segment parameters
	minDist float64
}

// passes records the passes of the step from prev to the fix.
func (m *Monitor) passes(w *world, d *device, prev fixRef, fx *fixCtx, seg float64) {
	var found []passRef
	ix := w.index.Load()
	try := func(e *geo.Entry, si, zi int32, db float64) {
		r := w.sites[si].Zones[zi].RadiusM
		if db <= r || d.hasVisit(si, zi) {
			return // the fix is inside, or the zone has a visit: the fixes tell
		}
		da := e.Footprint.Distance(prev.p)
		if da <= r || seg < da+db-2*r {
			return // inside at the start, or too short to reach the zone from either end
		}
		if in, out, minDist, ok := e.Footprint.SegmentPass(prev.p, fx.p, r); ok {
			found = append(found, passRef{si, zi, in, out, minDist})
		}
	}
	if seg <= passSlack {
		for _, c := range m.passCands {
			try(ix.Entry(int(c.si)), c.si, c.zi, c.dist)
		}
	} else {
		ix.SearchSegment(prev.p, fx.p, func(e *geo.Entry) bool {
			s := w.sites[e.ID]
			db := e.Footprint.Distance(fx.p)
			for zi := range s.Zones {
				try(e, int32(e.ID), int32(zi), db)
			}
			return true
		})
	}
	if len(found) == 0 {
		return
	}
	slices.SortFunc(found, func(a, b passRef) int {
		switch {
		case a.in != b.in:
			if a.in < b.in {
				return -1
			}
			return 1
		case a.si != b.si:
			return int(a.si - b.si)
		}
		return int(a.zi - b.zi)
	})
	dt := float64(fx.t - prev.t)
	at := func(s float64) (int64, orb.Point) {
		t := prev.t + int64(s*dt+0.5)
		dlon := geo.WrapLon(fx.p[0] - prev.p[0])
		return t, orb.Point{prev.p[0] + dlon*s, prev.p[1] + (fx.p[1]-prev.p[1])*s}
	}
	for _, f := range found {
		s := w.sites[f.si]
		tIn, pIn := at(f.in)
		tOut, pOut := at(f.out)
		if tOut <= tIn {
			tOut = tIn + 1
		}
		ps := m.pseudonymAt(d, fx)
		v := &visit{id: visitID(ps, s.ID, s.Zones[f.zi].Name, tIn), pseud: ps, site: s, siteIdx: f.si, zoneIdx: f.zi,
			enterT: tIn, lastT: tOut, minDist: f.minDist, enterDist: f.minDist, enterP: pIn, inP: pOut, enterSent: true}
		m.emitPass(d, v, event.Enter, tIn, pIn)
		m.emitPass(d, v, event.Exit, tOut, pOut)
	}
}

func (m *Monitor) emitPass(d *device, v *visit, kind event.Kind, t int64, p orb.Point) {
	m.emitAt(d, v, kind, t, p, false, t)
	e := &m.out.Events[len(m.out.Events)-1]
	e.Interpolated, e.Fixes, e.Confirmed, e.Breach = true, 0, false, false
}
