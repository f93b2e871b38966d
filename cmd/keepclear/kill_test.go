package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/store/sqlite"
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildBinary builds keepclear once for the tests that run the real binary.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keepclear-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "keepclear")
		if out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type proc struct {
	cmd           *exec.Cmd
	url           string
	agency, admin string
}

// startServer runs the real binary and reads its address, and on a new
// database its first tokens, from what it prints.
func startServer(t *testing.T, bin, dir string, seed bool) *proc {
	t.Helper()
	sites := ""
	if seed {
		sites = filepath.Join("..", "..", "fixtures", "scenarios", "sites.geojson")
	}
	return startServerWith(t, bin, dir, sites)
}

// startServerWith starts the binary on dir/k.db, seeding it from sites
// when sites is not empty.
func startServerWith(t *testing.T, bin, dir, sites string, extra ...string) *proc {
	t.Helper()
	seed := sites != ""
	args := []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "k.db"),
		"--secret", "kill-test-secret", "--repeat-count", "1000", "--rate-limit", "0"}
	args = append(args, extra...)
	if seed {
		args = append(args, "--sites", sites)
	}
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	urlRe := regexp.MustCompile(`on (http://\S+/) `)
	deadline := time.After(20 * time.Second)
	for p.url == "" || (seed && p.agency == "") {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("server exited before it was ready")
			}
			if m := urlRe.FindStringSubmatch(l); m != nil {
				p.url = strings.TrimSuffix(m[1], "/")
			}
			if strings.Contains(l, "admin (") {
				p.admin = l[strings.LastIndex(l, " ")+1:]
			}
			if strings.Contains(l, `agency "demo"`) {
				p.agency = l[strings.LastIndex(l, " ")+1:]
			}
		case <-deadline:
			t.Fatal("server did not start")
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// feedBatches is a steady patrol: 20 cars driving back and forth past
// Insite at 10 m/s on lines 0-57 m north of it, one fix a second each.
func feedBatches(t0 time.Time, n int) [][]feed.Fix {
	insite := orb.Point{-123.10111, 49.28111}
	out := make([][]feed.Fix, n)
	for b := 0; b < n; b++ {
		for d := 0; d < 20; d++ {
			line := orbgeo.PointAtBearingAndDistance(insite, 0, float64(d*3))
			x := float64((b*10+d*37)%1600) - 800 // metres east, -800..800
			if x > 0 {
				x = 800 - x // back west
			}
			x = x + 400
			p := orbgeo.PointAtBearingAndDistance(line, 90, x)
			f := feed.NewFix()
			f.Device, f.Agency, f.T = fmt.Sprintf("car-%02d", d), "demo", t0.Add(time.Duration(b)*time.Second)
			f.Lat, f.Lon, f.Speed, f.Acc = roundTo(p[1]), roundTo(p[0]), 10, 5
			out[b] = append(out[b], f)
		}
		// Parked cars, whose stationary time must survive the kill: one
		// reports speed 0 every 2 s, one has no speed field and wanders a
		// few metres every 3 s, one is a tracker with a 20 s heartbeat.
		for i, pc := range []struct {
			every   int
			speed   float64
			jitterM float64
			dist    float64
		}{{2, 0, 0, 6}, {3, -1, 3, 12}, {20, -1, 0, 20}} {
			if b%pc.every != 0 {
				continue
			}
			p := orbgeo.PointAtBearingAndDistance(insite, float64(180+i*40), pc.dist+pc.jitterM*float64(b%5)/4)
			if b > 200 { // then it drives off east at 10 m/s
				p = orbgeo.PointAtBearingAndDistance(p, 90, float64(b-200)*10)
			}
			f := feed.NewFix()
			f.Device, f.Agency, f.T = fmt.Sprintf("parked-%d", i), "demo", t0.Add(time.Duration(b)*time.Second)
			f.Lat, f.Lon, f.Speed, f.Acc = roundTo(p[1]), roundTo(p[0]), pc.speed, 4
			out[b] = append(out[b], f)
		}
	}
	return out
}

func roundTo(v float64) float64 { return math.Round(v*1e7) / 1e7 }

func post(url, token string, fixes []feed.Fix) (int, error) {
	var b strings.Builder
	for i := range fixes {
		b.Write(fixes[i].AppendJSON(nil))
		b.WriteByte('\n')
	}
	req, _ := http.NewRequest("POST", url+"/api/v1/fixes", strings.NewReader(b.String()))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestKillAndRestart kills the server with SIGKILL in the middle of a
// steady ingest, restarts it, retries the unacknowledged batch, goes on, and
// checks that every acknowledged fix's events are stored, none twice, and
// that open visits were resumed rather than restarted: the stored events
// are exactly those of the same feed run without a crash.
func TestKillAndRestart(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	t0 := time.Now().UTC().Add(-4 * time.Minute).Truncate(time.Second)
	batches := feedBatches(t0, 240)

	srv := startServer(t, bin, dir, true)
	var ackedN atomic.Int64
	killed := make(chan struct{})
	go func() {
		for ackedN.Load() < 120 {
			time.Sleep(time.Millisecond)
		}
		srv.cmd.Process.Signal(syscall.SIGKILL) // mid-ingest: the sender is still going
		close(killed)
	}()
	next := 0
	for ; next < len(batches); next++ {
		code, err := post(srv.url, srv.agency, batches[next])
		if err != nil || code != 200 {
			break // the server died under this batch: it was not acknowledged
		}
		ackedN.Store(int64(next + 1))
	}
	<-killed
	acked := int(ackedN.Load())
	srv.cmd.Wait()
	if acked < 120 || acked >= len(batches) {
		t.Fatalf("acknowledged %d batches before the kill", acked)
	}
	t.Logf("killed after %d acknowledged batches", acked)

	// Every acknowledged fix's events are durable: compare with an offline
	// run of exactly the acknowledged batches.
	db, err := sqlite.Open(filepath.Join(dir, "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	stored := storedEvents(t, db)
	db.Close()
	for id, e := range offline(t, batches[:acked]) {
		if s, ok := stored[id]; !ok || s.Kind != e.Kind || !s.T.Equal(e.T) || s.Visit != e.Visit {
			t.Errorf("acknowledged event %s (%s at %s) missing after the kill", id, e.Kind, e.T.Format(time.TimeOnly))
		}
	}

	// Restart, retry the batch that was in flight (and the one before), go on.
	srv2 := startServer(t, bin, dir, false)
	defer func() { srv2.cmd.Process.Signal(syscall.SIGTERM); srv2.cmd.Wait() }()
	for _, b := range append([]int{acked - 1}, seq(acked, len(batches))...) {
		if code, err := post(srv2.url, srv.agency, batches[b]); err != nil || code != 200 {
			t.Fatalf("batch %d after restart: %d %v", b, code, err)
		}
	}
	srv2.cmd.Process.Signal(syscall.SIGTERM)
	srv2.cmd.Wait()

	db, err = sqlite.Open(filepath.Join(dir, "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored = storedEvents(t, db)
	want := offline(t, batches)
	var missing, extra []string
	for id, e := range want {
		// The same facts: kind, time, duration, stationary time, evidence
		// and verdict — a restart must not change a dwell or its date.
		if s, ok := stored[id]; !ok || s.Kind != e.Kind || !s.T.Equal(e.T) || s.DurationS != e.DurationS ||
			s.StationaryS != e.StationaryS || s.Breach != e.Breach || s.Confirmed != e.Confirmed || s.Fixes != e.Fixes {
			missing = append(missing, fmt.Sprintf("%s %s %s dur %v still %v breach %v (stored: %+v)", id, e.Kind,
				e.T.Format(time.TimeOnly), e.DurationS, e.StationaryS, e.Breach, s))
		}
	}
	for id, s := range stored {
		if _, ok := want[id]; !ok {
			extra = append(extra, fmt.Sprintf("%s %s %s/%s %s", id, s.Kind, s.Site, s.Zone, s.T.Format(time.TimeOnly)))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("after a kill and restart, %d events missing and %d extra (duplicates or restarted visits):\nmissing %v\nextra %v",
			len(missing), len(extra), missing, extra)
	}
	if len(want) < 50 {
		t.Errorf("only %d events in the run; the feed does not exercise visits", len(want))
	}
	// A visit open at the kill was resumed: it has its enter before the
	// kill and its exit after, under one visit id.
	killT := batches[acked-1][0].T
	resumed := 0
	for _, e := range stored {
		if e.Kind == event.Exit && e.T.After(killT) && stored[e.Visit+"-1"].T.Before(killT) {
			resumed++
		}
	}
	if resumed == 0 {
		t.Error("no visit spans the kill")
	}
	parkedExits := 0
	for _, e := range want {
		if e.Kind == event.Exit && e.StationaryS > 150 && e.T.After(killT) {
			parkedExits++
		}
	}
	if parkedExits < 3 {
		t.Errorf("%d parked cars' exits after the kill: the test does not exercise stationary time across a restart", parkedExits)
	}
	t.Logf("%d events, %d visits resumed across the kill", len(stored), resumed)
}

func seq(a, b int) []int {
	var out []int
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

func storedEvents(t *testing.T, db *sqlite.DB) map[string]event.Event {
	t.Helper()
	out := map[string]event.Event{}
	q := store.EventQuery{Limit: store.MaxLimit}
	for {
		page, next, err := db.Events(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if _, dup := out[e.ID]; dup {
				t.Fatalf("event %s stored twice", e.ID)
			}
			out[e.ID] = e
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

// offline runs the batches through a monitor like the server's, without a crash.
func offline(t *testing.T, batches [][]feed.Fix) map[string]event.Event {
	t.Helper()
	sites, err := loadSites(filepath.Join("..", "..", "fixtures", "scenarios", "sites.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := monitor.New(monitor.Config{Secret: []byte("kill-test-secret"), RepeatCount: 1000}, sites)
	out := map[string]event.Event{}
	var mo monitor.Out
	for _, b := range batches {
		for i := range b {
			f := b[i]
			mo.Reset()
			m.Process(&f, f.T, &mo)
			for _, e := range mo.Events {
				out[e.ID] = e
			}
		}
	}
	return out
}

// A buffered backlog flushed late, through serve: the scenario feed
// backlog-flushed-late posted in its own (arrival) order, days after it was
// measured, gives the same facts as replay — no signal_lost, no churn.
func TestServeBacklogMatchesReplay(t *testing.T) {
	dir := t.TempDir()
	bin := buildBinary(t)
	root := filepath.Join("..", "..", "fixtures", "scenarios")
	sites := filepath.Join(root, "sites.geojson")
	feedPath := filepath.Join(root, "backlog-flushed-late", "feed.ndjson")
	raw, err := os.ReadFile(feedPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerWith(t, bin, dir, sites, "--max-fix-age", "8760h")
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for i := 0; i < len(lines); i += 25 {
		body := strings.Join(lines[i:min(i+25, len(lines))], "\n")
		req, _ := http.NewRequest("POST", srv.url+"/api/v1/fixes", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.agency)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("batch %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()

	var out bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--sites", sites, feedPath}, nil, &out, io.Discard); code != 0 {
		t.Fatal("replay failed")
	}
	fact := func(e event.Event) string {
		return fmt.Sprintf("%s %s/%s %s dur=%v still=%v min=%v breach=%v in=%v confirmed=%v fixes=%d", e.Kind, e.Site, e.Zone,
			e.T.UTC().Format(time.RFC3339Nano), e.DurationS, e.StationaryS, e.MinDistanceM, e.Breach, e.InHours, e.Confirmed, e.Fixes)
	}
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e event.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		want = append(want, fact(e))
	}
	db, err := sqlite.Open(filepath.Join(dir, "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []string
	for _, e := range storedEvents(t, db) {
		got = append(got, fact(e))
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("serve and replay disagree on the late backlog:\nserve:\n%s\nreplay:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range got {
		if strings.HasPrefix(f, "signal_lost") || strings.HasPrefix(f, "repeat_pass") {
			t.Errorf("late backlog made %s", f)
		}
	}
	if len(got) < 6 {
		t.Errorf("only %d events", len(got))
	}
}
