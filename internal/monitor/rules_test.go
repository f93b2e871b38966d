package monitor

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// One test per rule of DESIGN.md "Detection rules" that the scenario
// corpus does not pin down alone; each fails without its rule.

var insite = orb.Point{-123.10111, 49.28111}

func oneSite(t *testing.T, zones string) *recorder {
	t.Helper()
	return &recorder{m: newMonitor(t, sitesJSON(t, pointSite("s", insite, "24/7", zones)))}
}

func (r *recorder) at(dev string, sec int, p orb.Point, acc, speed float64) Outcome {
	f := fixAt(dev, sec, p)
	f.Acc, f.Speed = acc, speed
	return r.process(&f)
}

func north(m float64) orb.Point { return orbgeo.PointAtBearingAndDistance(insite, 0, m) }

// leave drives dev away from the site with two fixes 20 s apart.
func (r *recorder) leave(dev string, sec int) {
	r.at(dev, sec+10, north(300), 5, -1)
	r.at(dev, sec+30, north(600), 5, -1)
}

// A single loose fix near the edge is a visit, not a confirmed one: its
// events say confirmed:false and are never breaches.
func TestEvidenceSingleLooseFixIsUnconfirmed(t *testing.T) {
	r := oneSite(t, `[{"name":"door","radius_m":30,"no_entry":true}]`)
	r.at("car", 0, north(200), 5, -1)
	r.at("car", 10, north(25), 10, -1) // 25 + 10 > 30
	r.leave("car", 20)
	if r.kinds() != "enter:door exit:door" {
		t.Fatalf("events: %s", r.kinds())
	}
	for _, e := range r.events {
		if e.Confirmed || e.Breach || e.Fixes != 1 {
			t.Errorf("%s: confirmed %v breach %v fixes %d", e.Kind, e.Confirmed, e.Breach, e.Fixes)
		}
	}
	if !r.events[0].T.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("enter dated %v", r.events[0].T)
	}
}

// One fix inside by its accuracy confirms, boundary inclusive: distance +
// accuracy = radius confirms; a hair more does not.
func TestEvidenceBoundaryInclusive(t *testing.T) {
	p := north(20)
	s := sitesJSON(t, pointSite("s", insite, "24/7", `[{"name":"z","radius_m":100}]`))[0]
	d := s.Footprint.Distance(p)
	acc := 7.25
	radius := d + acc // exactly representable through JSON (shortest form)
	for _, tc := range []struct {
		acc  float64
		want bool
	}{{acc, true}, {acc + 1e-9, false}} {
		r := oneSite(t, fmt.Sprintf(`[{"name":"door","radius_m":%v,"no_entry":true}]`, radius))
		r.at("car", 0, p, tc.acc, -1)
		r.leave("car", 10)
		if len(r.events) != 2 || r.events[0].Confirmed != tc.want || r.events[0].Breach != tc.want {
			t.Errorf("distance %v + accuracy %v vs radius %v: %+v", d, tc.acc, radius, r.events)
		}
	}
}

// With unknown accuracy (absent or 0, as legacy Traccar clients send), two
// fixes inside confirm; the enter is dated at the first.
func TestEvidenceTwoFixesWithUnknownAccuracy(t *testing.T) {
	for _, acc := range []float64{-1, 0} {
		r := oneSite(t, `[{"name":"door","radius_m":30,"no_entry":true}]`)
		r.at("car", 0, north(5), acc, -1)
		if len(r.events) != 0 {
			t.Fatalf("acc %v: one fix of unknown accuracy confirmed: %s", acc, r.kinds())
		}
		r.at("car", 3, north(6), acc, -1)
		if r.kinds() != "enter:door" || !r.events[0].Confirmed || !r.events[0].Breach || !r.events[0].T.Equal(t0) || r.events[0].Fixes != 2 {
			t.Errorf("acc %v: %+v", acc, r.events)
		}
	}
}

// Fixes worse than the accuracy limit, and fixes the client marks invalid,
// never enter a zone and never set min_distance_m.
func TestPoorAndInvalidFixesNeverEnterNorSetDistance(t *testing.T) {
	r := oneSite(t, `[{"name":"vicinity","radius_m":150}]`)
	r.at("car", 0, north(140), 5, -1)
	r.at("car", 1, insite, 300, -1) // a 300 m fix right on the site
	f := fixAt("car", 2, insite)
	f.Invalid = true // OsmAnd valid=false
	r.process(&f)
	r.at("car", 3, north(120), 5, -1)
	r.leave("car", 4)
	if r.kinds() != "enter:vicinity exit:vicinity" {
		t.Fatalf("events: %s", r.kinds())
	}
	if d := r.events[1].MinDistanceM; d < 119 || d > 121 {
		t.Errorf("min distance %v, want 120 (the poor fixes ignored)", d)
	}
	r2 := oneSite(t, `[{"name":"vicinity","radius_m":150}]`)
	f = fixAt("other", 0, insite)
	f.Invalid = true
	r2.process(&f)
	r2.at("other", 5, insite, 60, -1)
	if len(r2.events) != 0 || r2.m.OpenVisitCount() != 0 {
		t.Errorf("an invalid or poor fix entered: %s", r2.kinds())
	}
}

// A fix inside any number of zones at once enters all of them.
func TestFixInsideManyZonesEntersAll(t *testing.T) {
	var zones []string
	for i := 1; i <= 12; i++ {
		zones = append(zones, fmt.Sprintf(`{"name":"z%02d","radius_m":%d}`, i, 10*i))
	}
	r := oneSite(t, "["+strings.Join(zones, ",")+"]")
	r.at("car", 0, north(2), 5, -1)
	if len(r.events) != 12 || r.m.OpenVisitCount() != 12 {
		t.Fatalf("entered %d of 12 zones: %s", len(r.events), r.kinds())
	}
}

// circle makes n confirmed entries at the given offsets (seconds).
func circle(r *recorder, dev string, secs ...int) {
	for _, s := range secs {
		r.at(dev, s-60, north(400), 5, -1)
		r.at(dev, s, north(5), 5, -1)
		r.leave(dev, s+5)
	}
}

func count(evs []event.Event, k event.Kind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// repeat_pass: N confirmed entries of one zone with the first and the Nth
// at most T apart, both ends inclusive; emitted at the Nth; the count then
// starts again.
func TestRepeatPassWindowBothEndsInclusive(t *testing.T) {
	const zones = `[{"name":"frontage","radius_m":30}]`
	r := oneSite(t, zones)
	circle(r, "car", 0, 900, 1800) // exactly 30 min from first to third
	if count(r.events, event.RepeatPass) != 1 {
		t.Fatalf("entries 0, 15, 30 min: %s", r.kinds())
	}
	rp := r.events[len(r.events)-2]
	if rp.Kind != event.RepeatPass || !rp.T.Equal(t0.Add(1800*time.Second)) {
		t.Errorf("repeat_pass %+v, want at the third entry", rp)
	}
	r = oneSite(t, zones)
	circle(r, "car", 0, 900, 1801)
	if n := count(r.events, event.RepeatPass); n != 0 {
		t.Errorf("entries 0, 15, 30 min + 1 s: %d repeat_pass", n)
	}
	// After it fires the count starts again: entries 4 and 5 are not enough.
	r = oneSite(t, zones)
	circle(r, "car", 0, 300, 600, 900, 1200)
	if n := count(r.events, event.RepeatPass); n != 1 {
		t.Errorf("5 entries in 20 min: %d repeat_pass, want 1", n)
	}
	circle(r, "car", 1500)
	if n := count(r.events, event.RepeatPass); n != 2 {
		t.Errorf("6 entries: %d repeat_pass, want 2", n)
	}
}

// Unconfirmed entries never count toward repeat_pass, and the count
// restarts at each pseudonym rotation (nothing of one period is carried
// into the next).
func TestRepeatPassOnlyConfirmedAndWithinPeriod(t *testing.T) {
	r := oneSite(t, `[{"name":"frontage","radius_m":30}]`)
	for _, s := range []int{0, 300, 600, 900} {
		r.at("car", s-60, north(400), 5, -1)
		r.at("car", s, north(25), 10, -1) // loose
		r.leave("car", s+5)
	}
	if n := count(r.events, event.RepeatPass); n != 0 {
		t.Errorf("loose entries made %d repeat_pass", n)
	}
	// Sunday 23:45, 23:55 UTC (ISO week 47) and Monday 00:05 (week 48).
	r = oneSite(t, `[{"name":"frontage","radius_m":30}]`)
	base := int(time.Date(2026, 11, 22, 23, 45, 0, 0, time.UTC).Sub(t0) / time.Second)
	circle(r, "car", base, base+600, base+1200)
	if n := count(r.events, event.RepeatPass); n != 0 {
		t.Errorf("entries across the rotation made %d repeat_pass", n)
	}
	if r.events[0].Device == r.events[len(r.events)-1].Device {
		t.Error("pseudonym did not rotate")
	}
}

// A car crawling at 1.5-3 m/s without a speed field is moving; a still
// receiver that wanders 10-30 m with accuracies to match is stationary.
func TestStationaryWithoutSpeed(t *testing.T) {
	r := oneSite(t, `[{"name":"vicinity","radius_m":150,"max_dwell_s":60}]`)
	rng := rand.New(rand.NewPCG(1, 2))
	start := orbgeo.PointAtBearingAndDistance(insite, 270, 200)
	x := 0.0
	for s := 0; s <= 260; s++ {
		x += 1.5 + 1.5*float64(s%7)/6 // 1.5-3 m/s
		p := orbgeo.PointAtBearingAndDistance(orbgeo.PointAtBearingAndDistance(start, 90, x), rng.Float64()*360, rng.Float64()*2)
		r.at("crawler", s, p, 5, -1)
	}
	r.leave("crawler", 300)
	if r.kinds() != "enter:vicinity exit:vicinity" {
		t.Fatalf("crawl: %s", r.kinds())
	}
	if st := r.events[1].StationaryS; st > 0.1*r.events[1].DurationS {
		t.Errorf("crawl: %v s stationary of %v", st, r.events[1].DurationS)
	}

	r = oneSite(t, `[{"name":"vicinity","radius_m":150,"max_dwell_s":60}]`)
	spot := north(100)
	for s := 0; s <= 600; s++ {
		d := 10 + 20*rng.Float64()
		if s%97 == 50 {
			d = 60 // sometimes 60 m
		}
		r.at("still", s, orbgeo.PointAtBearingAndDistance(spot, rng.Float64()*360, d), 20+5*rng.Float64(), -1)
	}
	if r.kinds() != "enter:vicinity dwell:vicinity" {
		t.Fatalf("still receiver: %s", r.kinds())
	}
	ov := r.m.OpenVisits()
	v := r.m.open[r.m.key("vpd", "still")].visits[0]
	if len(ov) != 1 || v.stillMs < 500_000 {
		t.Errorf("still receiver: %d ms stationary of 600 s", v.stillMs)
	}
}

// Silence is not absence: a car parked two hours with a 15-minute heartbeat
// is one visit with its dwell, dated when the limit was crossed in a gap.
func TestHeartbeatStayIsOneVisit(t *testing.T) {
	r := oneSite(t, `[{"name":"frontage","radius_m":30,"max_dwell_s":600},{"name":"vicinity","radius_m":150}]`)
	for s := 0; s <= 7200; s += 900 {
		r.at("tracker", s, north(8), 5, -1)
	}
	r.leave("tracker", 7210)
	if r.kinds() != "enter:frontage enter:vicinity dwell:frontage exit:frontage exit:vicinity" {
		t.Fatalf("events: %s", r.kinds())
	}
	if d := r.events[2]; !d.T.Equal(t0.Add(600*time.Second)) || d.StationaryS != 600 || !d.Breach {
		t.Errorf("dwell %+v, want at 600 s inside the first gap", d)
	}
	if e := r.events[3]; e.StationaryS != 7200 || e.Fixes != 9 {
		t.Errorf("exit %+v", e)
	}
}

// Dwell accumulates only while the stay's centre is inside the zone: a car
// parked just outside, with one noisy fix inside, has no dwell.
func TestDwellOnlyWhileCentreInside(t *testing.T) {
	r := oneSite(t, `[{"name":"frontage","radius_m":30,"max_dwell_s":60}]`)
	for s := 0; s <= 1200; s += 5 {
		d := 36.0 // in the exit band (30 + 10), outside the zone
		if s == 100 {
			d = 27 // one noisy fix inside
		}
		r.at("car", s, north(d), 5, 0)
	}
	r.leave("car", 1210)
	if r.kinds() != "enter:frontage exit:frontage" {
		t.Fatalf("events: %s", r.kinds())
	}
	if e := r.events[1]; e.StationaryS != 0 || e.Breach || e.Confirmed {
		t.Errorf("exit %+v", e)
	}
}

// A mobile site's van: a stale (out-of-order) fix and a single spike out
// and back never move its zones; a driving van's zones follow it with one
// fix of delay.
func TestVanFiltersAndDelay(t *testing.T) {
	raw := fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%v,%v]},"properties":{"id":"van","name":"Van","kind":"mobile","opening_hours":"24/7","timezone":"UTC","device":"van-1","agency":"outreach","zones":[{"name":"f","radius_m":30}]}}`,
		insite[0], insite[1])
	s, err := site.ParseFeature([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	m := newMonitor(t, []*site.Site{s})
	centre := func() orb.Point { return m.world.Load().index.Load().Entry(0).Footprint.Center() }
	van := func(sec int, p orb.Point) Outcome {
		f := fixAt("van-1", sec, p)
		f.Agency = "outreach"
		return m.Process(&f, f.T, nil)
	}
	dest := orbgeo.PointAtBearingAndDistance(insite, 90, 600)
	van(0, dest)
	if d := orbgeo.Distance(centre(), insite); d > 1 {
		t.Errorf("moved on its first fix (%v m)", d)
	}
	van(10, dest)
	if d := orbgeo.Distance(centre(), dest); d > 1 {
		t.Fatalf("did not follow after one fix of delay (%v m off)", d)
	}
	if o := van(5, insite); o != OutOfOrder {
		t.Errorf("stale van fix: %v", o)
	}
	van(20, orbgeo.PointAtBearingAndDistance(dest, 0, 150)) // a spike out...
	van(30, dest)                                           // ... and back
	van(40, dest)
	if d := orbgeo.Distance(centre(), dest); d > 1 {
		t.Errorf("a spike moved the van's zones %v m", d)
	}
}

// On the real 1 Hz Munich drive (no speed, no accuracy), stationary time
// per visit is within 20 % of the truth: the seconds in which the recorded
// position does not change. A 30 m zone sits 12 m from each stop of 15 s
// or more.
func TestMunichStationaryWithin20Percent(t *testing.T) {
	path := filepath.Join("..", "..", "fixtures", "traces", "munich-drive.ndjson")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fixes []feed.Fix
	r := feed.NewNDJSON(strings.NewReader(string(raw)), feed.Options{})
	for {
		f, err := r.Next()
		if err != nil {
			break
		}
		fixes = append(fixes, f)
	}
	var sites []string
	for i := 1; i < len(fixes); i++ {
		j := i
		for j < len(fixes) && orbgeo.Distance(orb.Point{fixes[j].Lon, fixes[j].Lat}, orb.Point{fixes[i-1].Lon, fixes[i-1].Lat}) < 0.05 {
			j++
		}
		if j > i && fixes[j-1].T.Sub(fixes[i-1].T) >= 15*time.Second {
			p := orbgeo.PointAtBearingAndDistance(orb.Point{fixes[i-1].Lon, fixes[i-1].Lat}, 0, 12)
			sites = append(sites, pointSite(fmt.Sprintf("stop%02d", len(sites)), p, "24/7", `[{"name":"z","radius_m":30}]`))
		}
		i = j
	}
	m := newMonitor(t, sitesJSON(t, sites...))
	rec := &recorder{m: m}
	for i := range fixes {
		rec.process(&fixes[i])
	}
	truth := func(from, to time.Time) float64 {
		s := 0.0
		for i := 1; i < len(fixes); i++ {
			a, b := fixes[i-1], fixes[i]
			// Unchanged: the source's coordinates drift by a centimetre or two.
			if !a.T.Before(from) && !b.T.After(to) && orbgeo.Distance(orb.Point{a.Lon, a.Lat}, orb.Point{b.Lon, b.Lat}) < 0.05 {
				s += b.T.Sub(a.T).Seconds()
			}
		}
		return s
	}
	enters := map[string]time.Time{}
	checked := 0
	for _, e := range rec.events {
		switch e.Kind {
		case event.Enter:
			enters[e.Visit] = e.T
		case event.Exit:
			want := truth(enters[e.Visit], e.T)
			if want < 10 {
				continue // a zone the car passed on its way to another stop
			}
			checked++
			if math.Abs(e.StationaryS-want) > 0.2*want {
				t.Errorf("%s: stationary %v s, truth %v s", e.Site, e.StationaryS, want)
			} else {
				t.Logf("%s: stationary %v s, truth %v s", e.Site, e.StationaryS, want)
			}
		}
	}
	if checked < 8 {
		t.Errorf("only %d visits with a stop checked (of %d sites)", checked, len(sites))
	}
	_ = json.Valid
}

// Passes between fixes: a car sampled every 15 s that drives through a zone
// neither fix is inside is counted, interpolated, never a breach.
func TestPassBetweenFixes(t *testing.T) {
	r := oneSite(t, `[{"name":"frontage","radius_m":30,"no_entry":true}]`)
	west := orbgeo.PointAtBearingAndDistance(north(10), 270, 90) // 10 m north of the site, 90 m west
	for i := 0; i < 4; i++ {
		r.at("car", i*15, orbgeo.PointAtBearingAndDistance(west, 90, float64(i)*180), 5, -1) // 12 m/s
	}
	if r.kinds() != "enter:frontage exit:frontage" {
		t.Fatalf("events: %s", r.kinds())
	}
	in, out := r.events[0], r.events[1]
	for _, e := range r.events {
		if !e.Interpolated || e.Confirmed || e.Breach || e.Fixes != 0 || e.Visit != in.Visit {
			t.Errorf("%+v", e)
		}
	}
	// Entering 90 - sqrt(30² - 10²) = 61.7 m along a 180 m, 15 s segment.
	if d := in.T.Sub(t0).Seconds(); math.Abs(d-61.7/12) > 0.05 {
		t.Errorf("enter at %v s", d)
	}
	if d := out.T.Sub(in.T).Seconds(); math.Abs(d-2*math.Sqrt(800)/12) > 0.05 {
		t.Errorf("pass lasted %v s", d)
	}
	if math.Abs(out.MinDistanceM-10) > 0.2 || out.DurationS <= 4 {
		t.Errorf("min distance %v duration %v", out.MinDistanceM, out.DurationS)
	}
	// More than PassMaxGap between the fixes: nothing is interpolated.
	r = oneSite(t, `[{"name":"frontage","radius_m":30}]`)
	r.at("car", 0, west, 5, -1)
	r.at("car", 61, orbgeo.PointAtBearingAndDistance(west, 90, 180), 5, -1)
	if len(r.events) != 0 {
		t.Errorf("pass over a 61 s gap: %s", r.kinds())
	}
}

// The real Munich drive sampled every 15 s (the same trip as
// bmwcarit/barefoot's x0001-015): a 150 m zone centred between two samples
// that are both outside it is counted as a pass.
func TestMunich15sDriveByIsCounted(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "fixtures", "traces", "munich-drive.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var fixes []feed.Fix
	rd := feed.NewNDJSON(strings.NewReader(string(raw)), feed.Options{})
	for i := 0; ; i++ {
		f, err := rd.Next()
		if err != nil {
			break
		}
		if i%15 == 0 {
			fixes = append(fixes, f)
		}
	}
	// The fastest 15 s step of the trip.
	best, bestD := 0, 0.0
	for i := 1; i < len(fixes); i++ {
		a, b := orb.Point{fixes[i-1].Lon, fixes[i-1].Lat}, orb.Point{fixes[i].Lon, fixes[i].Lat}
		if d := orbgeo.Distance(a, b); d > bestD && d < 15*40 {
			best, bestD = i, d
		}
	}
	if bestD < 320 {
		t.Fatalf("no 15 s step longer than 320 m (longest %v m)", bestD)
	}
	a, b := orb.Point{fixes[best-1].Lon, fixes[best-1].Lat}, orb.Point{fixes[best].Lon, fixes[best].Lat}
	mid := orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
	m := newMonitor(t, sitesJSON(t, pointSite("mid", mid, "24/7", `[{"name":"vicinity","radius_m":150}]`)))
	rec := &recorder{m: m}
	for i := range fixes {
		rec.process(&fixes[i])
	}
	if rec.kinds() != "enter:vicinity exit:vicinity" || !rec.events[0].Interpolated {
		t.Fatalf("15 s drive-by (%v m step): %s", bestD, rec.kinds())
	}
}

// Retrying or replaying a fix, however late, never creates a visit that did
// not happen: not after its device was forgotten from memory, and not after
// a restart.
func TestRetriedFixAfterForgetOrRestartIsNoPhantom(t *testing.T) {
	m := newMonitor(t, sitesJSON(t, pointSite("s", insite, "24/7", `[{"name":"door","radius_m":10,"no_entry":true}]`)))
	r := &recorder{m: m}
	retry := fixAt("car", 0, insite)
	r.process(&retry)
	r.at("car", 5, north(3), 5, -1)
	r.leave("car", 10)
	if r.kinds() != "enter:door exit:door" {
		t.Fatalf("events: %s", r.kinds())
	}
	var saved Out
	m.Flush(&saved)
	// Two hours later the device is forgotten (its entry toward
	// repeat_pass expired first), leaving a watermark.
	later := t0.Add(2 * time.Hour)
	m.Forget(later.Add(-time.Hour), 0)
	m.Flush(&saved)
	m.Forget(later.Add(-time.Hour), 0)
	if m.Devices() != 0 {
		t.Fatalf("%d devices still in memory", m.Devices())
	}
	if o := r.processAt(&retry, later); o != OutOfOrder || len(r.events) != 2 {
		t.Errorf("retried fix after forgetting: %v, events %s", o, r.kinds())
	}
	// A new process from what was saved: the watermark holds there too.
	m2 := newMonitor(t, sitesJSON(t, pointSite("s", insite, "24/7", `[{"name":"door","radius_m":10,"no_entry":true}]`)))
	var last []DeviceState
	byPs := map[string]DeviceState{}
	for _, st := range saved.Save {
		byPs[st.Pseudonym] = st // the latest save of each wins, as in the store
	}
	for _, st := range byPs {
		last = append(last, st)
	}
	if len(last) != 1 || len(last[0].Visits) != 0 || last[0].LastT == 0 {
		t.Fatalf("saved: %+v", last)
	}
	m2.Restore(last, later)
	r2 := &recorder{m: m2}
	if o := r2.processAt(&retry, later); o != OutOfOrder || len(r2.events) != 0 {
		t.Errorf("retried fix after a restart: %v, events %s", o, r2.kinds())
	}
	// Watermarks expire with ResumeKeep (the server's --max-fix-age).
	m.Forget(later.Add(8*24*time.Hour), 0)
	var out Out
	m.Flush(&out)
	if len(m.forgotten) != 0 || len(out.Drop) != 1 {
		t.Errorf("watermark not expired: %d left, drop %v", len(m.forgotten), out.Drop)
	}
}
