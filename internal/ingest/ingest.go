// Package ingest is the server's use case: fixes from any protocol go
// through the monitor, their events are committed durably (group commit),
// and only then are they acknowledged and published live. It also owns the
// clock-driven work: signal-lost sweeps, cell aggregate flushes and device
// state snapshots.
package ingest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
)

// Writer is the part of the store the pipeline needs.
type Writer interface {
	Write(ctx context.Context, b *store.Batch) error
}

// Publisher receives what happens, after it is durable.
type Publisher interface {
	PublishEvents([]event.Event)
	PublishPositions([]monitor.Position)
}

// Observer is told about each batch, for metrics. All methods may be nil-safe no-ops.
type Observer interface {
	Fixes(agency string, outcomes map[monitor.Outcome]int, rejected int)
	Events([]event.Event)
	CheckDuration(time.Duration)
	WriteDuration(time.Duration, error)
}

// ErrUnavailable means the store could not take the batch; the events are
// kept and written once the store is back, and the client should retry
// (its retried fixes are recognised as duplicates).
var ErrUnavailable = errors.New("ingest: storage unavailable")

// Pipeline runs fixes through the monitor and commits their events.
type Pipeline struct {
	log    *slog.Logger
	w      Writer
	pub    Publisher
	obs    Observer
	Now    func() time.Time
	mu     sync.Mutex // guards mon and closed
	mon    *monitor.Monitor
	out    monitor.Out // reused under mu
	closed bool
	reqs   chan *commit

	// gauges, read without the lock
	devices, openVisits atomic.Int64
	healthy             atomic.Bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type commit struct {
	batch     store.Batch
	positions []monitor.Position
	done      chan error // nil for background commits
}

// Options configure a pipeline.
type Options struct {
	FlushEvery    time.Duration // cell aggregates and signal-lost sweeps (default 1 s)
	SnapshotEvery time.Duration // full open-visit state snapshot (default 30 s)
}

// New starts a pipeline; Close stops it.
func New(mon *monitor.Monitor, w Writer, pub Publisher, obs Observer, log *slog.Logger, opt Options) *Pipeline {
	if opt.FlushEvery == 0 {
		opt.FlushEvery = time.Second
	}
	if opt.SnapshotEvery == 0 {
		opt.SnapshotEvery = 30 * time.Second
	}
	p := &Pipeline{log: log, w: w, pub: pub, obs: obs, Now: time.Now, mon: mon,
		reqs: make(chan *commit, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	p.healthy.Store(true)
	go p.writer()
	go p.ticker(opt)
	return p
}

// Result is what became of a submitted batch.
type Result struct {
	Outcomes []monitor.Outcome // one per fix
	Events   int
}

// Submit processes fixes (already validated) and returns once their events
// are durable. The monitor sees batches one at a time, in arrival order.
func (p *Pipeline) Submit(ctx context.Context, fixes []feed.Fix) (Result, error) {
	res := Result{Outcomes: make([]monitor.Outcome, len(fixes))}
	c := &commit{done: make(chan error, 1)}
	start := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return res, ErrUnavailable
	}
	out := &p.out
	out.Reset()
	now := p.Now()
	for i := range fixes {
		res.Outcomes[i] = p.mon.Process(&fixes[i], now, out)
	}
	p.mon.Flush(out)
	p.take(c, out)
	p.devices.Store(int64(p.mon.Devices()))
	// (the open-visit gauge is refreshed by the background tick: counting
	// is a scan, too much for every request)
	p.reqs <- c // under the lock: commits keep the monitor's order
	p.mu.Unlock()
	if p.obs != nil {
		p.obs.CheckDuration(time.Since(start))
	}
	res.Events = len(c.batch.Events)
	select {
	case err := <-c.done:
		return res, err
	case <-ctx.Done():
		// The batch stays queued and will be written; the client may retry.
		return res, ctx.Err()
	}
}

// cellChunk bounds the aggregate rows written with one commit, so that a
// large flush never holds up the events that clients wait for.
const cellChunk = 2048

// writer commits queued batches, merging whatever is waiting into one
// transaction (group commit). Events and device states go first; weekly
// aggregates follow in bounded chunks. A failed write is kept and retried
// with the next one, so no accepted event is dropped while the process lives.
func (p *Pipeline) writer() {
	defer close(p.done)
	var (
		pending   store.Batch
		cells     = map[monitor.Cell]*monitor.CellValue{}
		round     []monitor.Cell // cells being written, in key order
		waiters   []chan error
		positions []monitor.Position
		stopping  bool
		failures  int
	)
	take := func(c *commit) {
		mergeCells(cells, c.batch.Cells)
		c.batch.Cells = nil
		merge(&pending, &c.batch)
		positions = append(positions, c.positions...)
		if c.done != nil {
			waiters = append(waiters, c.done)
		}
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		if pending.Empty() && len(cells) > 0 && !stopping {
			// Nothing waits: take requests if any, else write a chunk of cells.
			select {
			case c := <-p.reqs:
				take(c)
			case <-p.stop:
				stopping = true
			default:
			}
		} else {
			select {
			case c := <-p.reqs:
				take(c)
			case <-retry.C:
			case <-p.stop:
				stopping = true
			}
		}
	drain:
		for len(waiters) < 1024 {
			select {
			case c := <-p.reqs:
				take(c)
			default:
				break drain
			}
		}
		if pending.Empty() && len(cells) > 0 {
			n := cellChunk
			if stopping {
				n = len(cells)
			}
			pending.Cells, round = takeCells(cells, round, n)
		}
		var err error
		if !pending.Empty() {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = p.w.Write(ctx, &pending)
			cancel()
			if p.obs != nil {
				p.obs.WriteDuration(time.Since(start), err)
			}
		}
		if err != nil {
			failures++
			p.healthy.Store(false)
			p.log.Error("store write failed; the batch is kept and retried", "events", len(pending.Events), "err", err)
			for _, w := range waiters {
				w <- ErrUnavailable
			}
			waiters = waiters[:0]
			mergeCells(cells, pending.Cells)
			pending.Cells = nil
			if stopping && failures > 3 {
				p.log.Error("stopping with unwritten events", "events", len(pending.Events))
				return
			}
			retry.Reset(time.Second)
			continue
		}
		failures = 0
		p.healthy.Store(true)
		if p.obs != nil && len(pending.Events) > 0 {
			p.obs.Events(pending.Events)
		}
		if p.pub != nil {
			if len(pending.Events) > 0 {
				p.pub.PublishEvents(pending.Events)
			}
			if len(positions) > 0 {
				p.pub.PublishPositions(positions)
			}
		}
		for _, w := range waiters {
			w <- nil
		}
		waiters, positions, pending = waiters[:0], nil, store.Batch{}
		if stopping && len(p.reqs) == 0 && len(cells) == 0 {
			return
		}
	}
}

func mergeCells(into, from map[monitor.Cell]*monitor.CellValue) {
	for c, v := range from {
		if cur, ok := into[c]; ok {
			cur.Fixes += v.Fixes
			cur.StationaryS += v.StationaryS
		} else {
			cp := *v
			into[c] = &cp
		}
	}
}

// takeCells removes up to n aggregates from m, in key order, and returns
// them with the rest of the round. A round is m's keys sorted when the last
// one ended: consecutive chunks then cover neighbouring rows of the cells
// index, and a commit rewrites a few pages instead of one page a row (which
// made ingest slow down as the table grew). Cells that arrive during a round
// wait for the next.
func takeCells(m map[monitor.Cell]*monitor.CellValue, round []monitor.Cell, n int) (map[monitor.Cell]*monitor.CellValue, []monitor.Cell) {
	if len(round) == 0 {
		round = make([]monitor.Cell, 0, len(m))
		for c := range m {
			round = append(round, c)
		}
		slices.SortFunc(round, monitor.CompareCells)
	}
	out := make(map[monitor.Cell]*monitor.CellValue, min(n, len(m)))
	for len(round) > 0 && len(out) < n {
		c := round[0]
		round = round[1:]
		if v, ok := m[c]; ok {
			out[c] = v
			delete(m, c)
		}
	}
	return out, round
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// merge appends b's events and states to into, keeping the latest state
// per pseudonym. (Cells travel separately.)
func merge(into, b *store.Batch) {
	into.Events = append(into.Events, b.Events...)
	if len(b.SaveStates) == 0 && len(b.DropStates) == 0 {
		return
	}
	latest := map[string]int{} // pseudonym → index in SaveStates, -1 dropped
	saves := into.SaveStates[:0:0]
	for _, s := range into.SaveStates {
		latest[s.Pseudonym] = len(saves)
		saves = append(saves, s)
	}
	for _, d := range into.DropStates {
		latest[d] = -1
	}
	for _, s := range b.SaveStates {
		if i, ok := latest[s.Pseudonym]; ok && i >= 0 {
			saves[i] = s
			continue
		}
		latest[s.Pseudonym] = len(saves)
		saves = append(saves, s)
	}
	for _, d := range b.DropStates {
		latest[d] = -1
	}
	into.SaveStates, into.DropStates = into.SaveStates[:0], into.DropStates[:0]
	for _, s := range saves {
		if latest[s.Pseudonym] >= 0 {
			into.SaveStates = append(into.SaveStates, s)
		}
	}
	for ps, i := range latest {
		if i < 0 {
			into.DropStates = append(into.DropStates, ps)
		}
	}
}

func (p *Pipeline) ticker(opt Options) {
	flush := time.NewTicker(opt.FlushEvery)
	snap := time.NewTicker(opt.SnapshotEvery)
	forget := time.NewTicker(5 * time.Second)
	defer flush.Stop()
	defer snap.Stop()
	defer forget.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-flush.C:
			p.background(false)
		case <-snap.C:
			p.background(true)
		case <-forget.C:
			// Devices silent for an hour outside every zone are forgotten:
			// memory stays flat however many devices come and go.
			p.mu.Lock()
			p.mon.Forget(p.Now().Add(-time.Hour), 20000)
			p.devices.Store(int64(p.mon.Devices()))
			p.mu.Unlock()
		}
	}
}

// background sweeps for lost signals and queues the aggregates (and, on
// snapshot, every open visit's state) for the writer.
func (p *Pipeline) background(snapshot bool) {
	c := &commit{}
	p.mu.Lock()
	out := &p.out
	out.Reset()
	p.mon.Tick(p.Now(), out)
	p.mon.Flush(out)
	p.take(c, out)
	if snapshot {
		c.batch.SaveStates = p.mon.OpenStates()
	}
	p.openVisits.Store(int64(p.mon.OpenVisitCount()))
	if !c.batch.Empty() || len(c.positions) > 0 {
		p.reqs <- c
	}
	p.mu.Unlock()
}

// take moves what the monitor handed back into a commit (copies: out is
// reused).
func (p *Pipeline) take(c *commit, out *monitor.Out) {
	c.batch.Events = append(c.batch.Events, out.Events...)
	c.positions = append(c.positions, out.Positions...)
	c.batch.SaveStates = append(c.batch.SaveStates, out.Save...)
	c.batch.DropStates = append(c.batch.DropStates, out.Drop...)
	c.batch.Cells = out.Cells
}

// SetSites replaces the sites (the index is rebuilt beside the old one);
// visits of removed zones are closed and their exits committed.
func (p *Pipeline) SetSites(sites []*site.Site) {
	c := &commit{}
	p.mu.Lock()
	out := &p.out
	out.Reset()
	p.mon.SetSites(sites, out)
	p.mon.Flush(out)
	p.take(c, out)
	if !c.batch.Empty() {
		p.reqs <- c
	}
	p.mu.Unlock()
}

// Sites returns the current sites.
func (p *Pipeline) Sites() []*site.Site {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mon.Sites()
}

// OpenVisits lists the open visits (for the live snapshot).
func (p *Pipeline) OpenVisits() []monitor.OpenVisit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mon.OpenVisits()
}

// Devices is the number of tracked devices; OpenVisitCount the open visits.
func (p *Pipeline) Devices() int64 { return p.devices.Load() }

// The open-visit count is a scan of the monitor's open devices: done when
// asked (a metrics scrape), not on every request.
func (p *Pipeline) OpenVisitCount() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return int64(p.mon.OpenVisitCount())
}

// Healthy reports whether the last store write succeeded.
func (p *Pipeline) Healthy() bool { return p.healthy.Load() }

// Close writes what is left — aggregates and every open visit's state, so
// that a restart resumes them — and stops.
func (p *Pipeline) Close() {
	p.closeOnce.Do(func() {
		p.background(true)
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		close(p.stop)
		<-p.done
	})
}
