package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
)

// flaky is a Writer that fails while down is set, and records what it took.
type flaky struct {
	mu     sync.Mutex
	down   bool
	events map[string]int
	kinds  map[event.Kind]int
	states map[string]bool
	cells  int64
}

func (f *flaky) Write(_ context.Context, b *store.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("disk on fire")
	}
	for _, e := range b.Events {
		f.events[e.ID]++
		if f.kinds != nil {
			f.kinds[e.Kind]++
		}
	}
	for _, s := range b.SaveStates {
		f.states[s.Pseudonym] = true
	}
	for _, p := range b.DropStates {
		delete(f.states, p)
	}
	for _, v := range b.Cells {
		f.cells += v.Fixes
	}
	return nil
}

func pipeline(t *testing.T, w Writer) *Pipeline {
	t.Helper()
	sites, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"a","name":"A","kind":"sis","opening_hours":"24/7","timezone":"UTC","zones":[{"name":"f","radius_m":30}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := monitor.New(monitor.Config{Secret: []byte("s"), Aggregate: true}, sites)
	p := New(m, w, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{FlushEvery: 20 * time.Millisecond})
	t.Cleanup(p.Close)
	return p
}

func fixAt(dev string, t time.Time, lat float64) feed.Fix {
	f := feed.NewFix()
	f.Device, f.Agency, f.T, f.Lat, f.Lon, f.Acc = dev, "vpd", t, lat, -123.1, 5
	return f
}

func TestStoreOutageKeepsEvents(t *testing.T) {
	w := &flaky{events: map[string]int{}, states: map[string]bool{}, down: true}
	p := pipeline(t, w)
	now := time.Now()
	_, err := p.Submit(context.Background(), []feed.Fix{fixAt("car", now, 49.28)})
	if !errors.Is(err, ErrUnavailable) || p.Healthy() {
		t.Fatalf("submit during an outage: %v, healthy %v", err, p.Healthy())
	}
	// The client retries: a duplicate now, but the first events were kept.
	w.mu.Lock()
	w.down = false
	w.mu.Unlock()
	res, err := p.Submit(context.Background(), []feed.Fix{fixAt("car", now, 49.28)})
	if err != nil || res.Outcomes[0] != monitor.Duplicate {
		t.Fatalf("retry: %v %v", res.Outcomes, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.events) != 1 || !p.Healthy() {
		t.Errorf("events after the outage: %v", w.events)
	}
	for id, n := range w.events {
		if n != 1 {
			t.Errorf("%s written %d times", id, n)
		}
	}
}

func TestConcurrentSubmitsAndClose(t *testing.T) {
	w := &flaky{events: map[string]int{}, kinds: map[event.Kind]int{}, states: map[string]bool{}}
	p := pipeline(t, w)
	now := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 45; i++ {
				lat := 49.28
				if i%10 >= 5 {
					lat = 49.2806 // 67 m north: out of the 30 m zone and its band
				}
				dev := string(rune('a' + g))
				if _, err := p.Submit(context.Background(), []feed.Fix{fixAt(dev, now.Add(time.Duration(i)*10*time.Second), lat)}); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	time.Sleep(60 * time.Millisecond) // a flush
	p.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	// Each device: 5 visits, the last still open at the end; the third
	// entry within 30 minutes is a repeat_pass.
	if w.kinds[event.Enter] != 40 || w.kinds[event.Exit] != 32 || w.kinds[event.RepeatPass] != 8 || len(w.events) != 80 {
		t.Errorf("events by kind %v (%d ids)", w.kinds, len(w.events))
	}
	if w.cells != 8*25 {
		t.Errorf("aggregated %d in-zone fixes, want %d", w.cells, 8*25)
	}
	if len(w.states) != 8 {
		t.Errorf("%d devices' open visits saved at close, want 8", len(w.states))
	}
}

func TestMergeKeepsLatestState(t *testing.T) {
	var b store.Batch
	merge(&b, &store.Batch{SaveStates: []monitor.DeviceState{{Pseudonym: "a", LastT: 1}, {Pseudonym: "b", LastT: 1}}})
	merge(&b, &store.Batch{SaveStates: []monitor.DeviceState{{Pseudonym: "a", LastT: 2}}, DropStates: []string{"b"}})
	merge(&b, &store.Batch{DropStates: []string{"a"}, SaveStates: nil, Events: []event.Event{{ID: "x"}}})
	merge(&b, &store.Batch{SaveStates: []monitor.DeviceState{{Pseudonym: "b", LastT: 3}}})
	if len(b.SaveStates) != 1 || b.SaveStates[0].Pseudonym != "b" || b.SaveStates[0].LastT != 3 {
		t.Errorf("saves: %+v", b.SaveStates)
	}
	if len(b.DropStates) != 1 || b.DropStates[0] != "a" || len(b.Events) != 1 {
		t.Errorf("drops: %v events %v", b.DropStates, b.Events)
	}
}

// Aggregates leave in the stores' key order, chunk after chunk, and cells
// that arrive during a round are written in the next one.
func TestTakeCellsInKeyOrder(t *testing.T) {
	m := map[monitor.Cell]*monitor.CellValue{}
	for i := 0; i < 50; i++ {
		c := monitor.Cell{Site: []string{"b", "a", "c"}[i%3], Zone: "vicinity", Week: "2026-W48", HourOfWeek: i % 7, CellLat: int32(i * 7919 % 101), CellLon: int32(i)}
		m[c] = &monitor.CellValue{Fixes: int64(i + 1)}
	}
	var round, got []monitor.Cell
	var chunk map[monitor.Cell]*monitor.CellValue
	for len(m) > 0 || len(round) > 0 {
		chunk, round = takeCells(m, round, 8)
		if len(chunk) > 8 {
			t.Fatalf("chunk of %d, want at most 8", len(chunk))
		}
		got = append(got, slices.SortedFunc(maps.Keys(chunk), monitor.CompareCells)...)
		if len(got) == 16 { // a cell arrives mid-round, before every other key
			m[monitor.Cell{Site: "0", Week: "2026-W48"}] = &monitor.CellValue{Fixes: 1}
		}
	}
	if len(got) != 51 {
		t.Fatalf("took %d cells, want 51", len(got))
	}
	if !slices.IsSortedFunc(got[:50], monitor.CompareCells) {
		t.Error("the first round is not in key order")
	}
	if got[50].Site != "0" {
		t.Errorf("the cell that arrived mid-round came out as %v, want last", got[50])
	}
}
