package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keepclear/keepclear/geo"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
)

// Outcome is what became of one fix.
type Outcome uint8

// The outcomes of Process.
const (
	Accepted   Outcome = iota // used; it may or may not have been in a zone
	OutOfOrder                // older than the device's last fix: dropped
	Duplicate                 // same time as the device's last fix: dropped
	Jump                      // implied speed above the limit: dropped
	VanMoved                  // a mobile site's own fix: moved its zones
	numOutcomes
)

var outcomeNames = [...]string{"accepted", "out_of_order", "duplicate", "jump", "van"}

func (o Outcome) String() string { return outcomeNames[o] }

// Stats counts what the monitor has seen.
type Stats struct {
	Fixes       int64              // fixes given to Process
	ByOutcome   [numOutcomes]int64 // indexed by Outcome
	Outside     int64              // accepted fixes outside every zone (counted, never stored)
	InZone      int64              // accepted fixes inside at least one open visit's zone
	LowAccuracy int64              // fixes ignored for entering for their accuracy
	Events      map[event.Kind]int64
}

// Emit receives events. The event is only valid during the call.
type Emit func(*event.Event)

// world is an immutable snapshot of the sites and their index.
type world struct {
	sites []*site.Site
	index *geo.Live      // entries' IDs are positions in sites
	vans  map[string]int // site.VanKey of each mobile site's van
	// vanAgencies are the agencies that have a van: only their fixes are
	// hashed to see whether they come from one.
	vanAgencies map[string]bool
}

func newWorld(sites []*site.Site) *world {
	w := &world{sites: sites, vans: map[string]int{}, vanAgencies: map[string]bool{}}
	entries := make([]geo.Entry, len(sites))
	for i, s := range sites {
		entries[i] = geo.Entry{ID: i, Footprint: s.Footprint, Reach: s.Reach(), Roaming: s.Kind == site.KindMobile}
		if s.Kind == site.KindMobile {
			w.vans[s.DeviceKey] = i
			w.vanAgencies[s.Agency] = true
		}
	}
	w.index = geo.NewLive(geo.NewIndex(entries))
	return w
}

// visit is one device's open stay in one zone.
type visit struct {
	id        string
	device    string // pseudonym
	site      *site.Site
	siteIdx   int32
	zoneIdx   int32
	seq       int32 // events emitted so far
	farN      int32 // consecutive fixes beyond the hysteresis band
	dwellSent bool
	breach    bool
	enterT    int64 // ms
	farT      int64
	far       orb.Point
	stillMs   int64
	minDist   float64
}

type pass struct {
	key uint32 // site<<8 | zone in the current world
	t   int64
}

// device is the state kept per tracked device.
type device struct {
	lastT int64 // ms of the last accepted fix; 0 = none yet
	last  orb.Point
	// The current stay: the running centre of the fixes since stayT, how
	// many, and whether the last fix was an outlier beyond the radius.
	stay     orb.Point
	stayT    int64
	stayN    int32
	outlier  bool
	stillNow bool  // the stay has lasted the window: stationary
	jumpT    int64 // a dropped jump, to tell a spike from a real discontinuity
	jump     orb.Point
	pseud    string // pseudonym for period pseudP
	pseudP   int64
	agency   string // interned
	clock    *int64 // the agency's latest fix time (ms)
	visits   []*visit
	passes   []pass
}

// Monitor runs the detection rules.
type Monitor struct {
	cfg      Config
	world    atomic.Pointer[world]
	devices  map[uint64]*device
	open     map[uint64]*device // devices with open visits
	seed     maphash.Seed
	pseud    *Pseudonymizer
	agencies map[string]string
	stats    Stats
	ev       event.Event // reused for emitting
	enters   [8]uint32   // reused by process: zones entered by one fix
	dirty    map[*device]struct{}
	vanMoved map[string]DeviceState // vans moved since TakeChanged, by site id
	pos      Position               // of the last fix, when in a zone
	posOK    bool
	restored map[string]DeviceState
	// agencyClock is each agency's latest accepted fix time (ms).
	agencyClock map[string]*int64
	cells       map[Cell]*CellValue
}

// New returns a monitor over sites.
func New(cfg Config, sites []*site.Site) (*Monitor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Monitor{
		cfg:         cfg,
		devices:     map[uint64]*device{},
		open:        map[uint64]*device{},
		seed:        maphash.MakeSeed(),
		pseud:       NewPseudonymizer(cfg.Secret, cfg.Rotation),
		agencies:    map[string]string{},
		stats:       Stats{Events: map[event.Kind]int64{}},
		agencyClock: map[string]*int64{},
	}
	m.world.Store(newWorld(sites))
	return m, nil
}

// Sites returns the current sites.
func (m *Monitor) Sites() []*site.Site { return m.world.Load().sites }

// Stats returns a copy of the counters.
func (m *Monitor) Stats() Stats {
	s := m.stats
	s.Events = make(map[event.Kind]int64, len(m.stats.Events))
	for k, v := range m.stats.Events {
		s.Events[k] = v
	}
	return s
}

// Devices is the number of tracked devices.
func (m *Monitor) Devices() int { return len(m.devices) }

func (m *Monitor) key(agency, device string) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(agency)
	h.WriteByte(0)
	h.WriteString(device)
	return h.Sum64()
}

// Process runs one validated fix through the rules and emits its events.
func (m *Monitor) Process(f *feed.Fix, emit Emit) Outcome {
	m.stats.Fixes++
	m.posOK = false
	o := m.process(f, emit)
	m.stats.ByOutcome[o]++
	return o
}

func (m *Monitor) process(f *feed.Fix, emit Emit) Outcome {
	w := m.world.Load()
	p := orb.Point{f.Lon, f.Lat}
	if w.vanAgencies[f.Agency] {
		if i, ok := w.vans[site.VanKey(f.Agency, f.Device)]; ok {
			w.index.Move(i, p)
			if m.vanMoved == nil {
				m.vanMoved = map[string]DeviceState{}
			}
			s := w.sites[i]
			m.vanMoved[s.ID] = DeviceState{Pseudonym: vanPrefix + s.ID, Agency: s.Agency, LastT: f.T.UnixMilli(), Lat: f.Lat, Lon: f.Lon}
			m.pos = Position{Site: s.ID, Agency: s.Agency, T: f.T, Lat: f.Lat, Lon: f.Lon}
			m.posOK = true
			return VanMoved
		}
	}
	t := f.T.UnixMilli()
	k := m.key(f.Agency, f.Device)
	d := m.devices[k]
	if d == nil {
		d = &device{agency: m.intern(f.Agency), pseudP: -1, clock: m.clockOf(f.Agency)}
		m.devices[k] = d
		if len(m.restored) > 0 {
			m.claim(k, d, f.Agency, f.Device, f.T)
		}
	}
	if d.lastT != 0 {
		switch {
		case t < d.lastT:
			return OutOfOrder
		case t == d.lastT:
			return Duplicate
		}
		if len(d.visits) > 0 && time.Duration(t-d.lastT)*time.Millisecond > m.cfg.SignalTimeout {
			m.loseSignal(k, d, emit)
		}
		if m.isJump(d, p, t, f.Acc) {
			return Jump
		}
	}
	stillMs := m.stationary(d, p, t, f)
	d.jumpT = 0
	d.lastT, d.last = t, p
	if t > *d.clock {
		*d.clock = t
	}

	inZone := false
	// Open visits first: they may exit.
	if len(d.visits) > 0 {
		kept := d.visits[:0]
		for _, v := range d.visits {
			if m.updateVisit(w, d, v, f, p, t, stillMs, emit) {
				kept = append(kept, v)
				inZone = true
			}
		}
		for i := len(kept); i < len(d.visits); i++ {
			d.visits[i] = nil
		}
		d.visits = kept
		if len(d.visits) == 0 {
			d.visits = nil
			delete(m.open, k)
		}
	}
	// Then new entries, in a stable order.
	enters := &m.enters
	n := 0
	lowAcc := false
	w.index.Load().Search(p, func(e *geo.Entry, dist float64) bool {
		s := w.sites[e.ID]
		for zi := range s.Zones {
			if dist > s.Zones[zi].RadiusM {
				continue
			}
			zk := uint32(e.ID)<<8 | uint32(zi)
			if d.hasVisit(zk) {
				continue
			}
			if f.Acc > m.cfg.AccuracyLimit {
				lowAcc = true
				continue
			}
			if n < len(enters) {
				enters[n] = zk
				n++
			}
		}
		return true
	})
	if lowAcc {
		m.stats.LowAccuracy++
	}
	if n > 1 {
		slices.Sort(enters[:n])
	}
	for _, zk := range enters[:n] {
		m.enter(w, k, d, zk, f, p, t, emit)
		inZone = true
	}
	if inZone {
		m.stats.InZone++
		m.pos = Position{Device: d.pseud, Agency: d.agency, T: f.T, Lat: f.Lat, Lon: f.Lon, Visits: len(d.visits)}
		m.posOK = true
	} else {
		m.stats.Outside++
	}
	return Accepted
}

// Position is a device seen inside a zone, for the live map. Device is the
// pseudonym.
type Position struct {
	Device string    `json:"device,omitempty"`
	Site   string    `json:"site,omitempty"` // set for a mobile site's van: its zones are here now
	Agency string    `json:"agency"`
	T      time.Time `json:"t"`
	Lat    float64   `json:"lat"`
	Lon    float64   `json:"lon"`
	Visits int       `json:"visits"` // open visits
	// Silent: the device has an open visit but has not been heard from for
	// the monitor's SilentAfter (arrival clock); T is then its last fix.
	Silent bool `json:"silent,omitempty"`
	// Breach: one of its open visits is a breach.
	Breach bool `json:"breach,omitempty"`
}

// LastPosition reports the position of the fix just processed when it was
// inside a zone, or when it moved a mobile site.
func (m *Monitor) LastPosition() (Position, bool) {
	if !m.posOK {
		return Position{}, false
	}
	p := m.pos
	p.Lat, p.Lon = event.RoundCoord(p.Lat), event.RoundCoord(p.Lon)
	return p, true
}

// OpenVisitCount is the number of open visits.
func (m *Monitor) OpenVisitCount() int {
	n := 0
	for _, d := range m.open {
		n += len(d.visits)
	}
	return n
}

func (d *device) hasVisit(zk uint32) bool {
	for _, v := range d.visits {
		if uint32(v.siteIdx)<<8|uint32(v.zoneIdx) == zk {
			return true
		}
	}
	return false
}

func (m *Monitor) clockOf(agency string) *int64 {
	c := m.agencyClock[agency]
	if c == nil {
		c = new(int64)
		m.agencyClock[agency] = c
	}
	return c
}

func (m *Monitor) intern(s string) string {
	if v, ok := m.agencies[s]; ok {
		return v
	}
	if len(m.agencies) < 10000 {
		m.agencies[s] = s
	}
	return s
}

// isJump drops a fix whose implied speed from the last fix is impossible,
// allowing for its accuracy. A jump confirmed by the next fix (the track
// carries on from the new place) is a discontinuity, not a spike: accepted.
func (m *Monitor) isJump(d *device, p orb.Point, t int64, acc float64) bool {
	dt := float64(t-d.lastT) / 1000
	dist := geo.LocalDistance(d.last, p) - math.Max(acc, 0)
	if dist <= m.cfg.MaxSpeed*dt {
		return false
	}
	if d.jumpT != 0 && t > d.jumpT &&
		geo.LocalDistance(d.jump, p)-math.Max(acc, 0) <= m.cfg.MaxSpeed*float64(t-d.jumpT)/1000 {
		d.jumpT = 0
		d.startStay(p, t)
		return false
	}
	d.jumpT, d.jump = t, p
	return true
}

// stationary decides whether the device stood still since its last fix and
// returns for how long (ms) to count it: with a reported speed, speed below
// the limit; without, a stay within the radius for the window (counted from
// the stay's start once the window has passed).
func (m *Monitor) stationary(d *device, p orb.Point, t int64, f *feed.Fix) int64 {
	if d.lastT == 0 {
		d.startStay(p, t)
		return 0
	}
	if f.Speed >= 0 {
		d.startStay(p, t)
		if f.Speed < m.cfg.StillSpeed {
			return t - d.lastT
		}
		return 0
	}
	if geo.LocalDistance(d.stay, p) > math.Max(m.cfg.StillRadius, f.Acc) {
		if !d.outlier {
			d.outlier = true // one outlier does not end a stay
			if d.stillNow {
				return t - d.lastT
			}
			return 0
		}
		d.startStay(p, t)
		return 0
	}
	d.outlier = false
	d.stayN++
	w := 1 / float64(d.stayN)
	d.stay = orb.Point{d.stay[0] + geo.WrapLon(p[0]-d.stay[0])*w, d.stay[1] + (p[1]-d.stay[1])*w}
	switch {
	case d.stillNow:
		return t - d.lastT
	case t-d.stayT >= m.cfg.StillWindow.Milliseconds():
		d.stillNow = true
		return t - d.stayT
	}
	return 0
}

func (d *device) startStay(p orb.Point, t int64) {
	d.stay, d.stayT, d.stayN, d.outlier, d.stillNow = p, t, 1, false, false
}

func (m *Monitor) pseudonym(d *device, agency, dev string, t time.Time) string {
	period := m.pseud.Period(t)
	if period != d.pseudP {
		d.pseud, d.pseudP = m.pseud.Pseudonym(period, agency, dev), period
	}
	return d.pseud
}

func (m *Monitor) enter(w *world, k uint64, d *device, zk uint32, f *feed.Fix, p orb.Point, t int64, emit Emit) {
	si, zi := int32(zk>>8), int32(zk&0xff)
	s := w.sites[si]
	z := &s.Zones[zi]
	dist := m.distance(w, int(si), p)
	ps := m.pseudonym(d, f.Agency, f.Device, f.T)
	v := &visit{
		id: visitID(ps, s.ID, z.Name, t), device: ps, site: s, siteIdx: si, zoneIdx: zi,
		enterT: t, minDist: dist,
	}
	applies := z.AppliesAlways() || s.InHours(f.T)
	v.breach = z.NoEntry && applies
	if len(d.visits) == 0 {
		m.open[k] = d
	}
	d.visits = append(d.visits, v)
	m.emit(emit, v, d, event.Enter, t, p, z.NoEntry && applies)
	m.aggregate(v, p, f.T, 0)

	// Circling: count this zone's entries in the window.
	cut := t - m.cfg.RepeatWindow.Milliseconds()
	kept := d.passes[:0]
	count := 1
	for _, ps := range d.passes {
		if ps.t > cut {
			kept = append(kept, ps)
			if ps.key == zk {
				count++
			}
		}
	}
	d.passes = append(kept, pass{zk, t})
	if count >= m.cfg.RepeatCount {
		m.emit(emit, v, d, event.RepeatPass, t, p, false)
		kept := d.passes[:0]
		for _, ps := range d.passes {
			if ps.key != zk {
				kept = append(kept, ps)
			}
		}
		d.passes = kept
	}
	if len(d.passes) == 0 {
		d.passes = nil
	}
}

// visitID derives a visit's id from what makes it unique, so that a replay
// or a retried batch gives the same ids.
func visitID(pseudonym, site, zone string, t int64) string {
	b := make([]byte, 0, 96)
	b = append(b, pseudonym...)
	b = append(b, '|')
	b = append(b, site...)
	b = append(b, '|')
	b = append(b, zone...)
	b = append(b, '|')
	b = strconv.AppendInt(b, t, 10)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func (m *Monitor) distance(w *world, si int, p orb.Point) float64 {
	ix := w.index.Load()
	if e := ix.Entry(si); e != nil {
		return e.Footprint.Distance(p)
	}
	return w.sites[si].Footprint.Distance(p)
}

// updateVisit applies a fix to an open visit; it returns false when the
// visit ended.
func (m *Monitor) updateVisit(w *world, d *device, v *visit, f *feed.Fix, p orb.Point, t, stillMs int64, emit Emit) bool {
	z := &v.site.Zones[v.zoneIdx]
	dist := m.distance(w, int(v.siteIdx), p)
	if dist > z.RadiusM+math.Max(f.Acc, m.cfg.ExitMargin) {
		if v.farN == 0 {
			v.farT, v.far = t, p
			m.markDirty(d) // a pending exit is saved, so a restart dates the exit alike
		}
		v.farN++
		if int(v.farN) >= m.cfg.ExitFixes && t-v.farT >= m.cfg.ExitAfter.Milliseconds() {
			m.emit(emit, v, d, event.Exit, v.farT, v.far, v.breach)
			return false
		}
		return true
	}
	if v.farN > 0 {
		v.farN = 0
		m.markDirty(d)
	}
	v.minDist = math.Min(v.minDist, dist)
	credit := min(stillMs, t-v.enterT) // a stay may have begun before the visit
	v.stillMs += credit
	if dist <= z.RadiusM {
		m.aggregate(v, p, f.T, credit)
	}
	// Whether the rule applies now is only asked when it can change something.
	applies := func() bool { return z.AppliesAlways() || v.site.InHours(f.T) }
	if z.NoEntry && !v.breach && dist <= z.RadiusM && applies() {
		v.breach = true
	}
	if z.MaxDwellS != nil && !v.dwellSent && stillMs > 0 && float64(v.stillMs) > *z.MaxDwellS*1000 {
		v.dwellSent = true
		a := applies()
		if a {
			v.breach = true
		}
		m.emit(emit, v, d, event.Dwell, t, p, a)
	}
	return true
}

// loseSignal closes every open visit of d at its last fix.
func (m *Monitor) loseSignal(k uint64, d *device, emit Emit) {
	for _, v := range d.visits {
		m.emit(emit, v, d, event.SignalLost, d.lastT, d.last, v.breach)
	}
	d.visits = nil
	delete(m.open, k)
}

// Advance tells the monitor that time has reached now: devices silent inside
// a zone for longer than the signal timeout get signal_lost. Call it as the
// clock moves (wall time in a server, feed time in a replay). Silence is
// measured against the device's own agency's latest fix, so a feed that
// arrives late as a whole does not lose every visit; a device whose whole
// feed has stopped is judged by now after twice the timeout.
func (m *Monitor) Advance(now time.Time, emit Emit) {
	timeout := m.cfg.SignalTimeout.Milliseconds()
	hardCut := now.UnixMilli() - 2*timeout
	type lost struct {
		k uint64
		d *device
	}
	var due []lost
	for k, d := range m.open {
		if *d.clock-d.lastT > timeout || d.lastT < hardCut {
			due = append(due, lost{k, d})
		}
	}
	sort.Slice(due, func(a, b int) bool {
		if due[a].d.lastT != due[b].d.lastT {
			return due[a].d.lastT < due[b].d.lastT
		}
		return due[a].d.visits[0].id < due[b].d.visits[0].id
	})
	for _, l := range due {
		m.loseSignal(l.k, l.d, emit)
	}
}

func (m *Monitor) emit(emit Emit, v *visit, d *device, kind event.Kind, t int64, p orb.Point, breach bool) {
	v.seq++
	m.markDirty(d)
	z := &v.site.Zones[v.zoneIdx]
	tt := time.UnixMilli(t).UTC()
	e := &m.ev
	*e = event.Event{
		ID:           v.id + "-" + strconv.Itoa(int(v.seq)),
		Visit:        v.id,
		Site:         v.site.ID,
		Zone:         z.Name,
		Kind:         kind,
		Device:       v.device,
		Agency:       d.agency,
		T:            tt,
		DurationS:    event.Seconds(t - v.enterT),
		MinDistanceM: event.RoundMetres(v.minDist),
		StationaryS:  event.Seconds(v.stillMs),
		InHours:      v.site.InHours(tt),
		Breach:       breach,
		Lat:          event.RoundCoord(p[1]),
		Lon:          event.RoundCoord(geo.WrapLon(p[0])),
	}
	m.stats.Events[kind]++
	if emit != nil {
		emit(e)
	}
}

// Forget drops the state of devices with no open visit whose last fix is
// older than before, so that memory follows the devices active now rather
// than every device ever seen. It looks at no more than limit devices (0:
// all), taken in Go's random map order, so that frequent small calls sweep
// everything without one long pause. It returns how many were dropped. A
// device that reports again starts afresh.
func (m *Monitor) Forget(before time.Time, limit int) int {
	cut := before.UnixMilli()
	n, seen := 0, 0
	for k, d := range m.devices {
		if seen++; limit > 0 && seen > limit {
			break
		}
		if len(d.visits) == 0 && d.lastT < cut {
			delete(m.devices, k)
			delete(m.dirty, d)
			n++
		}
	}
	return n
}

// OpenVisit describes a visit still open.
type OpenVisit struct {
	Visit   string    `json:"visit"`
	Site    string    `json:"site"`
	Zone    string    `json:"zone"`
	Device  string    `json:"device"` // pseudonym
	Agency  string    `json:"agency"`
	Since   time.Time `json:"since"`
	LastFix time.Time `json:"last_fix"`
	Breach  bool      `json:"breach"`
}

// OpenVisits lists the open visits, oldest first.
func (m *Monitor) OpenVisits() []OpenVisit {
	var out []OpenVisit
	for _, d := range m.open {
		for _, v := range d.visits {
			out = append(out, OpenVisit{Visit: v.id, Site: v.site.ID, Zone: v.site.Zones[v.zoneIdx].Name,
				Device: v.device, Agency: d.agency, Since: time.UnixMilli(v.enterT).UTC(),
				LastFix: time.UnixMilli(d.lastT).UTC(), Breach: v.breach})
		}
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].Since.Equal(out[b].Since) {
			return out[a].Since.Before(out[b].Since)
		}
		return out[a].Visit < out[b].Visit
	})
	return out
}

// SetSites replaces the sites. The new index is built beside the old one and
// published atomically, so lookups never stop. Open visits carry over to the
// zone with the same site id and zone name; a visit whose zone is gone is
// closed with an exit at the device's last fix. Call it from the goroutine
// that calls Process.
func (m *Monitor) SetSites(sites []*site.Site, emit Emit) {
	nw := newWorld(sites)
	old := m.world.Load()
	// Carry each mobile site's current position over.
	oix := old.index.Load()
	for i, s := range sites {
		if s.Kind != site.KindMobile {
			continue
		}
		for j, os := range old.sites {
			if os.ID == s.ID && os.Kind == site.KindMobile {
				if e := oix.Entry(j); e != nil {
					nw.index.Move(i, e.Footprint.Center())
				}
			}
		}
	}
	type zref struct{ site, zone string }
	where := map[zref][2]int32{}
	for si, s := range sites {
		for zi, z := range s.Zones {
			where[zref{s.ID, z.Name}] = [2]int32{int32(si), int32(zi)}
		}
	}
	m.world.Store(nw)
	keys := make([]uint64, 0, len(m.open))
	for k := range m.open {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return m.open[keys[a]].visits[0].id < m.open[keys[b]].visits[0].id })
	for _, k := range keys {
		d := m.open[k]
		kept := d.visits[:0]
		for _, v := range d.visits {
			if at, ok := where[zref{v.site.ID, v.site.Zones[v.zoneIdx].Name}]; ok {
				v.site, v.siteIdx, v.zoneIdx = sites[at[0]], at[0], at[1]
				kept = append(kept, v)
				continue
			}
			m.emit(emit, v, d, event.Exit, d.lastT, d.last, v.breach)
		}
		d.visits = kept
		if len(kept) == 0 {
			d.visits = nil
			delete(m.open, k)
		}
	}
	for _, d := range m.devices {
		d.passes = nil // zone keys are positions in the old world
	}
}
