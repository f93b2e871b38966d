package feed

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/nacl/secretbox"
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
		return Fix{}, malformedf("id", "missing device id (id or deviceid)")
	}
	lat, lon := v.Get("lat"), v.Get("lon")
	if loc := v.Get("location"); loc != "" && (lat == "" || lon == "") {
		var ok bool
		if lat, lon, ok = strings.Cut(loc, ","); !ok {
			return Fix{}, malformedf("location", "want location=lat,lon")
		}
	}
	if lat == "" && lon == "" {
		// The Traccar SDK's heartbeat while it has no position: id,
		// timestamp and battery only. Traccar answers it 200; so do we.
		return Fix{Device: f.Device}, ErrNoPosition
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
			return Fix{}, malformedf("timestamp", "%v", err)
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
		return Fix{}, malformedf("", "malformed JSON: %v", err)
	}
	f := NewFix()
	f.Device = in.DeviceID
	if f.Device == "" {
		return Fix{}, malformedf("device_id", "missing device_id")
	}
	if in.Location == nil || in.Location.Coords == nil {
		return Fix{Device: f.Device}, ErrNoPosition
	}
	c := in.Location.Coords
	if c.Latitude == nil || c.Longitude == nil {
		return Fix{Device: f.Device}, ErrNoPosition
	}
	f.Lat, f.Lon = *c.Latitude, *c.Longitude
	f.T = now.UTC().Truncate(time.Millisecond)
	if in.Location.Timestamp != "" {
		t, err := ParseTime(in.Location.Timestamp)
		if err != nil {
			return Fix{}, malformedf("location.timestamp", "%v", err)
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

// ErrNoPosition marks a well-formed record without a position: the Traccar
// SDK's heartbeat while it has no fix (id, timestamp and battery only), an
// OsmAnd JSON body without coords, an OwnTracks location without lat/lon.
// Such a record can never be used, and retrying it will not change that.
var ErrNoPosition = errors.New("feed: record without a position")

// ErrMalformed marks what the sender must fix: a body that is not the
// protocol (bad JSON, a number that is not a number, an unreadable time), or
// no device id at all. Every other refusal of a phone record is final for
// that record only, and is answered 2xx so the app moves on.
var ErrMalformed = errors.New("feed: malformed record")

// malformedError is a *FieldError that also matches ErrMalformed.
type malformedError struct{ fe *FieldError }

func (e *malformedError) Error() string {
	if e.fe.Field == "" {
		return e.fe.Reason
	}
	return e.fe.Error()
}
func (e *malformedError) Unwrap() []error { return []error{e.fe, ErrMalformed} }

func malformedf(field, format string, a ...any) error {
	return &malformedError{&FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}}
}

// OwnTracksIdentity is what an OwnTracks request says about its device,
// besides the payload: the user and device of the X-Limit-U / X-Limit-D
// headers (or ?u= and ?d=), as the OwnTracks Recorder reads them.
type OwnTracksIdentity struct{ User, Device string }

// ownTracksIn is an OwnTracks payload: a location, or an encrypted message.
type ownTracksIn struct {
	Type  string   `json:"_type"`
	Lat   *float64 `json:"lat"`
	Lon   *float64 `json:"lon"`
	Tst   *float64 `json:"tst"`
	Tid   string   `json:"tid"`
	Topic string   `json:"topic"`
	Acc   *float64 `json:"acc"`
	Vel   *float64 `json:"vel"`
	Cog   *float64 `json:"cog"`
	Data  string   `json:"data"`
}

// OwnTracksDevice names an OwnTracks device, in this order: user and device
// from the headers or query (lower-cased, as the Recorder does: "user/device"),
// then the topic the iOS app puts in the payload (owntracks/USER/DEVICE),
// then the two-letter tid — only when nothing else is sent, because the
// Android app derives it from the phone model and identical phones share
// it. The Android app's own HTTP topic, owntracks/http/TID, is the tid
// again and names no user.
func OwnTracksDevice(id OwnTracksIdentity, topic, tid string) string {
	u, d := strings.ToLower(strings.TrimSpace(id.User)), strings.ToLower(strings.TrimSpace(id.Device))
	if u != "" || d != "" {
		return u + "/" + d
	}
	if parts := strings.Split(topic, "/"); len(parts) >= 3 && parts[0] == "owntracks" && parts[1] != "http" && parts[1] != "" && parts[2] != "" {
		return strings.ToLower(parts[1] + "/" + parts[2])
	}
	return tid // two characters, without a slash: never equal to a user/device
}

// ErrEncrypted is returned by ParseOwnTracks for an encrypted message: the
// caller decrypts its data (DecryptOwnTracks) and parses the result.
type ErrEncrypted struct{ Data string }

func (e *ErrEncrypted) Error() string { return "feed: encrypted OwnTracks message" }

// ParseOwnTracks reads an OwnTracks HTTP JSON payload: _type "location",
// lat, lon, tst (Unix seconds), acc (m), vel (km/h), cog (°). The device is
// named by OwnTracksDevice. An encrypted message comes back as
// *ErrEncrypted; other message types as ErrNotLocation.
func ParseOwnTracks(b []byte, id OwnTracksIdentity, opt Options) (Fix, error) {
	var in ownTracksIn
	if err := json.Unmarshal(b, &in); err != nil {
		return Fix{}, malformedf("", "malformed JSON: %v", err)
	}
	switch in.Type {
	case "location":
	case "encrypted":
		return Fix{}, &ErrEncrypted{Data: in.Data}
	default:
		return Fix{}, ErrNotLocation
	}
	f := NewFix()
	f.Device = OwnTracksDevice(id, in.Topic, in.Tid)
	if f.Device == "" {
		return Fix{}, malformedf("tid", "no device: set the app's user name and device id (sent as X-Limit-U / X-Limit-D), or ?u=&d=")
	}
	if in.Lat == nil || in.Lon == nil {
		return Fix{Device: f.Device}, ErrNoPosition
	}
	if in.Tst == nil {
		return Fix{}, malformedf("tst", "missing tst")
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

// OwnTracksKey turns the secret typed into the app into the secretbox key
// the apps use: its UTF-8 bytes copied into 32 zero bytes, truncated beyond
// 32 (Android: EncryptionProvider, keyString.toByteArray().copyOf(32); iOS:
// Connection.m, NSString getBytes:maxLength:32 into a zeroed key).
func OwnTracksKey(secret string) *[32]byte {
	var k [32]byte
	copy(k[:], secret)
	return &k
}

// Errors of DecryptOwnTracks.
var (
	ErrNoKey         = errors.New("feed: encrypted OwnTracks message, but no key is set for this token")
	ErrDecryptFailed = errors.New("feed: OwnTracks message does not decrypt with this token's key")
)

// DecryptOwnTracks opens the data of an encrypted OwnTracks message:
// base64 of nonce (24 bytes) followed by the secretbox (Poly1305 tag, then
// XSalsa20 ciphertext), as both apps write it.
func DecryptOwnTracks(key *[32]byte, data string) ([]byte, error) {
	if key == nil {
		return nil, ErrNoKey
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimSpace(data)); err != nil {
			return nil, fmt.Errorf("%w: data is not base64", ErrDecryptFailed)
		}
	}
	if len(raw) < 24+secretbox.Overhead {
		return nil, fmt.Errorf("%w: data too short", ErrDecryptFailed)
	}
	var nonce [24]byte
	copy(nonce[:], raw[:24])
	out, ok := secretbox.Open(nil, raw[24:], &nonce, key)
	if !ok {
		return nil, fmt.Errorf("%w: wrong key, or the message was altered", ErrDecryptFailed)
	}
	return out, nil
}

// SealOwnTracks encrypts a payload as the apps do (for tests and tools).
func SealOwnTracks(key *[32]byte, nonce *[24]byte, plain []byte) string {
	box := secretbox.Seal(append([]byte(nil), nonce[:]...), plain, nonce, key)
	return base64.StdEncoding.EncodeToString(box)
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
		return 0, malformedf(field, "missing %s", field)
	}
	x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, malformedf(field, "want a finite number, got %q", s)
	}
	return x, nil
}
