package geo_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/keepclear/keepclear/geo"
	"github.com/paulmach/orb"
	"github.com/tidwall/geodesic"
)

// karney is the reference: Karney's geodesic inverse on WGS84.
func karney(a, b orb.Point) float64 {
	var s float64
	geodesic.WGS84.Inverse(a[1], a[0], b[1], b[0], &s, nil, nil)
	return s
}

// direct is Karney's direct problem: the point s metres from p at azimuth az.
func direct(p orb.Point, az, s float64) orb.Point {
	var lat, lon float64
	geodesic.WGS84.Direct(p[1], p[0], az, s, &lat, &lon, nil)
	return orb.Point{geo.WrapLon(lon), lat}
}

// lerp is the point t of the way along the lon/lat-straight edge a→b, its
// longitude unwrapped the short way round.
func lerp(a, b orb.Point, t float64) orb.Point {
	return orb.Point{geo.WrapLon(a[0] + t*geo.WrapLon(b[0]-a[0])), a[1] + t*(b[1]-a[1])}
}

// refEdge is the Karney distance from p to the lon/lat-straight edge a→b:
// sampled, then refined by golden section around the best sample.
func refEdge(p, a, b orb.Point) float64 {
	const n = 200
	bi, best := 0, math.Inf(1)
	for i := 0; i <= n; i++ {
		if d := karney(p, lerp(a, b, float64(i)/n)); d < best {
			bi, best = i, d
		}
	}
	lo, hi := math.Max(float64(bi-1)/n, 0), math.Min(float64(bi+1)/n, 1)
	g := (math.Sqrt(5) - 1) / 2
	for k := 0; k < 60; k++ {
		m1, m2 := hi-g*(hi-lo), lo+g*(hi-lo)
		if karney(p, lerp(a, b, m1)) < karney(p, lerp(a, b, m2)) {
			hi = m2
		} else {
			lo = m1
		}
	}
	return math.Min(best, karney(p, lerp(a, b, (lo+hi)/2)))
}

// refPolygon is the Karney distance from an outside point p to the outline.
func refPolygon(poly orb.Polygon, p orb.Point) float64 {
	best := math.Inf(1)
	for _, r := range poly {
		for i := 1; i < len(r); i++ {
			best = math.Min(best, refEdge(p, r[i-1], r[i]))
		}
	}
	return best
}

var places = []struct {
	name   string
	center orb.Point
}{
	{"equator", orb.Point{0, 0}},
	{"60N", orb.Point{24.94, 60.17}},
	{"80N", orb.Point{15.6, 80}},
	{"89.9N", orb.Point{-40, 89.9}},
	{"north pole", orb.Point{0, 90}},
	{"south pole", orb.Point{0, -90}},
	{"89.9S", orb.Point{135, -89.9}},
	{"antimeridian", orb.Point{179.9999, -16.5}},
	{"antimeridian 65N", orb.Point{-180, 65.5}},
}

var radii = []float64{10, 150, 5000, 10000}

// Point footprints: every fix at 0.1 % inside the radius is in, every fix at
// 0.1 % outside is out, and the distance agrees with Karney's.
func TestPointZoneMatchesKarney(t *testing.T) {
	for _, pl := range places {
		for _, r := range radii {
			t.Run(fmt.Sprintf("%s/%gm", pl.name, r), func(t *testing.T) {
				f := mustPoint(t, pl.center)
				worst := 0.0
				for az := 0.0; az < 360; az += 7.5 {
					for _, k := range []float64{0.1, 0.5, 0.999, 1, 1.001, 1.5} {
						p := direct(pl.center, az, r*k)
						want := karney(pl.center, p)
						got := f.Distance(p)
						worst = math.Max(worst, math.Abs(got-want))
						if math.Abs(got-want) > 0.001*r {
							t.Errorf("az %v, %g m: distance %.6f, Karney %.6f", az, r*k, got, want)
						}
						d, in := f.Within(p, r)
						switch {
						case k < 1 && !in:
							t.Errorf("az %v: %.4f m (Karney) counted outside %g m (d=%.4f)", az, want, r, d)
						case k > 1 && in:
							t.Errorf("az %v: %.4f m (Karney) counted inside %g m", az, want, r)
						}
					}
				}
				t.Logf("max error %.2g m = %.2g %% of radius", worst, 100*worst/r)
			})
		}
	}
}

func squareAround(c orb.Point, side float64) orb.Polygon {
	// Corners by Karney from the centre, as lon/lat-straight edges.
	h := side / math.Sqrt2
	ring := orb.Ring{direct(c, 225, h), direct(c, 135, h), direct(c, 45, h), direct(c, 315, h)}
	if c[1] > 89.5 || c[1] < -89.5 {
		// Near a pole, a lon/lat box: 0.005° of latitude by 5° of longitude.
		lat0 := c[1] - 0.0025
		if lat0+0.005 > 90 {
			lat0 = 89.99
		}
		ring = orb.Ring{{c[0], lat0}, {c[0] + 5, lat0}, {c[0] + 5, lat0 + 0.005}, {c[0], lat0 + 0.005}}
	}
	return orb.Polygon{append(ring, ring[0])}
}

// Polygon footprints: the distance to the outline agrees with Karney's
// geodesic distance to the lon/lat-straight edges.
func TestPolygonZoneMatchesKarney(t *testing.T) {
	polys := []struct {
		name string
		poly orb.Polygon
	}{
		{"equator", squareAround(orb.Point{0, 0}, 200)},
		{"60N", squareAround(orb.Point{24.94, 60.17}, 200)},
		{"80N", squareAround(orb.Point{15.6, 80}, 400)},
		{"near north pole", squareAround(orb.Point{-40, 89.9}, 0)},
		{"near south pole", squareAround(orb.Point{135, -89.9}, 0)},
		{"antimeridian", orb.Polygon{{{179.9995, 10}, {-179.9995, 10}, {-179.9995, 10.001}, {179.9995, 10.001}, {179.9995, 10}}}},
		{"antimeridian 65N L", orb.Polygon{{{179.99, 65.5}, {-179.99, 65.5}, {-179.99, 65.503}, {-179.995, 65.503}, {-179.995, 65.501}, {179.99, 65.501}, {179.99, 65.5}}}},
	}
	for _, pc := range polys {
		f, err := geo.NewPolygonFootprint(pc.poly)
		if err != nil {
			t.Fatalf("%s: %v", pc.name, err)
		}
		for _, r := range radii {
			t.Run(fmt.Sprintf("%s/%gm", pc.name, r), func(t *testing.T) {
				worst := 0.0
				ring := pc.poly[0]
				for i := 1; i < len(ring); i++ {
					for _, tt := range []float64{0, 0.3, 0.5} {
						q := lerp(ring[i-1], ring[i], tt)
						for az := 0.0; az < 360; az += 30 {
							p := direct(q, az, r)
							if planarInside(f, p) {
								continue
							}
							want := refPolygon(pc.poly, p)
							got := f.Distance(p)
							worst = math.Max(worst, math.Abs(got-want))
							if math.Abs(got-want) > 0.001*r {
								t.Errorf("edge %d t %v az %v: distance %.4f, Karney %.4f", i, tt, az, got, want)
							}
						}
					}
				}
				t.Logf("max error %.2g m = %.2g %% of radius", worst, 100*worst/r)
			})
		}
	}
}

func planarInside(f geo.Footprint, p orb.Point) bool { return f.Distance(p) == 0 }

// Bounds hold every point within the radius: points at 0.99999 of the radius
// in every direction from the footprint (from each vertex and edge point of a
// polygon) lie in one of the boxes.
func TestBoundsHoldTheZone(t *testing.T) {
	check := func(t *testing.T, f geo.Footprint, from []orb.Point, r float64) {
		t.Helper()
		bs := f.Bounds(r)
		for _, q := range from {
			for az := 0.0; az < 360; az += 2.5 {
				p := direct(q, az, r*0.99999)
				in := false
				for _, b := range bs {
					in = in || b.Contains(p) || b.Contains(orb.Point{p[0] + 360, p[1]}) || b.Contains(orb.Point{p[0] - 360, p[1]})
				}
				if !in {
					t.Fatalf("%v (%g m from %v at %v°) outside bounds %v", p, r, q, az, bs)
				}
			}
		}
	}
	for _, pl := range places {
		for _, r := range append(radii, 50_000) {
			t.Run(fmt.Sprintf("point/%s/%gm", pl.name, r), func(t *testing.T) {
				check(t, mustPoint(t, pl.center), []orb.Point{pl.center}, r)
			})
		}
	}
	for _, c := range []orb.Point{{0, 0}, {24.94, 60.17}, {-40, 89.9}, {135, -89.9}, {179.9999, -16.5}} {
		poly := squareAround(c, 300)
		f, err := geo.NewPolygonFootprint(poly)
		if err != nil {
			t.Fatal(err)
		}
		var from []orb.Point
		ring := poly[0]
		for i := 1; i < len(ring); i++ {
			for _, tt := range []float64{0, 0.5} {
				from = append(from, lerp(ring[i-1], ring[i], tt))
			}
		}
		for _, r := range radii {
			t.Run(fmt.Sprintf("polygon/%v/%gm", c, r), func(t *testing.T) { check(t, f, from, r) })
		}
	}
}

// Distance for any pair, long ones included, agrees with Karney's.
func TestDistanceAnyPair(t *testing.T) {
	for _, c := range []struct{ a, b orb.Point }{
		{orb.Point{0, 0}, orb.Point{0.5, 0.5}},
		{orb.Point{-123.1, 49.28}, orb.Point{-122.3, 47.6}},
		{orb.Point{179.5, 0}, orb.Point{-179.5, 0.2}},
		{orb.Point{0, 89.5}, orb.Point{180, 89.5}},
		{orb.Point{0, 0}, orb.Point{179.5, 0.5}},
		{orb.Point{10, -90}, orb.Point{-170, 90}},
	} {
		want, got := karney(c.a, c.b), geo.Distance(c.a, c.b)
		if math.Abs(got-want) > 1e-7*want+1e-6 {
			t.Errorf("%v–%v: %.6f, Karney %.6f", c.a, c.b, got, want)
		}
	}
}
