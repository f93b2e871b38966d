package feed

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Unit conversions of the phone-app protocols.
const (
	knotsToMS = 1852.0 / 3600 // OsmAnd speed is in knots
	kmhToMS   = 1 / 3.6       // OwnTracks vel is in km/h
)

// ParseOsmAnd reads the OsmAnd protocol's query or form values, as sent by
// the Traccar Client app: id (or deviceid), lat and lon (or
// location=lat,lon), timestamp (Unix seconds, milliseconds when large, ISO
// 8601, or "yyyy-MM-dd HH:mm:ss" in UTC; now when absent), speed in knots,
// bearing (or heading), accuracy in metres, and valid. A fix whose valid is
// anything but true or 1 (as the Traccar server reads it) is returned with
// Invalid set: it is heard from, never used as a position. Unknown keys
// (altitude, batt, …) are ignored.
func ParseOsmAnd(v url.Values, now time.Time, opt Options) (Fix, error) {
	f := NewFix()
	f.Device = firstOf(v, "id", "deviceid")
	if f.Device == "" {
		return Fix{}, &FieldError{"id", "missing device id (id or deviceid)"}
	}
	lat, lon := v.Get("lat"), v.Get("lon")
	if loc := v.Get("location"); loc != "" && (lat == "" || lon == "") {
		var ok bool
		if lat, lon, ok = strings.Cut(loc, ","); !ok {
			return Fix{}, &FieldError{"location", "want location=lat,lon"}
		}
	}
	var err error
	if f.Lat, err = num(lat, "lat"); err != nil {
		return Fix{}, err
	}
	if f.Lon, err = num(lon, "lon"); err != nil {
		return Fix{}, err
	}
	f.T = now.UTC().Truncate(time.Millisecond)
	if ts := v.Get("timestamp"); ts != "" {
		if f.T, err = parseOsmAndTime(ts); err != nil {
			return Fix{}, &FieldError{"timestamp", err.Error()}
		}
	}
	if v.Has("valid") {
		valid := v.Get("valid")
		f.Invalid = !strings.EqualFold(valid, "true") && valid != "1"
	}
	if s := v.Get("speed"); s != "" {
		kn, err := num(s, "speed")
		if err != nil {
			return Fix{}, err
		}
		if kn >= 0 {
			f.Speed = kn * knotsToMS
		}
	}
	if s := firstOf(v, "bearing", "heading"); s != "" {
		h, err := num(s, "bearing")
		if err != nil {
			return Fix{}, err
		}
		if h >= 0 {
			f.Heading = math.Mod(h, 360)
		}
	}
	if s := v.Get("accuracy"); s != "" {
		a, err := num(s, "accuracy")
		if err != nil {
			return Fix{}, err
		}
		if a >= 0 {
			f.Acc = a
		}
	}
	opt.applyAgency(&f)
	return f, f.Validate()
}

// osmandDateTime is the OsmAnd protocol's date and time without a zone,
// in UTC (a fraction of a second after the seconds is accepted too).
const osmandDateTime = "2006-01-02 15:04:05"

// parseOsmAndTime reads an OsmAnd timestamp: what ParseTime reads, or
// "yyyy-MM-dd HH:mm:ss" in UTC (in a query string the space may come as
// "+", which url.ParseQuery has already turned into a space).
func parseOsmAndTime(s string) (time.Time, error) {
	t, err := ParseTime(s)
	if err == nil {
		return t, nil
	}
	if len(s) >= len(osmandDateTime) && s[10] == ' ' {
		if t, err := time.Parse(osmandDateTime, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q (want Unix seconds or milliseconds, RFC 3339, or yyyy-MM-dd HH:mm:ss in UTC)", s)
}

// osmandJSON is the Traccar Client's JSON body. It has no equivalent of
// the query's valid: the app sends locations, and the Traccar server takes
// every one as valid.
type osmandJSON struct {
	DeviceID string `json:"device_id"`
	Location *struct {
		Timestamp string `json:"timestamp"`
		Coords    *struct {
			Latitude  *float64 `json:"latitude"`
			Longitude *float64 `json:"longitude"`
			Accuracy  *float64 `json:"accuracy"`
			Speed     *float64 `json:"speed"`
			Heading   *float64 `json:"heading"`
		} `json:"coords"`
	} `json:"location"`
}

// ParseOsmAndJSON reads the OsmAnd JSON body: device_id, and location with
// timestamp (ISO 8601) and coords {latitude, longitude, accuracy, speed in
// m/s (-1 unknown), heading (-1 unknown)}.
func ParseOsmAndJSON(b []byte, now time.Time, opt Options) (Fix, error) {
	var in osmandJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return Fix{}, fmt.Errorf("malformed JSON: %v", err)
	}
	f := NewFix()
	f.Device = in.DeviceID
	if f.Device == "" {
		return Fix{}, &FieldError{"device_id", "missing device_id"}
	}
	if in.Location == nil || in.Location.Coords == nil {
		return Fix{}, &FieldError{"location", "missing location.coords"}
	}
	c := in.Location.Coords
	if c.Latitude == nil || c.Longitude == nil {
		return Fix{}, &FieldError{"location.coords", "missing latitude or longitude"}
	}
	f.Lat, f.Lon = *c.Latitude, *c.Longitude
	f.T = now.UTC().Truncate(time.Millisecond)
	if in.Location.Timestamp != "" {
		t, err := ParseTime(in.Location.Timestamp)
		if err != nil {
			return Fix{}, &FieldError{"location.timestamp", err.Error()}
		}
		f.T = t
	}
	if c.Accuracy != nil && *c.Accuracy >= 0 {
		f.Acc = *c.Accuracy
	}
	if c.Speed != nil && *c.Speed >= 0 {
		f.Speed = *c.Speed
	}
	if c.Heading != nil && *c.Heading >= 0 {
		f.Heading = math.Mod(*c.Heading, 360)
	}
	opt.applyAgency(&f)
	return f, f.Validate()
}

// ErrNotLocation marks an OwnTracks message that is not a location (a
// transition, a waypoint, a card…): answered, ignored.
var ErrNotLocation = errors.New("feed: not a location message")

// ParseOwnTracks reads an OwnTracks HTTP JSON payload: _type "location",
// lat, lon, tst (Unix seconds), acc (m), vel (km/h), cog (°). The device is
// the payload's tid, else device (from the X-Limit-D header or ?d=).
func ParseOwnTracks(b []byte, device string, opt Options) (Fix, error) {
	var in struct {
		Type string   `json:"_type"`
		Lat  *float64 `json:"lat"`
		Lon  *float64 `json:"lon"`
		Tst  *float64 `json:"tst"`
		Tid  string   `json:"tid"`
		Acc  *float64 `json:"acc"`
		Vel  *float64 `json:"vel"`
		Cog  *float64 `json:"cog"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return Fix{}, fmt.Errorf("malformed JSON: %v", err)
	}
	if in.Type != "location" {
		return Fix{}, ErrNotLocation
	}
	f := NewFix()
	f.Device = in.Tid
	if f.Device == "" {
		f.Device = device
	}
	if f.Device == "" {
		return Fix{}, &FieldError{"tid", "no device: send tid, the X-Limit-D header or ?d="}
	}
	if in.Lat == nil || in.Lon == nil {
		return Fix{}, &FieldError{"lat", "missing lat or lon"}
	}
	if in.Tst == nil {
		return Fix{}, &FieldError{"tst", "missing tst"}
	}
	f.Lat, f.Lon = *in.Lat, *in.Lon
	var err error
	if f.T, err = UnixTime(*in.Tst); err != nil {
		return Fix{}, &FieldError{"tst", err.Error()}
	}
	if in.Acc != nil && *in.Acc >= 0 {
		f.Acc = *in.Acc
	}
	if in.Vel != nil && *in.Vel >= 0 {
		f.Speed = *in.Vel * kmhToMS
	}
	if in.Cog != nil && *in.Cog >= 0 {
		f.Heading = math.Mod(*in.Cog, 360)
	}
	opt.applyAgency(&f)
	return f, f.Validate()
}

func firstOf(v url.Values, keys ...string) string {
	for _, k := range keys {
		if s := v.Get(k); s != "" {
			return s
		}
	}
	return ""
}

func num(s, field string) (float64, error) {
	if s == "" {
		return 0, &FieldError{field, "missing " + field}
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, &FieldError{field, fmt.Sprintf("want a finite number, got %q", s)}
	}
	return x, nil
}
