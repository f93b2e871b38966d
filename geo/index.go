package geo

import (
	"cmp"
	"math"
	"slices"
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
	boxes   [][]orb.Bound // static entry i's bounding boxes
	roaming []Entry
	roamBox [][]orb.Bound // roaming entry i's bounding boxes
	// occupied is a coarse raster prefilter: bit cellHash(cell) is set for
	// every grid cell that some static entry's bounding box touches. Most
	// fixes are far from every site; their cell's bit is clear and they stop
	// there. A set bit only means "look in the cell's bucket".
	occupied []uint64
	// cells maps each touched bucket cell (bucketCells × bucketCells grid
	// cells) to its bucket, items[off:off+n]: the static entries whose boxes
	// touch it (open addressing, linear probing). Coarser than the bitset so
	// that the table stays small enough for the cache.
	cells   []cellSlot
	items   []int32
	useGrid bool
	byID    map[int]int32 // static entry position by ID, for IDs outside idPos
	idPos   []int32       // static entry position + 1 by ID, for small IDs (0: none)
}

type cellSlot struct {
	key    uint64 // packed cell
	off, n uint32 // n == 0: empty slot
}

const (
	gridDeg  = 0.0005  // cell size in degrees (~55 m of latitude)
	gridBits = 1 << 20 // 128 KiB bitset
	// bucketShift makes a bucket cell 2^bucketShift grid cells on a side.
	bucketShift = 2
	// gridMaxCells bounds the cells one entry may mark, and gridMaxItems the
	// bucket entries of all; a larger index (a huge zone, a polar cap) turns
	// the prefilter off and every lookup walks the R-tree.
	gridMaxCells = 1 << 16
	gridMaxItems = 1 << 22
	// segMaxCells bounds the cells SearchSegment examines; a longer segment
	// walks the R-tree.
	segMaxCells = 64
)

func gridCell(lon, lat float64) (int64, int64) {
	return int64(math.Floor(lon / gridDeg)), int64(math.Floor(lat / gridDeg))
}

func cellMix(x, y int64) uint64 {
	h := uint64(x)*0x9E3779B97F4A7C15 ^ uint64(y)*0xC2B2AE3D27D4EB4F
	return h ^ h>>29
}

func cellKey(x, y int64) uint64 { return uint64(uint32(x))<<32 | uint64(uint32(y)) }

// NewIndex builds an index of entries.
func NewIndex(entries []Entry) *Index {
	ix := &Index{tree: &rtree.RTreeG[int32]{}, occupied: make([]uint64, gridBits/64), useGrid: true, byID: map[int]int32{}}
	type pair struct {
		key uint64
		i   int32
	}
	var pairs []pair
	for _, e := range entries {
		if e.Roaming {
			ix.roaming = append(ix.roaming, e)
			ix.roamBox = append(ix.roamBox, e.Footprint.Bounds(e.Reach))
			continue
		}
		i := int32(len(ix.static))
		ix.static = append(ix.static, e)
		if e.ID >= 0 && e.ID < 1<<20 {
			for len(ix.idPos) <= e.ID {
				ix.idPos = append(ix.idPos, 0)
			}
			ix.idPos[e.ID] = i + 1
		} else {
			ix.byID[e.ID] = i
		}
		bs := e.Footprint.Bounds(e.Reach)
		ix.boxes = append(ix.boxes, bs)
		for _, b := range bs {
			ix.tree.Insert([2]float64{b.Min[0], b.Min[1]}, [2]float64{b.Max[0], b.Max[1]}, i)
			if !ix.useGrid {
				continue
			}
			x0, y0 := gridCell(b.Min[0], b.Min[1])
			x1, y1 := gridCell(b.Max[0], b.Max[1])
			if n := (x1 - x0 + 1) * (y1 - y0 + 1); n > gridMaxCells || len(pairs)+int(n) > gridMaxItems {
				ix.useGrid, pairs = false, nil
				continue
			}
			for x := x0; x <= x1; x++ {
				for y := y0; y <= y1; y++ {
					h := cellMix(x, y)
					ix.occupied[(h&(gridBits-1))>>6] |= 1 << (h & 63)
				}
			}
			for x := x0 >> bucketShift; x <= x1>>bucketShift; x++ {
				for y := y0 >> bucketShift; y <= y1>>bucketShift; y++ {
					pairs = append(pairs, pair{cellKey(x, y), i})
				}
			}
		}
	}
	if !ix.useGrid {
		ix.occupied = nil
		return ix
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := cmp.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	})
	pairs = slices.Compact(pairs)
	distinct := 0
	for j := range pairs {
		if j == 0 || pairs[j].key != pairs[j-1].key {
			distinct++
		}
	}
	size := 16
	for size < 2*distinct {
		size *= 2
	}
	ix.cells = make([]cellSlot, size)
	ix.items = make([]int32, 0, len(pairs))
	for j := 0; j < len(pairs); {
		k := j
		for k < len(pairs) && pairs[k].key == pairs[j].key {
			ix.items = append(ix.items, pairs[k].i)
			k++
		}
		key := pairs[j].key
		x, y := int64(int32(key>>32)), int64(int32(key))
		h := cellMix(x, y)
		for s := (h >> 32) & uint64(size-1); ; s = (s + 1) & uint64(size-1) {
			if ix.cells[s].n == 0 {
				ix.cells[s] = cellSlot{key: key, off: uint32(len(ix.items) - (k - j)), n: uint32(k - j)}
				break
			}
		}
		j = k
	}
	return ix
}

// bucket returns the static entries whose boxes touch bucket cell (x, y).
func (ix *Index) bucket(x, y int64) []int32 {
	h := cellMix(x, y)
	key, mask := cellKey(x, y), uint64(len(ix.cells)-1)
	for s := (h >> 32) & mask; ; s = (s + 1) & mask {
		c := &ix.cells[s]
		if c.n == 0 {
			return nil
		}
		if c.key == key {
			return ix.items[c.off : c.off+c.n]
		}
	}
}

// occupiedCell reports whether cell (x, y)'s prefilter bit is set.
func (ix *Index) occupiedCell(x, y int64) bool {
	h := cellMix(x, y)
	return ix.occupied[(h&(gridBits-1))>>6]&(1<<(h&63)) != 0
}

// Len is the number of entries.
func (ix *Index) Len() int { return len(ix.static) + len(ix.roaming) }

// Search calls fn for every entry whose footprint is within its reach of p,
// with the exact distance in metres, until fn returns false. The order is
// unspecified (the prefilter's bucket or the R-tree, then the roaming
// entries); callers that need a stable order sort what they collect.
func (ix *Index) Search(p orb.Point, fn func(e *Entry, distM float64) bool) {
	if !ix.searchStatic(p, fn) {
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

// searchStatic reports the static entries within reach of p; false when fn
// asked to stop.
func (ix *Index) searchStatic(p orb.Point, fn func(e *Entry, distM float64) bool) bool {
	if !ix.useGrid {
		return len(ix.static) == 0 || ix.searchTree(p, fn)
	}
	x, y := gridCell(p[0], p[1])
	if !ix.occupiedCell(x, y) {
		return true
	}
	for _, i := range ix.bucket(x>>bucketShift, y>>bucketShift) {
		e := &ix.static[i]
		if d, ok := e.Footprint.Within(p, e.Reach); ok && !fn(e, d) {
			return false
		}
	}
	return true
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

// SearchSegment calls fn, until it returns false, for every entry (static
// and roaming) whose bounding boxes intersect the bounding box of the
// lon/lat-straight segment from a to b (its longitude unwrapped the short way
// round, so it may cross the antimeridian). Each entry is called once. These
// are candidates only: decide with Footprint.SegmentPass.
//
// When nothing is near it is cheap: if no prefilter cell under the segment's
// box is occupied it returns without touching the tree; short segments (at
// most segMaxCells cells) are answered from the cells' buckets, longer ones
// by the R-tree.
func (ix *Index) SearchSegment(a, b orb.Point, fn func(e *Entry) bool) {
	var qb [2]orb.Bound
	qs := segmentBoxes(a, b, qb[:0])
	if !ix.searchSegmentStatic(qs, fn) {
		return
	}
	for i := range ix.roaming {
		if k, _ := firstHit(ix.roamBox[i], qs); k >= 0 && !fn(&ix.roaming[i]) {
			return
		}
	}
}

// segmentBoxes returns the segment's bounding box in [-180, 180] of
// longitude: one box, or two when it crosses the antimeridian.
func segmentBoxes(a, b orb.Point, qs []orb.Bound) []orb.Bound {
	lon1 := a[0] + WrapLon(b[0]-a[0])
	q := orb.Bound{
		Min: orb.Point{math.Min(a[0], lon1), math.Min(a[1], b[1])},
		Max: orb.Point{math.Max(a[0], lon1), math.Max(a[1], b[1])},
	}
	switch {
	case q.Min[0] < -180:
		return append(qs, orb.Bound{Min: orb.Point{-180, q.Min[1]}, Max: q.Max},
			orb.Bound{Min: orb.Point{q.Min[0] + 360, q.Min[1]}, Max: orb.Point{180, q.Max[1]}})
	case q.Max[0] > 180:
		return append(qs, orb.Bound{Min: q.Min, Max: orb.Point{180, q.Max[1]}},
			orb.Bound{Min: orb.Point{-180, q.Min[1]}, Max: orb.Point{q.Max[0] - 360, q.Max[1]}})
	}
	return append(qs, q)
}

// firstHit returns the first query box k, and the first of bs, j, that
// intersect (k = -1 when none does). An entry is reported only for that pair,
// so that it is reported once.
func firstHit(bs, qs []orb.Bound) (k, j int) {
	for k, q := range qs {
		for j, b := range bs {
			if b.Intersects(q) {
				return k, j
			}
		}
	}
	return -1, -1
}

// searchSegmentStatic reports the static candidates; false when fn asked to
// stop.
func (ix *Index) searchSegmentStatic(qs []orb.Bound, fn func(e *Entry) bool) bool {
	if len(ix.static) == 0 {
		return true
	}
	if ix.useGrid {
		n, any := int64(0), false
		for _, q := range qs {
			x0, y0 := gridCell(q.Min[0], q.Min[1])
			x1, y1 := gridCell(q.Max[0], q.Max[1])
			n += (x1 - x0 + 1) * (y1 - y0 + 1)
			for x := x0; x <= x1 && n <= segMaxCells && !any; x++ {
				for y := y0; y <= y1 && !any; y++ {
					any = ix.occupiedCell(x, y)
				}
			}
		}
		if n <= segMaxCells {
			return !any || ix.segmentBuckets(qs, fn)
		}
	}
	for k, q := range qs {
		more := true
		ix.tree.Search([2]float64{q.Min[0], q.Min[1]}, [2]float64{q.Max[0], q.Max[1]},
			func(min, max [2]float64, i int32) bool {
				hk, hj := firstHit(ix.boxes[i], qs)
				b := ix.boxes[i][hj]
				if hk == k && b.Min == orb.Point(min) && b.Max == orb.Point(max) {
					more = fn(&ix.static[i])
				}
				return more
			})
		if !more {
			return false
		}
	}
	return true
}

// segmentBuckets reports the static candidates from the buckets under the
// query boxes. An entry is reported from one bucket only: that of the
// lower-left corner of its first box's intersection with the first query box
// it meets.
func (ix *Index) segmentBuckets(qs []orb.Bound, fn func(e *Entry) bool) bool {
	for k, q := range qs {
		x0, y0 := gridCell(q.Min[0], q.Min[1])
		x1, y1 := gridCell(q.Max[0], q.Max[1])
		for x := x0 >> bucketShift; x <= x1>>bucketShift; x++ {
			for y := y0 >> bucketShift; y <= y1>>bucketShift; y++ {
				for _, i := range ix.bucket(x, y) {
					hk, hj := firstHit(ix.boxes[i], qs)
					if hk != k {
						continue
					}
					b := ix.boxes[i][hj]
					cx, cy := gridCell(math.Max(b.Min[0], q.Min[0]), math.Max(b.Min[1], q.Min[1]))
					if cx>>bucketShift == x && cy>>bucketShift == y && !fn(&ix.static[i]) {
						return false
					}
				}
			}
		}
	}
	return true
}

// Entry returns the entry with the given ID, or nil.
func (ix *Index) Entry(id int) *Entry {
	for i := range ix.roaming {
		if ix.roaming[i].ID == id {
			return &ix.roaming[i]
		}
	}
	if id >= 0 && id < len(ix.idPos) {
		if i := ix.idPos[id]; i > 0 {
			return &ix.static[i-1]
		}
		return nil
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
		cp.roamBox = append([][]orb.Bound(nil), ix.roamBox...)
		cp.roamBox[i] = cp.roaming[i].Footprint.Bounds(cp.roaming[i].Reach)
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
