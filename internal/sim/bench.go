package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/keepclear/keepclear/internal/site"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// BenchCenter is the centre of the benchmark workload (Toronto city hall).
var BenchCenter = orb.Point{-79.3832, 43.6532}

// BenchSitesGeoJSON is DESIGN.md's load-test workload: n synthetic sites
// uniformly in a disc of radius metres, each with a 30 m frontage (any stop
// is a breach) and a 150 m vicinity, as a sites file.
func BenchSitesGeoJSON(n int, radius float64, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, seed))
	var b strings.Builder
	b.WriteString(`{"type":"FeatureCollection","features":[`)
	for i := 0; i < n; i++ {
		p := DiscPoint(r, BenchCenter, radius)
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"type":"Feature","geometry":{"type":"Point","coordinates":[%.7f,%.7f]},"properties":{"id":"bench-%04d","name":"Bench site %d","kind":"sis","opening_hours":"24/7","timezone":"America/Toronto","zones":[{"name":"frontage","radius_m":30,"max_dwell_s":0},{"name":"vicinity","radius_m":150,"max_dwell_s":300}]}}`, p[0], p[1], i, i)
	}
	b.WriteString("]}\n")
	return b.String()
}

// BenchSites parses BenchSitesGeoJSON.
func BenchSites(n int, radius float64, seed uint64) []*site.Site {
	s, err := site.Load(strings.NewReader(BenchSitesGeoJSON(n, radius, seed)))
	if err != nil {
		panic(err) // generated input is valid
	}
	return s
}

// DiscPoint is a uniformly random point in a disc.
func DiscPoint(r *rand.Rand, c orb.Point, radius float64) orb.Point {
	return orbgeo.PointAtBearingAndDistance(c, r.Float64()*360, radius*math.Sqrt(r.Float64()))
}
