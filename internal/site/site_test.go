package site

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadSampleSites(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "sites.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sites, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]int{}
	for _, s := range sites {
		kinds[s.Kind]++
		if s.Location.String() != "America/Vancouver" {
			t.Errorf("%s: zone %v", s.ID, s.Location)
		}
	}
	if len(sites) < 8 || kinds[KindSIS] == 0 || kinds[KindOPS] == 0 || kinds[KindNSP] == 0 || kinds[KindMobile] == 0 {
		t.Errorf("sample sites: %d, kinds %v", len(sites), kinds)
	}
	insite := sites[0]
	if insite.ID != "insite" || insite.Reach() != 150 || insite.Extra["address"] != "139 E Hastings St" {
		t.Errorf("insite: %+v", insite)
	}
	// Vancouver is on UTC−07:00 all year: 18:00 UTC on a Monday is 11:00,
	// within Mo-Su 09:00-03:00; 12:00 UTC is 05:00, outside.
	if !insite.InHours(time.Date(2026, 11, 16, 18, 0, 0, 0, time.UTC)) || insite.InHours(time.Date(2026, 11, 16, 12, 0, 0, 0, time.UTC)) {
		t.Error("insite hours")
	}
}

// Hours are judged with the embedded tz database, whatever the host's says:
// since IANA 2026b British Columbia is on UTC−07:00 all year, so 09:00 in
// Vancouver on Wednesday 2026-11-25 is 16:00 UTC (a host with older data
// would say 17:00 UTC, an hour off).
func TestVancouverHoursUseEmbeddedTZ(t *testing.T) {
	in := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"v","name":"V","kind":"ops","opening_hours":"Mo-Fr 09:00-17:00","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30}]}}`
	s, err := ParseFeature([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := mustZone(t, "America/Vancouver"); s.Location != want {
		t.Errorf("site zone %p is not the embedded database's %p", s.Location, want)
	}
	for _, c := range []struct {
		utc  time.Time
		open bool
	}{
		{time.Date(2026, 11, 25, 15, 59, 0, 0, time.UTC), false}, // 08:59 MST
		{time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), true},   // 09:00 (PST would say 08:00)
		{time.Date(2026, 11, 25, 16, 30, 0, 0, time.UTC), true},  // 09:30
		{time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC), true},  // 16:59
		{time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), false},   // 17:00 (PST would say 16:00, open)
		{time.Date(2027, 1, 15, 16, 0, 0, 0, time.UTC), true},    // Friday 09:00, winter
		{time.Date(2027, 1, 16, 0, 30, 0, 0, time.UTC), false},   // Friday 17:30
		{time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC), true},     // Wednesday 09:00, summer
		{time.Date(2026, 7, 1, 15, 30, 0, 0, time.UTC), false},   // 08:30
	} {
		if got := s.InHours(c.utc); got != c.open {
			t.Errorf("%s (%s in Vancouver): in hours %v, want %v", c.utc.Format(time.RFC3339), c.utc.In(s.Location).Format("Mon 15:04 MST"), got, c.open)
		}
	}
}

// Sites in the same zone share one Location: each is read once.
func TestSitesShareZones(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "fixtures", "sites.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sites, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites[1:] {
		if s.Location != sites[0].Location {
			t.Errorf("%s: its own copy of %v", s.ID, s.Location)
		}
	}
}

func TestValidationNamesEveryProblem(t *testing.T) {
	in := `{"type":"FeatureCollection","features":[
 {"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"a","name":"A","kind":"sis","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30}]}},
 {"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"a","name":"dup","kind":"sis","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30}]}},
 {"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"name":"no id","kind":"bar","opening_hours":"Mo-Xx 09:00-10:00","timezone":"Mars/Olympus","zones":[{"name":"f","radius_m":0},{"name":"f","radius_m":20,"max_dwell_s":-1}]}},
 {"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]},"properties":{"id":"bow","name":"Bowtie","kind":"nsp","opening_hours":"off","timezone":"UTC","zones":[{"name":"f","radius_m":5}]}},
 {"type":"Feature","geometry":{"type":"Point","coordinates":[200,0]},"properties":{"id":"van","name":"Van","kind":"mobile","opening_hours":"24/7","timezone":"UTC","zones":[{"name":"f","radius_m":5,"colour":"red"}]}}
]}`
	_, err := Load(strings.NewReader(in))
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v", err)
	}
	want := []string{
		"feature 1: id: duplicate id \"a\" (also feature 0)",
		"feature 2: id: missing id",
		"feature 2: kind: unknown kind \"bar\"",
		"feature 2: opening_hours:",
		"feature 2: timezone: unknown time zone \"Mars/Olympus\"",
		"feature 2: zones[0].radius_m: radius must be > 0",
		"feature 2: zones[1].name: duplicate zone name",
		"feature 2: zones[1].max_dwell_s: must be >= 0",
		"feature 3: geometry: geo: self-intersecting polygon",
		"feature 4: device:",
		"feature 4: zones: malformed zones",
		"feature 4: geometry: geo: invalid point",
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing %q in\n%s", w, strings.ReplaceAll(msg, "; ", "\n"))
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(ve.Problems), len(want), strings.ReplaceAll(msg, "; ", "\n"))
	}
}

func TestLoadRejectsNonCollections(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"type":"Feature"}`, `{"type":"FeatureCollection","features":[1]}`} {
		if _, err := Load(strings.NewReader(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestFeatureRoundTrip(t *testing.T) {
	in := `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-123.101,49.281],[-123.0996,49.281],[-123.0996,49.2819],[-123.101,49.2819],[-123.101,49.281]]]},"properties":{"id":"p","name":"P","kind":"sis","opening_hours":"Mo-Fr 09:00-17:00","timezone":"America/Vancouver","zones":[{"name":"premises","radius_m":5,"no_entry":true}],"note":"kept"}}`
	s, err := ParseFeature([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Feature().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseFeature(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if back.ID != "p" || back.Footprint.Polygon() == nil || back.Extra["note"] != "kept" || back.Hours.String() != "Mo-Fr 09:00-17:00" {
		t.Errorf("round trip: %+v", back)
	}
}

func FuzzLoad(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("..", "..", "fixtures", "sites.geojson"))
	f.Add(string(b))
	f.Add(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,0]]]},"properties":{"id":"x"}}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		sites, err := Load(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, st := range sites {
			if st.ID == "" || len(st.Zones) == 0 || st.Hours == nil || st.Location == nil {
				t.Fatalf("accepted an incomplete site: %+v", st)
			}
		}
	})
}

func TestMobileSiteStoresOnlyTheVanKey(t *testing.T) {
	in := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"van","name":"Van","kind":"mobile","opening_hours":"24/7","timezone":"UTC","device":"van-1","agency":"outreach","zones":[{"name":"f","radius_m":30}]}}`
	s, err := ParseFeature([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := s.StoredFeature().MarshalJSON()
	public, _ := s.Feature().MarshalJSON()
	if strings.Contains(string(stored), "van-1") || strings.Contains(string(public), "van-1") || strings.Contains(string(public), s.DeviceKey) {
		t.Errorf("the van's device id is stored or shown:\n%s\n%s", stored, public)
	}
	back, err := ParseFeature(stored)
	if err != nil || back.DeviceKey != VanKey("outreach", "van-1") || back.Device != "" {
		t.Errorf("reloaded: %+v %v", back, err)
	}
	bad := strings.Replace(in, `"device":"van-1"`, `"device_key":"not-hex"`, 1)
	if _, err := ParseFeature([]byte(bad)); err == nil || !strings.Contains(err.Error(), "device_key") {
		t.Errorf("bad device_key: %v", err)
	}
}

func holidaySite(hours, holidays string) string {
	h := ""
	if holidays != "" {
		h = fmt.Sprintf(`,"holidays":%q`, holidays)
	}
	return fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"v","name":"V","kind":"nsp","opening_hours":%q,"timezone":"America/Vancouver"%s,"zones":[{"name":"f","radius_m":30,"max_dwell_s":60}]}}`, hours, h)
}

// A PH rule without a holidays region would select no day, so the site
// would count as open on holidays: the file is refused, naming the field.
func TestLoadPHNeedsHolidays(t *testing.T) {
	_, err := ParseFeature([]byte(holidaySite("Mo-Fr 09:00-17:00; PH off", "")))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "opening_hours" || !strings.Contains(ve.Problems[0].Message, "holidays") {
		t.Fatalf("PH without holidays: %v", err)
	}
	_, err = ParseFeature([]byte(holidaySite("Mo-Fr 09:00-17:00; PH off", "CA-XX")))
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "holidays" || !strings.Contains(ve.Problems[0].Message, "CA-XX") {
		t.Fatalf("unknown region: %v", err)
	}
	// A region without a PH rule is fine, and so is PH with a region.
	if _, err := ParseFeature([]byte(holidaySite("Mo-Fr 09:00-17:00", "CA-BC"))); err != nil {
		t.Fatal(err)
	}
	s, err := ParseFeature([]byte(holidaySite("Mo-Fr 09:00-17:00; PH off", "ca-bc")))
	if err != nil {
		t.Fatal(err)
	}
	// 2026-11-11 10:00 in Vancouver (UTC−07:00) is Remembrance Day.
	if s.Holidays != "CA-BC" || s.InHours(time.Date(2026, 11, 11, 17, 0, 0, 0, time.UTC)) || !s.InHours(time.Date(2026, 11, 12, 17, 0, 0, 0, time.UTC)) {
		t.Errorf("holidays %q, in hours on Remembrance Day %v", s.Holidays, s.InHours(time.Date(2026, 11, 11, 17, 0, 0, 0, time.UTC)))
	}
	// The region survives a round trip through Feature (the store and API).
	raw, err := s.Feature().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseFeature(raw)
	if err != nil || back.Holidays != "CA-BC" || back.Hours.Holidays().Code() != "CA-BC" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	if _, ok := back.Extra["holidays"]; ok {
		t.Error("holidays kept as an extra property")
	}
}

// Sites with the same hours but different regions do not share a parse.
func TestLoadHoursCacheByRegion(t *testing.T) {
	in := `{"type":"FeatureCollection","features":[` +
		strings.Replace(holidaySite("Mo-Fr 09:00-17:00; PH off", "CA-BC"), `"id":"v"`, `"id":"a"`, 1) + "," +
		strings.Replace(holidaySite("Mo-Fr 09:00-17:00; PH off", "CA-ON"), `"id":"v"`, `"id":"b"`, 1) + "]}"
	sites, err := Load(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if sites[0].Hours.Holidays().Code() != "CA-BC" || sites[1].Hours.Holidays().Code() != "CA-ON" {
		t.Errorf("regions %s %s", sites[0].Hours.Holidays().Code(), sites[1].Hours.Holidays().Code())
	}
}
