package monitor

import (
	"cmp"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
)

// What survives a restart (DESIGN.md "A restart is not silence"): a device's
// open visits (pending exits and visits closed by silence included), the
// entries behind repeat_pass, its last fix and its still run — everything
// the rules need to give the same events as an uninterrupted run. No
// position outside every zone is written: the last fix, the anchors and the
// still run's centre are saved only when they lie inside a zone of one of
// the device's visits, and a pending exit keeps the time of its first far
// fix, never where it was.

// VisitState is a visit as persisted. It holds no raw device id.
type VisitState struct {
	ID        string  `json:"id"`
	Device    string  `json:"device"` // the pseudonym the visit began under
	Site      string  `json:"site"`
	Zone      string  `json:"zone"`
	Phase     string  `json:"phase"`
	Confirmed bool    `json:"confirmed,omitempty"`
	EnterSent bool    `json:"enter_sent,omitempty"`
	DwellSent bool    `json:"dwell_sent,omitempty"`
	Breach    bool    `json:"breach,omitempty"`
	Seq       int32   `json:"seq"`
	Fixes     int32   `json:"fixes"`
	FarN      int32   `json:"far_n,omitempty"`
	EnterT    int64   `json:"enter_ms"`
	LastT     int64   `json:"last_ms"`
	FarT      int64   `json:"far_ms,omitempty"`
	StillMs   int64   `json:"still_ms"`
	HeldStill int64   `json:"held_still_ms,omitempty"`
	MinDist   float64 `json:"min_distance_m"`
	EnterDist float64 `json:"enter_distance_m"`
	EnterLat  float64 `json:"enter_lat"`
	EnterLon  float64 `json:"enter_lon"`
	InLat     float64 `json:"in_lat"`
	InLon     float64 `json:"in_lon"`
}

// PointState is a fix kept by the rules (inside a zone only).
type PointState struct {
	T   int64   `json:"ms"`
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	Acc float64 `json:"acc,omitempty"`
}

// PassState is one confirmed entry counting toward repeat_pass.
type PassState struct {
	Site string `json:"site"`
	Zone string `json:"zone"`
	T    int64  `json:"ms"`
}

// DeviceState is a device's state as persisted, keyed by its pseudonym for
// Period. A mobile site's van is saved the same way under "van:" + site
// id, with the position its zones are at in Lat, Lon.
type DeviceState struct {
	Pseudonym string       `json:"pseudonym"`
	Agency    string       `json:"agency"`
	Period    int64        `json:"period"`
	LastT     int64        `json:"last_ms"`
	Lat       float64      `json:"lat,omitempty"`
	Lon       float64      `json:"lon,omitempty"`
	Ref       *PointState  `json:"ref,omitempty"`
	Jump      *PointState  `json:"jump,omitempty"`
	Anchors   []PointState `json:"anchors,omitempty"`
	StillN    int32        `json:"still_n,omitempty"`
	Centre    *PointState  `json:"centre,omitempty"`
	Visits    []VisitState `json:"visits,omitempty"`
	Passes    []PassState  `json:"passes,omitempty"`
}

// vanPrefix keys a van's saved position among the device states.
const vanPrefix = "van:"

// insideAny reports whether p is inside the zone of one of d's visits.
func (m *Monitor) insideAny(w *world, d *device, p orb.Point) bool {
	for _, v := range d.visits {
		if m.distance(w, v.siteIdx, p) <= v.zone().RadiusM {
			return true
		}
	}
	return false
}

func (m *Monitor) state(d *device) DeviceState {
	w := m.world.Load()
	s := DeviceState{Pseudonym: d.pseud, Agency: d.agency, Period: d.period, LastT: d.lastT}
	if d.hasRef && m.insideAny(w, d, d.ref.p) {
		s.Ref = &PointState{d.ref.t, d.ref.p[1], d.ref.p[0], d.ref.acc}
	}
	if d.jump != nil && m.insideAny(w, d, d.jump.p) {
		s.Jump = &PointState{d.jump.t, d.jump.p[1], d.jump.p[0], d.jump.acc}
	}
	for _, a := range d.still.anchors[:d.still.n] {
		if !m.insideAny(w, d, a.point()) {
			s.Anchors = nil // a gap in the anchors would change the window
			break
		}
		s.Anchors = append(s.Anchors, PointState{a.t, float64(a.lat), float64(a.lon), float64(a.acc)})
	}
	if c := d.still.centreP(); d.still.runN > 0 && m.insideAny(w, d, c) {
		s.StillN = d.still.runN
		s.Centre = &PointState{Lat: c[1], Lon: c[0]}
	}
	for _, v := range d.visits {
		s.Visits = append(s.Visits, VisitState{
			ID: v.id, Device: v.pseud, Site: v.site.ID, Zone: v.zone().Name, Phase: v.phase.String(),
			Confirmed: v.confirmed, EnterSent: v.enterSent, DwellSent: v.dwellSent, Breach: v.breach,
			Seq: v.seq, Fixes: v.fixes, FarN: v.farN, EnterT: v.enterT, LastT: v.lastT, FarT: v.farT,
			StillMs: v.stillMs, HeldStill: v.heldStill, MinDist: v.minDist, EnterDist: v.enterDist,
			EnterLat: v.enterP[1], EnterLon: v.enterP[0], InLat: v.inP[1], InLon: v.inP[0],
		})
	}
	for _, p := range d.entries() {
		s.Passes = append(s.Passes, PassState{p.site, p.zone, p.t})
	}
	return s
}

// OpenStates returns the state of every device that has one (for a full
// snapshot).
func (m *Monitor) OpenStates() []DeviceState {
	out := make([]DeviceState, 0, len(m.open)+len(m.restored))
	for _, d := range m.open {
		if d.hasState() {
			out = append(out, m.state(d))
		}
	}
	for _, d := range m.restored {
		if d.hasState() {
			out = append(out, m.state(d))
		}
	}
	for _, v := range m.vans {
		if v.hasRef {
			out = append(out, v.state())
		}
	}
	return out
}

// Restore hands the monitor saved device states after a restart, now being
// the arrival clock at the restart. The time the server was down does not
// count as silence: each restored device is heard from now, so its open
// visits get a fresh MaxGap. A device takes its state back with its first
// fix whose pseudonym matches (same agency, device and period); until then
// its visits are swept for silence like any other. Visits of zones that no
// longer exist are dropped.
func (m *Monitor) Restore(states []DeviceState, now time.Time) {
	w := m.world.Load()
	for _, s := range states {
		if id, ok := strings.CutPrefix(s.Pseudonym, vanPrefix); ok {
			for i, st := range w.sites {
				if st.ID == id && st.Kind == site.KindMobile {
					p := orb.Point{s.Lon, s.Lat}
					w.index.Move(i, p)
					m.vans[id] = &vanState{siteID: id, agency: st.Agency, lastT: s.LastT,
						ref: fixRef{s.LastT, p, 0}, hasRef: true}
				}
			}
			continue
		}
		d := &device{pseud: s.Pseudonym, period: s.Period, agency: m.intern(s.Agency), lastT: s.LastT,
			heardAt: now.UnixMilli(), saved: true}
		d.tomb = len(s.Visits) == 0 && len(s.Passes) == 0
		if s.Ref != nil {
			d.ref, d.hasRef = fixRef{s.Ref.T, orb.Point{s.Ref.Lon, s.Ref.Lat}, s.Ref.Acc}, true
		}
		if s.Jump != nil {
			d.jump = &fixRef{s.Jump.T, orb.Point{s.Jump.Lon, s.Jump.Lat}, s.Jump.Acc}
		}
		for _, a := range s.Anchors {
			if int(d.still.n) < numAnchors {
				d.still.anchors[d.still.n] = newAnchor(fixRef{a.T, orb.Point{a.Lon, a.Lat}, a.Acc})
				d.still.n++
			}
		}
		if s.Centre != nil {
			d.still.runN = s.StillN
			d.still.setCentre(orb.Point{s.Centre.Lon, s.Centre.Lat})
		}
		for _, vs := range s.Visits {
			si, zi, st := w.find(vs.Site, vs.Zone)
			if st == nil {
				if vs.Phase != phaseLost.String() {
					// Its zone was removed while the server was down: it is
					// closed with an exit at the next Tick, as SetSites does.
					m.orphans = append(m.orphans, orphan{agency: s.Agency, vs: vs})
				}
				continue
			}
			ph := phaseInside
			for i, n := range phaseNames {
				if n == vs.Phase {
					ph = phase(i)
				}
			}
			d.visits = append(d.visits, &visit{
				id: vs.ID, pseud: vs.Device, site: st, siteIdx: si, zoneIdx: zi, phase: ph,
				confirmed: vs.Confirmed, enterSent: vs.EnterSent, dwellSent: vs.DwellSent, breach: vs.Breach,
				seq: vs.Seq, fixes: vs.Fixes, farN: vs.FarN, enterT: vs.EnterT, lastT: vs.LastT, farT: vs.FarT,
				stillMs: vs.StillMs, heldStill: vs.HeldStill, minDist: vs.MinDist, enterDist: vs.EnterDist,
				enterP: orb.Point{vs.EnterLon, vs.EnterLat}, inP: orb.Point{vs.InLon, vs.InLat},
			})
		}
		var list []pass
		for _, p := range s.Passes {
			list = append(list, pass{site: p.Site, zone: p.Zone, t: p.T})
		}
		d.setEntries(list)
		m.restored[s.Pseudonym] = d
		m.restoredPeriods[s.Period] = true
	}
}

// orphan is a restored open visit whose zone no longer exists.
type orphan struct {
	agency string
	vs     VisitState
}

// closeOrphans ends the restored visits whose zones are gone with an exit at
// their last fix (or the first far fix of a pending exit), as SetSites does
// for a zone removed while it runs. Their site's hours are gone with it, so
// in_hours is false; the breach flag is the visit's.
func (m *Monitor) closeOrphans() {
	for _, o := range m.orphans {
		vs := o.vs
		end := vs.LastT
		if vs.Phase == phaseExitPending.String() {
			end = vs.FarT
		}
		seq := vs.Seq + 1
		if !vs.EnterSent {
			seq++ // its held-back enter was never sent; the exit says what it was
		}
		m.out.Events = append(m.out.Events, event.Event{
			ID: vs.ID + "-" + strconv.Itoa(int(seq)), Visit: vs.ID, Site: vs.Site, Zone: vs.Zone, Kind: event.Exit,
			Device: vs.Device, Agency: o.agency, T: timeMs(end), DurationS: event.Seconds(end - vs.EnterT),
			MinDistanceM: event.RoundMetres(vs.MinDist), StationaryS: event.Seconds(vs.StillMs),
			Breach: vs.Breach && vs.Confirmed, Confirmed: vs.Confirmed, Fixes: int(vs.Fixes),
			Lat: event.RoundCoord(vs.InLat), Lon: event.RoundCoord(wrapLon(vs.InLon)),
		})
		m.stats.Events[event.Exit]++
	}
	m.orphans = nil
}

// claim returns the restored state of a device seen for the first time
// since the restart, if it has one.
//
// A state is saved under the pseudonym its device had then, which may be
// an earlier period's (a car parked across the weekly rotation keeps its
// visit's pseudonym until it opens a new one): every period among the
// restored states is tried.
func (m *Monitor) claim(agency, dev string, t time.Time) *device {
	try := func(period int64) *device {
		ps := m.pseud.Pseudonym(period, agency, dev)
		d, ok := m.restored[ps]
		if !ok || d.agency != agency {
			return nil
		}
		delete(m.restored, ps)
		return d
	}
	now := m.pseud.Period(t)
	if d := try(now); d != nil {
		return d
	}
	for period := range m.restoredPeriods {
		if period != now {
			if d := try(period); d != nil {
				return d
			}
		}
	}
	return nil
}

// Restored is the number of saved states not yet claimed by a fix.
func (m *Monitor) Restored() int { return len(m.restored) }

func (w *world) find(siteID, zone string) (int32, int32, *site.Site) {
	for si, s := range w.sites {
		if s.ID != siteID {
			continue
		}
		for zi := range s.Zones {
			if s.Zones[zi].Name == zone {
				return int32(si), int32(zi), s
			}
		}
	}
	return 0, 0, nil
}

func timeMs(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// Cell is one weekly aggregate: fixes and stationary time inside one zone
// in one ~10 m cell during one hour of the site's local week.
type Cell struct {
	Site, Zone string
	Week       string // ISO week in the site's time zone, "2026-W47"
	HourOfWeek int    // 0 = Monday 00:00-01:00 local
	CellLat    int32  // latitude / 1e-4 degrees (~11 m), floored
	CellLon    int32  // longitude / 1e-4 degrees, floored
}

// CompareCells orders cells as the stores' primary key does (site, week,
// zone, hour, latitude, longitude), so that aggregates written in this order
// touch neighbouring pages of the index.
func CompareCells(a, b Cell) int {
	return cmp.Or(cmp.Compare(a.Site, b.Site), cmp.Compare(a.Week, b.Week), cmp.Compare(a.Zone, b.Zone),
		cmp.Compare(a.HourOfWeek, b.HourOfWeek), cmp.Compare(a.CellLat, b.CellLat), cmp.Compare(a.CellLon, b.CellLon))
}

// CellLatLon is the centre of a cell.
func (c Cell) CellLatLon() (lat, lon float64) {
	return (float64(c.CellLat) + 0.5) * 1e-4, (float64(c.CellLon) + 0.5) * 1e-4
}

// CellValue is what a cell accumulates.
type CellValue struct {
	Fixes       int64
	StationaryS float64
}

func (m *Monitor) aggregate(v *visit, p orb.Point, t time.Time, stillMs int64) {
	if !m.cfg.Aggregate {
		return
	}
	lt := t.In(v.site.Location)
	y, wk := lt.ISOWeek()
	if m.cells == nil {
		m.cells = map[Cell]*CellValue{}
	}
	c := Cell{Site: v.site.ID, Zone: v.zone().Name, Week: weekLabel(y, wk),
		HourOfWeek: (int(lt.Weekday())+6)%7*24 + lt.Hour(),
		CellLat:    int32(math.Floor(p[1] * 1e4)), CellLon: int32(math.Floor(p[0] * 1e4))}
	cv := m.cells[c]
	if cv == nil {
		cv = &CellValue{}
		m.cells[c] = cv
	}
	cv.Fixes++
	cv.StationaryS += float64(stillMs) / 1000
}

// TakeCells returns the aggregates gathered since the last call.
func (m *Monitor) TakeCells() map[Cell]*CellValue {
	c := m.cells
	m.cells = nil
	return c
}

func weekLabel(y, w int) string {
	b := make([]byte, 0, 8)
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-', 'W',
		byte('0'+w/10), byte('0'+w%10))
	return string(b)
}
