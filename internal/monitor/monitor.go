package monitor

import (
	"hash/maphash"
	"math"
	"slices"
	"sort"
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
	VanMoved                  // a mobile site's own fix
	numOutcomes
)

var outcomeNames = [...]string{"accepted", "out_of_order", "duplicate", "jump", "van"}

func (o Outcome) String() string { return outcomeNames[o] }

// Stats counts what the monitor has seen.
type Stats struct {
	Fixes       int64              // fixes given to Process
	ByOutcome   [numOutcomes]int64 // indexed by Outcome
	Outside     int64              // accepted fixes outside every zone (counted, never stored)
	InZone      int64              // accepted fixes inside at least one zone
	LowAccuracy int64              // accepted fixes too inaccurate to enter, or marked invalid
	Events      map[event.Kind]int64
}

// Out is everything the monitor hands back, in one place: the events and
// live positions of the fixes and ticks given to it, and — after Flush —
// the device states to persist and the weekly aggregates. The caller owns
// it, reads it and resets it (Reset) between batches.
type Out struct {
	Events    []event.Event
	Positions []Position
	Save      []DeviceState // states to persist (Flush)
	Drop      []string      // pseudonyms whose persisted state is to be deleted (Flush)
	Cells     map[Cell]*CellValue
}

// Reset empties out, keeping its memory.
func (o *Out) Reset() {
	clear(o.Events)
	o.Events, o.Positions, o.Save, o.Drop, o.Cells = o.Events[:0], o.Positions[:0], o.Save[:0], o.Drop[:0], nil
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
		entries[i] = geo.Entry{ID: i, Footprint: s.Footprint, Reach: s.Reach() + passSlack, Roaming: s.Kind == site.KindMobile}
		if s.Kind == site.KindMobile {
			w.vans[s.DeviceKey] = i
			w.vanAgencies[s.Agency] = true
		}
	}
	w.index = geo.NewLive(geo.NewIndex(entries))
	return w
}

// pass is one confirmed entry, remembered for repeat_pass.
type pass struct {
	site, zone string
	t          int64
}

// device is the state kept per tracked device.
type device struct {
	lastT   int64 // ms of the last fix past the order filter; 0 = none yet
	heardAt int64 // arrival clock (ms) when it was last heard from
	ref     fixRef
	hasRef  bool    // ref is the last good accepted fix
	jump    *fixRef // a dropped jump, to tell a spike from a real discontinuity
	silent  bool    // reported silent on the live map
	inOpen  bool    // in Monitor.open
	dirty   bool    // state changed since the last Flush
	saved   bool    // a state is persisted for it (under pseud)
	tomb    bool    // ... and it is only a watermark (see Forget)
	still   stillState
	pseud   string // pseudonym for period
	period  int64
	agency  string // interned
	visits  []*visit
	ent     *entryLog // confirmed entries that still count toward repeat_pass
}

// entryLog holds a device's recent confirmed entries; most devices have
// none, so it lives behind a pointer (state per device stays small).
type entryLog struct{ list []pass }

func (d *device) entries() []pass {
	if d.ent == nil {
		return nil
	}
	return d.ent.list
}

func (d *device) setEntries(l []pass) {
	switch {
	case len(l) == 0:
		d.ent = nil
	case d.ent == nil:
		d.ent = &entryLog{l}
	default:
		d.ent.list = l
	}
}

// hasState reports whether the device holds anything worth keeping across
// a restart or a Forget.
func (d *device) hasState() bool { return len(d.visits) > 0 || d.ent != nil }

func (d *device) activeVisits() int {
	n := 0
	for _, v := range d.visits {
		if v.active() {
			n++
		}
	}
	return n
}

// Monitor runs the detection rules.
type Monitor struct {
	cfg      Config
	world    atomic.Pointer[world]
	devices  map[uint64]*device
	open     map[uint64]*device // devices with visits or recent entries
	restored map[string]*device // restored states not yet claimed, by pseudonym
	// forgotten are watermarks of devices dropped from memory (see Forget).
	forgotten map[uint64]watermark
	// restoredPeriods are the pseudonym periods among the restored states.
	restoredPeriods map[int64]bool
	// orphans are restored visits whose zone is gone (closed at the next Tick).
	orphans  []orphan
	seed     maphash.Seed
	pseud    *Pseudonymizer
	agencies map[string]string
	stats    Stats
	out      *Out
	scratch  Out
	dirty    []*device
	enters   []enterRef // reused by Process: zones the fix is inside
	// passCands are zones near a fix that a short step may have crossed.
	passCands []enterRef
	vans      map[string]*vanState
	cells     map[Cell]*CellValue
	// dropLater are saved states to delete at the next Flush (a pseudonym
	// that rotated).
	dropLater []string
}

type enterRef struct {
	si, zi int32
	dist   float64
}

// New returns a monitor over sites.
func New(cfg Config, sites []*site.Site) (*Monitor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Monitor{
		cfg:             cfg,
		devices:         map[uint64]*device{},
		open:            map[uint64]*device{},
		restored:        map[string]*device{},
		forgotten:       map[uint64]watermark{},
		restoredPeriods: map[int64]bool{},
		seed:            maphash.MakeSeed(),
		pseud:           NewPseudonymizer(cfg.Secret, cfg.Rotation),
		agencies:        map[string]string{},
		stats:           Stats{Events: map[event.Kind]int64{}},
		vans:            map[string]*vanState{},
	}
	m.world.Store(newWorld(sites))
	return m, nil
}

// Config returns the configuration in force (defaults applied).
func (m *Monitor) Config() Config { return m.cfg }

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

func (m *Monitor) begin(out *Out) {
	if out == nil {
		m.scratch.Reset()
		out = &m.scratch
	}
	m.out = out
}

// Process runs one validated fix through the rules. arrival is the arrival
// clock: when the fix was received (serve), or the replay's input clock.
// Events and the live position go to out (which may be nil).
func (m *Monitor) Process(f *feed.Fix, arrival time.Time, out *Out) Outcome {
	m.begin(out)
	m.stats.Fixes++
	o := m.process(f, arrival.UnixMilli())
	m.stats.ByOutcome[o]++
	m.out = nil
	return o
}

func (m *Monitor) process(f *feed.Fix, arrival int64) Outcome {
	w := m.world.Load()
	if w.vanAgencies[f.Agency] {
		if i, ok := w.vans[site.VanKey(f.Agency, f.Device)]; ok {
			return m.processVan(w, i, f)
		}
	}
	t := f.T.UnixMilli()
	k := m.key(f.Agency, f.Device)
	d := m.devices[k]
	if d == nil {
		if len(m.restored) > 0 {
			d = m.claim(f.Agency, f.Device, f.T)
		}
		if d == nil {
			d = &device{agency: m.intern(f.Agency), period: -1}
			if tb, ok := m.forgotten[k]; ok {
				// Forgotten, not unknown: its clock goes on from its last fix.
				delete(m.forgotten, k)
				d.lastT = tb.lastT
				if tb.pseud != "" {
					d.pseud, d.period, d.saved, d.tomb = tb.pseud, tb.period, true, true
				}
			}
		}
		m.devices[k] = d
	}
	// Heard from: whatever becomes of the fix, the device is not silent.
	d.heardAt = max(d.heardAt, arrival)
	// Order: the device's state moves only forward in measurement time.
	if d.lastT != 0 {
		switch {
		case t < d.lastT:
			return OutOfOrder
		case t == d.lastT:
			return Duplicate
		}
	}
	if d.ent != nil && m.pseud.Period(f.T) != d.period {
		d.ent = nil // nothing of one period is carried into the next
	}
	// A gap longer than MaxGap in the device's own time closes its visits.
	if d.lastT != 0 && t-d.lastT > m.cfg.MaxGap.Milliseconds() {
		m.closeAll(d, false)
		d.still.reset()
		d.hasRef, d.jump = false, nil
	}
	acc := f.Acc
	if acc < 0 {
		acc = 0 // unknown
	}
	fx := fixCtx{t: t, tt: f.T, p: orb.Point{f.Lon, f.Lat}, acc: acc,
		good: !f.Invalid && acc <= m.cfg.AccuracyLimit, agency: f.Agency, dev: f.Device}
	if !fx.good {
		d.lastT = t
		m.stats.LowAccuracy++
		m.poorFix(w, k, d, &fx)
		return Accepted
	}
	// The step from the last good fix: for the jump test, stillness and
	// passes alike.
	dRef := 0.0
	if d.hasRef {
		dRef = geo.LocalDistance(d.ref.p, fx.p)
		if m.isJump(d, &fx, dRef) {
			if d.hasState() {
				m.markDirty(d) // the dropped jump is kept: the next fix may confirm it
			}
			return Jump
		}
	}
	d.lastT = t
	prev, hadRef := d.ref, d.hasRef
	if hadRef {
		fx.stillMs = d.still.update(&m.cfg, prev, fixRef{t, fx.p, acc}, f.Speed, dRef)
		fx.centre, fx.stillOK = d.still.centreP(), d.still.runN > 0
	}
	d.ref, d.hasRef = fixRef{t, fx.p, acc}, true

	// One index search finds the zones this fix is inside and, for a
	// short step from the previous fix, the zones the step may have
	// crossed; a longer step gets a search along its segment.
	passOK := hadRef && t-prev.t <= m.cfg.PassMaxGap.Milliseconds()
	seg := dRef
	m.scan(w, &fx, passOK && seg <= passSlack, seg)
	if passOK {
		m.passes(w, d, prev, &fx, seg)
	}
	inZone := false
	if len(d.visits) > 0 {
		kept := d.visits[:0]
		for _, v := range d.visits {
			if v.phase == phaseLost {
				// Resumed when this fix continues it; otherwise its
				// signal_lost stands and it is forgotten.
				if t-v.lastT > m.cfg.MaxGap.Milliseconds() || m.distance(w, v.siteIdx, fx.p) > v.zone().RadiusM {
					continue
				}
				m.resume(d, v, &fx)
			}
			if m.onFix(w, d, v, &fx) {
				kept = append(kept, v)
			}
		}
		clear(d.visits[len(kept):])
		d.visits = kept
	}
	if m.enter(w, d, &fx) || fx.inside {
		inZone = true // only fixes inside a zone are reported on the live map
	}
	m.settle(k, d)
	if inZone {
		m.stats.InZone++
		m.position(d, &fx)
	} else {
		m.stats.Outside++
	}
	return Accepted
}

// poorFix applies a fix too inaccurate (or invalid) to enter, set a
// distance or move a stay: it can only count toward an exit, when even its
// own accuracy puts it beyond the exit band.
func (m *Monitor) poorFix(w *world, k uint64, d *device, fx *fixCtx) {
	if d.activeVisits() == 0 || math.IsNaN(fx.p[0]) {
		return
	}
	if fx.acc == 0 && fx.good == false {
		return // invalid with no accuracy: its position means nothing
	}
	kept := d.visits[:0]
	for _, v := range d.visits {
		if !v.active() || m.onFix(w, d, v, fx) {
			kept = append(kept, v)
		}
	}
	clear(d.visits[len(kept):])
	d.visits = kept
	m.settle(k, d)
}

// scan searches the index once around a good fix: the zones it is inside
// (m.enters) and, when short is set, the zones within seg of it that the
// step from the previous fix may have crossed (m.passCands).
func (m *Monitor) scan(w *world, fx *fixCtx, short bool, seg float64) {
	m.enters, m.passCands = m.enters[:0], m.passCands[:0]
	w.index.Load().Search(fx.p, func(e *geo.Entry, dist float64) bool {
		s := w.sites[e.ID]
		for zi := range s.Zones {
			r := s.Zones[zi].RadiusM
			switch {
			case dist <= r:
				m.enters = append(m.enters, enterRef{int32(e.ID), int32(zi), dist})
			case short && dist <= r+seg:
				m.passCands = append(m.passCands, enterRef{int32(e.ID), int32(zi), dist})
			}
		}
		return true
	})
}

// enter opens visits for the zones the good fix is inside and the device
// has none in, in a stable order. It reports whether there was any.
func (m *Monitor) enter(w *world, d *device, fx *fixCtx) bool {
	if len(m.enters) == 0 {
		return false
	}
	if len(m.enters) > 1 {
		slices.SortFunc(m.enters, func(a, b enterRef) int {
			if a.si != b.si {
				return int(a.si - b.si)
			}
			return int(a.zi - b.zi)
		})
	}
	opened := false
	for _, e := range m.enters {
		if !d.hasVisit(e.si, e.zi) {
			m.newVisit(w, d, e.si, e.zi, fx, e.dist)
			opened = true
		}
	}
	return opened
}

func (d *device) hasVisit(si, zi int32) bool {
	for _, v := range d.visits {
		if v.siteIdx == si && v.zoneIdx == zi {
			return true
		}
	}
	return false
}

// settle keeps the open set and the persisted state in step with d.
func (m *Monitor) settle(k uint64, d *device) {
	if has := d.hasState(); has != d.inOpen {
		if has {
			m.open[k] = d
		} else {
			delete(m.open, k)
		}
		d.inOpen = has
	}
	// A device in a visit changes with every fix (its stay, its visit's
	// figures), and is saved with each batch; one that only holds entries
	// toward repeat_pass changes when they do (an event marks it), and one
	// left with nothing is saved once more, as a watermark.
	if len(d.visits) > 0 || (d.saved && !d.tomb && !d.hasState()) {
		m.markDirty(d)
	}
	if len(d.visits) == 0 {
		d.visits = nil
	}
}

func (m *Monitor) markDirty(d *device) {
	if !d.dirty && d.pseud != "" {
		d.dirty = true
		m.dirty = append(m.dirty, d)
	}
}

// position reports where the device is for the live map (only fixes inside
// a zone are reported).
func (m *Monitor) position(d *device, fx *fixCtx) {
	pos := Position{Device: d.pseud, Agency: d.agency, T: fx.tt.UTC(),
		Lat: event.RoundCoord(fx.p[1]), Lon: event.RoundCoord(wrapLon(fx.p[0]))}
	for _, v := range d.visits {
		if v.active() {
			pos.Visits++
			pos.Breach = pos.Breach || v.breach
		}
	}
	d.silent = false
	m.out.Positions = append(m.out.Positions, pos)
}

// closeAll closes every open visit of d because it fell silent: on the
// arrival clock (resumable) or by a gap in its own fixes (final).
func (m *Monitor) closeAll(d *device, resumable bool) {
	kept := d.visits[:0]
	for _, v := range d.visits {
		if v.active() && m.loseSignal(d, v, resumable) {
			kept = append(kept, v)
		}
	}
	clear(d.visits[len(kept):])
	d.visits = kept
}

// isJump drops a fix whose implied speed from the last good fix is
// impossible beyond both fixes' accuracies. A jump confirmed by the next
// fix (the track carries on from the new place) is a discontinuity, not a
// spike: accepted, and the track starts afresh from it.
func (m *Monitor) isJump(d *device, fx *fixCtx, dRef float64) bool {
	plausible := func(a fixRef, dist float64) bool {
		dt := float64(fx.t-a.t) / 1000
		return dist-a.acc-fx.acc <= m.cfg.MaxSpeed*dt
	}
	if plausible(d.ref, dRef) {
		d.jump = nil
		return false
	}
	if d.jump != nil && fx.t > d.jump.t && plausible(*d.jump, geo.LocalDistance(d.jump.p, fx.p)) {
		d.jump = nil
		d.still.reset()
		d.hasRef = false
		return false
	}
	d.jump = &fixRef{fx.t, fx.p, fx.acc}
	return true
}

// Tick tells the monitor the arrival clock reads now. Devices with an open
// visit not heard from for MaxGap have it closed with signal_lost at its last
// fix (a pending exit ends as its exit); those not heard from for
// SilentAfter are reported silent; visits closed by silence that can no
// longer be resumed are forgotten. In serve the clock is the wall clock; in
// replay, one read from the input (see replay).
func (m *Monitor) Tick(now time.Time, out *Out) {
	m.begin(out)
	defer func() { m.out = nil }()
	if len(m.orphans) > 0 {
		m.closeOrphans()
	}
	n := now.UnixMilli()
	maxGap, silentAfter, keep := m.cfg.MaxGap.Milliseconds(), m.cfg.SilentAfter.Milliseconds(), m.cfg.ResumeKeep.Milliseconds()
	type due struct {
		k uint64
		d *device
	}
	var list []due
	consider := func(k uint64, d *device) {
		if len(d.visits) == 0 {
			return
		}
		silence := n - d.heardAt
		if (silence > maxGap && d.activeVisits() > 0) || (silence > silentAfter && !d.silent && d.activeVisits() > 0) || silence > keep {
			list = append(list, due{k, d})
		}
	}
	for k, d := range m.open {
		consider(k, d)
	}
	for _, d := range m.restored {
		consider(0, d)
	}
	if len(list) == 0 {
		return
	}
	sort.Slice(list, func(a, b int) bool {
		da, db := list[a].d, list[b].d
		if da.lastT != db.lastT {
			return da.lastT < db.lastT
		}
		return da.visits[0].id < db.visits[0].id
	})
	for _, x := range list {
		d := x.d
		silence := n - d.heardAt
		if silence > maxGap && d.activeVisits() > 0 {
			m.closeAll(d, true)
		}
		if silence > keep {
			kept := d.visits[:0]
			for _, v := range d.visits {
				if v.active() {
					kept = append(kept, v)
				}
			}
			clear(d.visits[len(kept):])
			d.visits = kept
		}
		if silence > silentAfter && !d.silent && d.activeVisits() > 0 {
			d.silent = true
			m.silentPosition(d)
		}
		if x.k != 0 {
			m.settle(x.k, d)
		} else {
			m.markDirty(d) // its visits changed; without them it stays as a watermark
		}
	}
}

// silentPosition reports a silent device at its last fix inside a zone.
func (m *Monitor) silentPosition(d *device) {
	var last *visit
	pos := Position{Device: d.pseud, Agency: d.agency, Silent: true}
	for _, v := range d.visits {
		if !v.active() {
			continue
		}
		pos.Visits++
		pos.Breach = pos.Breach || v.breach
		if last == nil || v.lastT > last.lastT {
			last = v
		}
	}
	pos.T = time.UnixMilli(last.lastT).UTC()
	pos.Lat, pos.Lon = event.RoundCoord(last.inP[1]), event.RoundCoord(wrapLon(last.inP[0]))
	m.out.Positions = append(m.out.Positions, pos)
}

// Flush hands out the device states changed since the last Flush (to save,
// or to delete) and the weekly aggregates gathered, so that the caller can
// commit them with the events of the same fixes.
func (m *Monitor) Flush(out *Out) {
	out.Drop = append(out.Drop, m.dropLater...)
	m.dropLater = m.dropLater[:0]
	for _, d := range m.dirty {
		d.dirty = false
		switch {
		case d.hasState():
			out.Save = append(out.Save, m.state(d))
			d.saved, d.tomb = true, false
		case d.saved && !d.tomb:
			// Nothing open any more: keep a watermark (its last fix time
			// only), so that a retried old fix after a restart is seen
			// for what it is.
			out.Save = append(out.Save, DeviceState{Pseudonym: d.pseud, Agency: d.agency, Period: d.period, LastT: d.lastT})
			d.tomb = true
		}
	}
	clear(m.dirty)
	m.dirty = m.dirty[:0]
	for _, v := range m.vans {
		if v.dirty {
			v.dirty = false
			out.Save = append(out.Save, v.state())
		}
	}
	if m.cells != nil {
		if out.Cells == nil {
			out.Cells = m.cells
		} else {
			for c, v := range m.cells {
				if cur, ok := out.Cells[c]; ok {
					cur.Fixes += v.Fixes
					cur.StationaryS += v.StationaryS
				} else {
					out.Cells[c] = v
				}
			}
		}
		m.cells = nil
	}
}

// OpenVisitCount is the number of open visits (not those closed by silence).
func (m *Monitor) OpenVisitCount() int {
	n := 0
	for _, d := range m.open {
		n += d.activeVisits()
	}
	for _, d := range m.restored {
		n += d.activeVisits()
	}
	return n
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

// pseudonymAt is the device's pseudonym for the period of the fix. When
// the period turns, a state saved under the old pseudonym is deleted.
func (m *Monitor) pseudonymAt(d *device, fx *fixCtx) string {
	period := m.pseud.Period(fx.tt)
	if period != d.period {
		if d.saved {
			m.dropLater = append(m.dropLater, d.pseud)
			d.saved = false
		}
		d.pseud, d.period = m.pseud.Pseudonym(period, fx.agency, fx.dev), period
	}
	return d.pseud
}

func (m *Monitor) distance(w *world, si int32, p orb.Point) float64 {
	ix := w.index.Load()
	if e := ix.Entry(int(si)); e != nil {
		return e.Footprint.Distance(p)
	}
	return w.sites[si].Footprint.Distance(p)
}

func wrapLon(lon float64) float64 { return geo.WrapLon(lon) }

// Forget drops the state of devices with nothing open and no entries that
// still count, last heard from before before, so that memory follows the
// devices active now rather than every device ever seen. It looks at no
// more than limit devices (0: all), taken in Go's random map order, so that
// frequent small calls sweep everything without one long pause. It returns
// how many were dropped.
//
// A forgotten device leaves a watermark: the time of its last fix (and its
// pseudonym when a state was saved for it), kept for ResumeKeep (the
// server's --max-fix-age), so that a fix retried or replayed late, older
// than one it already sent, is dropped as out of order instead of opening a
// visit that never happened. A watermark costs about 60 bytes of memory;
// devices that had a visit also keep it in the database (device_state), so
// a restart honours it too.
func (m *Monitor) Forget(before time.Time, limit int) int {
	cut := before.UnixMilli()
	expired := cut - m.cfg.ResumeKeep.Milliseconds()
	n, seen := 0, 0
	for k, d := range m.devices {
		if seen++; limit > 0 && seen > limit {
			break
		}
		if d.heardAt >= cut || len(d.visits) > 0 || d.dirty {
			continue
		}
		if d.ent != nil {
			// Its entries toward repeat_pass have long expired.
			d.ent = nil
			m.settle(k, d)
			continue
		}
		tb := watermark{lastT: d.lastT}
		if d.saved {
			tb.pseud, tb.period = d.pseud, d.period
		}
		m.forgotten[k] = tb
		delete(m.devices, k)
		delete(m.open, k)
		n++
	}
	seen = 0
	for k, tb := range m.forgotten {
		if seen++; limit > 0 && seen > limit {
			break
		}
		if tb.lastT < expired {
			if tb.pseud != "" {
				m.dropLater = append(m.dropLater, tb.pseud)
			}
			delete(m.forgotten, k)
		}
	}
	for ps, d := range m.restored {
		if len(d.visits) > 0 || d.heardAt >= cut {
			continue
		}
		if d.ent != nil {
			d.ent = nil // entries toward repeat_pass long expired: a watermark from now on
			m.markDirty(d)
			continue
		}
		if d.lastT < expired && !d.dirty {
			m.dropLater = append(m.dropLater, ps)
			delete(m.restored, ps)
		}
	}
	return n
}

// watermark is what is left of a forgotten device.
type watermark struct {
	lastT  int64
	pseud  string // set when a state row is kept for it
	period int64
}

// OpenVisit describes a visit still open.
type OpenVisit struct {
	Visit     string    `json:"visit"`
	Site      string    `json:"site"`
	Zone      string    `json:"zone"`
	Device    string    `json:"device"` // pseudonym
	Agency    string    `json:"agency"`
	Since     time.Time `json:"since"`
	LastFix   time.Time `json:"last_fix"`
	Breach    bool      `json:"breach"`
	Confirmed bool      `json:"confirmed"`
	Phase     string    `json:"phase"`
}

// OpenVisits lists the open visits, oldest first.
func (m *Monitor) OpenVisits() []OpenVisit {
	var out []OpenVisit
	add := func(d *device) {
		for _, v := range d.visits {
			if !v.active() {
				continue
			}
			out = append(out, OpenVisit{Visit: v.id, Site: v.site.ID, Zone: v.zone().Name,
				Device: v.pseud, Agency: d.agency, Since: time.UnixMilli(v.enterT).UTC(),
				LastFix: time.UnixMilli(v.lastT).UTC(), Breach: v.breach, Confirmed: v.confirmed, Phase: v.phase.String()})
		}
	}
	for _, d := range m.open {
		add(d)
	}
	for _, d := range m.restored {
		add(d)
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
// closed with an exit at its last fix. Entries counted toward repeat_pass are
// kept by site id and zone name, so they are not touched.
func (m *Monitor) SetSites(sites []*site.Site, out *Out) {
	m.begin(out)
	defer func() { m.out = nil }()
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
	type dk struct {
		k uint64
		d *device
	}
	var ds []dk
	for k, d := range m.open {
		if len(d.visits) > 0 {
			ds = append(ds, dk{k, d})
		}
	}
	for _, d := range m.restored {
		if len(d.visits) > 0 {
			ds = append(ds, dk{0, d})
		}
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a].d.visits[0].id < ds[b].d.visits[0].id })
	for _, x := range ds {
		d := x.d
		kept := d.visits[:0]
		for _, v := range d.visits {
			if at, ok := where[zref{v.site.ID, v.zone().Name}]; ok {
				v.site, v.siteIdx, v.zoneIdx = sites[at[0]], at[0], at[1]
				kept = append(kept, v)
				continue
			}
			if v.active() {
				end := v.lastT
				if v.phase == phaseExitPending {
					end = v.farT
				}
				m.emit(d, v, event.Exit, end, v.inP, v.breach)
			}
		}
		clear(d.visits[len(kept):])
		d.visits = kept
		if x.k != 0 {
			m.settle(x.k, d)
		} else {
			m.markDirty(d)
		}
	}
}
