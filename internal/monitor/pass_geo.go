package monitor

import (
	"github.com/keepclear/keepclear/geo"
	"github.com/paulmach/orb"
)

// TEMPORARY until geo has SearchSegment/SegmentPass.
func searchSegment(ix *geo.Index, a, b orb.Point, fn func(e *geo.Entry) bool) {}

func segmentPass(f *geo.Footprint, a, b orb.Point, r float64) (in, out, minDist float64, ok bool) {
	return 0, 0, 0, false
}
