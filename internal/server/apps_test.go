package server_test

// Reference tests: what each phone app really sends, byte for byte as its
// source builds it, including the buffered backlog it delivers after an
// outage (oldest first, the oldest records older than --max-fix-age, the
// last one from a phone whose clock runs an hour ahead). Each checks the
// HTTP statuses (never a 4xx for a well-formed record: the apps retry the
// oldest record first, forever), the counters, and the events.
//
// Sources read (paths in their repositories):
//   - legacy Traccar Client Android, traccar/traccar-client-android:
//     ProtocolFormatter.kt (query parameters appended to the server URL,
//     accuracy 0.0 for GPS fixes, speed in knots), RequestManager.kt (POST,
//     no body; any status >= 400 is a failure), TrackingController.kt
//     (oldest buffered position first, retried every 30 s).
//   - legacy Traccar Client iOS, traccar/traccar-client-ios:
//     ProtocolFormatter.swift (components.query replaces the URL's query:
//     the token must be in the path; lat/lon %.06f), RequestManager.swift.
//   - Traccar Client 9.x, traccar/traccar-client v9.7.20: lib/preferences.dart
//     (flutter_background_geolocation: a JSON body {"location":{…template…},
//     "device_id":…}, ISO 8601 timestamps, speed -1 / heading -1 unknown).
//   - Traccar Client 10.x, traccar/traccar-client lib/preferences.dart with
//     traccar/traccar-client-sdk core/…/HttpUploader.kt (form POST: id, lat,
//     lon, timestamp, accuracy, altitude, speed in knots, bearing, batt,
//     charge) and TrackerEngine.kt (a heartbeat with no position is
//     Position(time = now): id, timestamp and battery only; the queue is
//     retried oldest first with back-off up to 5 min).
//   - OwnTracks Android, owntracks/android: net/http/HttpMessageProcessorEndpoint.kt
//     (Basic auth only when user and password are set, X-Limit-U, X-Limit-D =
//     device id, default Build.DEVICE; topic "owntracks/http/" + tid in the
//     body), services/MessageProcessor.kt (a failed message goes back to the
//     head of the queue; locations are retried 100,000 times),
//     model/EncryptionProvider.kt (key = secret bytes in 32 zero bytes,
//     base64(nonce 24 || secretbox)), preferences/DefaultsProvider.kt
//     (tid = last two characters of the device id).
//   - OwnTracks iOS, owntracks/ios: OwnTracks/Connection.m (X-Limit-U and
//     X-Limit-D always sent, "user"/"device" when unset; topic
//     owntracks/USER/DEVICE added to the body before encryption; a 4xx
//     deletes the message and shows an alert).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/auth"
	"github.com/keepclear/keepclear/internal/feed"
)

// point is one buffered position of a backlog.
type point struct {
	t        time.Time
	lat, lon float64
}

// backlog is what a phone delivers after an outage, oldest first: three
// positions from 8 days ago (beyond --max-fix-age, parked at the site:
// they must not make a visit), then a drive past the site two hours ago
// (two fixes outside, three at the door, two far beyond the exit band),
// then one record an hour in the future (a phone with a wrong clock).
func backlog(now time.Time) []point {
	far := [2]float64{49.28471, -123.10111}  // 400 m north of the site
	near := [2]float64{49.28291, -123.10111} // 200 m north, outside its 150 m zone
	old := now.Add(-8 * 24 * time.Hour)
	t0 := now.Add(-2 * time.Hour)
	at := func(t time.Time, p [2]float64) point { return point{t, p[0], p[1]} }
	return []point{
		at(old, insite), at(old.Add(30*time.Second), insite), at(old.Add(60*time.Second), insite),
		at(t0, far), at(t0.Add(30*time.Second), near),
		at(t0.Add(60*time.Second), insite), at(t0.Add(90*time.Second), insite), at(t0.Add(120*time.Second), insite),
		at(t0.Add(150*time.Second), far), at(t0.Add(180*time.Second), far),
		at(now.Add(time.Hour), insite),
	}
}

// want is what every backlog gives, per device.
var wantResults = map[string]int64{"too_old": 3, "accepted": 7, "future": 1}

// send posts one request and requires a 2xx.
func (e *env) send(req *http.Request) string {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		e.t.Fatalf("%s %s: %d %s (a phone would retry this record forever)", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return string(b)
}

// agencyToken makes the agency token an app is set up with.
func (e *env) agencyToken(agency string, opts ...auth.Option) string {
	e.t.Helper()
	tok, _, err := auth.Create(context.Background(), e.db, agency+" phones", auth.Agency, agency, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// checkReference checks what the backlogs of devices phones of agency gave:
// the counts of the last day's summary and of the metrics, and the events —
// per device one confirmed enter and one exit of each of the site's three
// zones, nothing from the records too old or in the future.
func (e *env) checkReference(agency string, devices int, extra map[string]int64) {
	t := e.t
	t.Helper()
	want := map[string]int64{}
	for r, n := range wantResults {
		want[r] = n * int64(devices)
	}
	for r, n := range extra {
		want[r] += n
	}
	_, b := e.do("GET", "/api/v1/ingest/summary?agency="+agency, e.admin, nil)
	var sum struct {
		Agencies []struct {
			Agency            string
			Received, Refused int64
			Results           map[string]int64
			Last              map[string]struct{ Reason, Endpoint string }
		}
	}
	if err := json.Unmarshal(b, &sum); err != nil || len(sum.Agencies) != 1 {
		t.Fatalf("summary: %s", b)
	}
	got := sum.Agencies[0]
	for r, n := range want {
		if got.Results[r] != n {
			t.Errorf("summary %s = %d, want %d: %s", r, got.Results[r], n, b)
		}
	}
	if len(got.Results) != len(want) {
		t.Errorf("summary results %v, want %v", got.Results, want)
	}
	if !strings.Contains(got.Last["too_old"].Reason, "older than") || strings.Contains(string(b), "kc_") {
		t.Errorf("summary reasons: %s", b)
	}
	_, metrics := e.do("GET", "/metrics", "", nil)
	for r, n := range want {
		line := fmt.Sprintf(`keepclear_fixes_ingested_total{agency=%q,result=%q} %d`, agency, r, n)
		if !strings.Contains(string(metrics), line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
	_, b = e.do("GET", "/api/v1/events?limit=1000&agency="+agency, e.researcher, nil)
	var evs struct {
		Events []struct {
			Site, Zone, Kind, Device, Agency, T string
			Confirmed                           bool
		}
	}
	json.Unmarshal(b, &evs)
	perDevice := map[string]map[string]int{}
	for _, ev := range evs.Events {
		if ev.Site != "insite" || ev.Agency != agency {
			t.Errorf("event %+v", ev)
		}
		if ts, _ := time.Parse(time.RFC3339, ev.T); ts.Before(e.now.Add(-3*time.Hour)) || ts.After(e.now) {
			t.Errorf("event from a refused record: %+v", ev)
		}
		if perDevice[ev.Device] == nil {
			perDevice[ev.Device] = map[string]int{}
		}
		perDevice[ev.Device][ev.Kind+" "+ev.Zone]++
		if ev.Kind == "enter" && !ev.Confirmed {
			t.Errorf("three fixes at the door, yet unconfirmed: %+v", ev)
		}
	}
	if len(perDevice) != devices {
		t.Errorf("%d devices in the events, want %d: %s", len(perDevice), devices, b)
	}
	for dev, kinds := range perDevice {
		for _, z := range []string{"door", "frontage", "vicinity"} {
			if kinds["enter "+z] != 1 || kinds["exit "+z] != 1 {
				t.Errorf("device %s: %v, want one enter and one exit of %s", dev, kinds, z)
			}
		}
	}
}

// The legacy Traccar Client for Android: the server URL (here typed with a
// trailing slash) with the query appended, POSTed without a body; some set
// ups send it as GET.
func TestAppTraccarLegacyAndroid(t *testing.T) {
	e := newEnv(t, 0)
	tok := e.agencyToken("legacy")
	for i, p := range backlog(e.now) {
		q := url.Values{}
		// Uri.Builder.appendQueryParameter, in the app's order.
		q.Add("id", "352156")
		q.Add("timestamp", fmt.Sprint(p.t.Unix()))
		q.Add("lat", fmt.Sprint(p.lat))
		q.Add("lon", fmt.Sprint(p.lon))
		q.Add("speed", "0.0")
		q.Add("bearing", "0.0")
		q.Add("altitude", "42.0")
		q.Add("accuracy", "0.0") // GPS fixes: 0.0, unknown
		q.Add("batt", "87.0")
		method := "POST"
		if i%2 == 1 {
			method = "GET"
		}
		req, _ := http.NewRequest(method, e.url+"/osmand/"+tok+"/?"+q.Encode(), nil)
		if body := e.send(req); body != "" {
			t.Errorf("body %q", body)
		}
	}
	e.checkReference("legacy", 1, nil)
}

// The legacy Traccar Client for iOS: POST, the query built by hand with
// lat/lon as %.06f; speed and course only when known.
func TestAppTraccarLegacyIOS(t *testing.T) {
	e := newEnv(t, 0)
	tok := e.agencyToken("legacyios")
	for _, p := range backlog(e.now) {
		query := fmt.Sprintf("id=%s&timestamp=%d&lat=%.06f&lon=%.06f&altitude=%v&accuracy=%v&batt=%v", "ios-7", p.t.Unix(), p.lat, p.lon, 12.5, 5.0, 0.9)
		req, _ := http.NewRequest("POST", e.url+"/osmand/"+tok+"?"+query, nil)
		e.send(req)
	}
	e.checkReference("legacyios", 1, nil)
}

// Traccar Client 9.x (flutter_background_geolocation): a JSON body, the
// location under "location" and the device id at the root.
func TestAppTraccarClient9JSON(t *testing.T) {
	e := newEnv(t, 0)
	tok := e.agencyToken("tc9")
	for _, p := range backlog(e.now) {
		ts := p.t.UTC().Format("2006-01-02T15:04:05.000Z")
		loc := fmt.Sprintf(`{"timestamp": "%s","coords": {"latitude": %v,"longitude": %v,"accuracy": 4.9,"speed": -1,"heading": -1,"altitude": 31.2},"is_moving": true,"odometer": 1234.5,"event": "","battery": {"level": 0.81,"is_charging": false},"activity": {"type": "in_vehicle"},"extras": {},"_": "&id=83123456&lat=%v&lon=%v&timestamp=%s&"}`,
			ts, p.lat, p.lon, p.lat, p.lon, ts)
		body := `{"location":` + loc + `,"device_id":"83123456"}`
		req, _ := http.NewRequest("POST", e.url+"/osmand/"+tok, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		e.send(req)
	}
	e.checkReference("tc9", 1, nil)
}

// Traccar Client 10.x (the Traccar client SDK): a form POST per position,
// and while the phone stands still with no fix, heartbeats without a
// position — answered 200 (Traccar does too) and counted as no_position.
func TestAppTraccarClient10SDKForm(t *testing.T) {
	e := newEnv(t, 0)
	tok := e.agencyToken("tc10")
	form := func(v url.Values) {
		req, _ := http.NewRequest("POST", e.url+"/osmand/"+tok, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		e.send(req)
	}
	for i, p := range backlog(e.now) {
		v := url.Values{}
		v.Add("id", "51234567")
		v.Add("lat", fmt.Sprint(p.lat))
		v.Add("lon", fmt.Sprint(p.lon))
		v.Add("timestamp", fmt.Sprint(p.t.Unix()))
		v.Add("accuracy", "6.4")
		v.Add("altitude", "30.0")
		v.Add("speed", "0.0")
		v.Add("bearing", "0.0")
		v.Add("batt", "76")
		v.Add("charge", "false")
		form(v)
		if i == 1 || i == 6 {
			// TrackerEngine.applyHeartbeatTick: Position(time = now), battery only.
			hb := url.Values{}
			hb.Add("id", "51234567")
			hb.Add("timestamp", fmt.Sprint(p.t.Add(time.Second).Unix()))
			hb.Add("batt", "76")
			hb.Add("charge", "false")
			form(hb)
		}
	}
	e.checkReference("tc10", 1, map[string]int64{"no_position": 2})
}

// ownTracksLocation renders a location as the OwnTracks apps serialise it.
func ownTracksLocation(p point, tid, topic string) string {
	return fmt.Sprintf(`{"_type":"location","_id":"a1b2c3d4","acc":9,"alt":40,"batt":81,"bs":1,"cog":0,"conn":"m","created_at":%d,"lat":%v,"lon":%v,"m":1,"t":"u","tid":%q,"topic":%q,"tst":%d,"vac":3,"vel":0}`,
		p.t.Unix(), p.lat, p.lon, tid, topic, p.t.Unix())
}

// OwnTracks for Android: two officers of one agency on identical phones
// (same Build.DEVICE, hence the same device id and tid) are told apart by
// their user names; one of them has encryption on.
func TestAppOwnTracksAndroid(t *testing.T) {
	e := newEnv(t, 0)
	tok := e.agencyToken("ota", auth.WithOwnTracksKey("shared secret"))
	key := feed.OwnTracksKey("shared secret")
	for n, user := range []string{"officer-1", "officer-2"} {
		for i, p := range backlog(e.now) {
			body := ownTracksLocation(p, "ol", "owntracks/http/ol")
			if user == "officer-2" {
				var nonce [24]byte
				nonce[0], nonce[1] = byte(n), byte(i)
				body = fmt.Sprintf(`{"_type":"encrypted","_id":"e%d","data":%q}`, i, feed.SealOwnTracks(key, &nonce, []byte(body)))
			}
			req, _ := http.NewRequest("POST", e.url+"/owntracks", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			req.Header.Set("User-Agent", "Owntracks-Android/gms/420412000")
			req.SetBasicAuth(user, tok)
			req.Header.Set("X-Limit-U", user)
			req.Header.Set("X-Limit-D", "oriole")
			if got := e.send(req); got != "[]" {
				t.Errorf("answer %q, want [] (the Recorder's)", got)
			}
		}
	}
	e.checkReference("ota", 2, nil)
}

// OwnTracks for iOS: headers always sent, the topic in the body, and
// encryption on; a message sealed with another key is answered 200 and
// counted as decrypt_failed, as is an encrypted message to a token
// without a key.
func TestAppOwnTracksIOSEncrypted(t *testing.T) {
	e := newEnv(t, 0)
	tok := e.agencyToken("oti", auth.WithOwnTracksKey("ios key ✓"))
	plainTok := e.agencyToken("oti-nokey")
	post := func(token, body string) {
		req, _ := http.NewRequest("POST", e.url+"/owntracks/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Basic "+basic("car17", token))
		req.Header.Set("X-Limit-U", "car17")
		req.Header.Set("X-Limit-D", "iphone")
		if got := e.send(req); got != "[]" {
			t.Errorf("answer %q", got)
		}
	}
	key := feed.OwnTracksKey("ios key ✓")
	for i, p := range backlog(e.now) {
		var nonce [24]byte
		nonce[23] = byte(i)
		inner := ownTracksLocation(p, "17", "owntracks/car17/iphone")
		post(tok, fmt.Sprintf(`{"_type":"encrypted","data":%q}`, feed.SealOwnTracks(key, &nonce, []byte(inner))))
	}
	var nonce [24]byte
	wrong := fmt.Sprintf(`{"_type":"encrypted","data":%q}`, feed.SealOwnTracks(feed.OwnTracksKey("old key"), &nonce, []byte(ownTracksLocation(point{e.now, insite[0], insite[1]}, "17", ""))))
	post(tok, wrong)
	post(tok, `{"_type":"encrypted","data":"bm90IGEgYm94"}`)
	e.checkReference("oti", 1, map[string]int64{"decrypt_failed": 2})
	post(plainTok, wrong)
	_, b := e.do("GET", "/api/v1/ingest/summary?agency=oti-nokey", e.admin, nil)
	if !strings.Contains(string(b), `"decrypt_failed":1`) || !strings.Contains(string(b), "no key") {
		t.Errorf("encrypted message to a token without a key: %s", b)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// 404 and 405 are JSON and counted in the request metrics, never with the
// path (OsmAnd paths hold tokens).
func TestUnmatchedRoutesCounted(t *testing.T) {
	e := newEnv(t, 0)
	e.do("DELETE", "/osmand/kc_not_a_real_token", "", nil)
	e.do("GET", "/api/v1/nothing-here", e.researcher, nil)
	_, m := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{`route="unmatched",status="405"`, `route="/",status="404"`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(m), "kc_not_a_real_token") {
		t.Error("a token-bearing path in the metrics")
	}
}
