package server

import (
	"net/http"
	"sort"
	"sync"
	"time"
)

// ingestLog keeps, per agency, what ingest accepted and refused and why
// over the last 24 hours, in hourly buckets, so that an admin can tell an
// agency why its phone's positions are not used (GET /api/v1/ingest/summary).
// It lives in memory: it starts empty at each start, and in the
// multi-process mode each serve node answers for the requests it took. It
// holds no device id (raw or pseudonymous) and no token: counts, and the
// last reason given for each result.
type ingestLog struct {
	mu       sync.Mutex
	agencies map[string]*[24]hourCounts
}

type hourCounts struct {
	hour   int64 // Unix hour
	counts map[string]int64
	last   map[string]lastRecord
}

type lastRecord struct {
	T        time.Time `json:"t"`
	Endpoint string    `json:"endpoint"`
	Reason   string    `json:"reason,omitempty"`
}

// maxAgencies bounds the log: agencies come from tokens, so this is only a
// guard.
const maxAgencies = 10_000

func (l *ingestLog) add(now time.Time, agency, endpoint, result string, n int, reason string) {
	if n <= 0 {
		return
	}
	h := now.Unix() / 3600
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.agencies == nil {
		l.agencies = map[string]*[24]hourCounts{}
	}
	ring := l.agencies[agency]
	if ring == nil {
		if len(l.agencies) >= maxAgencies {
			return
		}
		ring = new([24]hourCounts)
		l.agencies[agency] = ring
	}
	b := &ring[h%24]
	if b.hour != h || b.counts == nil {
		*b = hourCounts{hour: h, counts: map[string]int64{}, last: map[string]lastRecord{}}
	}
	b.counts[result] += int64(n)
	b.last[result] = lastRecord{T: now.UTC(), Endpoint: endpoint, Reason: reason}
}

// agencySummary is one agency's last day.
type agencySummary struct {
	Agency   string                `json:"agency"`
	Received int64                 `json:"received"`
	Used     int64                 `json:"used"`    // accepted or moved a van
	Dropped  int64                 `json:"dropped"` // valid, but a duplicate, out of order or a jump
	Refused  int64                 `json:"refused"` // never usable: too old, no position, …
	Results  map[string]int64      `json:"results"`
	Last     map[string]lastRecord `json:"last"` // the latest record of each result, with its reason
}

// resultClass sorts a result into used, dropped (by detection) or refused.
func resultClass(result string) string {
	switch result {
	case "accepted", "van":
		return "used"
	case "duplicate", "out_of_order", "jump":
		return "dropped"
	}
	return "refused"
}

func (l *ingestLog) summary(now time.Time, agency string) []agencySummary {
	h := now.Unix() / 3600
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []agencySummary
	for a, ring := range l.agencies {
		if agency != "" && a != agency {
			continue
		}
		s := agencySummary{Agency: a, Results: map[string]int64{}, Last: map[string]lastRecord{}}
		for i := range ring {
			b := &ring[i]
			if b.counts == nil || b.hour <= h-24 || b.hour > h {
				continue
			}
			for r, n := range b.counts {
				s.Results[r] += n
				s.Received += n
				switch resultClass(r) {
				case "used":
					s.Used += n
				case "dropped":
					s.Dropped += n
				default:
					s.Refused += n
				}
				if lr := b.last[r]; lr.T.After(s.Last[r].T) {
					s.Last[r] = lr
				}
			}
		}
		if s.Received > 0 {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agency < out[j].Agency })
	return out
}

// handleIngestSummary answers, per agency, what was accepted and refused
// and why over the last 24 hours.
func (s *Server) handleIngestSummary(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	list := s.ingest.summary(now, r.URL.Query().Get("agency"))
	if list == nil {
		list = []agencySummary{}
	}
	writeJSON(w, 200, map[string]any{
		"from":     now.Add(-24 * time.Hour).UTC().Truncate(time.Hour).Add(time.Hour),
		"to":       now.UTC(),
		"agencies": list,
		"results": map[string]string{
			"accepted":       "used by detection",
			"van":            "moved a mobile site's zones",
			"duplicate":      "already received (a retry); harmless",
			"out_of_order":   "older than the device's last fix; dropped",
			"jump":           "an impossible jump from the device's last fix; dropped",
			"too_old":        "measured longer ago than --max-fix-age; answered 2xx so the phone moves on",
			"future":         "dated more than 5 minutes ahead of the server clock (check the phone's clock); answered 2xx",
			"no_position":    "a record without coordinates (e.g. the Traccar app's heartbeat without a fix); answered 2xx",
			"invalid":        "a value out of range (latitude, speed, time); answered 2xx",
			"decrypt_failed": "an encrypted OwnTracks message that does not open with the token's key (or the token has none); answered 2xx",
			"malformed":      "a request the sender must fix (not the protocol, no device id); answered 4xx",
		},
	})
}
