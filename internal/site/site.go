// Package site owns sites, their zones and agreement rules, opening hours,
// and the sites GeoJSON format with its validation.
//
// Opening hours are OpenStreetMap opening_hours values (see Hours for the
// syntax covered), judged in the site's own time zone. PH rules select the
// public holidays of the site's "holidays" region, from
// github.com/rickar/cal/v2 (LoadHolidays). It was chosen because it is a
// small, dependency-free, BSD-licensed library that is still maintained
// (releases through 2025) and computes holidays by rule (nth weekday,
// Easter offsets, observed-on-Monday substitutes) with start and end years,
// rather than shipping tables that go stale; it has the Australian states
// and territories (AU-NSW and the others) as lists of its own. Its Canadian
// package has the national list only, so the provincial calendars (CA-BC,
// CA-ON) are assembled in holidays.go from its Canadian definitions plus the
// provincial days (Family Day, BC Day, BC's Truth and Reconciliation day
// from 2023) and are tested date by date. A date is PH when it is a
// holiday or the day the holiday is observed on.
//
// A site whose opening_hours uses PH must name its holidays region: without
// one PH would select no day and the site would count as open on holidays,
// so Load refuses it (an error, not a warning).
package site

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/keepclear/keepclear/geo"
	"github.com/keepclear/keepclear/internal/tzdb"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// Kind is what a site is.
type Kind string

// The kinds of site.
const (
	KindSIS    Kind = "sis"    // supervised injection / consumption service
	KindOPS    Kind = "ops"    // overdose prevention site
	KindNSP    Kind = "nsp"    // needle-and-syringe program, fixed site
	KindMobile Kind = "mobile" // an NSP van whose zones move with it
)

// Zone is a buffer ring around a site with its agreement rule.
type Zone struct {
	Name    string  `json:"name"`
	RadiusM float64 `json:"radius_m"`
	// MaxDwellS: stationary longer than this is a dwell breach; 0 means any
	// stop; nil means the zone has no dwell rule.
	MaxDwellS *float64 `json:"max_dwell_s,omitempty"`
	// NoEntry: any entry while the rule applies is a breach.
	NoEntry bool `json:"no_entry"`
	// HoursOnly: the rule applies only during operating hours (default true).
	HoursOnly *bool `json:"hours_only,omitempty"`
}

// AppliesAlways reports whether the zone's rule holds outside operating hours.
func (z *Zone) AppliesAlways() bool { return z.HoursOnly != nil && !*z.HoursOnly }

// MaxZones is the most zones one site may have.
const MaxZones = 16

// Site is a harm-reduction site and its zones.
type Site struct {
	ID       string
	Name     string
	Kind     Kind
	Hours    *Hours
	Location *time.Location
	// Holidays is the region code PH is judged by (e.g. "CA-BC"), "" if
	// none.
	Holidays string
	Zones    []Zone
	// Footprint is the site's location: a point or a polygon.
	Footprint geo.Footprint
	// Device and Agency name the feed that moves a mobile site. Device is
	// known only when the site came from a sites file; the database keeps
	// DeviceKey, never the device id itself.
	Device, Agency string
	DeviceKey      string
	// Properties not interpreted by keepclear, kept for round trips.
	Extra map[string]any
}

// Reach is the radius of the site's widest zone.
func (s *Site) Reach() float64 {
	r := 0.0
	for _, z := range s.Zones {
		r = math.Max(r, z.RadiusM)
	}
	return r
}

// InHours reports whether the site is open at t in its own time zone.
func (s *Site) InHours(t time.Time) bool { return s.Hours.Open(t, s.Location) }

// Problem is one thing wrong with a sites file.
type Problem struct {
	Feature int    `json:"feature"` // index in the FeatureCollection, -1 for the file
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Feature < 0 {
		return fmt.Sprintf("%s: %s", p.Field, p.Message)
	}
	return fmt.Sprintf("feature %d: %s: %s", p.Feature, p.Field, p.Message)
}

// ValidationError lists every problem found in a sites file.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("sites: %d problem(s): %s", len(e.Problems), strings.Join(parts, "; "))
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("site: invalid")

func (e *ValidationError) Unwrap() error { return ErrInvalid }

type rawProps struct {
	ID           *string         `json:"id"`
	Name         string          `json:"name"`
	Kind         string          `json:"kind"`
	OpeningHours *string         `json:"opening_hours"`
	Timezone     string          `json:"timezone"`
	Holidays     string          `json:"holidays"`
	Zones        json.RawMessage `json:"zones"`
	Device       string          `json:"device"`
	DeviceKey    string          `json:"device_key"`
	Agency       string          `json:"agency"`
}

var knownProps = map[string]bool{"id": true, "name": true, "kind": true, "opening_hours": true,
	"timezone": true, "holidays": true, "zones": true, "device": true, "device_key": true, "agency": true}

// Load reads and validates a sites GeoJSON FeatureCollection. On invalid input
// it returns a *ValidationError naming every problem with its feature index
// and field.
func Load(r io.Reader) ([]*Site, error) {
	var fc struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	if err := dec.Decode(&fc); err != nil {
		return nil, &ValidationError{[]Problem{{-1, "file", "not a GeoJSON FeatureCollection: " + err.Error()}}}
	}
	if fc.Type != "FeatureCollection" {
		return nil, &ValidationError{[]Problem{{-1, "type", fmt.Sprintf("want \"FeatureCollection\", got %q", fc.Type)}}}
	}
	var problems []Problem
	var sites []*Site
	seen := map[string]int{}
	hours := map[string]*Hours{} // sites share their hours: parse each text once
	for i, raw := range fc.Features {
		s, ps := parseFeature(i, raw, hours)
		problems = append(problems, ps...)
		if s == nil {
			continue
		}
		if j, dup := seen[s.ID]; dup {
			problems = append(problems, Problem{i, "id", fmt.Sprintf("duplicate id %q (also feature %d)", s.ID, j)})
			continue
		}
		seen[s.ID] = i
		sites = append(sites, s)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{problems}
	}
	return sites, nil
}

// ParseFeature validates one GeoJSON Feature (as sent to the admin API).
func ParseFeature(raw []byte) (*Site, error) {
	s, ps := parseFeature(0, raw, nil)
	if len(ps) > 0 {
		return nil, &ValidationError{ps}
	}
	return s, nil
}

func parseFeature(i int, raw []byte, hours map[string]*Hours) (*Site, []Problem) {
	var f struct {
		Type       string          `json:"type"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, []Problem{{i, "feature", "not a GeoJSON Feature: " + err.Error()}}
	}
	var ps []Problem
	bad := func(field, format string, a ...any) { ps = append(ps, Problem{i, field, fmt.Sprintf(format, a...)}) }
	if f.Type != "Feature" {
		bad("type", "want \"Feature\", got %q", f.Type)
	}
	var p rawProps
	var extra map[string]any
	if err := json.Unmarshal(f.Properties, &p); err != nil || len(f.Properties) == 0 || string(f.Properties) == "null" {
		bad("properties", "missing or malformed properties object")
		return nil, ps
	}
	_ = json.Unmarshal(f.Properties, &extra)
	for k := range extra {
		if knownProps[k] {
			delete(extra, k)
		}
	}
	s := &Site{Name: p.Name, Kind: Kind(p.Kind), Device: p.Device, Agency: p.Agency, Extra: extra}
	if p.ID == nil || strings.TrimSpace(*p.ID) == "" {
		bad("id", "missing id")
	} else if len(*p.ID) > 64 || strings.ContainsAny(*p.ID, "/?#% \t\n") {
		bad("id", "id %q must be at most 64 characters without spaces or / ? # %%", *p.ID)
	} else {
		s.ID = *p.ID
	}
	if strings.TrimSpace(p.Name) == "" {
		bad("name", "missing name")
	}
	switch s.Kind {
	case KindSIS, KindOPS, KindNSP:
	case KindMobile:
		switch {
		case p.Agency == "" || (p.Device == "" && p.DeviceKey == ""):
			bad("device", "a mobile site names the device and agency whose fixes move it")
		case p.Device != "":
			s.DeviceKey = VanKey(p.Agency, p.Device)
		case len(p.DeviceKey) != 32 || strings.Trim(p.DeviceKey, "0123456789abcdef") != "":
			bad("device_key", "want the 32 hex digits keepclear stored")
		default:
			s.DeviceKey = p.DeviceKey
		}
	default:
		bad("kind", "unknown kind %q (want sis, ops, nsp or mobile)", p.Kind)
	}
	region, regionOK := "", true
	if p.Holidays != "" {
		if c, err := LoadHolidays(p.Holidays); err != nil {
			bad("holidays", "%v", err)
			regionOK = false
		} else {
			region = c.Code()
		}
	}
	s.Holidays = region
	if p.OpeningHours == nil {
		bad("opening_hours", "missing opening_hours (e.g. \"Mo-Fr 09:00-21:00\", \"24/7\")")
	} else if h, err := parseHoursCached(*p.OpeningHours, region, hours); err != nil {
		bad("opening_hours", "%v", err)
	} else if h.UsesPH() && region == "" && regionOK {
		bad("opening_hours", "%q has a PH rule but the site names no \"holidays\" region, so PH would match no day (add e.g. \"holidays\": \"CA-BC\"; known: %s)",
			h.String(), strings.Join(HolidayRegions(), ", "))
	} else {
		s.Hours = h
	}
	if p.Timezone == "" {
		bad("timezone", "missing IANA time zone (e.g. \"America/Vancouver\")")
	} else if loc, err := tzdb.Load(p.Timezone); err != nil || p.Timezone == "Local" {
		bad("timezone", "unknown time zone %q (tz database %s)", p.Timezone, tzdb.Default())
	} else {
		s.Location = loc
	}
	s.Zones, ps = parseZones(i, p.Zones, ps)
	if len(f.Geometry) == 0 || string(f.Geometry) == "null" {
		bad("geometry", "missing geometry (a Point or a Polygon)")
	} else if g, err := geojson.UnmarshalGeometry(f.Geometry); err != nil {
		bad("geometry", "malformed geometry: %v", err)
	} else {
		var err error
		switch c := g.Coordinates.(type) {
		case orb.Point:
			s.Footprint, err = geo.NewPointFootprint(c)
		case orb.Polygon:
			if s.Kind == KindMobile {
				err = errors.New("a mobile site's geometry is a Point (its starting position)")
			} else {
				s.Footprint, err = geo.NewPolygonFootprint(c)
			}
		default:
			err = fmt.Errorf("unsupported geometry type %q (want Point or Polygon)", g.Type)
		}
		if err != nil {
			bad("geometry", "%v", err)
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return s, nil
}

func parseZones(i int, raw json.RawMessage, ps []Problem) ([]Zone, []Problem) {
	var zones []Zone
	if len(raw) == 0 || string(raw) == "null" {
		return nil, append(ps, Problem{i, "zones", "missing zones (e.g. [{\"name\":\"frontage\",\"radius_m\":30}])"})
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&zones); err != nil {
		return nil, append(ps, Problem{i, "zones", "malformed zones: " + err.Error()})
	}
	if len(zones) == 0 {
		ps = append(ps, Problem{i, "zones", "a site needs at least one zone"})
	} else if len(zones) > MaxZones {
		ps = append(ps, Problem{i, "zones", fmt.Sprintf("at most %d zones a site, got %d", MaxZones, len(zones))})
	}
	names := map[string]bool{}
	for j, z := range zones {
		field := fmt.Sprintf("zones[%d]", j)
		if strings.TrimSpace(z.Name) == "" {
			ps = append(ps, Problem{i, field + ".name", "missing zone name"})
		} else if names[z.Name] {
			ps = append(ps, Problem{i, field + ".name", fmt.Sprintf("duplicate zone name %q", z.Name)})
		}
		names[z.Name] = true
		if !(z.RadiusM > 0) || math.IsInf(z.RadiusM, 0) {
			ps = append(ps, Problem{i, field + ".radius_m", fmt.Sprintf("radius must be > 0 metres, got %v", z.RadiusM)})
		} else if z.RadiusM > 10_000 {
			ps = append(ps, Problem{i, field + ".radius_m", fmt.Sprintf("radius %v m is over the 10 km limit", z.RadiusM)})
		}
		if z.MaxDwellS != nil && (*z.MaxDwellS < 0 || math.IsNaN(*z.MaxDwellS)) {
			ps = append(ps, Problem{i, field + ".max_dwell_s", fmt.Sprintf("must be >= 0, got %v", *z.MaxDwellS)})
		}
	}
	// Widest zone last is not required; order zones by radius for stable output.
	sort.SliceStable(zones, func(a, b int) bool { return zones[a].RadiusM < zones[b].RadiusM })
	return zones, ps
}

// Feature renders a site as a GeoJSON Feature in the sites file format. A
// mobile site's van device is left out (see StoredFeature).
func (s *Site) Feature() *geojson.Feature {
	var g orb.Geometry = s.Footprint.Center()
	if poly := s.Footprint.Polygon(); poly != nil {
		g = poly
	}
	f := geojson.NewFeature(g)
	for k, v := range s.Extra {
		f.Properties[k] = v
	}
	f.Properties["id"] = s.ID
	f.Properties["name"] = s.Name
	f.Properties["kind"] = string(s.Kind)
	f.Properties["opening_hours"] = s.Hours.String()
	f.Properties["timezone"] = s.Location.String()
	if s.Holidays != "" {
		f.Properties["holidays"] = s.Holidays
	}
	f.Properties["zones"] = s.Zones
	if s.Kind == KindMobile {
		f.Properties["agency"] = s.Agency
	}
	return f
}

// StoredFeature is Feature plus what recognises a mobile site's van: the
// key of its device (VanKey), not the device id. It is for the database and
// is never sent to clients.
func (s *Site) StoredFeature() *geojson.Feature {
	f := s.Feature()
	if s.Kind == KindMobile {
		f.Properties["device_key"] = s.DeviceKey
	}
	return f
}

// VanKey is what identifies a mobile site's van in storage: a SHA-256 of its
// agency and device, so that no table holds a device id. (The van is the
// site's own vehicle and its position is shown on the live map as the
// site's, so an unkeyed hash is enough here; police vehicles get keyed,
// rotating pseudonyms.)
func VanKey(agency, device string) string {
	sum := sha256.Sum256([]byte("keepclear-van\x00" + agency + "\x00" + device))
	return hex.EncodeToString(sum[:16])
}

// parseHoursCached is ParseHoursIn through cache (nil: no cache). Hours are
// immutable once parsed, so sites with the same text and holidays region
// share them.
func parseHoursCached(text, region string, cache map[string]*Hours) (*Hours, error) {
	key := region + "\x00" + text
	if h, ok := cache[key]; ok {
		return h, nil
	}
	h, err := ParseHoursIn(text, region)
	if err == nil && cache != nil {
		cache[key] = h
	}
	return h, err
}
