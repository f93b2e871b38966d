// Package live fans events and in-zone positions out to subscribers (the
// WebSocket clients of the live map). It never waits for a subscriber: one
// that falls behind is dropped, so a slow client cannot stall ingest.
package live

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
)

// Message is what subscribers receive, JSON-encoded.
type Message struct {
	Type      string             `json:"type"` // event, positions
	Event     *event.Event       `json:"event,omitempty"`
	Positions []monitor.Position `json:"positions,omitempty"`
}

// subscriber receives encoded messages on c until it is closed (by its
// cancel function, or for falling behind).
type subscriber struct {
	c    chan []byte
	once sync.Once
}

// Hub is the fan-out.
type Hub struct {
	mu        sync.Mutex
	subs      map[*subscriber]struct{}
	recent    []event.Event               // ring of the latest events
	positions map[string]monitor.Position // latest in-zone position per pseudonym
	pending   map[string]monitor.Position // positions not yet broadcast
	keep      int
	maxAge    time.Duration
	Now       func() time.Time
	stop      chan struct{}
	buffer    int
}

// New returns a hub keeping the last keep events for snapshots and sending
// coalesced positions every interval. Close stops it.
func New(keep int, interval time.Duration) *Hub {
	h := &Hub{subs: map[*subscriber]struct{}{}, positions: map[string]monitor.Position{}, pending: map[string]monitor.Position{},
		keep: keep, maxAge: 2 * time.Minute, Now: time.Now, stop: make(chan struct{}), buffer: 4096}
	go h.loop(interval)
	return h
}

// Subscribe adds a subscriber. Messages arrive on the channel until cancel
// is called or the subscriber falls more than the buffer behind, when the
// channel is closed.
func (h *Hub) Subscribe() (msgs <-chan []byte, cancel func()) {
	s := &subscriber{c: make(chan []byte, h.buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s.c, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		s.once.Do(func() { close(s.c) })
	}
}

// Len is the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Snapshot is what a new subscriber is shown first. A position older than
// the hub's maxAge is forgotten, unless it is silent: a silent vehicle
// still has an open visit and stays on the map (greyed, at its last fix,
// whose time is old by definition) until that visit closes.
func (h *Hub) Snapshot() (events []event.Event, positions []monitor.Position) {
	h.mu.Lock()
	defer h.mu.Unlock()
	events = append(events, h.recent...)
	cut := h.Now().Add(-h.maxAge)
	for k, p := range h.positions {
		if p.T.Before(cut) && !p.Silent {
			delete(h.positions, k)
			continue
		}
		positions = append(positions, p)
	}
	return events, positions
}

// closeVisit forgets a device's position once its last open visit has
// closed (exit or signal_lost). Call with mu held.
func (h *Hub) closeVisit(e *event.Event) {
	if e.Kind != event.Exit && e.Kind != event.SignalLost {
		return
	}
	p, ok := h.positions[e.Device]
	if !ok {
		return
	}
	if p.Visits > 1 {
		p.Visits--
		h.positions[e.Device] = p
		return
	}
	delete(h.positions, e.Device)
}

// broadcast sends b to every subscriber, dropping those that are full.
// Call with mu held.
func (h *Hub) broadcast(b []byte) {
	for s := range h.subs {
		select {
		case s.c <- b:
		default:
			delete(h.subs, s)
			s.once.Do(func() { close(s.c) })
		}
	}
}

// PublishEvents sends events to every subscriber at once.
func (h *Hub) PublishEvents(evs []event.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range evs {
		h.closeVisit(&evs[i])
		h.recent = append(h.recent, evs[i])
		if len(h.recent) > h.keep {
			h.recent = h.recent[len(h.recent)-h.keep:]
		}
		if len(h.subs) == 0 {
			continue
		}
		b, _ := json.Marshal(Message{Type: "event", Event: &evs[i]})
		h.broadcast(b)
	}
}

// PublishPositions records positions; they go out coalesced (the latest
// per device) on the hub's interval. A silent position (Silent: no fix for
// a while, T its last one) replaces the device's position like any other
// and is kept, never aged out, until the device's visit closes.
func (h *Hub) PublishPositions(ps []monitor.Position) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range ps {
		k := p.Device
		if p.Site != "" {
			k = "site:" + p.Site
		}
		h.positions[k] = p
		h.pending[k] = p
	}
}

func (h *Hub) loop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.mu.Lock()
			if len(h.pending) > 0 && len(h.subs) > 0 {
				ps := make([]monitor.Position, 0, len(h.pending))
				for _, p := range h.pending {
					ps = append(ps, p)
				}
				b, _ := json.Marshal(Message{Type: "positions", Positions: ps})
				h.broadcast(b)
			}
			clear(h.pending)
			h.mu.Unlock()
		}
	}
}

// Close stops the hub and closes every subscriber.
func (h *Hub) Close() {
	close(h.stop)
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		delete(h.subs, s)
		s.once.Do(func() { close(s.c) })
	}
}
