package monitor

import (
	"fmt"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

func TestExitAfterInclusive(t *testing.T) { // m15
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	r.at("car", 0, north(0), 5, -1)
	r.at("car", 5, north(0), 5, -1)
	r.at("car", 10, north(200), 5, -1)
	r.at("car", 25, north(200), 5, -1) // exactly 15 s and 2 fixes
	if r.kinds() != "enter:z exit:z" || !r.events[1].T.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestSilentPosition(t *testing.T) { // m21
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	r.at("car", 0, north(0), 5, -1)
	r.at("car", 5, north(0), 5, -1)
	r.positions = nil
	r.tick(t0.Add(5*time.Second + 5*time.Minute + time.Second))
	if len(r.positions) != 1 || !r.positions[0].Silent || !r.positions[0].T.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("positions %+v", r.positions)
	}
}

func TestPassAtExactlyPassMaxGap(t *testing.T) { // m27
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	west := orbgeo.PointAtBearingAndDistance(north(10), 270, 90)
	r.at("car", 0, west, 5, -1)
	r.at("car", 60, orbgeo.PointAtBearingAndDistance(west, 90, 180), 5, -1)
	if r.kinds() != "enter:z exit:z" {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestShortStepPass(t *testing.T) { // m28
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	line := north(28)
	for i, x := range []float64{-36, -12, 12, 36} {
		p := orbgeo.PointAtBearingAndDistance(line, 90, x)
		if x < 0 {
			p = orbgeo.PointAtBearingAndDistance(line, 270, -x)
		}
		r.at("car", i, p, 5, -1) // 24 m steps at 1 Hz
	}
	if r.kinds() != "enter:z exit:z" || !r.events[0].Interpolated {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestDwellBreachAtCrossingTime(t *testing.T) { // m30
	r := &recorder{m: newMonitor(t, sitesJSON(t, pointSite("s", insite, "Mo-Su 09:00-12:05", `[{"name":"z","radius_m":30,"max_dwell_s":120}]`)))}
	r.at("tr", 0, north(8), 5, -1)   // 12:00
	r.at("tr", 900, north(8), 5, -1) // 12:15, after closing
	var dw *event.Event
	for i := range r.events {
		if r.events[i].Kind == event.Dwell {
			dw = &r.events[i]
		}
	}
	if dw == nil || !dw.T.Equal(t0.Add(120*time.Second)) || !dw.Breach || !dw.InHours {
		t.Fatalf("dwell %+v (%s)", dw, r.kinds())
	}
}

func TestVanInvalidFixNeverMovesZones(t *testing.T) { // m37
	raw := fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%v,%v]},"properties":{"id":"van","name":"Van","kind":"mobile","opening_hours":"24/7","timezone":"UTC","device":"van-1","agency":"outreach","zones":[{"name":"f","radius_m":30}]}}`, insite[0], insite[1])
	s, err := site.ParseFeature([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	m := newMonitor(t, []*site.Site{s})
	centre := func() orb.Point { return m.world.Load().index.Load().Entry(0).Footprint.Center() }
	van := func(sec int, p orb.Point, invalid bool) {
		f := fixAt("van-1", sec, p)
		f.Agency, f.Invalid = "outreach", invalid
		m.Process(&f, f.T, nil)
	}
	dest := orbgeo.PointAtBearingAndDistance(insite, 90, 600)
	van(0, dest, false)
	van(10, dest, false)
	van(20, orbgeo.PointAtBearingAndDistance(dest, 90, 100), true)
	van(30, orbgeo.PointAtBearingAndDistance(dest, 90, 105), false)
	if d := orbgeo.Distance(centre(), dest); d > 1 {
		t.Errorf("an invalid van fix moved its zones %v m", d)
	}
}

func TestPassesNeverCountTowardRepeatPass(t *testing.T) { // m46
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	west := orbgeo.PointAtBearingAndDistance(north(10), 270, 90)
	for _, base := range []int{0, 600, 1200} {
		for i := 0; i < 4; i++ {
			r.at("car", base+i*15, orbgeo.PointAtBearingAndDistance(west, 90, float64(i)*180), 5, -1)
		}
	}
	if count(r.events, event.Enter) < 3 || count(r.events, event.RepeatPass) != 0 {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestNoResumeAfterMaxGap(t *testing.T) { // m47
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	r.at("car", 0, north(0), 5, -1)
	r.at("car", 5, north(0), 5, -1)
	r.tick(t0.Add(36 * time.Minute))
	pf := fixAt("car", 20*60, north(0)) // a poor fix in the backlog: moves lastT, cannot resume
	pf.Acc = 80
	r.processAt(&pf, t0.Add(44*time.Minute))
	f := fixAt("car", 45*60, north(0))
	r.processAt(&f, t0.Add(45*time.Minute))
	if r.kinds() != "enter:z signal_lost:z enter:z" || r.events[2].Visit == r.events[0].Visit {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestNoResumeOutside(t *testing.T) { // m48
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	r.at("car", 0, north(0), 5, -1)
	r.at("car", 5, north(0), 5, -1)
	r.tick(t0.Add(36 * time.Minute))
	for _, s := range []int{10, 30} {
		f := fixAt("car", s, north(float64(100*s/10)))
		r.processAt(&f, t0.Add(36*time.Minute))
	}
	if r.kinds() != "enter:z signal_lost:z" {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestRestorePendingExitAndLost(t *testing.T) { // m49, m50
	c := insite
	sites := sitesJSON(t, pointSite("s", c, "24/7", `[{"name":"z","radius_m":30}]`))
	m1 := newMonitor(t, sites)
	r := &recorder{m: m1}
	for _, dev := range []string{"car", "gone"} {
		r.at(dev, 0, c, 5, -1)
		r.at(dev, 5, c, 5, -1)
	}
	r.at("car", 10, north(200), 5, -1) // exit pending
	r.tick(t0.Add(6 * time.Minute))
	g := fixAt("gone", 6, c)
	_ = g
	var out Out
	m1.Flush(&out)
	// "gone" falls silent for good on the old process: lost before the restart.
	m1b := newMonitor(t, sites)
	_ = m1b
	restart := t0.Add(10 * time.Minute)
	m2 := newMonitor(t, sites)
	m2.Restore(out.Save, restart)
	r.m = m2
	f := fixAt("car", 25, north(200))
	r.processAt(&f, restart)
	if r.kinds() != "enter:z enter:z exit:z" || !r.events[2].T.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestRestoreLostStaysLost(t *testing.T) { // m49
	sites := sitesJSON(t, pointSite("s", insite, "24/7", `[{"name":"z","radius_m":30}]`))
	m1 := newMonitor(t, sites)
	r := &recorder{m: m1}
	r.at("car", 0, insite, 5, -1)
	r.at("car", 5, insite, 5, -1)
	r.tick(t0.Add(36 * time.Minute)) // signal_lost, resumable
	var out Out
	m1.Flush(&out)
	m2 := newMonitor(t, sites)
	restart := t0.Add(40 * time.Minute)
	m2.Restore(out.Save, restart)
	r.m = m2
	r.tick(restart.Add(31 * time.Minute))
	if r.kinds() != "enter:z signal_lost:z" {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestPoorFixesBeyondBandExit(t *testing.T) { // m52
	r := oneSite(t, `[{"name":"z","radius_m":30}]`)
	r.at("car", 0, north(0), 5, -1)
	r.at("car", 5, north(0), 5, -1)
	r.at("car", 10, north(400), 80, -1)
	r.at("car", 30, north(400), 80, -1)
	if r.kinds() != "enter:z exit:z" || !r.events[1].T.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestReportedSpeedThreshold(t *testing.T) { // m54
	r := oneSite(t, `[{"name":"z","radius_m":150,"max_dwell_s":60}]`)
	for i := 0; i <= 100; i++ {
		r.at("car", i, north(-70+1.5*float64(i)), 5, 1.5)
	}
	if n := count(r.events, event.Dwell); n != 0 {
		t.Fatalf("a car reporting 1.5 m/s dwelt: %s", r.kinds())
	}
}

func TestHeartbeatRadiusFloor(t *testing.T) { // m44
	r := oneSite(t, `[{"name":"z","radius_m":30,"max_dwell_s":600}]`)
	for i, s := 0, 0; s <= 1800; s, i = s+900, i+1 {
		r.at("tr", s, north(float64(15*(i%2))), 5, -1) // 15 m apart: > 5+5, <= 20
	}
	if n := count(r.events, event.Dwell); n != 1 {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestHeartbeatRuleFrom30s(t *testing.T) { // m57
	r := oneSite(t, `[{"name":"z","radius_m":150,"max_dwell_s":60}]`)
	for i := 0; i <= 6; i++ {
		r.at("car", 45*i, north(-100+36*float64(i)), 5, -1) // 36 m every 45 s: not the same place
	}
	if n := count(r.events, event.Dwell); n != 0 {
		t.Fatalf("events: %s", r.kinds())
	}
}

func TestTickOrderDeterministic(t *testing.T) { // m43
	var first string
	for run := 0; run < 20; run++ {
		r := oneSite(t, `[{"name":"z","radius_m":30}]`)
		for i := 0; i < 6; i++ {
			r.at(fmt.Sprintf("car%d", i), 0, north(0), 5, -1)
			r.at(fmt.Sprintf("car%d", i), 5, north(0), 5, -1)
		}
		r.tick(t0.Add(40 * time.Minute))
		var s string
		for _, e := range r.events {
			s += e.ID + " "
		}
		if run == 0 {
			first = s
		} else if s != first {
			t.Fatalf("run %d differs", run)
		}
	}
}

// An exit needs ExitFixes fixes beyond the band (with the defaults, 15 s
// already implies two fixes; with three it shows).
func TestExitNeedsExitFixes(t *testing.T) {
	m, err := New(Config{Secret: []byte("test"), ExitFixes: 3}, sitesJSON(t, pointSite("s", insite, "24/7", `[{"name":"door","radius_m":30}]`)))
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{m: m}
	r.at("car", 0, north(5), 5, -1)
	r.at("car", 5, north(5), 5, -1)
	r.at("car", 10, north(300), 5, -1)
	r.at("car", 25, north(500), 5, -1)
	if r.kinds() != "enter:door" {
		t.Fatalf("exited after two far fixes: %s", r.kinds())
	}
	r.at("car", 30, north(600), 5, -1)
	if r.kinds() != "enter:door exit:door" || !r.events[1].T.Equal(t0.Add(10*time.Second)) {
		t.Errorf("events: %s %+v", r.kinds(), r.events)
	}
}
