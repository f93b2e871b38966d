package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
)

// The visit state machine. A visit is one device's stay in one zone; it is
// in one of these phases, and every change of phase happens in this file:
//
//	            fix inside (good)                  2 fixes beyond the band, ≥ 15 s
//	(none) ───────────────────────► inside ──────────────────────────────► closed (exit)
//	                                 │  ▲  fix beyond band     │
//	                                 │  └──── exitPending ◄────┘ fix inside or in band
//	                                 │         │ silent (arrival clock > MaxGap): exit at the first far fix
//	   silent (arrival clock > MaxGap)         ▼
//	                                 ▼       closed (exit)
//	                              lost ──── next fix inside, ≤ MaxGap after the visit's last ──► inside (resumed)
//	                                 └───── any other fix, or ResumeKeep ──► closed (signal_lost stands)
//
// Orthogonal to the phase is the evidence: a visit is confirmed once two of
// its fixes were inside, or one was inside by more than its accuracy. Until
// then its enter is held back; it goes out (dated at the first fix) when
// the visit is confirmed, or — with confirmed:false — just before the
// visit's next event if that comes first. Unconfirmed visits are never
// breaches and never count toward repeat_pass.
type phase uint8

const (
	phaseInside      phase = iota // the last fix was inside the zone or in its exit band
	phaseExitPending              // fixes beyond the band, not yet enough to exit
	phaseLost                     // closed by silence (signal_lost sent); the device may resume it
)

var phaseNames = [...]string{"inside", "exit_pending", "lost"}

func (p phase) String() string { return phaseNames[p] }

// visit is one device's stay in one zone.
type visit struct {
	id        string
	pseud     string // the pseudonym the visit began under
	site      *site.Site
	siteIdx   int32 // position in the current world
	zoneIdx   int32
	phase     phase
	confirmed bool
	enterSent bool
	dwellSent bool
	breach    bool
	seq       int32 // events emitted so far
	fixes     int32 // good fixes inside
	farN      int32 // consecutive fixes beyond the band (phaseExitPending)
	heldStill int64 // stationary ms while the exit is pending: counted if it is cancelled
	enterT    int64 // ms
	lastT     int64 // the last fix that kept the visit (inside or in the band)
	farT      int64 // the first fix beyond the band
	stillMs   int64
	minDist   float64
	enterDist float64   // distance of the entering fix
	enterP    orb.Point // the entering fix
	inP       orb.Point // the last fix inside the zone
}

func (v *visit) zone() *site.Zone { return &v.site.Zones[v.zoneIdx] }

// active reports whether the visit is open (not closed by silence).
func (v *visit) active() bool { return v.phase != phaseLost }

// fixCtx is the fix being applied, with what every rule needs of it.
type fixCtx struct {
	t       int64
	tt      time.Time
	p       orb.Point
	acc     float64 // 0 = unknown
	good    bool    // within the accuracy limit and valid
	stillMs int64   // stationary time of the interval ending at this fix
	centre  orb.Point
	stillOK bool   // the still run's centre is meaningful
	inside  bool   // set by onFix: the fix is inside one of the device's zones
	agency  string // the raw identity, only for deriving the pseudonym
	dev     string
}

// newVisit opens a visit at a good fix inside the zone, at distance dist.
func (m *Monitor) newVisit(w *world, d *device, si, zi int32, fx *fixCtx, dist float64) *visit {
	s := w.sites[si]
	z := &s.Zones[zi]
	ps := m.pseudonymAt(d, fx)
	v := &visit{
		id: visitID(ps, s.ID, z.Name, fx.t), pseud: ps, site: s, siteIdx: si, zoneIdx: zi,
		enterT: fx.t, lastT: fx.t, minDist: dist, enterDist: dist, enterP: fx.p, inP: fx.p, fixes: 1,
	}
	d.visits = append(d.visits, v)
	if fx.acc > 0 && dist+fx.acc <= z.RadiusM {
		m.confirm(d, v)
	}
	m.aggregate(v, fx.p, fx.tt, 0)
	return v
}

// onFix applies a good or poor fix to an open visit (inside or exit
// pending) and returns false when the visit ended with it.
func (m *Monitor) onFix(w *world, d *device, v *visit, fx *fixCtx) bool {
	z := v.zone()
	dist := m.distance(w, v.siteIdx, fx.p)
	band := z.RadiusM + math.Max(fx.acc, m.cfg.ExitMargin)
	// Stationary time counts while the still run's centre is inside the
	// zone, wherever this one fix fell (a still receiver wanders).
	var credit int64
	if fx.good && fx.stillOK && fx.stillMs > 0 {
		credit = min(fx.stillMs, fx.t-v.enterT) // a stay may have begun before the visit
		if credit > 0 && m.distance(w, v.siteIdx, fx.centre) > z.RadiusM {
			credit = 0 // stationary, but in the exit band, not in the zone
		}
	}
	if dist > band {
		// Beyond the band: the exit is pending until it has lasted.
		if v.phase != phaseExitPending {
			v.phase, v.farT, v.farN = phaseExitPending, fx.t, 0
		}
		v.farN++
		if int(v.farN) >= m.cfg.ExitFixes && fx.t-v.farT >= m.cfg.ExitAfter.Milliseconds() {
			v.heldStill = 0 // the visit ended at the first far fix: nothing after it counts
			m.emit(d, v, event.Exit, v.farT, v.inP, v.breach)
			return false
		}
		// Whether this stillness was in the visit is known only when the
		// exit is cancelled: held until then.
		v.heldStill += credit
		return true
	}
	if !fx.good {
		return true // a poor fix near the zone proves nothing either way
	}
	v.phase, v.farN, v.lastT = phaseInside, 0, fx.t
	if v.heldStill > 0 {
		credit += v.heldStill
		v.heldStill = 0
	}
	if dist <= z.RadiusM {
		fx.inside = true
		v.fixes++
		v.inP = fx.p
		v.minDist = math.Min(v.minDist, dist)
		if !v.confirmed {
			m.confirm(d, v)
		}
		if z.NoEntry && v.confirmed && !v.breach && m.applies(v, fx.tt) {
			v.breach = true
		}
		m.aggregate(v, fx.p, fx.tt, credit)
	}
	m.creditStill(d, v, fx, credit)
	return true
}

func (m *Monitor) creditStill(d *device, v *visit, fx *fixCtx, credit int64) {
	if credit > 0 {
		v.stillMs += credit
		m.checkDwell(d, v, fx)
	}
}

// checkDwell emits the visit's dwell when its stationary time has just
// crossed the zone's limit, dated at the moment it crossed (inside a
// heartbeat gap, at that moment of the gap).
func (m *Monitor) checkDwell(d *device, v *visit, fx *fixCtx) {
	z := v.zone()
	if z.MaxDwellS == nil || v.dwellSent {
		return
	}
	limit := int64(math.Round(*z.MaxDwellS * 1000))
	if v.stillMs <= limit {
		return
	}
	v.dwellSent = true
	// It crossed the limit inside the interval just credited: date it then,
	// with the stationary time it had at that moment.
	t := fx.t - (v.stillMs - limit)
	still := v.stillMs
	v.stillMs = limit
	breach := v.confirmed && m.applies(v, time.UnixMilli(t))
	if breach {
		v.breach = true
	}
	p := fx.p
	if fx.stillOK {
		p = fx.centre
	}
	m.emit(d, v, event.Dwell, t, p, breach)
	v.stillMs = still
}

// confirm records that the visit has the evidence: its held-back enter goes
// out (dated at the entering fix), and the entry counts toward repeat_pass.
func (m *Monitor) confirm(d *device, v *visit) {
	v.confirmed = true
	if v.zone().NoEntry && m.applies(v, time.UnixMilli(v.enterT)) {
		v.breach = true
	}
	m.flushEnter(d, v)
	m.countEntry(d, v)
}

// flushEnter sends the visit's enter if it has not gone out yet.
func (m *Monitor) flushEnter(d *device, v *visit) {
	if v.enterSent {
		return
	}
	v.enterSent = true
	breach := v.confirmed && v.zone().NoEntry && m.applies(v, time.UnixMilli(v.enterT))
	// An enter says what was so at the entering fix (distance, no
	// stationary time yet), with the evidence known when it goes out.
	still, minDist := v.stillMs, v.minDist
	v.stillMs, v.minDist = 0, v.enterDist
	m.emitAt(d, v, event.Enter, v.enterT, v.enterP, breach, v.enterT)
	v.stillMs, v.minDist = still, minDist
}

// countEntry counts a confirmed entry toward repeat_pass: the Nth confirmed
// entry of one zone by one pseudonym with the first at most RepeatWindow
// before it (both ends inclusive) emits repeat_pass, and the count of that
// zone starts again. Entries are keyed by site id and zone name, so site
// edits elsewhere leave the count alone.
func (m *Monitor) countEntry(d *device, v *visit) {
	t := v.enterT
	cut := t - m.cfg.RepeatWindow.Milliseconds()
	zn := v.zone().Name
	list := d.entries()
	kept := list[:0]
	count := 1
	for _, ps := range list {
		if ps.t < cut {
			continue
		}
		kept = append(kept, ps)
		if ps.site == v.site.ID && ps.zone == zn {
			count++
		}
	}
	list = append(kept, pass{site: v.site.ID, zone: zn, t: t})
	d.setEntries(list)
	if count < m.cfg.RepeatCount {
		return
	}
	m.emitAt(d, v, event.RepeatPass, t, v.enterP, false, t)
	kept = list[:0]
	for _, ps := range list {
		if ps.site != v.site.ID || ps.zone != zn {
			kept = append(kept, ps)
		}
	}
	d.setEntries(kept)
}

// loseSignal closes an open visit because its device fell silent. A
// pending exit ends as the exit it was (at the first fix beyond the band);
// otherwise the visit ends with signal_lost at its last fix and, when
// resumable, is kept as lost. It returns whether the visit is kept.
func (m *Monitor) loseSignal(d *device, v *visit, resumable bool) bool {
	if v.phase == phaseExitPending {
		m.emit(d, v, event.Exit, v.farT, v.inP, v.breach)
		return false
	}
	m.emit(d, v, event.SignalLost, v.lastT, v.inP, v.breach)
	if !resumable {
		return false
	}
	v.phase = phaseLost
	return true
}

// resume reopens a visit closed by silence: the device's next fix is inside
// the zone and within MaxGap of the visit's last fix, so it never left.
func (m *Monitor) resume(d *device, v *visit, fx *fixCtx) {
	v.phase, v.farN = phaseInside, 0
	m.emit(d, v, event.Resumed, fx.t, fx.p, v.breach)
}

// applies reports whether the zone's rule applies at t (in the site's hours,
// or always).
func (m *Monitor) applies(v *visit, t time.Time) bool {
	z := v.zone()
	return z.AppliesAlways() || v.site.InHours(t)
}

func (m *Monitor) emit(d *device, v *visit, kind event.Kind, t int64, p orb.Point, breach bool) {
	m.emitAt(d, v, kind, t, p, breach, t)
}

// emitAt emits an event of the visit. Any event first sends the visit's
// held-back enter.
func (m *Monitor) emitAt(d *device, v *visit, kind event.Kind, t int64, p orb.Point, breach bool, durEnd int64) {
	if kind != event.Enter && !v.enterSent {
		m.flushEnter(d, v)
	}
	v.seq++
	m.markDirty(d)
	tt := time.UnixMilli(t).UTC()
	m.out.Events = append(m.out.Events, event.Event{
		ID:           v.id + "-" + strconv.Itoa(int(v.seq)),
		Visit:        v.id,
		Site:         v.site.ID,
		Zone:         v.zone().Name,
		Kind:         kind,
		Device:       v.pseud,
		Agency:       d.agency,
		T:            tt,
		DurationS:    event.Seconds(durEnd - v.enterT),
		MinDistanceM: event.RoundMetres(v.minDist),
		StationaryS:  event.Seconds(v.stillMs),
		InHours:      v.site.InHours(tt),
		Breach:       breach && v.confirmed,
		Confirmed:    v.confirmed,
		Fixes:        int(v.fixes),
		Lat:          event.RoundCoord(p[1]),
		Lon:          event.RoundCoord(wrapLon(p[0])),
	})
	m.stats.Events[kind]++
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
