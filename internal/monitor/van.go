package monitor

import (
	"github.com/keepclear/keepclear/geo"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
)

// A mobile site (an NSP van) submits its own positions and its zones move
// with it (DESIGN.md "Concepts", "Noise"). Its fixes pass the same order,
// duplicate, accuracy and jump filters as any device's, and are never
// checked against zones. A van fix moves the zones only once the next one
// has not contradicted it: a single fix that its neighbours contradict (a
// spike out and back) never moves them, and a driving van's zones follow it
// with one van fix of delay.

type vanState struct {
	siteID, agency string
	lastT          int64
	ref            fixRef // where the zones are
	hasRef         bool
	pending        fixRef // the newest fix, waiting for the next to confirm it
	hasPending     bool
	jump           fixRef
	hasJump        bool
	dirty          bool
}

func (m *Monitor) processVan(w *world, i int, f *feed.Fix) Outcome {
	s := w.sites[i]
	vs := m.vans[s.ID]
	if vs == nil {
		vs = &vanState{siteID: s.ID, agency: s.Agency}
		m.vans[s.ID] = vs
	}
	t := f.T.UnixMilli()
	if vs.lastT != 0 {
		switch {
		case t < vs.lastT:
			return OutOfOrder
		case t == vs.lastT:
			return Duplicate
		}
	}
	vs.lastT = t
	acc := max(f.Acc, 0)
	if f.Invalid || acc > m.cfg.AccuracyLimit {
		m.stats.LowAccuracy++
		return VanMoved
	}
	cur := fixRef{t, orb.Point{f.Lon, f.Lat}, acc}
	plausible := func(a fixRef) bool {
		return geo.LocalDistance(a.p, cur.p)-a.acc-cur.acc <= m.cfg.MaxSpeed*float64(cur.t-a.t)/1000
	}
	base, hasBase := vs.ref, vs.hasRef
	if vs.hasPending {
		base, hasBase = vs.pending, true
	}
	if hasBase && !plausible(base) {
		if !vs.hasJump || !plausible(vs.jump) {
			vs.jump, vs.hasJump = cur, true
			return Jump
		}
		// A discontinuity the next fix confirms: the track goes on from here.
		vs.hasPending = false
	}
	vs.hasJump = false
	if vs.hasPending {
		if !(vs.hasRef && spike(vs.ref, vs.pending, cur)) {
			m.moveVan(w, i, s, vs, vs.pending)
		}
	}
	vs.pending, vs.hasPending = cur, true
	return VanMoved
}

// spike reports whether b is contradicted by its neighbours a and c: far
// from both, while they are close to each other.
func spike(a, b, c fixRef) bool {
	tol := max(a.acc+b.acc, b.acc+c.acc, 20)
	ab, bc, ac := geo.LocalDistance(a.p, b.p), geo.LocalDistance(b.p, c.p), geo.LocalDistance(a.p, c.p)
	return ab > tol && bc > tol && ac < 0.5*min(ab, bc)
}

func (m *Monitor) moveVan(w *world, i int, s *site.Site, vs *vanState, to fixRef) {
	w.index.Move(i, to.p)
	vs.ref, vs.hasRef, vs.dirty = to, true, true
	m.out.Positions = append(m.out.Positions, Position{Site: s.ID, Agency: s.Agency,
		T: timeMs(to.t), Lat: event.RoundCoord(to.p[1]), Lon: event.RoundCoord(wrapLon(to.p[0]))})
}

// state is the van's saved position (a site's location, not a device's):
// a restart puts its zones back where the van is.
func (vs *vanState) state() DeviceState {
	return DeviceState{Pseudonym: vanPrefix + vs.siteID, Agency: vs.agency, LastT: vs.ref.t,
		Lat: vs.ref.p[1], Lon: vs.ref.p[0]}
}
