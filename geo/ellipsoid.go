package geo

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/tidwall/geodesic"
)

// WGS84 ellipsoid.
const (
	wgsA     = 6378137.0                // semi-major axis, metres
	wgsF     = 1 / 298.257223563        // flattening
	wgsB     = wgsA * (1 - wgsF)        // semi-minor axis
	wgsE2    = wgsF * (2 - wgsF)        // first eccentricity squared
	wgsM0    = wgsA * (1 - wgsE2)       // meridional radius at the equator: the smallest radius of curvature
	wgsMP    = wgsA * wgsA / wgsB       // radius of curvature at the poles: the largest
	meanR    = 6371008.8                // mean radius, for the chord-to-arc correction
	inv24    = 1 / (24 * meanR * meanR) // arc = chord + chord³/(24R²) + …
	chordMax = 100_000.0                // chords up to this length use the closed form
)

// vec is an earth-centred, earth-fixed (ECEF) position in metres.
type vec [3]float64

// ecef returns p's position on the WGS84 ellipsoid (height 0).
func ecef(p orb.Point) vec {
	sφ, cφ := math.Sincos(p[1] * degToRad)
	sλ, cλ := math.Sincos(p[0] * degToRad)
	n := wgsA / math.Sqrt(1-wgsE2*sφ*sφ) // prime-vertical radius N
	return vec{n * cφ * cλ, n * cφ * sλ, n * (1 - wgsE2) * sφ}
}

func (v vec) sub(w vec) vec        { return vec{v[0] - w[0], v[1] - w[1], v[2] - w[2]} }
func (v vec) dot(w vec) float64    { return v[0]*w[0] + v[1]*w[1] + v[2]*w[2] }
func (v vec) add(w vec) vec        { return vec{v[0] + w[0], v[1] + w[1], v[2] + w[2]} }
func (v vec) scale(k float64) vec  { return vec{v[0] * k, v[1] * k, v[2] * k} }
func chordTo(v, w vec) float64     { d := v.sub(w); return math.Sqrt(d.dot(d)) }
func arcOfChord(c float64) float64 { return c + c*c*c*inv24 }
func chordOfArc(s float64) float64 { return s - s*s*s*inv24 } // inverse to O(s⁵/R⁴)
func radii(lat float64) (m, n float64) {
	s := math.Sin(lat * degToRad)
	w2 := 1 - wgsE2*s*s
	w := math.Sqrt(w2)
	return wgsA * (1 - wgsE2) / (w2 * w), wgsA / w
}

// Distance is the geodesic distance in metres between a and b on the WGS84
// ellipsoid, for any pair. Points up to 100 km apart get the closed form
// chord + chord³/(24R²) from their ECEF positions (within 1e-7 of the
// geodesic, see doc.go); farther pairs get Karney's exact geodesic inverse.
func Distance(a, b orb.Point) float64 {
	c := chordTo(ecef(a), ecef(b))
	if c <= chordMax {
		return arcOfChord(c)
	}
	return geodesicDistance(a, b)
}

// geodesicDistance is Karney's geodesic inverse (github.com/tidwall/geodesic).
func geodesicDistance(a, b orb.Point) float64 {
	var s float64
	geodesic.WGS84.Inverse(a[1], a[0], b[1], b[0], &s, nil, nil)
	return s
}

// LocalDistance is the distance in metres between two nearby points, such as
// consecutive fixes of one vehicle (jump tests, stationary detection),
// called for nearly every fix. Pairs within 0.05° of each other below 80° of
// latitude get a local ellipsoidal plane at their mean latitude (meridional
// and prime-vertical radii of curvature: one sine, no cosine of each point),
// within 1e-5 of the geodesic there (TestLocalDistanceAgreesWithKarney);
// other pairs get Distance.
func LocalDistance(a, b orb.Point) float64 {
	dlat, dlon := b[1]-a[1], WrapLon(b[0]-a[0])
	lat := (a[1] + b[1]) / 2
	if math.Abs(dlat) > localMaxDeg || math.Abs(dlon) > localMaxDeg || math.Abs(lat) > localMaxLat {
		return Distance(a, b)
	}
	s, c := math.Sincos(lat * degToRad)
	w2 := 1 - wgsE2*s*s
	w := math.Sqrt(w2)
	m, n := wgsA*(1-wgsE2)/(w2*w), wgsA/w
	y := dlat * degToRad * m
	x := dlon * degToRad * n * c
	return math.Sqrt(x*x + y*y)
}

const (
	localMaxDeg = 0.05
	localMaxLat = 80.0
)
