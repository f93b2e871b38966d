package geo

import (
	"math"
	"sync/atomic"

	"github.com/paulmach/orb"
	"github.com/tidwall/rtree"
)

// Entry is one fence in an Index: a footprint and the reach in metres of its
// widest zone. ID is the caller's handle for it (for keepclear, a site).
type Entry struct {
	ID        int
	Footprint Footprint
	Reach     float64
	// Roaming entries move (a mobile site's zones follow its van). They are
	// kept out of the R-tree in a short list, so that moving one is cheap.
	Roaming bool
}

// Index finds the entries within reach of a point. It is immutable: build a
// new one, or derive one with Moved, and publish it (see Live), so that
// lookups never wait for a rebuild.
type Index struct {
	tree    *rtree.RTreeG[int32] // never changed once built: shared by copies
	static  []Entry
	roaming []Entry
	// occupied is a coarse raster prefilter in front of the R-tree: bit
	// cellHash(cell) is set for every grid cell that some entry's bounding box
	// touches. Most fixes are far from every site; their cell's bit is clear
	// and they skip the tree walk. A set bit only means "ask the tree".
	occupied []uint64
	useGrid  bool
	byID     map[int]int32 // static entry position by ID
}

const (
	gridDeg  = 0.0005  // cell size in degrees (~55 m of latitude)
	gridBits = 1 << 20 // 128 KiB bitset
	// gridMaxCells bounds the cells one entry may mark; a larger entry (a huge
	// zone, a polar cap) turns the prefilter off rather than fill it.
	gridMaxCells = 1 << 16
)

func gridCell(lon, lat float64) (int64, int64) {
	return int64(math.Floor(lon / gridDeg)), int64(math.Floor(lat / gridDeg))
}

func cellHash(x, y int64) uint64 {
	h := uint64(x)*0x9E3779B97F4A7C15 ^ uint64(y)*0xC2B2AE3D27D4EB4F
	h ^= h >> 29
	return h & (gridBits - 1)
}

// NewIndex builds an index of entries.
func NewIndex(entries []Entry) *Index {
	ix := &Index{tree: &rtree.RTreeG[int32]{}, occupied: make([]uint64, gridBits/64), useGrid: true, byID: map[int]int32{}}
	for _, e := range entries {
		if e.Roaming {
			ix.roaming = append(ix.roaming, e)
			continue
		}
		i := int32(len(ix.static))
		ix.static = append(ix.static, e)
		ix.byID[e.ID] = i
		for _, b := range e.Footprint.Bounds(e.Reach) {
			ix.tree.Insert([2]float64{b.Min[0], b.Min[1]}, [2]float64{b.Max[0], b.Max[1]}, i)
			ix.mark(b)
		}
	}
	return ix
}

func (ix *Index) mark(b orb.Bound) {
	x0, y0 := gridCell(b.Min[0], b.Min[1])
	x1, y1 := gridCell(b.Max[0], b.Max[1])
	if (x1-x0+1)*(y1-y0+1) > gridMaxCells {
		ix.useGrid = false
		return
	}
	for x := x0; x <= x1; x++ {
		for y := y0; y <= y1; y++ {
			h := cellHash(x, y)
			ix.occupied[h>>6] |= 1 << (h & 63)
		}
	}
}

// Len is the number of entries.
func (ix *Index) Len() int { return len(ix.static) + len(ix.roaming) }

// Search calls fn for every entry whose footprint is within its reach of p,
// with the exact distance in metres, until fn returns false. The order is
// that of the R-tree, then the roaming entries; callers that need a stable
// order sort what they collect.
func (ix *Index) Search(p orb.Point, fn func(e *Entry, distM float64) bool) {
	if ix.mayHold(p) && !ix.searchTree(p, fn) {
		return
	}
	for i := range ix.roaming {
		e := &ix.roaming[i]
		if d, ok := e.Footprint.Within(p, e.Reach); ok {
			if !fn(e, d) {
				return
			}
		}
	}
}

// mayHold reports whether p's prefilter cell is marked.
func (ix *Index) mayHold(p orb.Point) bool {
	if !ix.useGrid {
		return len(ix.static) > 0
	}
	h := cellHash(gridCell(p[0], p[1]))
	return ix.occupied[h>>6]&(1<<(h&63)) != 0
}

// searchTree walks the R-tree; it returns false when fn asked to stop.
func (ix *Index) searchTree(p orb.Point, fn func(e *Entry, distM float64) bool) bool {
	pt := [2]float64{p[0], p[1]}
	more := true
	ix.tree.Search(pt, pt, func(_, _ [2]float64, i int32) bool {
		e := &ix.static[i]
		if d, ok := e.Footprint.Within(p, e.Reach); ok && !fn(e, d) {
			more = false
		}
		return more
	})
	return more
}

// Entry returns the entry with the given ID, or nil.
func (ix *Index) Entry(id int) *Entry {
	for i := range ix.roaming {
		if ix.roaming[i].ID == id {
			return &ix.roaming[i]
		}
	}
	if i, ok := ix.byID[id]; ok {
		return &ix.static[i]
	}
	return nil
}

// Moved returns a copy of the index in which the roaming entry id is centred
// on p. The R-tree is shared, not copied. It returns ix itself when id is not
// a roaming entry.
func (ix *Index) Moved(id int, p orb.Point) *Index {
	for i := range ix.roaming {
		if ix.roaming[i].ID != id {
			continue
		}
		cp := *ix // tree, static entries and prefilter are shared, never written
		cp.roaming = append([]Entry(nil), ix.roaming...)
		cp.roaming[i].Footprint = cp.roaming[i].Footprint.MoveTo(p)
		return &cp
	}
	return ix
}

// Live holds the current Index for concurrent readers while writers publish
// new ones (copy-on-write): Load never blocks.
type Live struct{ p atomic.Pointer[Index] }

// NewLive returns a Live holding ix.
func NewLive(ix *Index) *Live {
	l := &Live{}
	l.p.Store(ix)
	return l
}

// Load returns the current index.
func (l *Live) Load() *Index { return l.p.Load() }

// Store publishes ix.
func (l *Live) Store(ix *Index) { l.p.Store(ix) }

// Move publishes an index with roaming entry id centred on p.
func (l *Live) Move(id int, p orb.Point) {
	for {
		old := l.p.Load()
		if l.p.CompareAndSwap(old, old.Moved(id, p)) {
			return
		}
	}
}
