package monitor

import (
	"cmp"
	"math"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
)

// VisitState is an open visit as persisted, so that a restarted server
// resumes it. It holds no raw device id.
type VisitState struct {
	ID        string  `json:"id"`
	Site      string  `json:"site"`
	Zone      string  `json:"zone"`
	Seq       int32   `json:"seq"`
	EnterT    int64   `json:"enter_ms"`
	FarN      int32   `json:"far_n,omitempty"`
	FarT      int64   `json:"far_ms,omitempty"`
	FarLat    float64 `json:"far_lat,omitempty"`
	FarLon    float64 `json:"far_lon,omitempty"`
	StillMs   int64   `json:"still_ms"`
	MinDist   float64 `json:"min_distance_m"`
	Breach    bool    `json:"breach"`
	DwellSent bool    `json:"dwell_sent"`
}

// DeviceState is a device with open visits as persisted, keyed by its
// pseudonym (for the period of LastT).
type DeviceState struct {
	Pseudonym string       `json:"pseudonym"`
	Agency    string       `json:"agency"`
	Period    int64        `json:"period"`
	LastT     int64        `json:"last_ms"`
	Lat       float64      `json:"lat"`
	Lon       float64      `json:"lon"`
	Visits    []VisitState `json:"visits"`
}

func (d *device) state() DeviceState {
	s := DeviceState{Pseudonym: d.pseud, Agency: d.agency, Period: d.pseudP, LastT: d.lastT, Lat: d.last[1], Lon: d.last[0]}
	for _, v := range d.visits {
		s.Visits = append(s.Visits, VisitState{
			ID: v.id, Site: v.site.ID, Zone: v.site.Zones[v.zoneIdx].Name, Seq: v.seq, EnterT: v.enterT,
			FarN: v.farN, FarT: v.farT, FarLat: v.far[1], FarLon: v.far[0], StillMs: v.stillMs,
			MinDist: v.minDist, Breach: v.breach, DwellSent: v.dwellSent,
		})
	}
	return s
}

func (m *Monitor) markDirty(d *device) {
	if d.pseud == "" {
		return
	}
	if m.dirty == nil {
		m.dirty = map[*device]struct{}{}
	}
	m.dirty[d] = struct{}{}
}

// TakeChanged returns the devices whose open visits changed since the last
// call: states to save, and pseudonyms whose saved state is to be deleted
// (no visit open any more).
//
// A mobile site's van position is saved the same way, under the key
// "van:" + site id, so that a restart puts the zones back where the van is.
func (m *Monitor) TakeChanged() (save []DeviceState, drop []string) {
	for _, v := range m.vanMoved {
		save = append(save, v)
	}
	clear(m.vanMoved)
	for d := range m.dirty {
		if len(d.visits) > 0 {
			save = append(save, d.state())
		} else {
			drop = append(drop, d.pseud)
		}
	}
	clear(m.dirty)
	return save, drop
}

// OpenStates returns the state of every device with an open visit.
func (m *Monitor) OpenStates() []DeviceState {
	out := make([]DeviceState, 0, len(m.open))
	for _, d := range m.open {
		out = append(out, d.state())
	}
	return out
}

// Restore hands the monitor saved device states. A device takes its state
// back on its first fix whose pseudonym matches (same agency, device and
// period); visits of zones that no longer exist are dropped.
func (m *Monitor) Restore(states []DeviceState) {
	if m.restored == nil {
		m.restored = map[string]DeviceState{}
	}
	w := m.world.Load()
	for _, s := range states {
		if id, ok := strings.CutPrefix(s.Pseudonym, vanPrefix); ok {
			for i, st := range w.sites {
				if st.ID == id && st.Kind == site.KindMobile {
					w.index.Move(i, orb.Point{s.Lon, s.Lat})
				}
			}
			continue
		}
		m.restored[s.Pseudonym] = s
	}
}

// vanPrefix keys a van's saved position among the device states.
const vanPrefix = "van:"

// claim gives a new device its restored state, if it has one.
func (m *Monitor) claim(k uint64, d *device, agency, dev string, t time.Time) {
	ps := m.pseudonym(d, agency, dev, t)
	s, ok := m.restored[ps]
	if !ok || s.Agency != agency {
		return
	}
	delete(m.restored, ps)
	w := m.world.Load()
	d.lastT, d.last = s.LastT, orb.Point{s.Lon, s.Lat}
	d.startStay(d.last, d.lastT)
	for _, vs := range s.Visits {
		si, zi, st := w.find(vs.Site, vs.Zone)
		if st == nil {
			continue
		}
		d.visits = append(d.visits, &visit{
			id: vs.ID, device: ps, site: st, siteIdx: si, zoneIdx: zi, seq: vs.Seq, farN: vs.FarN,
			dwellSent: vs.DwellSent, breach: vs.Breach, enterT: vs.EnterT, farT: vs.FarT,
			far: orb.Point{vs.FarLon, vs.FarLat}, stillMs: vs.StillMs, minDist: vs.MinDist,
		})
	}
	if len(d.visits) > 0 {
		m.open[k] = d
	}
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
	c := Cell{Site: v.site.ID, Zone: v.site.Zones[v.zoneIdx].Name, Week: weekLabel(y, wk),
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
