package live

import (
	"encoding/json"
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
