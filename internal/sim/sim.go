// Package sim generates a synthetic, seeded patrol feed over a set of
// sites: vehicles driving between random points and sites, some parking out
// front for a while, some driving by, with GPS noise. The same seed gives
// the same feed. It is for demos and load tests, never for conclusions.
package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/keepclear/keepclear/geo"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// Config shapes a simulation.
type Config struct {
	Seed     uint64
	Vehicles int           // patrol vehicles (default 20)
	Agency   string        // their agency (default "sim")
	Start    time.Time     // first fix time
	Interval time.Duration // between a vehicle's fixes (default 5 s)
	Duration time.Duration // 0 = endless
	NoiseM   float64       // GPS noise sigma in metres (default 6)
	PadM     float64       // how far beyond the sites vehicles roam (default 1500)
	// SiteBias is the chance that a vehicle's next destination is a site
	// (default 0.3); ParkChance the chance it then parks there (default 0.35).
	SiteBias, ParkChance float64
}

type vehicle struct {
	id         string
	pos        orb.Point
	target     orb.Point
	speed      float64 // m/s while driving
	parkedTill time.Time
	withSpeed  bool // reports speed (half the fleet does)
	van        *site.Site
}

// Sim yields fixes in time order.
type Sim struct {
	cfg      Config
	rng      *rand.Rand
	sites    []*site.Site
	bound    orb.Bound
	vehicles []*vehicle
	now      time.Time
	next     int // vehicle to report next in this tick
	end      time.Time
}

// New returns a simulation over sites (which must not be empty).
func New(cfg Config, sites []*site.Site) *Sim {
	if cfg.Vehicles <= 0 {
		cfg.Vehicles = 20
	}
	if cfg.Agency == "" {
		cfg.Agency = "sim"
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.NoiseM == 0 {
		cfg.NoiseM = 6
	}
	if cfg.PadM == 0 {
		cfg.PadM = 1500
	}
	if cfg.SiteBias == 0 {
		cfg.SiteBias = 0.3
	}
	if cfg.ParkChance == 0 {
		cfg.ParkChance = 0.35
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 11, 16, 8, 0, 0, 0, time.UTC)
	}
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)), sites: sites, now: cfg.Start}
	if cfg.Duration > 0 {
		s.end = cfg.Start.Add(cfg.Duration)
	}
	b := orb.Bound{Min: sites[0].Footprint.Center(), Max: sites[0].Footprint.Center()}
	for _, st := range sites {
		b = b.Extend(st.Footprint.Center())
	}
	s.bound = orbgeo.BoundPad(b, cfg.PadM)
	for i := 0; i < cfg.Vehicles; i++ {
		v := &vehicle{id: vehicleID(i), pos: s.randomPoint(), withSpeed: i%2 == 0}
		s.retarget(v)
		s.vehicles = append(s.vehicles, v)
	}
	for _, st := range sites {
		if st.Kind == site.KindMobile && st.Device != "" { // a van known only by its key cannot be simulated
			v := &vehicle{id: st.Device, pos: st.Footprint.Center(), van: st, withSpeed: true}
			v.target = v.pos
			s.vehicles = append(s.vehicles, v)
		}
	}
	return s
}

func vehicleID(i int) string {
	const digits = "0123456789"
	return "car-" + string([]byte{digits[i/100%10], digits[i/10%10], digits[i%10]})
}

func (s *Sim) randomPoint() orb.Point {
	return orb.Point{
		s.bound.Min[0] + s.rng.Float64()*(s.bound.Max[0]-s.bound.Min[0]),
		s.bound.Min[1] + s.rng.Float64()*(s.bound.Max[1]-s.bound.Min[1]),
	}
}

func (s *Sim) retarget(v *vehicle) {
	v.speed = 6 + s.rng.Float64()*9 // 22-54 km/h
	if s.rng.Float64() < s.cfg.SiteBias {
		st := s.sites[s.rng.IntN(len(s.sites))]
		// Aim at the site's front: a few metres off its point.
		v.target = orbgeo.PointAtBearingAndDistance(st.Footprint.Center(), s.rng.Float64()*360, 5+s.rng.Float64()*15)
		return
	}
	v.target = s.randomPoint()
}

// Next fills f with the next fix; false when the simulation has ended.
func (s *Sim) Next(f *feed.Fix) bool {
	if s.next == len(s.vehicles) {
		s.next = 0
		s.now = s.now.Add(s.cfg.Interval)
	}
	if !s.end.IsZero() && !s.now.Before(s.end) {
		return false
	}
	v := s.vehicles[s.next]
	s.next++
	s.step(v)
	*f = feed.NewFix()
	f.Device, f.Agency = v.id, s.cfg.Agency
	if v.van != nil {
		f.Agency = v.van.Agency
	}
	// Spread a tick's fixes over the interval, as real devices do.
	off := time.Duration(int64(s.cfg.Interval) * int64(s.next-1) / int64(len(s.vehicles)))
	f.T = s.now.Add(off).Truncate(time.Millisecond)
	noisy := orbgeo.PointAtBearingAndDistance(v.pos, s.rng.Float64()*360, math.Abs(s.rng.NormFloat64())*s.cfg.NoiseM)
	f.Lon, f.Lat = geo.WrapLon(noisy[0]), noisy[1]
	f.Lat, f.Lon = math.Round(f.Lat*1e6)/1e6, math.Round(f.Lon*1e6)/1e6
	f.Acc = math.Round(4 + s.rng.Float64()*12)
	if v.withSpeed {
		sp := 0.0
		if s.now.After(v.parkedTill) {
			sp = v.speed + s.rng.NormFloat64()
		}
		f.Speed = math.Round(math.Max(sp, 0)*10) / 10
	}
	return true
}

func (s *Sim) step(v *vehicle) {
	if v.van != nil {
		// The van stays put for long stretches and sometimes relocates a block.
		if s.rng.Float64() < 0.002 {
			v.pos = orbgeo.PointAtBearingAndDistance(v.pos, s.rng.Float64()*360, 100+s.rng.Float64()*200)
		}
		return
	}
	if s.now.Before(v.parkedTill) {
		return
	}
	step := v.speed * s.cfg.Interval.Seconds()
	d := orbgeo.Distance(v.pos, v.target)
	if d > step {
		v.pos = orbgeo.PointAtBearingAndDistance(v.pos, orbgeo.Bearing(v.pos, v.target), step)
		return
	}
	v.pos = v.target
	if s.nearSite(v.pos) && s.rng.Float64() < s.cfg.ParkChance {
		v.parkedTill = s.now.Add(time.Duration(2+s.rng.IntN(18)) * time.Minute)
	}
	s.retarget(v)
}

func (s *Sim) nearSite(p orb.Point) bool {
	for _, st := range s.sites {
		if st.Footprint.Distance(p) < 40 {
			return true
		}
	}
	return false
}
