package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/paulmach/orb/geojson"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 16 << 10,
	// Same-origin only: the dashboard is served by this server.
}

const (
	wsWriteWait  = 10 * time.Second
	wsPongWait   = 60 * time.Second
	wsPingPeriod = 50 * time.Second
)

// handleLive upgrades to a WebSocket, sends a snapshot (sites, open visits,
// recent events, positions), then events and positions as they happen. A
// client that cannot keep up is disconnected; it never slows ingest.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	if s.metrics != nil {
		s.metrics.wsClients.Inc()
		defer s.metrics.wsClients.Dec()
	}
	msgs, cancel := s.live.Subscribe()
	defer cancel()

	fc := geojson.NewFeatureCollection()
	for _, st := range s.pipe.Sites() {
		fc.Append(st.Feature())
	}
	events, positions := s.live.Snapshot()
	snap, _ := json.Marshal(map[string]any{
		"type": "snapshot", "sites": fc, "open_visits": s.pipe.OpenVisits(), "events": events, "positions": positions,
	})
	conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
	if err := conn.WriteMessage(websocket.TextMessage, snap); err != nil {
		return
	}

	// Reader: only control frames are expected; it notices the client going.
	conn.SetReadLimit(4096)
	conn.SetReadDeadline(time.Now().Add(wsPongWait))
	conn.SetPongHandler(func(string) error { conn.SetReadDeadline(time.Now().Add(wsPongWait)); return nil })
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-gone:
			return
		case <-ping.C:
			conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		case m, ok := <-msgs:
			conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if !ok {
				conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "too slow or shutting down"))
				return
			}
			if err := conn.WriteMessage(websocket.TextMessage, m); err != nil {
				return
			}
		}
	}
}
