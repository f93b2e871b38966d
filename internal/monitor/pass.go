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

type passRef struct {
	si, zi  int32
	in, out float64 // segment parameters
	minDist float64
}

func (m *Monitor) passes(w *world, d *device, prev fixRef, fx *fixCtx) {
	var found []passRef
	ix := w.index.Load()
	ix.SearchSegment(prev.p, fx.p, func(e *geo.Entry) bool {
		s := w.sites[e.ID]
		si := int32(e.ID)
		var da, db float64
		measured := false
		for zi := range s.Zones {
			r := s.Zones[zi].RadiusM
			if d.hasVisit(si, int32(zi)) {
				continue
			}
			if !measured {
				da, db = e.Footprint.Distance(prev.p), e.Footprint.Distance(fx.p)
				measured = true
			}
			if da <= r || db <= r {
				continue // a fix is inside: the fixes themselves tell
			}
			in, out, minDist, ok := e.Footprint.SegmentPass(prev.p, fx.p, r)
			if ok {
				found = append(found, passRef{si, int32(zi), in, out, minDist})
			}
		}
		return true
	})
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
			enterT: tIn, lastT: tOut, minDist: f.minDist, enterP: pIn, inP: pOut, enterSent: true}
		m.emitPass(d, v, event.Enter, tIn, pIn)
		m.emitPass(d, v, event.Exit, tOut, pOut)
	}
}

func (m *Monitor) emitPass(d *device, v *visit, kind event.Kind, t int64, p orb.Point) {
	m.emitAt(d, v, kind, t, p, false, t)
	e := &m.out.Events[len(m.out.Events)-1]
	e.Interpolated, e.Fixes, e.Confirmed, e.Breach = true, 0, false, false
}
