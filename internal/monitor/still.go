package monitor

import (
	"math"

	"github.com/keepclear/keepclear/geo"
	"github.com/paulmach/orb"
)

// Stationary time (DESIGN.md "Stationary" and "Silence is not absence").
//
// For each interval between two consecutive accepted fixes of a device the
// estimator says whether the device stood still over it:
//
//   - heartbeat: fixes more than HeartbeatAfter (30 s) apart, up to MaxGap
//     apart, at the same place (within max(sum of accuracies, 20 m)) are one
//     continuous stay: still all along. A car parked for two hours with a
//     15-minute heartbeat is stationary for two hours.
//   - reported speed: the fix's speed below StillSpeed (1 m/s).
//   - no speed: the displacement from an earlier fix of the track (the
//     reference) less the two fixes' accuracies, over the time between them,
//     below StillSpeed. The reference is the most recent fix at least
//     3 × (sum of accuracies) seconds old, so that the accuracy allowance is
//     spread over a window long enough for a crawl to show: at 1.5 m/s and
//     5 m accuracy the window is 30 s, the car covers 45 m, 35 m beyond the
//     allowance — moving. A still receiver that wanders 10–30 m, with
//     accuracies to match, stays within the allowance — still. With unknown
//     accuracy (absent or 0: legacy clients) the allowance is 0, the
//     previous fix is the reference and the threshold is halved (0.5 m/s):
//     a frozen position is still, a car rolling at walking pace is not.
//     On the real 1 Hz Munich trace this keeps stationary time per visit
//     within 20 % of the seconds the recorded position does not change.
//
// The estimator keeps a few earlier fixes (anchors, one per anchorEvery) as
// references, and the centre of the current still run: dwell time counts
// only while the run's centre is inside the zone.

const (
	anchorEvery = 25_000 // ms between anchors
	numAnchors  = 3      // so references reach 50-75 s back
	windowPerM  = 3_000  // ms of window per metre of accuracy allowance
)

// anchor is an earlier fix kept as a window reference. Positions are
// float32 (about 0.5 m at these longitudes): ample for windows of 25 s and
// more, and it keeps the state per device small.
type anchor struct {
	t             int64
	lon, lat, acc float32
}

func newAnchor(f fixRef) anchor {
	return anchor{f.t, float32(f.p[0]), float32(f.p[1]), float32(f.acc)}
}

func (a *anchor) point() orb.Point { return orb.Point{float64(a.lon), float64(a.lat)} }

type stillState struct {
	anchors [numAnchors]anchor // oldest first; n used
	n       int8
	runN    int32     // fixes in the current still run; 0 = moving
	centre  orb.Point // running mean of the still run's fixes
}

func (s *stillState) centreP() orb.Point { return s.centre }

func (s *stillState) setCentre(p orb.Point) { s.centre = p }

// fixRef is a fix kept as a reference: for the jump test, the stationary
// estimator and passes between fixes.
type fixRef struct {
	t   int64
	p   orb.Point
	acc float64 // 0 = unknown
}

// update judges the interval from prev to cur and returns the stationary
// time to credit (ms; 0 when moving).
func (s *stillState) update(cfg *Config, prev, cur fixRef, speed, dPrev float64) int64 {
	dt := cur.t - prev.t
	var still bool
	switch {
	case dt > cfg.HeartbeatAfter.Milliseconds():
		still = dt <= cfg.MaxGap.Milliseconds() && dPrev <= math.Max(prev.acc+cur.acc, cfg.HeartbeatRadius)
	case speed >= 0:
		still = speed < cfg.StillSpeed
	default:
		ref, dist := prev, dPrev
		allow := prev.acc + cur.acc
		need := int64(allow * windowPerM)
		if dt < need {
			// The newest anchor old enough, else the oldest there is.
			for i := int(s.n) - 1; i >= 0; i-- {
				a := &s.anchors[i]
				if cur.t-a.t > cfg.MaxGap.Milliseconds() {
					break
				}
				ref = fixRef{a.t, a.point(), float64(a.acc)}
				if cur.t-a.t >= need {
					break
				}
			}
			allow = ref.acc + cur.acc
			dist = geo.LocalDistance(ref.p, cur.p)
		}
		age := float64(cur.t-ref.t) / 1000
		limit := cfg.StillSpeed
		if allow == 0 {
			// Nothing to allow for: a receiver that stands still holds its
			// position (the Munich trace repeats it to the centimetre), so
			// one that moves at half the threshold is already rolling.
			limit /= 2
		}
		still = dist-allow <= limit*age
	}
	s.addAnchor(cur)
	if !still {
		s.runN = 0
		return 0
	}
	c := prev.p
	if s.runN == 0 {
		s.runN = 1
	} else {
		c = s.centreP()
	}
	s.runN++
	w := 1 / float64(s.runN)
	s.setCentre(orb.Point{c[0] + geo.WrapLon(cur.p[0]-c[0])*w, c[1] + (cur.p[1]-c[1])*w})
	return dt
}

func (s *stillState) addAnchor(cur fixRef) {
	if s.n > 0 && cur.t-s.anchors[s.n-1].t < anchorEvery {
		return
	}
	if int(s.n) == numAnchors {
		copy(s.anchors[:], s.anchors[1:])
		s.n--
	}
	s.anchors[s.n] = newAnchor(cur)
	s.n++
}

// reset forgets the track: after a discontinuity or a gap longer than MaxGap.
func (s *stillState) reset() { *s = stillState{} }
