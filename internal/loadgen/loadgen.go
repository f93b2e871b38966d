// Package loadgen drives a running keepclear server with DESIGN.md's load
// workload and measures what it accepts and how fast events reach a live
// WebSocket client. It only ever targets this machine (loopback).
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/keepclear/keepclear/internal/sim"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// Config is one load run.
type Config struct {
	URL        string        // server base URL, loopback only
	Token      string        // agency token
	WatchToken string        // liaison/admin token for the latency probe; "" for none
	Rate       float64       // fixes per second in total; 0 = flat out
	Duration   time.Duration // how long to send
	Conns      int           // concurrent connections
	Batch      int           // fixes per request
	Vehicles   int           // simulated vehicles
	// Warmup is left out of the fix → event latency: at the start every
	// vehicle is new, and those inside a zone all enter at once (about
	// 2,600 events in the first cycle of DESIGN.md's workload), which is
	// not the steady state the target is about.
	Warmup time.Duration
	// Acc is the accuracy (m) the fixes report (default 3). A visit is
	// confirmed by its entering fix when that fix is inside by more than
	// its accuracy, and only such enters are timed (see Run).
	Acc float64
}

// Run sends load as configured, shows progress on progress, and writes the
// report to out.
func Run(ctx context.Context, cfg Config, out, progressOut io.Writer) error {
	acc := cfg.Acc
	if acc <= 0 {
		acc = 3
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || !isLoopback(u.Hostname()) {
		return errors.New("the URL must be an http URL on this machine (127.0.0.0/8, ::1, localhost)")
	}
	if cfg.Token == "" || cfg.Conns < 1 || cfg.Batch < 1 || cfg.Vehicles < cfg.Batch {
		return errors.New("need a token, conns ≥ 1, batch ≥ 1, vehicles ≥ batch")
	}
	lg := &loadgen{sent: map[sentKey]int64{}, old: map[sentKey]int64{}, rotated: time.Now(), warmupEnd: time.Now().Add(cfg.Warmup)}
	if cfg.WatchToken != "" {
		if err := lg.watch(ctx, u, cfg.WatchToken); err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
	}
	// Vehicles: random walkers in the disc, 5 m a step.
	r := rand.New(rand.NewPCG(7, 7))
	pos := make([]orb.Point, cfg.Vehicles)
	for i := range pos {
		pos[i] = sim.DiscPoint(r, sim.BenchCenter, 10000)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Conns, MaxConnsPerHost: cfg.Conns}, Timeout: 60 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var next atomic.Int64 // next vehicle slot
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Batch) * float64(cfg.Conns) / cfg.Rate)
	}
	for c := 0; c < cfg.Conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(uint64(c), 99))
			var buf bytes.Buffer
			tick := time.NewTicker(max(interval, time.Microsecond))
			if interval > 0 { // spread the connections over the interval
				time.Sleep(interval * time.Duration(c) / time.Duration(cfg.Conns))
			}
			defer tick.Stop()
			for ctx.Err() == nil {
				if interval > 0 {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
				buf.Reset()
				first := int(next.Add(int64(cfg.Batch))-int64(cfg.Batch)) % cfg.Vehicles
				now := time.Now()
				keys := make([]sentKey, 0, cfg.Batch)
				for i := 0; i < cfg.Batch; i++ {
					v := (first + i) % cfg.Vehicles
					p := orbgeo.PointAtBearingAndDistance(pos[v], rr.Float64()*360, 5)
					if orbgeo.Distance(p, sim.BenchCenter) > 10000 {
						p = orbgeo.PointAtBearingAndDistance(sim.BenchCenter, rr.Float64()*360, 9000*rr.Float64())
					}
					pos[v] = p
					lat, lon := math.Round(p[1]*1e6)/1e6, math.Round(p[0]*1e6)/1e6
					t := now.Add(time.Duration(i) * time.Microsecond).UTC().Truncate(time.Millisecond)
					fmt.Fprintf(&buf, `{"device":"lg-%d","t":%d,"lat":%v,"lon":%v,"acc":%v}`+"\n", v, t.UnixMilli(), lat, lon, acc)
					keys = append(keys, sentKey{t.UnixMilli(), int64(math.Round(lat * 1e5)), int64(math.Round(lon * 1e5))})
				}
				lg.remember(keys, now)
				reqStart := time.Now()
				req, _ := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(cfg.URL, "/")+"/api/v1/fixes", bytes.NewReader(buf.Bytes()))
				req.Header.Set("Authorization", "Bearer "+cfg.Token)
				req.Header.Set("Content-Type", "application/x-ndjson")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						lg.errors.Add(1)
					}
					continue
				}
				var out struct{ Accepted, Rejected, Dropped int }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					lg.errors.Add(1)
					continue
				}
				lg.accepted.Add(int64(out.Accepted))
				lg.rejected.Add(int64(out.Rejected + out.Dropped))
				lg.recordHTTP(time.Since(reqStart))
			}
		}(c)
	}
	progress := time.NewTicker(time.Second)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		for {
			select {
			case <-ctx.Done():
				return
			case <-progress.C:
				el := time.Since(start).Seconds()
				fmt.Fprintf(progressOut, "\rloadgen: %5.0fs  %9d accepted  %8.0f fixes/s  %6d events seen  %d errors   ",
					el, lg.accepted.Load(), float64(lg.accepted.Load())/el, lg.events.Load(), lg.errors.Load())
			}
		}
	}()
	wg.Wait()
	cancel()
	<-progressDone // the progress line is finished before the report follows it
	progress.Stop()
	elapsed := time.Since(start)
	time.Sleep(500 * time.Millisecond) // let the last events arrive
	fmt.Fprintln(progressOut)
	lg.report(out, elapsed, cfg.Rate, cfg.Conns, cfg.Batch, cfg.Vehicles)
	return nil
}

type sentKey struct{ tMs, lat, lon int64 }

type loadgen struct {
	mu                         sync.Mutex
	sent, old                  map[sentKey]int64 // Unix ns a fix was sent, in this window and the one before (no pointers for the GC to scan)
	rotated                    time.Time
	warmupEnd                  time.Time       // fixes sent before it are not timed
	warmupEvents               int             // enter events of such fixes
	lat                        []time.Duration // fix sent → event seen
	httpLat                    []time.Duration
	accepted, rejected, errors atomic.Int64
	events                     atomic.Int64
}

// sentWindow is how long a sent fix is remembered for matching (between
// one and two windows): an event later than that is not a latency sample.
// Remembering every fix of a long flat-out run made the generator itself
// the bottleneck, slowing as its map grew.
const sentWindow = 5 * time.Second

func (l *loadgen) remember(keys []sentKey, at time.Time) {
	l.mu.Lock()
	if at.Sub(l.rotated) > sentWindow {
		l.old, l.sent, l.rotated = l.sent, l.old, at
		clear(l.sent)
	}
	for _, k := range keys {
		l.sent[k] = at.UnixNano()
	}
	l.mu.Unlock()
}

// sentAt is when the fix with key k was sent, if it is still remembered.
// Call with mu held.
func (l *loadgen) sentAt(k sentKey) (time.Time, bool) {
	at, ok := l.sent[k]
	if !ok {
		at, ok = l.old[k]
	}
	return time.Unix(0, at), ok
}

func (l *loadgen) recordHTTP(d time.Duration) {
	l.mu.Lock()
	l.httpLat = append(l.httpLat, d)
	l.mu.Unlock()
}

// watch connects the latency probe: every enter event is matched, by its
// time and position, to the fix that caused it.
func (l *loadgen) watch(ctx context.Context, u *url.URL, token string) error {
	ws := *u
	ws.Scheme = strings.Replace(ws.Scheme, "http", "ws", 1)
	ws.Path = "/ws/live"
	ws.RawQuery = "access_token=" + url.QueryEscape(token)
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, ws.String(), nil)
	if err != nil {
		return err
	}
	go func() {
		defer conn.Close()
		head := make([]byte, 32)
		for {
			_, r, err := conn.NextReader()
			if err != nil {
				return
			}
			seen := time.Now()
			n, _ := io.ReadFull(r, head)
			if bytes.HasPrefix(head[:n], []byte(`{"type":"positions"`)) {
				// Large, frequent, and not what is timed: skipped unread, so
				// the generator's own garbage collection does not show up
				// as latency.
				io.Copy(io.Discard, r)
				continue
			}
			rest, err := io.ReadAll(r)
			if err != nil {
				return
			}
			b := append(head[:n:n], rest...)
			var m struct {
				Type  string `json:"type"`
				Event *struct {
					Kind  string    `json:"kind"`
					T     time.Time `json:"t"`
					Lat   float64   `json:"lat"`
					Lon   float64   `json:"lon"`
					Fixes int       `json:"fixes"`
					Conf  bool      `json:"confirmed"`
				} `json:"event"`
			}
			if json.Unmarshal(b, &m) != nil || m.Type != "event" || m.Event == nil {
				continue
			}
			l.events.Add(1)
			if m.Event.Kind != "enter" || m.Event.Fixes != 1 || !m.Event.Conf {
				// Only an enter confirmed by its own fix goes out with that
				// fix; one held back for a second fix (the evidence rule)
				// would time the vehicle's next report, not the server.
				continue
			}
			k := sentKey{m.Event.T.UnixMilli(), int64(math.Round(m.Event.Lat * 1e5)), int64(math.Round(m.Event.Lon * 1e5))}
			l.mu.Lock()
			if at, ok := l.sentAt(k); ok {
				if at.Before(l.warmupEnd) {
					l.warmupEvents++
				} else {
					l.lat = append(l.lat, seen.Sub(at))
				}
			}
			l.mu.Unlock()
		}
	}()
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(math.Ceil(p/100*float64(len(d))))-1)]
}

func (l *loadgen) report(w io.Writer, elapsed time.Duration, rate float64, conns, batch, vehicles int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	target := "flat out"
	if rate > 0 {
		target = strconv.FormatFloat(rate, 'f', 0, 64) + " fixes/s"
	}
	fmt.Fprintf(w, "loadgen: %s, %d connections, %d fixes a request, %d vehicles, %s\n", target, conns, batch, vehicles, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  accepted   %d fixes (%.0f fixes/s); rejected or dropped %d; failed requests %d\n",
		l.accepted.Load(), float64(l.accepted.Load())/elapsed.Seconds(), l.rejected.Load(), l.errors.Load())
	fmt.Fprintf(w, "  request    p50 %s  p95 %s  p99 %s  (%d requests)\n", pct(l.httpLat, 50).Round(time.Microsecond),
		pct(l.httpLat, 95).Round(time.Microsecond), pct(l.httpLat, 99).Round(time.Microsecond), len(l.httpLat))
	if len(l.lat) > 0 {
		fmt.Fprintf(w, "  fix→event  p50 %s  p95 %s  p99 %s  (%d enter events matched after the warm-up, %d during it; %d events seen)\n", pct(l.lat, 50).Round(time.Microsecond),
			pct(l.lat, 95).Round(time.Microsecond), pct(l.lat, 99).Round(time.Microsecond), len(l.lat), l.warmupEvents, l.events.Load())
	} else if l.warmupEvents > 0 {
		fmt.Fprintf(w, "  fix→event  not timed: all %d enter events matched came during the warm-up\n", l.warmupEvents)
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}
