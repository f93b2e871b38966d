package replay

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// benchWorld is DESIGN.md's workload: 1,000 sites, each with a 30 m and a
// 150 m zone, in a 10 km disc; vehicles driving at 10 m/s with a fix a second.
func benchWorld(tb testing.TB, sites, vehicles, fixes int) ([]*site.Site, []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	c := orb.Point{-79.3832, 43.6532}
	disc := func() orb.Point {
		return orbgeo.PointAtBearingAndDistance(c, r.Float64()*360, 10000*math.Sqrt(r.Float64()))
	}
	var fs []string
	for i := 0; i < sites; i++ {
		p := disc()
		fs = append(fs, fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%v,%v]},"properties":{"id":"s%d","name":"Site %d","kind":"sis","opening_hours":"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00","timezone":"America/Toronto","zones":[{"name":"frontage","radius_m":30,"max_dwell_s":0},{"name":"vicinity","radius_m":150,"max_dwell_s":300}]}}`, p[0], p[1], i, i))
	}
	ss, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`))
	if err != nil {
		tb.Fatal(err)
	}
	pos := make([]orb.Point, vehicles)
	for i := range pos {
		pos[i] = disc()
	}
	var buf bytes.Buffer
	t0 := time.Date(2026, 11, 16, 15, 0, 0, 0, time.UTC)
	for i := 0; i < fixes; i++ {
		v := i % vehicles
		tick := i / vehicles
		pos[v] = orbgeo.PointAtBearingAndDistance(pos[v], r.Float64()*360, 10)
		t := t0.Add(time.Duration(tick)*time.Second + time.Duration(v)*time.Microsecond*50)
		fmt.Fprintf(&buf, `{"device":"car-%d","agency":"tps","t":"%s","lat":%.6f,"lon":%.6f,"acc":8}`+"\n",
			v, t.Format(time.RFC3339Nano), pos[v][1], pos[v][0])
	}
	return ss, buf.Bytes()
}

func bytesInput(b []byte) Input {
	return Input{Name: "bench", Format: "ndjson", Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

func TestRunCountsAndSummary(t *testing.T) {
	sites, feed := benchWorld(t, 300, 100, 5000)
	m, _ := monitor.New(monitor.Config{Secret: []byte("s")}, sites)
	var out, log bytes.Buffer
	sum, err := Run(m, []Input{bytesInput(append(feed, []byte("garbage\n")...))}, Options{}, &out, &log)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != 5001 || sum.Rejected["record"] != 1 || sum.Stats.ByOutcome[monitor.Accepted] != 5000 {
		t.Errorf("records %d rejected %v accepted %d", sum.Records, sum.Rejected, sum.Stats.ByOutcome[monitor.Accepted])
	}
	var events int64
	for _, n := range sum.Stats.Events {
		events += n
	}
	if lines := int64(bytes.Count(out.Bytes(), []byte("\n"))); lines != events || events == 0 {
		t.Errorf("%d event lines, stats say %d", lines, events)
	}
	sum.Print(&log)
	if !strings.Contains(log.String(), "bench:5001: malformed JSON") || !strings.Contains(log.String(), "accepted           5000") {
		t.Errorf("log:\n%s", log.String())
	}
}

// BenchmarkEngine is the whole engine on one core: NDJSON bytes → parse →
// validate → zone index → visit state → events encoded as NDJSON.
func BenchmarkEngine(b *testing.B) {
	const fixes = 500_000
	sites, feed := benchWorld(b, 1000, 10_000, fixes)
	b.SetBytes(int64(len(feed)))
	b.ResetTimer()
	var events int64
	for i := 0; i < b.N; i++ {
		m, _ := monitor.New(monitor.Config{Secret: []byte("s")}, sites)
		sum, err := Run(m, []Input{bytesInput(feed)}, Options{}, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range sum.Stats.Events {
			events += n
		}
	}
	b.ReportMetric(float64(b.N*fixes)/b.Elapsed().Seconds(), "fixes/s")
	b.ReportMetric(float64(events)/float64(b.N), "events/run")
}

// The input clock is the lower median of recent records: one record dated
// in the future, or one straggler from the past, cannot move it; a feed
// that moves as a whole moves it.
func TestInputClockOneRecordCannotMoveIt(t *testing.T) {
	var c inputClock
	base := int64(1_700_000_000_000)
	for i := 0; i < 40; i++ {
		c.add(base + int64(i)*1000)
	}
	before := c.now
	if got := c.add(base + 3*24*3600*1000); got > before+1000 {
		t.Errorf("a record 3 days ahead moved the clock from %d to %d", before, got)
	}
	if got := c.add(base - 3600*1000); got < before-1000 {
		t.Errorf("a straggler moved the clock back from %d to %d", before, got)
	}
	for i := 40; i < 80; i++ {
		c.add(base + int64(i)*1000)
	}
	if c.now < base+60*1000 {
		t.Errorf("the feed moved on but the clock stayed at %d", c.now-base)
	}
}

// Several inputs are merged by time (each in its own order): a van's own
// file and the cars' file give the events of the two merged by hand.
func TestInputsMergedByTime(t *testing.T) {
	ss, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"a","name":"A","kind":"sis","opening_hours":"24/7","timezone":"UTC","zones":[{"name":"f","radius_m":30}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var one, two, both bytes.Buffer
	t0 := time.Date(2026, 11, 16, 15, 0, 0, 0, time.UTC)
	for i := 0; i < 600; i++ {
		line := func(dev string, lat float64) string {
			return fmt.Sprintf(`{"device":%q,"agency":"x","t":"%s","lat":%v,"lon":-123.1,"acc":5}`+"\n", dev, t0.Add(time.Duration(i)*5*time.Second).Format(time.RFC3339), lat)
		}
		// car-a sits in the zone for 25 min, silent from minute 5 to 45 in
		// its own file; car-b keeps reporting in the other file.
		if i < 60 || i > 540 {
			one.WriteString(line("car-a", 49.28))
			both.WriteString(line("car-a", 49.28))
		}
		two.WriteString(line("car-b", 49.29))
		both.WriteString(line("car-b", 49.29))
	}
	runOn := func(ins ...Input) string {
		m, _ := monitor.New(monitor.Config{Secret: []byte("s")}, ss)
		var out bytes.Buffer
		if _, err := Run(m, ins, Options{}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	merged := runOn(bytesInput(both.Bytes()))
	split := runOn(bytesInput(one.Bytes()), bytesInput(two.Bytes()))
	if merged != split {
		t.Errorf("two files:\n%s\none merged file:\n%s", split, merged)
	}
	if !strings.Contains(merged, `"kind":"signal_lost"`) {
		t.Errorf("car-a's 40-minute silence (other devices heard) did not close its visit:\n%s", merged)
	}
}
