package geo

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
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
	// metresPerDegree is the length of one degree of latitude on the sphere
	// used for distances.
	metresPerDegree = orb.EarthRadius * degToRad
	// fastMaxLat bounds where the local flat approximation is used to reject
	// far candidates before the exact test; beyond it every candidate gets the
	// exact haversine test.
	fastMaxLat = 80.0
)

// ValidPoint reports whether p is a finite lon/lat pair in range.
func ValidPoint(p orb.Point) bool {
	lon, lat := p[0], p[1]
	return !math.IsNaN(lon) && !math.IsNaN(lat) && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

// Distance is the great-circle distance between a and b in metres.
func Distance(a, b orb.Point) float64 { return orbgeo.DistanceHaversine(a, b) }

// LocalDistance is the distance in metres between two nearby points by the
// equirectangular approximation at their mean latitude: within 0.1 % of
// Distance for points up to ~10 km apart below 80° of latitude, and much
// cheaper. Pairs farther apart or nearer a pole get Distance.
func LocalDistance(a, b orb.Point) float64 {
	dlat, dlon := b[1]-a[1], WrapLon(b[0]-a[0])
	if math.Abs(dlat) > 0.1 || math.Abs(dlon) > 0.1 || math.Abs(a[1]) > fastMaxLat {
		return Distance(a, b)
	}
	x := dlon * math.Cos((a[1]+b[1])/2*degToRad) * metresPerDegree
	y := dlat * metresPerDegree
	return math.Sqrt(x*x + y*y)
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
type Footprint struct {
	center  orb.Point   // the point, or the polygon's bound centre
	polygon orb.Polygon // nil for a point; longitudes unwrapped around center
	cosLat  float64     // cos(center latitude), for the flat approximation
	span    float64     // metres from center to the polygon's farthest vertex
}

// NewPointFootprint returns a footprint for a single point.
func NewPointFootprint(p orb.Point) (Footprint, error) {
	if !ValidPoint(p) {
		return Footprint{}, fmt.Errorf("%w: %v", ErrInvalidPoint, p)
	}
	return Footprint{center: p, cosLat: math.Cos(p[1] * degToRad)}, nil
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
	b := unwrapped.Bound()
	c := b.Center()
	f := Footprint{center: c, polygon: unwrapped, cosLat: math.Cos(c[1] * degToRad)}
	for _, p := range unwrapped[0] {
		f.span = math.Max(f.span, Distance(c, p))
	}
	return f, nil
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
		f.cosLat = math.Cos(p[1] * degToRad)
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
	f.cosLat = math.Cos(p[1] * degToRad)
	return f
}

// Distance is the distance in metres from p to the footprint: to the point,
// or to the polygon's outline, or 0 when p is inside the polygon.
func (f *Footprint) Distance(p orb.Point) float64 {
	if f.polygon == nil {
		return Distance(f.center, p)
	}
	// Work in a local plane centred on p, in metres; footprints are small.
	q := orb.Point{f.center[0] + WrapLon(p[0]-f.center[0]), p[1]}
	if planar.PolygonContains(f.polygon, q) {
		return 0
	}
	cos := math.Cos(q[1] * degToRad)
	best := math.Inf(1)
	for _, r := range f.polygon {
		for i := 1; i < len(r); i++ {
			a := orb.Point{(r[i-1][0] - q[0]) * cos * metresPerDegree, (r[i-1][1] - q[1]) * metresPerDegree}
			b := orb.Point{(r[i][0] - q[0]) * cos * metresPerDegree, (r[i][1] - q[1]) * metresPerDegree}
			best = math.Min(best, planar.DistanceFromSegment(a, b, orb.Point{}))
		}
	}
	return best
}

// Within reports whether p is within reach metres of the footprint and, if so,
// its exact distance. Far points are rejected by a flat approximation with a
// wide safety margin; everything near the boundary gets the exact test.
func (f *Footprint) Within(p orb.Point, reach float64) (float64, bool) {
	if f.polygon == nil && math.Abs(f.center[1]) < fastMaxLat && reach < 20_000 {
		dy := (p[1] - f.center[1]) * metresPerDegree
		dx := WrapLon(p[0]-f.center[0]) * f.cosLat * metresPerDegree
		// The flat estimate is within 1 % of the great circle here.
		lim := reach*1.02 + 1
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
func (f *Footprint) Bounds(reach float64) []orb.Bound {
	reach += f.span
	ang := reach / orb.EarthRadius // angular radius, radians
	dlat := ang/degToRad*(1+1e-9) + 1e-9
	lat := f.center[1]
	minLat, maxLat := lat-dlat, lat+dlat
	if maxLat >= 90 || minLat <= -90 {
		return []orb.Bound{{Min: orb.Point{-180, math.Max(minLat, -90)}, Max: orb.Point{180, math.Min(maxLat, 90)}}}
	}
	// Widest longitude extent of a spherical cap: asin(sin(ang)/cos(lat)).
	s := math.Sin(ang) / math.Cos(lat*degToRad)
	if s >= 1 {
		return []orb.Bound{{Min: orb.Point{-180, minLat}, Max: orb.Point{180, maxLat}}}
	}
	dlon := math.Asin(s)/degToRad*(1+1e-9) + 1e-9
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
