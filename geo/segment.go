package geo

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// SegmentPass follows the straight segment from a to b (parameter s in
// [0, 1], linear in lon/lat, the longitude unwrapped the short way round, so
// a segment may cross the antimeridian) and reports the first parameter in at
// which its distance to the footprint becomes ≤ radius, the last parameter out
// at which it still is, and the minimum distance in metres of the segment
// from the footprint (0 when it enters a polygon). ok is false, and in and out
// are 0, when the segment never comes within radius. The boundary is
// inclusive (to 1 µm, so that a tangent segment counts): in is 0 when a is
// within radius and out is 1 when b is.
//
// It is exact up to the ellipsoidal chord form (see doc.go): the segment and
// a polygon's outline are cut into ECEF chords that stray at most 1 mm from
// them, and the parameters where a chord enters and leaves the radius-thick
// capsule around each outline chord (a sphere, for a point footprint) are
// solved in closed form. Segments are meant to be short (the distance one
// vehicle covers between two fixes, a few km at most).
func (f *Footprint) SegmentPass(a, b orb.Point, radius float64) (in, out, minDist float64, ok bool) {
	d := orb.Point{WrapLon(b[0] - a[0]), b[1] - a[1]}
	at := func(t float64) orb.Point { return orb.Point{a[0] + t*d[0], a[1] + t*d[1]} }
	rho := chordOfArc(radius)
	in, out = math.Inf(1), math.Inf(-1)
	bestC2, bestT := math.Inf(1), 0.0
	var A, B vec
	first := true
	pieces(a, d, 0, 1, func(t0, t1 float64, P0, P1 vec) {
		if first {
			A, first = P0, false
		}
		B = P1
		w := P1.sub(P0)
		k := t1 - t0
		note := func(u, c2 float64, lo, hi float64, hit bool) {
			if c2 < bestC2 {
				bestC2, bestT = c2, t0+u*k
			}
			if hit {
				in = math.Min(in, t0+lo*k)
				out = math.Max(out, t0+hi*k)
			}
		}
		if f.polygon == nil {
			u, c2 := segSeg(P0, w, f.c, vec{})
			lo, hi, hit := capsule(P0, w, f.c, vec{}, rho)
			note(u, c2, lo, hi, hit)
			return
		}
		for i := range f.edges {
			e := &f.edges[i]
			u, c2 := segSeg(P0, w, e.a, e.d)
			lo, hi, hit := capsule(P0, w, e.a, e.d, rho)
			note(u, c2, lo, hi, hit)
		}
	})
	// The ends, exactly, and a polygon's interior.
	var d0, d1 float64
	if f.polygon == nil {
		d0, d1 = f.distanceTo(A), f.distanceTo(B)
	} else {
		d0, d1 = f.polygonDistance(a, A), f.polygonDistance(b, B)
		if t, cross := f.crossing(a, d); cross {
			bestC2, bestT = 0, t
		}
	}
	if bestC2 == 0 {
		minDist = 0
	} else {
		minDist = f.Distance(at(bestT))
	}
	if d0 <= minDist {
		minDist, bestT = d0, 0
	}
	if d1 <= minDist {
		minDist, bestT = d1, 1
	}
	// The exact distance decides; the chords only place in and out.
	if minDist > radius+boundaryEps {
		return 0, 0, minDist, false
	}
	if d0 <= radius+boundaryEps {
		in = 0
	}
	if d1 <= radius+boundaryEps {
		out = 1
	}
	if in > out { // grazing, within the chords' 1 mm
		in, out = bestT, bestT
	}
	return in, out, minDist, true
}

// crossing reports the first parameter at which the lon/lat segment a→a+d
// crosses the polygon's outline (or 0 if a is inside).
func (f *Footprint) crossing(a, d orb.Point) (float64, bool) {
	q0 := orb.Point{f.center[0] + WrapLon(a[0]-f.center[0]), a[1]}
	q1 := orb.Point{q0[0] + d[0], q0[1] + d[1]}
	if planar.PolygonContains(f.polygon, q0) {
		return 0, true
	}
	best, found := math.Inf(1), false
	for _, r := range f.polygon {
		for i := 1; i < len(r); i++ {
			if !segmentsIntersect(q0, q1, r[i-1], r[i]) {
				continue
			}
			found = true
			o0, o1 := orient(r[i-1], r[i], q0), orient(r[i-1], r[i], q1)
			t := 0.0
			if o0 != o1 {
				t = math.Min(math.Max(o0/(o0-o1), 0), 1)
			}
			best = math.Min(best, t)
		}
	}
	return best, found
}

// pieces cuts the lon/lat-straight path a+t·d, t in [t0, t1], into ECEF
// chords that stray at most 1 mm (in any direction) from it, and calls fn for
// each in order.
func pieces(a, d orb.Point, t0, t1 float64, fn func(t0, t1 float64, P0, P1 vec)) {
	at := func(t float64) orb.Point { return orb.Point{a[0] + t*d[0], a[1] + t*d[1]} }
	var rec func(t0, t1 float64, P0, P1 vec, depth int)
	rec = func(t0, t1 float64, P0, P1 vec, depth int) {
		tm := (t0 + t1) / 2
		M := ecef(at(tm))
		dev := M.sub(P0.add(P1).scale(0.5))
		if depth < maxSplit && dev.dot(dev) > outlineTol*outlineTol {
			rec(t0, tm, P0, M, depth+1)
			rec(tm, t1, M, P1, depth+1)
			return
		}
		fn(t0, t1, P0, P1)
	}
	rec(t0, t1, ecef(at(t0)), ecef(at(t1)), 0)
}

// segSeg returns the parameter u in [0, 1] of the point of P0+u·w closest to
// the segment A+v·d (v in [0, 1]; d may be zero), and their squared distance
// (after Ericson, Real-Time Collision Detection, 5.1.9).
func segSeg(P0, w, A, d vec) (u, d2 float64) {
	r := P0.sub(A)
	a, e, f := w.dot(w), d.dot(d), d.dot(r)
	var v float64
	switch {
	case a == 0 && e == 0:
	case a == 0:
		v = clamp01(f / e)
	default:
		c := w.dot(r)
		if e == 0 {
			u = clamp01(-c / a)
			break
		}
		b := w.dot(d)
		if den := a*e - b*b; den > 0 {
			u = clamp01((b*f - c*e) / den)
		}
		v = (b*u + f) / e
		if v < 0 {
			v, u = 0, clamp01(-c/a)
		} else if v > 1 {
			v, u = 1, clamp01((b-c)/a)
		}
	}
	x := r.add(w.scale(u)).sub(d.scale(v))
	return u, x.dot(x)
}

// capsule returns the interval of u in [0, 1] over which P0+u·w is within rho
// of the segment A+v·d (v in [0, 1]; d may be zero, for a sphere). The
// capsule is convex, so the points within it form one interval: the union of
// the intervals in the two end spheres and in the cylinder between them.
func capsule(P0, w, A, d vec, rho float64) (lo, hi float64, ok bool) {
	lo, hi = math.Inf(1), math.Inf(-1)
	add := func(l, h float64) {
		if l <= h {
			lo, hi = math.Min(lo, l), math.Max(hi, h)
		}
	}
	ww := w.dot(w)
	sphere := func(C vec) {
		r := P0.sub(C)
		add(quadLE(ww, 2*w.dot(r), r.dot(r)-rho*rho))
	}
	sphere(A)
	if dd := d.dot(d); dd > 0 {
		sphere(A.add(d))
		L := math.Sqrt(dd)
		e := d.scale(1 / L)
		r := P0.sub(A)
		re, we := r.dot(e), w.dot(e)
		r0, r1 := r.sub(e.scale(re)), w.sub(e.scale(we))
		cl, ch := quadLE(r1.dot(r1), 2*r0.dot(r1), r0.dot(r0)-rho*rho)
		if we != 0 { // between the end caps: 0 ≤ re + u·we ≤ L
			s1, s2 := -re/we, (L-re)/we
			if s1 > s2 {
				s1, s2 = s2, s1
			}
			cl, ch = math.Max(cl, s1), math.Min(ch, s2)
		} else if re < 0 || re > L {
			cl, ch = 1, 0
		}
		add(cl, ch)
	}
	lo, hi = math.Max(lo, 0), math.Min(hi, 1)
	return lo, hi, lo <= hi
}

// quadLE returns the interval where a·u² + b·u + c ≤ 0, for a ≥ 0 (empty as
// lo > hi).
func quadLE(a, b, c float64) (lo, hi float64) {
	if a == 0 {
		switch {
		case b > 0:
			return math.Inf(-1), -c / b
		case b < 0:
			return -c / b, math.Inf(1)
		case c <= 0:
			return math.Inf(-1), math.Inf(1)
		}
		return 1, 0
	}
	disc := b*b - 4*a*c
	if disc < 0 {
		return 1, 0
	}
	q := -(b + math.Copysign(math.Sqrt(disc), b)) / 2
	if q == 0 { // b = 0 and c = 0
		return 0, 0
	}
	r1, r2 := q/a, c/q
	if r1 > r2 {
		r1, r2 = r2, r1
	}
	return r1, r2
}

// boundaryEps is the slack of SegmentPass's boundary test, far below its
// accuracy, so that a segment tangent to the zone counts as touching it.
const boundaryEps = 1e-6

func clamp01(x float64) float64 { return math.Min(math.Max(x, 0), 1) }
