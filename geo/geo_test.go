package geo_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/keepclear/keepclear/geo"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

func mustPoint(t testing.TB, p orb.Point) geo.Footprint {
	t.Helper()
	f, err := geo.NewPointFootprint(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPointZoneIsMetresInEveryDirection(t *testing.T) {
	for _, c := range []struct {
		name   string
		center orb.Point
	}{
		{"vancouver", orb.Point{-123.10111, 49.28111}},
		{"tromso 69.6N", orb.Point{18.9553, 69.6492}},
		{"equator", orb.Point{0, 0}},
		{"near south pole", orb.Point{10, -89.9}},
		{"antimeridian", orb.Point{179.9995, -16.5}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := mustPoint(t, c.center)
			for bearing := 0.0; bearing < 360; bearing += 15 {
				in := direct(c.center, bearing, 149)
				out := direct(c.center, bearing, 151)
				if d, ok := f.Within(in, 150); !ok || math.Abs(d-149) > 0.01 {
					t.Errorf("bearing %v: 149 m point: within=%v d=%.3f", bearing, ok, d)
				}
				if d, ok := f.Within(out, 150); ok {
					t.Errorf("bearing %v: 151 m point counted inside (d=%.3f)", bearing, d)
				}
			}
		})
	}
}

func TestAntimeridianSiteCatchesFixAcrossIt(t *testing.T) {
	ix := geo.NewIndex([]geo.Entry{{ID: 7, Footprint: mustPoint(t, orb.Point{179.999, 0}), Reach: 300}})
	var got []int
	var dist float64
	ix.Search(orb.Point{-179.999, 0}, func(e *geo.Entry, d float64) bool {
		got = append(got, e.ID)
		dist = d
		return true
	})
	if len(got) != 1 || got[0] != 7 {
		t.Fatalf("got %v, want [7]", got)
	}
	if math.Abs(dist-222.6) > 0.5 {
		t.Errorf("distance across the antimeridian = %.2f m, want ~222.6", dist)
	}
}

func TestBoundingBoxCornerIsNotInside(t *testing.T) {
	c := orb.Point{-123.10111, 49.28111}
	f := mustPoint(t, c)
	ix := geo.NewIndex([]geo.Entry{{ID: 1, Footprint: f, Reach: 150}})
	b := f.Bounds(150)[0]
	corner := orb.Point{b.Max[0] - 1e-7, b.Max[1] - 1e-7} // in the box, ~212 m away
	n := 0
	ix.Search(corner, func(*geo.Entry, float64) bool { n++; return true })
	if n != 0 {
		t.Fatalf("corner of the bounding box (%.0f m away) matched the 150 m zone", geo.Distance(c, corner))
	}
}

func TestPoleCapSpansAllLongitudes(t *testing.T) {
	f := mustPoint(t, orb.Point{0, 89.9999})
	bs := f.Bounds(100)
	if len(bs) != 1 || bs[0].Min[0] != -180 || bs[0].Max[0] != 180 {
		t.Fatalf("bounds = %v, want every longitude", bs)
	}
	ix := geo.NewIndex([]geo.Entry{{ID: 1, Footprint: f, Reach: 100}})
	n := 0
	ix.Search(orb.Point{180, 89.99995}, func(*geo.Entry, float64) bool { n++; return true })
	if n != 1 {
		t.Fatal("point across the pole not found")
	}
}

func TestPolygonFootprint(t *testing.T) {
	// A 100 m × 100 m block in Vancouver.
	sq := orb.Polygon{{{-123.1010, 49.2810}, {-123.0996, 49.2810}, {-123.0996, 49.2819}, {-123.1010, 49.2819}, {-123.1010, 49.2810}}}
	f, err := geo.NewPolygonFootprint(sq)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Distance(orb.Point{-123.1003, 49.2815}); d != 0 {
		t.Errorf("inside distance = %v, want 0", d)
	}
	east := orbgeo.PointAtBearingAndDistance(orb.Point{-123.0996, 49.28145}, 90, 25)
	if d := f.Distance(east); math.Abs(d-25) > 0.3 {
		t.Errorf("25 m east of the east edge: %v", d)
	}
	if _, ok := f.Within(east, 20); ok {
		t.Error("25 m away counted within 20 m")
	}
	if _, ok := f.Within(east, 30); !ok {
		t.Error("25 m away not within 30 m")
	}
}

func TestPolygonAcrossAntimeridian(t *testing.T) {
	sq := orb.Polygon{{{179.9995, 10}, {-179.9995, 10}, {-179.9995, 10.001}, {179.9995, 10.001}, {179.9995, 10}}}
	f, err := geo.NewPolygonFootprint(sq)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Distance(orb.Point{-179.9999, 10.0005}); d != 0 {
		t.Errorf("inside across the antimeridian: %v", d)
	}
	if d := f.Distance(orb.Point{179.99, 10.0005}); d < 900 || d > 1100 {
		t.Errorf("~1 km west: %v", d)
	}
}

func TestPolygonValidation(t *testing.T) {
	bowtie := orb.Polygon{{{0, 0}, {1, 1}, {1, 0}, {0, 1}, {0, 0}}}
	if _, err := geo.NewPolygonFootprint(bowtie); !errors.Is(err, geo.ErrSelfIntersect) {
		t.Errorf("bowtie: %v, want ErrSelfIntersect", err)
	}
	open := orb.Polygon{{{0, 0}, {1, 1}, {1, 0}, {0, 1}}}
	if _, err := geo.NewPolygonFootprint(open); !errors.Is(err, geo.ErrInvalidPolygon) {
		t.Errorf("open ring: %v", err)
	}
	if _, err := geo.NewPointFootprint(orb.Point{math.NaN(), 0}); !errors.Is(err, geo.ErrInvalidPoint) {
		t.Errorf("NaN: %v", err)
	}
	if _, err := geo.NewPointFootprint(orb.Point{0, 91}); !errors.Is(err, geo.ErrInvalidPoint) {
		t.Errorf("lat 91: %v", err)
	}
}

func TestRoamingEntryMovesWithoutTouchingOthers(t *testing.T) {
	van := mustPoint(t, orb.Point{-123.0998, 49.2828})
	fixed := mustPoint(t, orb.Point{-123.10111, 49.28111})
	live := geo.NewLive(geo.NewIndex([]geo.Entry{
		{ID: 1, Footprint: fixed, Reach: 30},
		{ID: 2, Footprint: van, Reach: 30, Roaming: true},
	}))
	before := live.Load()
	dest := orb.Point{-123.1100, 49.2800}
	live.Move(2, dest)
	after := live.Load()
	ids := func(ix *geo.Index, p orb.Point) (out []int) {
		ix.Search(p, func(e *geo.Entry, _ float64) bool { out = append(out, e.ID); return true })
		return
	}
	if got := ids(after, dest); len(got) != 1 || got[0] != 2 {
		t.Errorf("after move, at destination: %v", got)
	}
	if got := ids(before, dest); len(got) != 0 {
		t.Errorf("old snapshot changed: %v", got)
	}
	if got := ids(after, orb.Point{-123.10111, 49.28111}); len(got) != 1 || got[0] != 1 {
		t.Errorf("fixed site lost: %v", got)
	}
}

// The index must agree with a brute-force exact test on random points.
func TestIndexAgreesWithBruteForce(t *testing.T) {
	entries, pts := benchWorld(200, 20000, 3)
	ix := geo.NewIndex(entries)
	for _, p := range pts {
		want := map[int]bool{}
		for _, e := range entries {
			if e.Footprint.Distance(p) <= e.Reach {
				want[e.ID] = true
			}
		}
		got := map[int]bool{}
		ix.Search(p, func(e *geo.Entry, _ float64) bool { got[e.ID] = true; return true })
		if len(got) != len(want) {
			t.Fatalf("at %v: index %v, brute force %v", p, got, want)
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("at %v: index missed %d", p, id)
			}
		}
	}
}

// benchWorld is DESIGN.md's workload: sites uniformly in a 10 km disc, each
// with a 150 m outer zone, and fixes uniformly in the same disc.
func benchWorld(sites, fixes int, seed uint64) ([]geo.Entry, []orb.Point) {
	r := rand.New(rand.NewPCG(seed, seed))
	c := orb.Point{-79.3832, 43.6532}
	disc := func() orb.Point {
		return orbgeo.PointAtBearingAndDistance(c, r.Float64()*360, 10000*math.Sqrt(r.Float64()))
	}
	entries := make([]geo.Entry, sites)
	for i := range entries {
		f, _ := geo.NewPointFootprint(disc())
		entries[i] = geo.Entry{ID: i, Footprint: f, Reach: 150}
	}
	pts := make([]orb.Point, fixes)
	for i := range pts {
		pts[i] = disc()
	}
	return entries, pts
}

// BenchmarkZoneCheck is the zone check of DESIGN.md's targets: 1,000 sites,
// each with a 30 m and a 150 m zone (the 150 m ring is the indexed reach; the
// inner ring is a comparison on the returned distance), random fixes.
func BenchmarkZoneCheck(b *testing.B) {
	entries, pts := benchWorld(1000, 1<<16, 1)
	ix := geo.NewIndex(entries)
	hits, frontage := 0, 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix.Search(pts[i&(len(pts)-1)], func(e *geo.Entry, d float64) bool {
			hits++
			if d <= 30 {
				frontage++
			}
			return true
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fixes/s")
	_ = frontage
}

func TestLocalDistanceAgreesWithKarney(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 10000; i++ {
		a := orb.Point{r.Float64()*360 - 180, r.Float64()*180 - 90}
		b := direct(a, r.Float64()*360, r.Float64()*8000)
		want := karney(a, b)
		// Within 1e-5 of the geodesic (1 cm in a kilometre): far better
		// than GPS, and 100 times inside the zone rule's 0.1 %.
		if got := geo.LocalDistance(a, b); math.Abs(got-want) > 1e-5*want+0.001 {
			t.Fatalf("%v-%v: local %v, exact %v", a, b, got, want)
		}
	}
}
