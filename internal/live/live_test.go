package live

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
)

func TestFanOutAndSlowSubscriberDropped(t *testing.T) {
	h := New(3, 10*time.Millisecond)
	defer h.Close()
	fast, cancelFast := h.Subscribe()
	defer cancelFast()
	slow, _ := h.Subscribe()
	for i := 0; i < 4200; i++ {
		h.PublishEvents([]event.Event{{ID: "e", Kind: event.Enter}})
		select {
		case _, ok := <-fast: // a client that keeps up
			if !ok {
				t.Fatalf("fast subscriber dropped at %d", i)
			}
		default:
			t.Fatalf("fast subscriber missed event %d", i)
		}
	}
	// The slow one holds its buffer's worth, then its channel is closed.
	n := 0
	for range slow {
		n++
	}
	if n != 4096 {
		t.Errorf("slow subscriber got %d messages before being dropped, want 4096", n)
	}
	if h.Len() != 1 {
		t.Errorf("%d subscribers left, want 1", h.Len())
	}
	evs, _ := h.Snapshot()
	if len(evs) != 3 {
		t.Errorf("snapshot keeps %d events, want 3", len(evs))
	}
}

func TestPositionsCoalesced(t *testing.T) {
	h := New(10, 20*time.Millisecond)
	defer h.Close()
	s, cancel := h.Subscribe()
	defer cancel()
	now := time.Now()
	h.PublishPositions([]monitor.Position{{Device: "a", T: now, Lat: 1}, {Device: "a", T: now, Lat: 2}, {Device: "b", T: now}})
	select {
	case b := <-s:
		var m Message
		json.Unmarshal(b, &m)
		if m.Type != "positions" || len(m.Positions) != 2 {
			t.Fatalf("%s", b)
		}
		for _, p := range m.Positions {
			if p.Device == "a" && p.Lat != 2 {
				t.Errorf("not the latest position: %+v", p)
			}
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no positions message")
	}
	_, ps := h.Snapshot()
	if len(ps) != 2 {
		t.Errorf("snapshot positions: %v", ps)
	}
}

// Events go out with their evidence, set or unset, under their JSON names.
func TestEventMessageCarriesEvidence(t *testing.T) {
	h := New(10, time.Hour)
	defer h.Close()
	s, cancel := h.Subscribe()
	defer cancel()
	h.PublishEvents([]event.Event{
		{ID: "a", Kind: event.Enter, Confirmed: false, Fixes: 1},
		{ID: "b", Kind: event.Exit, Interpolated: true},
		{ID: "c", Kind: event.Resumed, Confirmed: true, Fixes: 4},
	})
	want := []string{
		`"confirmed":false,"fixes":1,"interpolated":false`,
		`"confirmed":false,"fixes":0,"interpolated":true`,
		`"kind":"resumed"`,
	}
	for i, w := range want {
		b := <-s
		if !strings.Contains(string(b), w) {
			t.Errorf("message %d lacks %s: %s", i, w, b)
		}
		var m Message
		if err := json.Unmarshal(b, &m); err != nil || m.Type != "event" || m.Event == nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
}

// A silent vehicle (open visit, not heard from; T is its last fix) stays on
// the map however old its fix, greyed by the client; it leaves when its
// visit closes. A vehicle that is not silent is forgotten after maxAge.
func TestSilentPositionKeptUntilVisitCloses(t *testing.T) {
	h := New(10, 10*time.Millisecond)
	defer h.Close()
	s, cancel := h.Subscribe()
	defer cancel()
	now := time.Now()
	old := now.Add(-20 * time.Minute)
	h.PublishPositions([]monitor.Position{
		{Device: "quiet", T: old, Visits: 2, Silent: true, Breach: true},
		{Device: "gone", T: old, Visits: 1}, // not silent, and stale
		{Device: "here", T: now, Visits: 1},
	})
	select {
	case b := <-s:
		if !strings.Contains(string(b), `"silent":true`) || !strings.Contains(string(b), `"breach":true`) {
			t.Errorf("the silent position goes out without its flags: %s", b)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no positions message")
	}
	devices := func() string {
		_, ps := h.Snapshot()
		var ds []string
		for _, p := range ps {
			ds = append(ds, p.Device)
		}
		sort.Strings(ds)
		return strings.Join(ds, ",")
	}
	if got := devices(); got != "here,quiet" {
		t.Errorf("snapshot holds %s, want here,quiet", got)
	}
	// One of its two visits closes: still on the map.
	h.PublishEvents([]event.Event{{ID: "x", Device: "quiet", Kind: event.Exit}})
	if got := devices(); got != "here,quiet" {
		t.Errorf("after one exit: %s", got)
	}
	// The visit is resumed, not closed: still there.
	h.PublishEvents([]event.Event{{ID: "y", Device: "quiet", Kind: event.Resumed}})
	if got := devices(); got != "here,quiet" {
		t.Errorf("after resumed: %s", got)
	}
	// Its last visit ends by signal loss: gone.
	h.PublishEvents([]event.Event{{ID: "z", Device: "quiet", Kind: event.SignalLost}})
	if got := devices(); got != "here" {
		t.Errorf("after signal_lost: %s", got)
	}
	// Heard from again: a fresh fix replaces the silent position.
	h.PublishPositions([]monitor.Position{{Device: "here", T: old, Visits: 1, Silent: true}})
	h.PublishPositions([]monitor.Position{{Device: "here", T: now, Visits: 1}})
	if _, ps := h.Snapshot(); len(ps) != 1 || ps[0].Silent {
		t.Errorf("after a fresh fix: %+v", ps)
	}
}
