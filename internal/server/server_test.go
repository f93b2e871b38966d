package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/keepclear/keepclear/internal/auth"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/ingest"
	"github.com/keepclear/keepclear/internal/live"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/server"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/store/sqlite"
	"github.com/keepclear/keepclear/web"
	"github.com/prometheus/client_golang/prometheus"
)

// env is a real server on :0 over a real SQLite store.
type env struct {
	t                                  *testing.T
	url                                string
	db                                 *sqlite.DB
	agency, liaison, admin, researcher string
	pipe                               *ingest.Pipeline
	now                                time.Time
}

func newEnv(t *testing.T, rateLimit float64) *env {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join("..", "..", "fixtures", "scenarios", "sites.geojson"))
	sites, err := site.Load(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Open around the clock: the tests post fixes dated now, and what they
	// expect must not depend on the hour they run at.
	always, _ := site.ParseHours("24/7")
	for _, s := range sites {
		s.Hours = always
	}
	mon, _ := monitor.New(monitor.Config{Secret: []byte("test-secret"), Aggregate: true}, sites)
	hub := live.New(100, 20*time.Millisecond)
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var pipe *ingest.Pipeline
	m := server.NewMetrics(reg, server.Gauges{OpenVisits: func() float64 { return float64(pipe.OpenVisitCount()) }})
	pipe = ingest.New(mon, db, hub, m, log, ingest.Options{FlushEvery: 50 * time.Millisecond})
	a := auth.NewAuthenticator(db, rateLimit, int(rateLimit))
	srv := server.New(server.Config{MaxBodyBytes: 1 << 20}, log, db, pipe, hub, a, web.FS(), reg, m)
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	srv.OnShutdown(hub.Close)
	go srv.Serve()
	e := &env{t: t, url: "http://" + srv.Addr().String(), db: db, pipe: pipe, now: time.Now().UTC().Truncate(time.Second)}
	ctx := context.Background()
	e.agency, _, _ = auth.Create(ctx, db, "vpd feed", auth.Agency, "vpd")
	e.liaison, _, _ = auth.Create(ctx, db, "liaison-1", auth.Liaison, "")
	e.admin, _, _ = auth.Create(ctx, db, "admin", auth.Admin, "")
	e.researcher, _, _ = auth.Create(ctx, db, "uni", auth.Researcher, "")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		pipe.Close()
		db.Close()
	})
	return e
}

func (e *env) do(method, path, token string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// insite is 139 E Hastings; ts renders a time offset from the test's now.
var insite = [2]float64{49.28111, -123.10111}

func (e *env) ts(sec int) string {
	return e.now.Add(time.Duration(sec) * time.Second).Format(time.RFC3339)
}

func (e *env) fix(dev string, sec int, lat, lon float64) string {
	return fmt.Sprintf(`{"device":%q,"t":%q,"lat":%v,"lon":%v,"acc":5,"speed":0}`, dev, e.ts(sec), lat, lon)
}

type fixesResp struct {
	Received, Accepted, Dropped, Rejected, Events int
	Results                                       []struct {
		Index, Line          int
		Status, Error, Field string
	}
}

func TestFixesNDJSONArrayAndGzipWithPerRecordResults(t *testing.T) {
	e := newEnv(t, 0)
	body := strings.Join([]string{
		e.fix("car-1", -60, insite[0], insite[1]),
		`{"device":"car-1","t":"not a time","lat":1,"lon":2}`,
		`{"device":"car-2","t":` + fmt.Sprint(e.now.Unix()) + `,"lat":91,"lon":2}`,
		`{broken`,
		e.fix("car-1", -60, insite[0], insite[1]), // duplicate
		fmt.Sprintf(`{"device":"car-3","t":%q,"lat":1,"lon":2}`, e.now.Add(time.Hour).Format(time.RFC3339)),
		fmt.Sprintf(`{"device":"car-3","t":%q,"lat":1,"lon":2}`, e.now.Add(-30*24*time.Hour).Format(time.RFC3339)),
		`{"device":"car-4","agency":"someone-else","t":` + fmt.Sprint(e.now.UnixMilli()) + `,"lat":1,"lon":2}`,
	}, "\n")
	resp, b := e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(body), "Content-Type", "application/x-ndjson")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var r fixesResp
	json.Unmarshal(b, &r)
	if r.Received != 8 || r.Accepted != 2 || r.Rejected != 5 || r.Dropped != 1 || r.Events != 3 {
		t.Errorf("%s", b)
	}
	want := map[int]string{1: "t", 2: "lat", 3: "", 5: "t", 6: "t"}
	for _, rr := range r.Results {
		if rr.Status == "rejected" {
			if f, ok := want[rr.Index]; !ok || f != rr.Field || rr.Line != rr.Index+1 || rr.Error == "" {
				t.Errorf("result %+v", rr)
			}
		} else if rr.Status != "duplicate" || rr.Index != 4 {
			t.Errorf("result %+v", rr)
		}
	}
	// The agency comes from the token, never from the body.
	_, b = e.do("GET", "/api/v1/events?agency=someone-else", e.researcher, nil)
	if !strings.Contains(string(b), `"events":[]`) {
		t.Errorf("an agency named in the body was used: %s", b)
	}

	// A JSON array, gzipped.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	fmt.Fprintf(zw, "[%s,%s]", e.fix("car-9", -50, 49.2712, -123.1057), e.fix("car-9", -40, 49.2712, -123.1057))
	zw.Close()
	resp, b = e.do("POST", "/api/v1/fixes", e.agency, &gz, "Content-Type", "application/json", "Content-Encoding", "gzip")
	json.Unmarshal(b, &r)
	if resp.StatusCode != 200 || r.Accepted != 2 || r.Events == 0 {
		t.Errorf("gzip array: %d %s", resp.StatusCode, b)
	}
}

func TestBadInputGetsClear4xx(t *testing.T) {
	e := newEnv(t, 0)
	cases := []struct {
		name, method, path, token, body string
		hdr                             []string
		status                          int
		contains                        string
	}{
		{"no token", "POST", "/api/v1/fixes", "", "{}", nil, 401, "token"},
		{"bad token", "POST", "/api/v1/fixes", "kc_nope", "{}", nil, 401, "token"},
		{"liaison submitting", "POST", "/api/v1/fixes", e.liaison, e.fix("a", 0, 1, 2), nil, 403, "liaison"},
		{"agency reading", "GET", "/api/v1/events", e.agency, "", nil, 403, "agency"},
		{"empty body", "POST", "/api/v1/fixes", e.agency, "", nil, 400, "empty body"},
		{"all records bad", "POST", "/api/v1/fixes", e.agency, `{"device":"a","t":1,"lat":NaN,"lon":2}`, nil, 400, "no valid fix"},
		{"malformed array", "POST", "/api/v1/fixes", e.agency, `[{"device":`, nil, 400, "malformed JSON"},
		{"not gzip", "POST", "/api/v1/fixes", e.agency, "plain", []string{"Content-Encoding", "gzip"}, 400, "gzip"},
		{"huge body", "POST", "/api/v1/fixes", e.agency, strings.Repeat(e.fix("a", 0, 1, 2)+"\n", 20000), nil, 413, "larger than"},
		{"bad kind", "GET", "/api/v1/events?kind=party", e.researcher, "", nil, 400, "unknown kind"},
		{"bad from", "GET", "/api/v1/events?from=yesterday", e.researcher, "", nil, 400, "RFC 3339"},
		{"bad limit", "GET", "/api/v1/events?limit=0", e.researcher, "", nil, 400, "limit"},
		{"bad cursor", "GET", "/api/v1/events?cursor=%25%25", e.researcher, "", nil, 400, "cursor"},
		{"unknown event", "GET", "/api/v1/events/nope", e.researcher, "", nil, 404, "not found"},
		{"osmand no id", "GET", "/osmand?lat=1&lon=2", e.agency, "", nil, 400, "device id"},
		{"osmand bad lat", "GET", "/osmand?id=a&lat=x&lon=2", e.agency, "", nil, 400, "lat"},
		{"invalid hours", "PUT", "/api/v1/sites/x", e.admin, `{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"x","name":"X","kind":"sis","opening_hours":"Mo-Fr 9-5","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30}]}}`, nil, 400, "opening_hours"},
		{"self-intersecting", "PUT", "/api/v1/sites/x", e.admin, `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]},"properties":{"id":"x","name":"X","kind":"sis","opening_hours":"24/7","timezone":"UTC","zones":[{"name":"f","radius_m":30}]}}`, nil, 400, "self-intersecting"},
		{"id mismatch", "PUT", "/api/v1/sites/y", e.admin, `{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"x","name":"X","kind":"sis","opening_hours":"24/7","timezone":"UTC","zones":[{"name":"f","radius_m":30}]}}`, nil, 400, "differs"},
		{"liaison editing sites", "DELETE", "/api/v1/sites/insite", e.liaison, "", nil, 403, ""},
		{"unknown site heatmap", "GET", "/api/v1/heatmap?site=nope", e.researcher, "", nil, 404, "no site"},
		{"bad week", "GET", "/api/v1/heatmap?site=insite&week=47", e.researcher, "", nil, 400, "week"},
		{"bad annotation", "POST", "/api/v1/events/x/annotations", e.liaison, `{"label":"because"}`, nil, 400, "unknown label"},
		{"annotation extra field", "POST", "/api/v1/events/x/annotations", e.liaison, `{"label":"note","text":"x","author":"me"}`, nil, 400, "unknown field"},
		{"ws without token", "GET", "/ws/live", "", "", nil, 401, "token"},
		{"unknown path, a method the dashboard lacks", "POST", "/nope", e.agency, "", nil, 405, "allowed"},
		{"unknown api path", "GET", "/api/v1/nope", e.researcher, "", nil, 404, "not found"},
		{"wrong method", "PUT", "/owntracks", e.agency, "", nil, 405, "POST"},
		{"wrong method on a token path", "DELETE", "/osmand/kc_secret", "", "", nil, 405, "allowed"},
		{"summary needs admin", "GET", "/api/v1/ingest/summary", e.researcher, "", nil, 403, "admin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := e.do(c.method, c.path, c.token, strings.NewReader(c.body), c.hdr...)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, b)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(b, &body); err != nil || body.Error == "" {
				t.Fatalf("not a JSON error: %s", b)
			}
			if !strings.Contains(body.Error+string(b), c.contains) {
				t.Errorf("error %q lacks %q", b, c.contains)
			}
		})
	}
	// Nothing of the above reached the store.
	_, b := e.do("GET", "/api/v1/events", e.researcher, nil)
	if !strings.Contains(string(b), `"events":[]`) {
		t.Errorf("rejected input left events: %s", b)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, 3)
	codes := map[int]int{}
	var retry string
	for i := 0; i < 6; i++ {
		resp, _ := e.do("GET", "/api/v1/whoami", e.researcher, nil)
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retry = resp.Header.Get("Retry-After")
		}
	}
	if codes[200] < 3 || codes[429] == 0 || retry == "" {
		t.Errorf("codes %v, Retry-After %q", codes, retry)
	}
}

func TestOsmAndAndOwnTracks(t *testing.T) {
	e := newEnv(t, 0)
	// Traccar Client, query form, token in the path (the app's server URL).
	q := url.Values{"id": {"phone-1"}, "lat": {"49.28111"}, "lon": {"-123.10111"}, "timestamp": {fmt.Sprint(e.now.Add(-100 * time.Second).Unix())}, "speed": {"0"}, "batt": {"80"}}
	resp, b := e.do("GET", "/osmand/"+e.agency+"?"+q.Encode(), "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("osmand GET: %d %s", resp.StatusCode, b)
	}
	// Form body, bearer header.
	q.Set("timestamp", fmt.Sprint(e.now.Add(-90*time.Second).UnixMilli()))
	resp, b = e.do("POST", "/osmand", e.agency, strings.NewReader(q.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 200 {
		t.Fatalf("osmand form: %d %s", resp.StatusCode, b)
	}
	// JSON body.
	js := fmt.Sprintf(`{"location":{"timestamp":%q,"coords":{"latitude":49.28111,"longitude":-123.10111,"accuracy":4,"speed":-1,"heading":-1}},"device_id":"phone-1"}`, e.ts(-80))
	resp, b = e.do("POST", "/osmand/"+e.agency, "", strings.NewReader(js), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("osmand json: %d %s", resp.StatusCode, b)
	}
	// OwnTracks: token as the Basic password, device from X-Limit-D.
	ot := func(body string, hdr ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest("POST", e.url+"/owntracks", strings.NewReader(body))
		req.SetBasicAuth("phone-user", e.agency)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	resp, b = ot(fmt.Sprintf(`{"_type":"location","lat":49.2712,"lon":-123.1057,"tst":%d,"acc":10,"vel":0}`, e.now.Add(-70*time.Second).Unix()), "X-Limit-D", "phone-2")
	if resp.StatusCode != 200 || string(b) != "[]" {
		t.Fatalf("owntracks: %d %s", resp.StatusCode, b)
	}
	for _, other := range []string{`{"_type":"transition","event":"enter"}`, ``} {
		if resp, b := ot(other); resp.StatusCode != 200 || string(b) != "[]" {
			t.Errorf("owntracks %q: %d %s", other, resp.StatusCode, b)
		}
	}
	// A record that can never be used is answered 200 (the phone would
	// retry it forever) and counted; a malformed body is the sender's to fix.
	if resp, b := ot(`{"_type":"location","lat":99,"lon":1,"tst":1}`, "X-Limit-D", "p"); resp.StatusCode != 200 || string(b) != "[]" {
		t.Errorf("unusable owntracks location: %d %s", resp.StatusCode, b)
	}
	if resp, b := ot(`{"_type":"location",`, "X-Limit-D", "p"); resp.StatusCode != 400 {
		t.Errorf("malformed owntracks body: %d %s", resp.StatusCode, b)
	}
	// phone-1's three fixes are one visit (one enter per zone); phone-2 entered too.
	_, b = e.do("GET", "/api/v1/events?kind=enter", e.researcher, nil)
	var out struct {
		Events []struct{ Site, Zone, Device, Agency string }
	}
	json.Unmarshal(b, &out)
	devices := map[string]int{}
	for _, ev := range out.Events {
		devices[ev.Device]++
		if ev.Agency != "vpd" || ev.Device == "phone-1" || ev.Device == "phone-2" {
			t.Errorf("event %+v", ev)
		}
	}
	if len(devices) != 2 || len(out.Events) != 5 {
		t.Errorf("enters: %s", b)
	}
}

func TestEventsQueryFormatsAnnotationsHeatmap(t *testing.T) {
	e := newEnv(t, 0)
	var lines []string
	for s := -300; s <= -200; s += 10 {
		lines = append(lines, e.fix("car-1", s, insite[0], insite[1]))
	}
	for i, s := range []int{-190, -180, -170, -160} { // drive off north at 20 m/s
		lines = append(lines, e.fix("car-1", s, insite[0]+0.0018*float64(i+1), insite[1]))
	}
	resp, b := e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(strings.Join(lines, "\n")))
	if resp.StatusCode != 200 {
		t.Fatal(string(b))
	}
	var page struct {
		Events []struct{ ID, Kind, Zone, Device string }
		Next   string
	}
	var all []string
	path := "/api/v1/events?limit=2"
	for i := 0; i < 20 && path != ""; i++ {
		resp, b := e.do("GET", path, e.researcher, nil)
		if resp.StatusCode != 200 {
			t.Fatal(string(b))
		}
		json.Unmarshal(b, &page)
		for _, ev := range page.Events {
			all = append(all, ev.Kind+":"+ev.Zone)
		}
		path = ""
		if page.Next != "" {
			path = "/api/v1/events?limit=2&cursor=" + page.Next
			if !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
				t.Error("no Link header")
			}
		}
	}
	// door, frontage, vicinity: enter; frontage (max 0) dwell; vicinity dwell would need 600 s; exits.
	sort.Strings(all) // events at the same instant come in id order
	if fmt.Sprint(all) != "[dwell:frontage enter:door enter:frontage enter:vicinity exit:door exit:frontage exit:vicinity]" {
		t.Errorf("events: %v", all)
	}
	resp, b = e.do("GET", "/api/v1/events?kind=dwell", e.researcher, nil, "Accept", "text/csv")
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(recs) != 2 || recs[0][0] != "id" || recs[1][4] != "dwell" {
		t.Errorf("csv: %v %s", err, b)
	}
	resp, b = e.do("GET", "/api/v1/events?format=geojson&zone=door", e.researcher, nil)
	var fc struct {
		Type     string
		Features []struct {
			Geometry   struct{ Coordinates []float64 }
			Properties map[string]any
		}
	}
	json.Unmarshal(b, &fc)
	if fc.Type != "FeatureCollection" || len(fc.Features) != 2 || fc.Features[0].Geometry.Coordinates[1] != insite[0] || fc.Features[0].Properties["zone"] != "door" {
		t.Errorf("geojson: %s", b)
	}
	// Annotations: append-only, with author and role.
	json.Unmarshal(mustGet(e, "/api/v1/events?kind=enter&zone=door"), &page)
	id := page.Events[0].ID
	for _, body := range []string{`{"label":"called_by_staff","text":"staff called"}`, `{"label":"disputed","text":"no call on record"}`} {
		resp, b := e.do("POST", "/api/v1/events/"+id+"/annotations", e.liaison, strings.NewReader(body))
		if resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
	}
	if resp, _ := e.do("POST", "/api/v1/events/"+id+"/annotations", e.researcher, strings.NewReader(`{"label":"note","text":"x"}`)); resp.StatusCode != 403 {
		t.Errorf("researcher annotated: %d", resp.StatusCode)
	}
	var detail struct {
		Annotations []struct{ Label, Author, Role, Text string }
	}
	json.Unmarshal(mustGet(e, "/api/v1/events/"+id), &detail)
	if len(detail.Annotations) != 2 || detail.Annotations[0].Label != "called_by_staff" || detail.Annotations[1].Author != "liaison-1" || detail.Annotations[1].Role != "liaison" {
		t.Errorf("annotations: %+v", detail.Annotations)
	}
	// Heatmap of this week: the aggregates flush every 50 ms here.
	time.Sleep(200 * time.Millisecond)
	var h struct {
		Week    string
		Entries int
		Days    [7][24]struct {
			Entries       int
			Fixes         int64
			StationaryMin float64
		}
		Spots []struct {
			Lat, Lon float64
			Fixes    int64
		}
	}
	json.Unmarshal(mustGet(e, "/api/v1/heatmap?site=insite"), &h)
	var fixes int64
	for _, d := range h.Days {
		for _, c := range d {
			fixes += c.Fixes
		}
	}
	if h.Entries != 1 || fixes != 11 || len(h.Spots) != 1 {
		t.Errorf("heatmap: entries %d fixes %d spots %v", h.Entries, fixes, h.Spots)
	}
	// The weekly report, as HTML, with the annotated breach in it.
	resp, b = e.do("GET", "/api/v1/report?site=insite&week="+h.Week, e.researcher, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(b), "weekly report, week "+h.Week) || !strings.Contains(string(b), "no call on record") {
		t.Errorf("report: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.do("GET", "/api/v1/report?week=1999", e.researcher, nil); resp.StatusCode != 400 {
		t.Errorf("bad week: %d", resp.StatusCode)
	}
}

func mustGet(e *env, path string) []byte {
	e.t.Helper()
	resp, b := e.do("GET", path, e.admin, nil)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

func TestSitesAdminRebuildsIndexLive(t *testing.T) {
	e := newEnv(t, 0)
	far := [2]float64{49.3, -123.2}
	feature := fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%v,%v]},"properties":{"id":"new-site","name":"New","kind":"nsp","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"frontage","radius_m":40,"no_entry":true}]}}`, far[1], far[0])
	resp, b := e.do("PUT", "/api/v1/sites/new-site", e.admin, strings.NewReader(feature))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	var r fixesResp
	_, b = e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(e.fix("car-5", -10, far[0], far[1])))
	json.Unmarshal(b, &r)
	if r.Events != 1 {
		t.Errorf("no enter at the new site: %s", b)
	}
	_, b = e.do("GET", "/api/v1/sites", e.researcher, nil)
	if !strings.Contains(string(b), `"new-site"`) {
		t.Errorf("sites: %s", b)
	}
	if resp, _ := e.do("DELETE", "/api/v1/sites/new-site", e.admin, nil); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	_, b = e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(e.fix("car-6", -5, far[0], far[1])))
	json.Unmarshal(b, &r)
	if r.Events != 0 {
		t.Errorf("deleted site still detected: %s", b)
	}
	// The open visit at the deleted site was closed.
	_, b = e.do("GET", "/api/v1/events?site=new-site&kind=exit", e.researcher, nil)
	if !strings.Contains(string(b), `"kind":"exit"`) {
		t.Errorf("visit at a removed site not closed: %s", b)
	}
	if resp, _ := e.do("DELETE", "/api/v1/sites/new-site", e.admin, nil); resp.StatusCode != 404 {
		t.Errorf("second delete: %d", resp.StatusCode)
	}
}

func TestLiveWebSocket(t *testing.T) {
	e := newEnv(t, 0)
	// One visit open before the client connects: it is in the snapshot.
	e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(e.fix("car-1", -30, insite[0], insite[1])))
	ws := "ws" + strings.TrimPrefix(e.url, "http") + "/ws/live?access_token=" + e.liaison
	conn, _, err := websocket.DefaultDialer.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var snap struct {
		Type       string
		Sites      struct{ Features []json.RawMessage }
		OpenVisits []struct{ Site, Zone string } `json:"open_visits"`
		Events     []struct{ Kind string }
	}
	if err := conn.ReadJSON(&snap); err != nil {
		t.Fatal(err)
	}
	if snap.Type != "snapshot" || len(snap.Sites.Features) != 3 || len(snap.OpenVisits) != 3 || len(snap.Events) != 3 {
		t.Fatalf("snapshot: %+v", snap)
	}
	if strings.Contains(fmt.Sprint(snap), "van-1") {
		t.Error("the van's device name was sent to a client")
	}
	start := time.Now()
	e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(e.fix("car-2", -20, 49.2712, -123.1057)))
	// The outreach van moves: its site's new position goes out too. A van
	// fix moves the zones once the next one has not contradicted it.
	outreach, _, _ := auth.Create(context.Background(), e.db, "outreach vans", auth.Agency, "outreach")
	e.do("POST", "/api/v1/fixes", outreach, strings.NewReader(e.fix("van-1", -15, 49.2801, -123.0901)+"\n"+e.fix("van-1", -10, 49.2802, -123.0901)))
	gotEvent, gotPositions, gotVan := false, false, false
	for !(gotEvent && gotPositions && gotVan) {
		var m struct {
			Type      string
			Event     *struct{ Kind, Site, Device string }
			Positions []struct {
				Device, Site string
				Lat          float64
			}
		}
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %v (enter event %v, car position %v, van position %v): %v", time.Since(start), gotEvent, gotPositions, gotVan, err)
		}
		switch m.Type {
		case "event":
			if m.Event.Site == "london-drugs-salt" && m.Event.Kind == "enter" {
				gotEvent = true
				if m.Event.Device == "car-2" || len(m.Event.Device) != 16 {
					t.Errorf("device %q is not a pseudonym", m.Event.Device)
				}
			}
		case "positions":
			for _, p := range m.Positions {
				if p.Lat == 49.2712 {
					gotPositions = true
				}
				if p.Site == "outreach-van" && p.Lat == 49.2801 {
					gotVan = true
					if p.Device != "" {
						t.Errorf("the van's position carries a device: %+v", p)
					}
				}
			}
		}
	}
}

func TestHealthReadyMetricsDashboard(t *testing.T) {
	e := newEnv(t, 0)
	e.do("POST", "/api/v1/fixes", e.agency, strings.NewReader(e.fix("car-1", -30, insite[0], insite[1])))
	for path, want := range map[string]string{
		"/healthz": `"ok"`,
		"/readyz":  `"ready"`,
		"/metrics": `keepclear_fixes_ingested_total{agency="vpd",result="accepted"} 1`,
		"/":        "<title>keepclear</title>",
		"/app.js":  "WebSocket",
	} {
		resp, b := e.do("GET", path, "", nil)
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, lacks %q", path, resp.StatusCode, want)
		}
	}
	_, b := e.do("GET", "/metrics", "", nil)
	for _, m := range []string{"keepclear_events_total{breach=\"true\",kind=\"enter\"} 1", "keepclear_open_visits 3", "keepclear_store_write_duration_seconds_bucket",
		"keepclear_check_duration_seconds_count", "keepclear_websocket_clients 0", `keepclear_http_request_duration_seconds_count{method="POST",route="/api/v1/fixes",status="200"} 1`} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	e.db.Close() // the store goes away: not ready
	if resp, _ := e.do("GET", "/readyz", "", nil); resp.StatusCode != 503 {
		t.Errorf("readyz with a closed store: %d", resp.StatusCode)
	}
}

// The evidence fields (confirmed, fixes, interpolated) and the resumed kind
// reach researchers in every encoding of the events API: JSON, CSV and
// GeoJSON feature properties, set and unset.
func TestEventsCarryEvidenceInEveryEncoding(t *testing.T) {
	e := newEnv(t, 0)
	at := time.Date(2026, 11, 16, 18, 0, 0, 0, time.UTC)
	mk := func(id string, kind event.Kind, sec int, confirmed bool, fixes int, interpolated bool) event.Event {
		return event.Event{ID: id, Visit: "v-ev", Site: "evidence-site", Zone: "frontage", Kind: kind, Device: "0123456789abcdef", Agency: "vpd",
			T: at.Add(time.Duration(sec) * time.Second), MinDistanceM: 12.5, InHours: true, Confirmed: confirmed, Fixes: fixes, Interpolated: interpolated,
			Lat: 49.28111, Lon: -123.10111}
	}
	evs := []event.Event{
		mk("ev-1", event.Enter, 0, false, 1, false),   // one loose fix: unconfirmed
		mk("ev-2", event.Exit, 10, false, 0, true),    // a pass between fixes
		mk("ev-3", event.Resumed, 20, true, 5, false), // confirmed, reopened
	}
	if err := e.db.Write(context.Background(), &store.Batch{Events: evs}); err != nil {
		t.Fatal(err)
	}
	type evidence struct {
		ID, Kind     string
		Confirmed    bool
		Fixes        int
		Interpolated bool
	}
	want := []evidence{{"ev-1", "enter", false, 1, false}, {"ev-2", "exit", false, 0, true}, {"ev-3", "resumed", true, 5, false}}

	// JSON: the keys are present even when false or zero.
	_, b := e.do("GET", "/api/v1/events?site=evidence-site", e.researcher, nil)
	var page struct{ Events []map[string]any }
	if err := json.Unmarshal(b, &page); err != nil || len(page.Events) != 3 {
		t.Fatalf("json: %v %s", err, b)
	}
	var got []evidence
	for _, m := range page.Events {
		for _, k := range []string{"confirmed", "fixes", "interpolated"} {
			if _, ok := m[k]; !ok {
				t.Errorf("json event %v lacks %q", m["id"], k)
			}
		}
		c, _ := m["confirmed"].(bool)
		f, _ := m["fixes"].(float64)
		i, _ := m["interpolated"].(bool)
		got = append(got, evidence{fmt.Sprint(m["id"]), fmt.Sprint(m["kind"]), c, int(f), i})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("json:\n got %v\nwant %v", got, want)
	}

	// CSV: by the header's names.
	resp, b := e.do("GET", "/api/v1/events?site=evidence-site", e.researcher, nil, "Accept", "text/csv")
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(recs) != 4 {
		t.Fatalf("csv: %v %s", err, b)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	got = nil
	for _, r := range recs[1:] {
		f, _ := strconv.Atoi(r[col["fixes"]])
		got = append(got, evidence{r[col["id"]], r[col["kind"]], r[col["confirmed"]] == "true", f, r[col["interpolated"]] == "true"})
		for _, k := range []string{"confirmed", "interpolated"} {
			if v := r[col[k]]; v != "true" && v != "false" {
				t.Errorf("csv %s = %q", k, v)
			}
		}
	}
	if _, ok := col["fixes"]; !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("csv:\n got %v\nwant %v\n%s", got, want, b)
	}

	// GeoJSON: as feature properties.
	resp, b = e.do("GET", "/api/v1/events?site=evidence-site", e.researcher, nil, "Accept", "application/geo+json")
	var fc struct {
		Type     string
		Features []struct{ Properties map[string]any }
	}
	if err := json.Unmarshal(b, &fc); err != nil || fc.Type != "FeatureCollection" || len(fc.Features) != 3 ||
		resp.Header.Get("Content-Type") != "application/geo+json" {
		t.Fatalf("geojson: %v %s", err, b)
	}
	got = nil
	for _, f := range fc.Features {
		p := f.Properties
		c, ok1 := p["confirmed"].(bool)
		n, ok2 := p["fixes"].(float64)
		i, ok3 := p["interpolated"].(bool)
		if !ok1 || !ok2 || !ok3 {
			t.Errorf("geojson properties lack the evidence: %v", p)
		}
		got = append(got, evidence{fmt.Sprint(p["id"]), fmt.Sprint(p["kind"]), c, int(n), i})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("geojson:\n got %v\nwant %v", got, want)
	}

	// kind=resumed is a filter like the others.
	resp, b = e.do("GET", "/api/v1/events?kind=resumed", e.researcher, nil)
	if err := json.Unmarshal(b, &page); resp.StatusCode != 200 || err != nil || len(page.Events) != 1 || page.Events[0]["id"] != "ev-3" {
		t.Errorf("kind=resumed: %d %s", resp.StatusCode, b)
	}
}
