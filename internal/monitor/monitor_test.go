package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
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

type recorder struct{ events []event.Event }

func (r *recorder) emit(e *event.Event) { r.events = append(r.events, *e) }

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

func replayFile(t *testing.T, m *Monitor, path string, rec *recorder) {
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
		m.Process(&fx, rec.emit)
	}
}

var t0 = time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)

func fixAt(dev string, sec int, p orb.Point) feed.Fix {
	f := feed.NewFix()
	f.Device, f.Agency, f.T, f.Lon, f.Lat = dev, "vpd", t0.Add(time.Duration(sec)*time.Second), p[0], p[1]
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
	rec := &recorder{}
	replayFile(t, m, filepath.Join("..", "..", "fixtures", "traces", "munich-drive.ndjson"), rec)
	st := m.Stats()
	if st.ByOutcome[Jump] != 1 || st.ByOutcome[Accepted] != 1193 {
		t.Errorf("jumps %d accepted %d, want 1 and 1193", st.ByOutcome[Jump], st.ByOutcome[Accepted])
	}
	if got := rec.kinds(); got != "enter:frontage dwell:frontage exit:frontage" {
		t.Fatalf("events: %s", got)
	}
	dwell, exit := rec.events[1], rec.events[2]
	if dwell.StationaryS <= 30 || !dwell.Breach {
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
	rec := &recorder{}
	replayFile(t, m, filepath.Join("..", "..", "fixtures", "traces", "still-phone.ndjson"), rec)
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
	rec := &recorder{}
	f := fixAt("car", 0, c)
	f.Acc = 80
	m.Process(&f, rec.emit)
	if len(rec.events) != 0 || m.Stats().LowAccuracy != 1 {
		t.Fatalf("an 80 m fix entered: %v", rec.kinds())
	}
	f = fixAt("car", 5, c)
	f.Acc = 8
	m.Process(&f, rec.emit)
	if rec.kinds() != "enter:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	// A poor fix while inside widens the exit band rather than exiting.
	out := orbgeo.PointAtBearingAndDistance(c, 0, 60)
	for i := 1; i <= 5; i++ {
		f = fixAt("car", 5+5*i, out)
		f.Acc = 45
		m.Process(&f, rec.emit)
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
		if got := m.Process(&f, nil); got != s.want {
			t.Errorf("step %d: %v, want %v", i, got, s.want)
		}
	}
}

func TestPseudonymsRotateAndHideDevice(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 500)
	// In on Sunday 2026-11-22 (ISO week 47), out, in again on Monday (week 48).
	day := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i, st := range []struct {
		at time.Duration
		p  orb.Point
	}{{0, c}, {30 * time.Second, far}, {60 * time.Second, far}, {24 * time.Hour, c}} {
		f := feed.NewFix()
		f.Device, f.Agency, f.T, f.Lon, f.Lat = "car-17-RAW", "vpd", day.Add(st.at), st.p[0], st.p[1]
		if o := m.Process(&f, rec.emit); o != Accepted {
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
	rec := &recorder{}
	f := fixAt("car", 0, c)
	m.Process(&f, rec.emit)
	if len(rec.events) != 2 || rec.events[0].Breach || !rec.events[1].Breach || rec.events[0].InHours {
		t.Fatalf("%+v", rec.events)
	}
	// Still inside when hours begin: the door visit becomes a breach.
	for s := 60; s <= 3660; s += 60 {
		f = fixAt("car", s, c)
		m.Process(&f, rec.emit)
	}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 100)
	for s := 3700; s <= 3730; s += 10 {
		f = fixAt("car", s, far)
		m.Process(&f, rec.emit)
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

func TestSignalLostBySweep(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{}
	for s := 0; s <= 30; s += 10 {
		f := fixAt("car", s, c)
		m.Process(&f, rec.emit)
	}
	// Another car of the same agency keeps reporting: the agency's feed is
	// live, so car's silence counts from its last fix.
	other := orbgeo.PointAtBearingAndDistance(c, 0, 5000)
	f := fixAt("other", 629, other)
	m.Process(&f, rec.emit)
	m.Advance(t0.Add(11*time.Minute), rec.emit)
	if len(rec.events) != 1 {
		t.Fatalf("lost too early: %s", rec.kinds())
	}
	f = fixAt("other", 631, other)
	m.Process(&f, rec.emit)
	m.Advance(t0.Add(11*time.Minute), rec.emit)
	if rec.kinds() != "enter:frontage signal_lost:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	lost := rec.events[1]
	if !lost.T.Equal(t0.Add(30*time.Second)) || lost.DurationS != 30 {
		t.Errorf("signal_lost dated %v duration %v, want the last fix (30 s)", lost.T, lost.DurationS)
	}
	if len(m.OpenVisits()) != 0 {
		t.Error("visit still open")
	}
}

// A feed that arrives late as a whole keeps its visits; one that stops
// altogether loses them by the clock after twice the timeout.
func TestSignalLostLateFeed(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	rec := &recorder{}
	f := fixAt("car", 0, c)
	m.Process(&f, rec.emit)
	m.Advance(t0.Add(15*time.Minute), rec.emit) // the agency's feed is 15 min late
	if len(rec.events) != 1 {
		t.Fatalf("a late feed lost its visit: %s", rec.kinds())
	}
	m.Advance(t0.Add(20*time.Minute+time.Second), rec.emit)
	if rec.kinds() != "enter:frontage signal_lost:frontage" {
		t.Fatalf("a stopped feed kept its visit: %s", rec.kinds())
	}
}

func TestSetSitesKeepsVisitsAndClosesRemovedZones(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	zones := `[{"name":"frontage","radius_m":30},{"name":"vicinity","radius_m":150}]`
	m := newMonitor(t, sitesJSON(t, pointSite("a", c, "24/7", zones)))
	rec := &recorder{}
	f := fixAt("car", 0, c)
	m.Process(&f, rec.emit)
	// The site loses its vicinity zone and a new site appears elsewhere.
	m.SetSites(sitesJSON(t, pointSite("b", orb.Point{-123.2, 49.3}, "24/7", zones),
		pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)), rec.emit)
	if rec.kinds() != "enter:frontage enter:vicinity exit:vicinity" {
		t.Fatalf("events: %s", rec.kinds())
	}
	f = fixAt("car", 10, c)
	m.Process(&f, rec.emit)
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
		m.Process(&f, nil)
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
			m.Process(&f, nil)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/device")
		runtime.KeepAlive(m)
		runtime.KeepAlive(devs)
	}
}

func TestRestoreResumesOpenVisits(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	sites := sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30,"max_dwell_s":0}]`))
	m1 := newMonitor(t, sites)
	rec := &recorder{}
	for s := 0; s <= 20; s += 10 {
		f := fixAt("car", s, c)
		f.Speed = 0
		m1.Process(&f, rec.emit)
	}
	save, drop := m1.TakeChanged()
	if len(save) != 1 || len(drop) != 0 || len(save[0].Visits) != 1 {
		t.Fatalf("save %+v drop %v", save, drop)
	}
	if s2, _ := m1.TakeChanged(); len(s2) != 0 {
		t.Error("changes reported twice")
	}
	// A new process: the state comes back with the device's next fix.
	m2 := newMonitor(t, sites)
	m2.Restore(save)
	f := fixAt("car", 20, c) // a retried fix: a duplicate, not a new entry
	if o := m2.Process(&f, rec.emit); o != Duplicate {
		t.Errorf("retried fix after restore: %v", o)
	}
	far := orbgeo.PointAtBearingAndDistance(c, 0, 200)
	for s := 30; s <= 60; s += 10 {
		f := fixAt("car", s, far)
		m2.Process(&f, rec.emit)
	}
	if rec.kinds() != "enter:frontage dwell:frontage exit:frontage" {
		t.Fatalf("events: %s", rec.kinds())
	}
	if rec.events[2].Visit != rec.events[0].Visit || rec.events[2].ID != rec.events[0].Visit+"-3" || rec.events[2].DurationS != 30 {
		t.Errorf("resumed visit: %+v", rec.events[2])
	}
	if _, drop := m2.TakeChanged(); len(drop) != 1 {
		t.Errorf("closed visit's state not dropped: %v", drop)
	}
}

func TestAggregates(t *testing.T) {
	c := orb.Point{-123.1, 49.28}
	m, _ := New(Config{Secret: []byte("x"), Aggregate: true}, sitesJSON(t, pointSite("a", c, "24/7", `[{"name":"frontage","radius_m":30}]`)))
	for s := 0; s < 60; s += 10 {
		f := fixAt("car", s, c)
		f.Speed = 0
		m.Process(&f, nil)
	}
	cells := m.TakeCells()
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
	if m.TakeCells() != nil {
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
	if o := m.Process(&f, nil); o != VanMoved {
		t.Fatalf("van fix: %v", o)
	}
	rec := &recorder{}
	f = fixAt("car", 10, dest)
	m.Process(&f, rec.emit)
	if rec.kinds() != "enter:f" {
		t.Errorf("the zone did not move with the van: %s", rec.kinds())
	}
	// The van's position is saved, and a restarted monitor puts the zone back.
	save, _ := m.TakeChanged()
	m2 := newMonitor(t, []*site.Site{s})
	m2.Restore(save)
	rec2 := &recorder{}
	f = fixAt("car2", 10, dest)
	m2.Process(&f, rec2.emit)
	if save[0].Pseudonym != "van:van" || rec2.kinds() != "enter:f" {
		t.Errorf("van position not restored: %+v, %s", save, rec2.kinds())
	}
	f = fixAt("van-2", 20, c) // another device of the van's agency is an ordinary vehicle
	f.Agency = "outreach"
	if o := m.Process(&f, nil); o != Accepted {
		t.Errorf("other device of the van's agency: %v", o)
	}
}
