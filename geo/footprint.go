package geo

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// Sentinel errors, wrapped with detail by the functions that return them.
var (
	ErrInvalidPoint   = errors.New("geo: invalid point")
	ErrInvalidPolygon = errors.New("geo: invalid polygon")
	ErrSelfIntersect  = errors.New("geo: self-intersecting polygon")
)

const (
	degToRad = math.Pi / 180
	// fastMaxLat bounds where the flat approximation at the footprint's
	// centre is used to reject far candidates before the exact test; beyond
	// it every candidate gets the exact test.
	fastMaxLat = 80.0
	// fastMaxReach bounds the reach (radius plus a polygon's span) for which
	// that rejection is used.
	fastMaxReach = 20_000.0
	// outlineTol is how far (horizontally, metres) the densified outline of
	// a polygon may stray from its lon/lat-straight edges.
	outlineTol = 0.001
	// maxSplit bounds the halvings of one polygon edge when densifying.
	maxSplit = 16
)

// ValidPoint reports whether p is a finite lon/lat pair in range.
func ValidPoint(p orb.Point) bool {
	lon, lat := p[0], p[1]
	return !math.IsNaN(lon) && !math.IsNaN(lat) && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

// WrapLon maps a longitude difference into [-180, 180).
func WrapLon(d float64) float64 {
	if d >= -180 && d < 180 {
		return d
	}
	d = math.Mod(d+180, 360)
	if d < 0 {
		d += 360
	}
	return d - 180
}

// Footprint is a site's location on the ground: a point, or a polygon
// (its outline; holes are allowed). Zones are buffers of a given radius in
// metres around it. The zero value is not usable; build one with
// NewPointFootprint or NewPolygonFootprint.
//
// A polygon's edges are straight lines in lon/lat (as in GeoJSON, RFC 7946
// section 3.1.1), with longitudes unwrapped across the antimeridian.
type Footprint struct {
	center  orb.Point   // the point, or the polygon's bound centre
	polygon orb.Polygon // nil for a point; longitudes unwrapped around center
	c       vec         // ECEF position of center
	kx, ky  float64     // metres per degree of longitude and latitude at center
	span    float64     // metres from center to the polygon's farthest point
	edges   []edge3     // the polygon's outline, densified, as ECEF chords
}

// edge3 is a straight ECEF chord a→a+d of a densified outline.
type edge3 struct {
	a, d vec
	inv  float64 // 1/|d|², 0 for a degenerate chord
}

// NewPointFootprint returns a footprint for a single point.
func NewPointFootprint(p orb.Point) (Footprint, error) {
	if !ValidPoint(p) {
		return Footprint{}, fmt.Errorf("%w: %v", ErrInvalidPoint, p)
	}
	f := Footprint{center: p}
	f.init()
	return f, nil
}

// NewPolygonFootprint returns a footprint for a polygon outline. The rings must
// be closed, hold at least four points, lie within range and not intersect
// themselves. A polygon may cross the antimeridian: its longitudes are taken as
// the shortest way round from the first vertex.
func NewPolygonFootprint(poly orb.Polygon) (Footprint, error) {
	if len(poly) == 0 {
		return Footprint{}, fmt.Errorf("%w: no rings", ErrInvalidPolygon)
	}
	ref := orb.Point{}
	unwrapped := make(orb.Polygon, len(poly))
	for ri, ring := range poly {
		if len(ring) < 4 {
			return Footprint{}, fmt.Errorf("%w: ring %d has %d points, need at least 4", ErrInvalidPolygon, ri, len(ring))
		}
		if ring[0] != ring[len(ring)-1] {
			return Footprint{}, fmt.Errorf("%w: ring %d is not closed", ErrInvalidPolygon, ri)
		}
		r := make(orb.Ring, len(ring))
		for i, p := range ring {
			if !ValidPoint(p) {
				return Footprint{}, fmt.Errorf("%w: ring %d point %d %v out of range", ErrInvalidPolygon, ri, i, p)
			}
			if ri == 0 && i == 0 {
				ref = p
			}
			r[i] = orb.Point{ref[0] + WrapLon(p[0]-ref[0]), p[1]}
		}
		if i, j, ok := selfIntersection(r); ok {
			return Footprint{}, fmt.Errorf("%w: ring %d edges %d and %d cross", ErrSelfIntersect, ri, i, j)
		}
		unwrapped[ri] = r
	}
	f := Footprint{center: unwrapped.Bound().Center(), polygon: unwrapped}
	f.init()
	return f, nil
}

// init derives the cached fields from center and polygon.
func (f *Footprint) init() {
	f.c = ecef(f.center)
	m, n := radii(f.center[1])
	f.ky = m * degToRad
	f.kx = n * math.Cos(f.center[1]*degToRad) * degToRad
	f.span, f.edges = 0, nil
	if f.polygon == nil {
		return
	}
	for ri, r := range f.polygon {
		for i := 1; i < len(r); i++ {
			f.densify(r[i-1], r[i], ecef(r[i-1]), ecef(r[i]), 0)
		}
		if ri == 0 {
			for _, e := range f.edges {
				f.span = math.Max(f.span, f.distanceTo(e.a))
			}
		}
	}
	f.span += outlineTol
}

// densify appends the lon/lat-straight edge u→v as ECEF chords, halving it
// until each chord strays at most outlineTol horizontally from the edge.
func (f *Footprint) densify(u, v orb.Point, U, V vec, depth int) {
	mid := orb.Point{(u[0] + v[0]) / 2, (u[1] + v[1]) / 2}
	M := ecef(mid)
	dev := M.sub(U.add(V).scale(0.5))
	sφ, cφ := math.Sincos(mid[1] * degToRad)
	sλ, cλ := math.Sincos(mid[0] * degToRad)
	nrm := vec{cφ * cλ, cφ * sλ, sφ}
	h := dev.sub(nrm.scale(dev.dot(nrm)))
	if depth < maxSplit && h.dot(h) > outlineTol*outlineTol {
		f.densify(u, mid, U, M, depth+1)
		f.densify(mid, v, M, V, depth+1)
		return
	}
	d := V.sub(U)
	e := edge3{a: U, d: d}
	if dd := d.dot(d); dd > 0 {
		e.inv = 1 / dd
	}
	f.edges = append(f.edges, e)
}

// distanceTo is the distance in metres from center to the ECEF position v.
func (f *Footprint) distanceTo(v vec) float64 {
	c := chordTo(f.c, v)
	if c <= chordMax {
		return arcOfChord(c)
	}
	return geodesicDistance(f.center, llOf(v))
}

// llOf returns the lon/lat of an ECEF position on (or very near) the surface.
func llOf(v vec) orb.Point {
	return orb.Point{
		math.Atan2(v[1], v[0]) / degToRad,
		math.Atan2(v[2], (1-wgsE2)*math.Hypot(v[0], v[1])) / degToRad,
	}
}

// Center is the point, or the centre of the polygon's bounding box, with its
// longitude in [-180, 180).
func (f *Footprint) Center() orb.Point { return orb.Point{WrapLon(f.center[0]), f.center[1]} }

// Polygon returns the polygon outline, or nil for a point footprint.
func (f *Footprint) Polygon() orb.Polygon { return f.polygon }

// MoveTo returns the footprint translated so that its centre is at p. Used
// for a mobile site whose zones move with its own fixes.
func (f Footprint) MoveTo(p orb.Point) Footprint {
	if f.polygon == nil {
		f.center = p
		f.init()
		return f
	}
	dlon, dlat := WrapLon(p[0]-f.center[0]), p[1]-f.center[1]
	moved := make(orb.Polygon, len(f.polygon))
	for ri, r := range f.polygon {
		nr := make(orb.Ring, len(r))
		for i, q := range r {
			nr[i] = orb.Point{q[0] + dlon, q[1] + dlat}
		}
		moved[ri] = nr
	}
	f.polygon = moved
	f.center = orb.Point{f.center[0] + dlon, p[1]}
	f.init()
	return f
}

// Distance is the ellipsoidal distance in metres from p to the footprint: to
// the point, or to the polygon's outline, or 0 when p is inside the polygon.
func (f *Footprint) Distance(p orb.Point) float64 {
	if f.polygon == nil {
		return f.distanceTo(ecef(p))
	}
	return f.polygonDistance(p, ecef(p))
}

func (f *Footprint) polygonDistance(p orb.Point, P vec) float64 {
	q := orb.Point{f.center[0] + WrapLon(p[0]-f.center[0]), p[1]}
	if planar.PolygonContains(f.polygon, q) {
		return 0
	}
	best, bi, bt := math.Inf(1), 0, 0.0
	for i := range f.edges {
		e := &f.edges[i]
		w := P.sub(e.a)
		t := w.dot(e.d) * e.inv
		if t < 0 {
			t = 0
		} else if t > 1 {
			t = 1
		}
		r := w.sub(e.d.scale(t))
		if d2 := r.dot(r); d2 < best {
			best, bi, bt = d2, i, t
		}
	}
	c := math.Sqrt(best)
	if c <= chordMax {
		return arcOfChord(c)
	}
	e := &f.edges[bi]
	return geodesicDistance(p, llOf(e.a.add(e.d.scale(bt))))
}

// Within reports whether p is within reach metres of the footprint and, if so,
// its exact distance. Far points are rejected by a flat approximation at the
// footprint's centre with a wide safety margin; everything near the boundary
// gets the exact test.
func (f *Footprint) Within(p orb.Point, reach float64) (float64, bool) {
	if r := reach + f.span; math.Abs(f.center[1]) < fastMaxLat && r < fastMaxReach {
		dy := (p[1] - f.center[1]) * f.ky
		dx := WrapLon(p[0]-f.center[0]) * f.kx
		// The flat estimate is within 1 % of the geodesic here.
		lim := r*1.02 + 1
		if dx*dx+dy*dy > lim*lim {
			return 0, false
		}
	}
	d := f.Distance(p)
	return d, d <= reach
}

// Bounds returns the lon/lat boxes that hold every point within reach metres
// of the footprint: one box, or two when it crosses the antimeridian, or a box
// spanning every longitude when it holds a pole. Boxes are rounded outward.
//
// They are exact for the ellipsoid's lower bound: on WGS84, ds² ≥ b²(dβ² +
// cos²β dλ²) in the reduced latitude β, so a geodesic disc of radius r lies
// in the spherical cap of angle r/b around the centre on that auxiliary sphere.
func (f *Footprint) Bounds(reach float64) []orb.Bound {
	ang := (reach + f.span) / wgsB * (1 + 1e-9) // cap angle, radians
	φ := f.center[1] * degToRad
	β := math.Atan2((1-wgsF)*math.Sin(φ), math.Cos(φ))
	lat := func(β float64) float64 { return math.Atan2(math.Sin(β), (1-wgsF)*math.Cos(β)) / degToRad }
	const pad = 1e-9 // degrees
	if β+ang >= math.Pi/2 || β-ang <= -math.Pi/2 {
		minLat, maxLat := -90.0, 90.0
		if β-ang > -math.Pi/2 {
			minLat = lat(β-ang) - pad
		}
		if β+ang < math.Pi/2 {
			maxLat = lat(β+ang) + pad
		}
		return []orb.Bound{{Min: orb.Point{-180, math.Max(minLat, -90)}, Max: orb.Point{180, math.Min(maxLat, 90)}}}
	}
	minLat, maxLat := lat(β-ang)-pad, lat(β+ang)+pad
	// Widest longitude extent of a spherical cap: asin(sin(ang)/cos(β)).
	s := math.Sin(ang) / math.Cos(β)
	if s >= 1 {
		return []orb.Bound{{Min: orb.Point{-180, minLat}, Max: orb.Point{180, maxLat}}}
	}
	dlon := math.Asin(s)/degToRad*(1+1e-9) + pad
	lon := WrapLon(f.center[0])
	minLon, maxLon := lon-dlon, lon+dlon
	switch {
	case minLon < -180:
		return []orb.Bound{
			{Min: orb.Point{-180, minLat}, Max: orb.Point{maxLon, maxLat}},
			{Min: orb.Point{minLon + 360, minLat}, Max: orb.Point{180, maxLat}},
		}
	case maxLon > 180:
		return []orb.Bound{
			{Min: orb.Point{minLon, minLat}, Max: orb.Point{180, maxLat}},
			{Min: orb.Point{-180, minLat}, Max: orb.Point{maxLon - 360, maxLat}},
		}
	}
	return []orb.Bound{{Min: orb.Point{minLon, minLat}, Max: orb.Point{maxLon, maxLat}}}
}

// selfIntersection finds two non-adjacent edges of a closed ring that cross.
func selfIntersection(r orb.Ring) (int, int, bool) {
	n := len(r) - 1 // edges
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if j == i+1 || (i == 0 && j == n-1) {
				continue // adjacent edges share a vertex
			}
			if segmentsIntersect(r[i], r[i+1], r[j], r[j+1]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func onSegment(a, b, p orb.Point) bool {
	return math.Min(a[0], b[0]) <= p[0] && p[0] <= math.Max(a[0], b[0]) &&
		math.Min(a[1], b[1]) <= p[1] && p[1] <= math.Max(a[1], b[1])
}

func segmentsIntersect(p1, p2, p3, p4 orb.Point) bool {
	d1, d2 := orient(p3, p4, p1), orient(p3, p4, p2)
	d3, d4 := orient(p1, p2, p3), orient(p1, p2, p4)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && onSegment(p3, p4, p1)) || (d2 == 0 && onSegment(p3, p4, p2)) ||
		(d3 == 0 && onSegment(p1, p2, p3)) || (d4 == 0 && onSegment(p1, p2, p4))
}
