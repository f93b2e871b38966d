package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

func sitesJSON(t testing.TB, features ...string) []*site.Site {
	t.Helper()
	s, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pointSite(id string, p orb.Point, hours, zones string) string {
	return fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%v,%v]},"properties":{"id":%q,"name":"Test %s","kind":"sis","opening_hours":%q,"timezone":"UTC","zones":%s}}`,
		p[0], p[1], id, id, hours, zones)
}

// recorder runs fixes and ticks through a monitor and keeps what it hands back.
type recorder struct {
	m         *Monitor
	events    []event.Event
	positions []Position
	out       Out
}

func (r *recorder) take() {
	r.events = append(r.events, r.out.Events...)
	r.positions = append(r.positions, r.out.Positions...)
	r.out.Reset()
}

// process runs f with its arrival at its own time (a live feed).
func (r *recorder) process(f *feed.Fix) Outcome { return r.processAt(f, f.T) }

func (r *recorder) processAt(f *feed.Fix, arrival time.Time) Outcome {
	o := r.m.Process(f, arrival, &r.out)
	r.take()
	return o
}

func (r *recorder) tick(now time.Time) {
	r.m.Tick(now, &r.out)
	r.take()
}

func (r *recorder) kinds() string {
	var b strings.Builder
	for _, e := range r.events {
		fmt.Fprintf(&b, "%s:%s ", e.Kind, e.Zone)
	}
	return strings.TrimSpace(b.String())
}

func newMonitor(t testing.TB, sites []*site.Site) *Monitor {
	t.Helper()
	m, err := New(Config{Secret: []byte("test")}, sites)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func replayFile(t *testing.T, path string, rec *recorder) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := feed.NewNDJSON(f, feed.Options{})
	for {
		fx, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		rec.process(&fx)
	}
}

var t0 = time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)

func fixAt(dev string, sec int, p orb.Point) feed.Fix {
	f := feed.NewFix()
	f.Device, f.Agency, f.T, f.Lon, f.Lat = dev, "vpd", t0.Add(time.Duration(sec)*time.Second), p[0], p[1]
	f.Acc = 5 // a phone with a good fix; tests of unknown accuracy set -1
	return f
}

// A real car drive through Munich (bmwcarit/barefoot test data): a 470 m
// discontinuity in the track costs exactly one dropped fix, and a site placed
// 12 m from its longest stop (72 s, position frozen, no speed field) sees
// enter, dwell and exit.
func TestRealDriveMunich(t *testing.T) {
	stop := orb.Point{11.438684112060958, 48.12604659078717}
	s := orbgeo.PointAtBearingAndDistance(stop, 0, 12)
	m := newMonitor(t, sitesJSON(t, pointSite("munich", s, "24/7", `[{"name":"frontage","radius_m":30,"max_dwell_s":30}]`)))
	rec := &recorder{m: m}
	replayFile(t, filepath.Join("..", "..", "fixtures", "traces", "munich-drive.ndjson"), rec)
	st := m.Stats()
	if st.ByOutcome[Jump] != 1 || st.ByOutcome[Accepted] != 1193 {
		t.Errorf("jumps %d accepted %d, want 1 and 1193", st.ByOutcome[Jump], st.ByOutcome[Accepted])
	}
	if got := rec.kinds(); got != "enter:frontage dwell:frontage exit:frontage" {
		t.Fatalf("events: %s", got)
	}
	dwell, exit := rec.events[1], rec.events[2]
	if dwell.StationaryS != 30 || !dwell.Breach {
		t.Errorf("dwell: %+v", dwell)
	}
	// The car stands still 05:11:24-05:12:36 (72 s). Without a speed field
	// the stay rule also counts the last metres of braking and the first of
	// pulling away (it moves < 35 m in those seconds): 86 s.
	if exit.StationaryS < 72 || exit.StationaryS > 90 || exit.MinDistanceM > 13 {
		t.Errorf("exit: stationary %v (standstill 72 s), min distance %v (stop 12 m away)", exit.StationaryS, exit.MinDistanceM)
	}
}

// A real still phone (google/gps-measurement-tools log, 216 fixes at 1 Hz,
// speed 0 but for one 0.94 m/s): parked 20 m from a site, it enters once,
// dwells once, and never exits.
func TestRealStillPhone(t *testing.T) {
	phone := orb.Point{-122.081659, 37.422541}
	s := orbgeo.PointAtBearingAndDistance(phone, 90, 20)
	m := newMonitor(t, sitesJSON(t, pointSite("mtv", s, "24/7", `[{"name":"frontage","radius_m":30,"max_dwell_s":60}]`)))
	rec := &recorder{m: m}
	replayFile(t, filepath.Join("..", "..", "fixtures", "traces", "still-phone.ndjson"), rec)
	if got := rec.kinds(); got != "enter:frontage dwell:frontage" {
		t.Fatalf("events: %s", got)
	}
	if len(m.OpenVisits()) != 1 {
		t.Errorf("open visits: %v", m.OpenVisits())
	}
}

func TestLowAccuracyIgnoredForEntering(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{m: m}
	f := fixAt("car", 0, c)
	f.Acc = 80
	rec.process(&f)
	if len(rec.events) != 0 || m.Stats().LowAccuracy != 1 {
		t.Fatalf("an 80 m fix entered: %v", rec.kinds())
	}
	f = fixAt("car", 5, c)
	f.Acc = 8
	rec.process(&f)
	if rec.kinds() != "enter:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	// A poor fix while inside widens the exit band rather than exiting.
	out := orbgeo.PointAtBearingAndDistance(c, 0, 60)
	for i := 1; i <= 5; i++ {
		f = fixAt("car", 5+5*i, out)
		f.Acc = 45
		rec.process(&f)
	}
	if rec.kinds() != "enter:frontage" {
		t.Errorf("exited while inside radius + accuracy: %s", rec.kinds())
	}
}

func TestSpikeDroppedDiscontinuityAccepted(t *testing.T) {
	m := newMonitor(t, nil)
	a := orb.Point{-123.1, 49.28}
	steps := []struct {
		sec  int
		p    orb.Point
		want Outcome
	}{
		{0, a, Accepted},
		{1, orbgeo.PointAtBearingAndDistance(a, 90, 10), Accepted},
		{2, orbgeo.PointAtBearingAndDistance(a, 90, 500), Jump}, // spike
		{3, orbgeo.PointAtBearingAndDistance(a, 90, 30), Accepted},
		{4, orbgeo.PointAtBearingAndDistance(a, 0, 2000), Jump}, // start of a real discontinuity
		{5, orbgeo.PointAtBearingAndDistance(orbgeo.PointAtBearingAndDistance(a, 0, 2000), 0, 10), Accepted},
		{5, a, Duplicate},
		{4, a, OutOfOrder},
	}
	for i, s := range steps {
		f := fixAt("car", s.sec, s.p)
		if got := m.Process(&f, f.T, nil); got != s.want {
			t.Errorf("step %d: %v, want %v", i, got, s.want)
		}
	}
}

func TestPseudonymsRotateAndHideDevice(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{m: m}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 500)
	// In on Sunday 2026-11-22 (ISO week 47), out, in again on Monday (week 48).
	day := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i, st := range []struct {
		at time.Duration
		p  orb.Point
	}{{0, c}, {30 * time.Second, far}, {60 * time.Second, far}, {24 * time.Hour, c}} {
		f := feed.NewFix()
		f.Device, f.Agency, f.T, f.Lon, f.Lat, f.Acc = "car-17-RAW", "vpd", day.Add(st.at), st.p[0], st.p[1], 5
		if o := rec.process(&f); o != Accepted {
			t.Fatalf("fix %d: %v", i, o)
		}
	}
	if rec.kinds() != "enter:frontage exit:frontage enter:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	if rec.events[0].Device != rec.events[1].Device {
		t.Error("pseudonym changed within a week")
	}
	if rec.events[0].Device == rec.events[2].Device {
		t.Error("pseudonym did not rotate with the ISO week")
	}
	var all bytes.Buffer
	for _, e := range rec.events {
		all.Write(e.AppendJSON(nil))
		if len(e.Device) != 16 {
			t.Errorf("pseudonym %q is not 16 hex characters", e.Device)
		}
	}
	if strings.Contains(all.String(), "car-17") || strings.Contains(all.String(), "RAW") {
		t.Error("raw device id in events")
	}
	p := NewPseudonymizer([]byte("test"), "week")
	if got := p.PeriodLabel(p.Period(day)); got != "2026-W47" {
		t.Errorf("period label %q", got)
	}
}

func TestRuleOutsideHoursAndAlways(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	// Open 09:00-17:00 UTC; t0 is 12:00 UTC on a Monday.
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "Mo-Fr 13:00-17:00",
		`[{"name":"door","radius_m":10,"no_entry":true},{"name":"always","radius_m":20,"no_entry":true,"hours_only":false}]`)))
	rec := &recorder{m: m}
	f := fixAt("car", 0, c)
	rec.process(&f)
	if len(rec.events) != 2 || rec.events[0].Breach || !rec.events[1].Breach || rec.events[0].InHours {
		t.Fatalf("%+v", rec.events)
	}
	// Still inside when hours begin: the door visit becomes a breach.
	for s := 60; s <= 3660; s += 60 {
		f = fixAt("car", s, c)
		rec.process(&f)
	}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 100)
	for s := 3700; s <= 3730; s += 10 {
		f = fixAt("car", s, far)
		rec.process(&f)
	}
	exits := 0
	for _, e := range rec.events {
		if e.Kind == event.Exit {
			exits++
			if !e.Breach || !e.InHours {
				t.Errorf("exit %s: breach %v in_hours %v, want both true", e.Zone, e.Breach, e.InHours)
			}
		}
	}
	if exits != 2 {
		t.Errorf("exits: %s", rec.kinds())
	}
}

// Silence is judged on the arrival clock: a device not heard from for
// MaxGap has its visit closed with signal_lost, dated at its last fix.
func TestSignalLostOnArrivalClock(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{m: m}
	for s := 0; s <= 30; s += 10 {
		f := fixAt("car", s, c)
		rec.process(&f)
	}
	rec.tick(t0.Add(30*time.Minute + 30*time.Second)) // exactly MaxGap: not yet
	if len(rec.events) != 1 {
		t.Fatalf("lost too early: %s", rec.kinds())
	}
	rec.tick(t0.Add(30*time.Minute + 31*time.Second))
	if rec.kinds() != "enter:frontage signal_lost:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	lost := rec.events[1]
	if !lost.T.Equal(t0.Add(30*time.Second)) || lost.DurationS != 30 || lost.Fixes != 4 || !lost.Confirmed {
		t.Errorf("signal_lost %+v, want dated at the last fix (30 s), 4 fixes", lost)
	}
	if len(m.OpenVisits()) != 0 {
		t.Error("visit still open")
	}
}

// A buffered backlog that arrives late but steadily is a device heard
// from: fixes measured two hours before they arrive give exactly the
// events of the same fixes arriving live — no signal_lost, no churn.
func TestLateBacklogIsNotSilence(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	sites := sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30,"max_dwell_s":120},{"name":"vicinity","radius_m":150}]`))
	var fixes []feed.Fix
	far := orbgeo.PointAtBearingAndDistance(c, 90, 400)
	for s := 0; s <= 900; s += 5 {
		p := c
		if s < 60 || s > 700 {
			p = far
		}
		f := fixAt("phone", s, p)
		f.Acc = 5
		fixes = append(fixes, f)
	}
	live := &recorder{m: newMonitor(t, sites)}
	for i := range fixes {
		live.process(&fixes[i])
		live.tick(fixes[i].T)
	}
	late := &recorder{m: newMonitor(t, sites)}
	arrive := t0.Add(2 * time.Hour)
	for i := range fixes {
		late.processAt(&fixes[i], arrive)
		arrive = arrive.Add(10 * time.Millisecond) // flushed at once
		late.tick(arrive)
	}
	if live.kinds() != "enter:frontage enter:vicinity dwell:frontage exit:frontage exit:vicinity" {
		t.Fatalf("live: %s", live.kinds())
	}
	if late.kinds() != live.kinds() {
		t.Fatalf("late backlog: %s\nlive:         %s", late.kinds(), live.kinds())
	}
	for i := range live.events {
		if live.events[i] != late.events[i] {
			t.Errorf("event %d differs:\n%+v\n%+v", i, live.events[i], late.events[i])
		}
	}
}

// A device's own next fix more than MaxGap after its previous one closes
// its visit with signal_lost, in measurement time, for good.
func TestMeasurementGapClosesVisit(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{m: m}
	for _, s := range []int{0, 10, 10 + 31*60, 10 + 31*60 + 10} {
		f := fixAt("car", s, c)
		rec.processAt(&f, t0.Add(10*time.Second)) // all arrive at once: never silent on the clock
	}
	if rec.kinds() != "enter:frontage signal_lost:frontage enter:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	if rec.events[0].Visit == rec.events[2].Visit || !rec.events[1].T.Equal(t0.Add(10*time.Second)) {
		t.Errorf("%+v", rec.events)
	}
}

// A visit closed by silence whose device's late fixes show it never left is
// reopened with resumed under the same visit id.
func TestResumedAfterSilence(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30,"max_dwell_s":1200}]`)))
	rec := &recorder{m: m}
	for s := 0; s <= 60; s += 30 {
		f := fixAt("car", s, c)
		f.Speed = 0
		rec.process(&f)
	}
	rec.tick(t0.Add(40 * time.Minute)) // silent for 39 minutes
	// Its buffer arrives: it was there all along, every 15 minutes.
	for _, s := range []int{60 + 15*60, 60 + 30*60} {
		f := fixAt("car", s, c)
		f.Speed = 0
		rec.processAt(&f, t0.Add(41*time.Minute))
	}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 300)
	for _, s := range []int{60 + 30*60 + 10, 60 + 30*60 + 30} {
		f := fixAt("car", s, far)
		rec.processAt(&f, t0.Add(41*time.Minute))
	}
	if rec.kinds() != "enter:frontage signal_lost:frontage resumed:frontage dwell:frontage exit:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	visit := rec.events[0].Visit
	for _, e := range rec.events {
		if e.Visit != visit {
			t.Errorf("%s under visit %s, want %s", e.Kind, e.Visit, visit)
		}
	}
	lost, resumed, dwell, exit := rec.events[1], rec.events[2], rec.events[3], rec.events[4]
	if !lost.T.Equal(t0.Add(60*time.Second)) || !resumed.T.Equal(t0.Add(16*time.Minute)) {
		t.Errorf("signal_lost at %v, resumed at %v", lost.T, resumed.T)
	}
	// Stationary across the heartbeat gaps: the dwell is dated when 1200 s
	// of stillness were reached, inside a gap.
	if !dwell.T.Equal(t0.Add(1200*time.Second)) || dwell.StationaryS != 1200 {
		t.Errorf("dwell at %v with %v s", dwell.T, dwell.StationaryS)
	}
	if exit.DurationS != 60+30*60+10 || exit.StationaryS != 60+30*60 {
		t.Errorf("exit %+v", exit)
	}
}

// A pending exit when the device falls silent ends as the exit it was,
// dated at the first fix beyond the band, at the last position inside.
func TestPendingExitThenSilenceIsExit(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{m: m}
	for _, s := range []int{0, 5} {
		f := fixAt("car", s, c)
		rec.process(&f)
	}
	f := fixAt("car", 10, orbgeo.PointAtBearingAndDistance(c, 0, 200))
	rec.process(&f)
	rec.tick(t0.Add(41 * time.Minute))
	if rec.kinds() != "enter:frontage exit:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	if e := rec.events[1]; !e.T.Equal(t0.Add(10*time.Second)) || e.Lat != event.RoundCoord(c[1]) || e.Lon != event.RoundCoord(c[0]) {
		t.Errorf("exit %+v, want at 10 s at the last fix inside", e)
	}
}

func TestSetSitesKeepsVisitsAndClosesRemovedZones(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	zones := `[{"name":"frontage","radius_m":30},{"name":"vicinity","radius_m":150}]`
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", zones)))
	rec := &recorder{m: m}
	f := fixAt("car", 0, c)
	rec.process(&f)
	// The site loses its vicinity zone and a new site appears elsewhere.
	m.SetSites(sitesJSON(t, pointSite("b", orb.Point{-123.2, 49.3}, "24/7", zones),
		pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)), &rec.out)
	rec.take()
	if rec.kinds() != "enter:frontage enter:vicinity exit:vicinity" {
		t.Fatalf("events: %s", rec.kinds())
	}
	f = fixAt("car", 10, c)
	rec.process(&f)
	if len(rec.events) != 3 {
		t.Errorf("the kept frontage visit re-entered: %s", rec.kinds())
	}
	if ov := m.OpenVisits(); len(ov) != 1 || ov[0].Site != "a" || ov[0].Zone != "frontage" {
		t.Errorf("open visits: %+v", ov)
	}
}

func TestForgetIdleDevices(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	far := orbgeo.PointAtBearingAndDistance(c, 0, 1000)
	for i, dev := range []string{"idle", "inside", "recent"} {
		p := far
		if dev == "inside" {
			p = c
		}
		f := fixAt(dev, i*600, p) // 0, 10 and 20 minutes
		m.Process(&f, f.T, nil)
	}
	if n := m.Forget(t0.Add(15*time.Minute), 0); n != 1 || m.Devices() != 2 {
		t.Errorf("forgot %d, %d left; want the idle one only", n, m.Devices())
	}
}

func TestConfigNeedsSecret(t *testing.T) {
	if _, err := New(Config{}, nil); err == nil {
		t.Error("no secret accepted")
	}
	if _, err := New(Config{Secret: []byte("x"), Rotation: "year"}, nil); err == nil || !errors.Is(err, err) {
		t.Error("bad rotation accepted")
	}
}

// BenchmarkDeviceState reports the memory held per tracked device with
// 1,000,000 devices that have been seen (outside any zone).
func BenchmarkDeviceState(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		m := newMonitor(b, nil)
		f := feed.NewFix()
		f.Agency, f.T, f.Lat, f.Lon = "vpd", t0, 49.28, -123.1
		devs := make([]string, n)
		for j := range devs {
			devs[j] = fmt.Sprintf("car-%07d", j)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for j := 0; j < n; j++ {
			f.Device = devs[j]
			m.Process(&f, f.T, nil)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/device")
		runtime.KeepAlive(m)
		runtime.KeepAlive(devs)
	}
}

// A restart is not silence, and changes no fact: a restored visit goes on
// under its id with its stationary time, a retried fix is a duplicate, the
// downtime does not count toward MaxGap, and a restored device that never
// reports again is closed by the sweep like any other.
func TestRestoreResumesOpenVisits(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	sites := sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30,"max_dwell_s":35}]`))
	m1 := newMonitor(t, sites)
	rec := &recorder{m: m1}
	for s := 0; s <= 20; s += 10 {
		for _, dev := range []string{"car", "gone"} {
			f := fixAt(dev, s, c)
			f.Speed = 0
			rec.process(&f)
		}
	}
	var out Out
	m1.Flush(&out)
	if len(out.Save) != 2 || len(out.Drop) != 0 || len(out.Save[0].Visits) != 1 || out.Save[0].Visits[0].StillMs != 20000 {
		t.Fatalf("save %+v drop %v", out.Save, out.Drop)
	}
	var again Out
	if m1.Flush(&again); len(again.Save) != 0 {
		t.Error("changes reported twice")
	}
	// A new process, started an hour later: the downtime is not silence.
	restart := t0.Add(time.Hour)
	m2 := newMonitor(t, sites)
	m2.Restore(out.Save, restart)
	rec.m = m2
	rec.tick(restart.Add(time.Minute))
	if len(rec.events) != 2 || m2.OpenVisitCount() != 2 {
		t.Fatalf("restart counted as silence: %s", rec.kinds())
	}
	f := fixAt("car", 20, c) // a retried fix: a duplicate, not a new entry
	if o := rec.processAt(&f, restart.Add(time.Minute)); o != Duplicate {
		t.Errorf("retried fix after restore: %v", o)
	}
	for s := 30; s <= 40; s += 10 {
		f := fixAt("car", s, c)
		f.Speed = 0
		rec.processAt(&f, restart.Add(time.Minute))
	}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 200)
	for s := 50; s <= 70; s += 10 {
		f := fixAt("car", s, far)
		rec.processAt(&f, restart.Add(time.Minute))
	}
	// The other device never reports again: closed at its last fix, MaxGap
	// after the restart.
	rec.tick(restart.Add(30 * time.Minute))
	if n := len(rec.events); n != 4 {
		t.Fatalf("closed before MaxGap from the restart: %s", rec.kinds())
	}
	rec.tick(restart.Add(31 * time.Minute))
	if rec.kinds() != "enter:frontage enter:frontage dwell:frontage exit:frontage signal_lost:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	dwell, exit, lost := rec.events[2], rec.events[3], rec.events[4]
	if dwell.Visit != rec.events[0].Visit || !dwell.T.Equal(t0.Add(35*time.Second)) || dwell.StationaryS != 35 {
		t.Errorf("dwell after restore: %+v (stationary time lost?)", dwell)
	}
	if exit.ID != rec.events[0].Visit+"-3" || exit.DurationS != 50 || exit.StationaryS != 40 {
		t.Errorf("exit after restore: %+v", exit)
	}
	if lost.Visit != rec.events[1].Visit || !lost.T.Equal(t0.Add(20*time.Second)) {
		t.Errorf("restored silent device: %+v", lost)
	}
	var out2 Out
	m2.Flush(&out2)
	// The car keeps only its entry (for repeat_pass) and no position
	// outside the zone; the silent one keeps its visit, resumable.
	phases := map[int]string{}
	for _, st := range out2.Save {
		if len(st.Visits) == 0 {
			if len(st.Passes) != 1 || st.Ref != nil {
				t.Errorf("car after its exit: %+v", st)
			}
			continue
		}
		phases[len(st.Visits)] = st.Visits[0].Phase
	}
	if len(out2.Save) != 2 || len(out2.Drop) != 0 || phases[1] != "lost" {
		t.Errorf("after the exit: save %+v drop %v", out2.Save, out2.Drop)
	}
}

// No position outside every zone is ever written: a pending exit is saved
// without the far fix, and the device's last fix only when inside a zone.
func TestSavedStateHoldsNoPositionOutside(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{m: m}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 300)
	for i, p := range []orb.Point{c, c, far} {
		f := fixAt("car", i*5, p)
		rec.process(&f)
	}
	var out Out
	m.Flush(&out)
	if len(out.Save) != 1 || out.Save[0].Visits[0].Phase != "exit_pending" {
		t.Fatalf("%+v", out.Save)
	}
	b, _ := json.Marshal(out.Save)
	for _, v := range []float64{far[1], far[0]} {
		if strings.Contains(string(b), strconv.FormatFloat(v, 'f', 4, 64)) {
			t.Errorf("the far fix is in the saved state: %s", b)
		}
	}
}

func TestAggregates(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m, _ := New(Config{Secret: []byte("x"), Aggregate: true}, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	for s := 0; s < 60; s += 10 {
		f := fixAt("car", s, c)
		f.Speed = 0
		m.Process(&f, f.T, nil)
	}
	var out Out
	m.Flush(&out)
	cells := out.Cells
	if len(cells) != 1 {
		t.Fatalf("cells: %v", cells)
	}
	for k, v := range cells {
		// t0 is Monday 12:00 UTC; the site's zone is UTC.
		if k.Week != "2026-W47" || k.HourOfWeek != 12 || v.Fixes != 6 || v.StationaryS != 50 {
			t.Errorf("%+v %+v", k, v)
		}
		lat, lon := k.CellLatLon()
		if math.Abs(lat-49.28) > 1e-4 || math.Abs(lon+123.1) > 1e-4 {
			t.Errorf("cell centre %v %v", lat, lon)
		}
	}
	var again Out
	if m.Flush(&again); again.Cells != nil {
		t.Error("cells not reset")
	}
}

// A van known only by its stored key still moves its site.
func TestVanRecognisedByStoredKey(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	raw := fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%v,%v]},"properties":{"id":"van","name":"Van","kind":"mobile","opening_hours":"24/7","timezone":"UTC","device_key":%q,"agency":"outreach","zones":[{"name":"f","radius_m":30}]}}`,
		c[0], c[1], site.VanKey("outreach", "van-1"))
	s, err := site.ParseFeature([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	m := newMonitor(t, []*site.Site{s})
	dest := orbgeo.PointAtBearingAndDistance(c, 90, 500)
	f := fixAt("van-1", 0, dest)
	f.Agency = "outreach"
	for i, p := range []orb.Point{dest, orbgeo.PointAtBearingAndDistance(dest, 90, 3)} {
		f = fixAt("van-1", i, p)
		f.Agency = "outreach"
		if o := m.Process(&f, f.T, nil); o != VanMoved {
			t.Fatalf("van fix: %v", o)
		}
	}
	rec := &recorder{m: m}
	f = fixAt("car", 10, dest)
	rec.process(&f)
	if rec.kinds() != "enter:f" {
		t.Errorf("the zone did not move with the van: %s", rec.kinds())
	}
	// The van's position is saved, and a restarted monitor puts the zone back.
	var out Out
	m.Flush(&out)
	save := out.Save
	m2 := newMonitor(t, []*site.Site{s})
	m2.Restore(save, t0)
	rec2 := &recorder{m: m2}
	f = fixAt("car2", 10, dest)
	rec2.process(&f)
	vanSaved := false
	for _, st := range save {
		vanSaved = vanSaved || st.Pseudonym == "van:van"
	}
	if !vanSaved || rec2.kinds() != "enter:f" {
		t.Errorf("van position not restored: %+v, %s", save, rec2.kinds())
	}
	f = fixAt("van-2", 20, c) // another device of the van's agency is an ordinary vehicle
	f.Agency = "outreach"
	if o := m.Process(&f, f.T, nil); o != Accepted {
		t.Errorf("other device of the van's agency: %v", o)
	}
}
