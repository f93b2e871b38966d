// Package event owns the boundary event: its kinds, its fields with their
// JSON names (DESIGN.md "Concepts"), and its NDJSON and CSV encodings.
package event

import (
	"github.com/keepclear/keepclear/internal/jsontext"
	"math"
	"strconv"
	"time"
)

// Kind is what happened.
type Kind string

// The kinds of event.
const (
	Enter       Kind = "enter"
	Dwell       Kind = "dwell"
	Exit        Kind = "exit"
	RepeatPass  Kind = "repeat_pass"
	SignalLost  Kind = "signal_lost"
	Resumed     Kind = "resumed"
	KindUnknown Kind = ""
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{Enter, Dwell, Exit, RepeatPass, SignalLost, Resumed}

// ParseKind returns the kind named s, or false.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, true
		}
	}
	return KindUnknown, false
}

// Event is one boundary event. Device is the pseudonym, never a raw id.
type Event struct {
	ID           string    `json:"id"`
	Visit        string    `json:"visit"`
	Site         string    `json:"site"`
	Zone         string    `json:"zone"`
	Kind         Kind      `json:"kind"`
	Device       string    `json:"device"`
	Agency       string    `json:"agency"`
	T            time.Time `json:"t"`
	DurationS    float64   `json:"duration_s"`
	MinDistanceM float64   `json:"min_distance_m"`
	StationaryS  float64   `json:"stationary_s"`
	InHours      bool      `json:"in_hours"`
	Breach       bool      `json:"breach"`
	// Confirmed: the visit has the evidence DESIGN.md asks for (two fixes
	// inside within the accuracy limit, or one inside by more than its
	// accuracy). Unconfirmed visits are never breaches.
	Confirmed bool `json:"confirmed"`
	// Fixes is the number of fixes inside the zone so far (0 for an
	// interpolated pass).
	Fixes int `json:"fixes"`
	// Interpolated: a pass detected on the segment between two fixes.
	Interpolated bool    `json:"interpolated"`
	Lat          float64 `json:"lat"`
	Lon          float64 `json:"lon"`
}

// RoundCoord rounds a coordinate to 1e-5 degrees (~1 m).
func RoundCoord(v float64) float64 { return math.Round(v*1e5) / 1e5 }

// RoundMetres rounds a distance to 0.1 m.
func RoundMetres(v float64) float64 { return math.Round(v*10) / 10 }

// Seconds converts milliseconds to seconds.
func Seconds(ms int64) float64 { return float64(ms) / 1000 }

// AppendJSON appends the event as one JSON object (no newline). Field order
// is fixed (the struct's, as encoding/json would write it), so the same
// event always gives the same bytes. It allocates nothing when b has room:
// it is on the replay hot path.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = jsontext.AppendString(b, e.ID)
	b = append(b, `,"visit":`...)
	b = jsontext.AppendString(b, e.Visit)
	b = append(b, `,"site":`...)
	b = jsontext.AppendString(b, e.Site)
	b = append(b, `,"zone":`...)
	b = jsontext.AppendString(b, e.Zone)
	b = append(b, `,"kind":`...)
	b = jsontext.AppendString(b, string(e.Kind))
	b = append(b, `,"device":`...)
	b = jsontext.AppendString(b, e.Device)
	b = append(b, `,"agency":`...)
	b = jsontext.AppendString(b, e.Agency)
	b = append(b, `,"t":"`...)
	b = e.T.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","duration_s":`...)
	b = appendFloat(b, e.DurationS)
	b = append(b, `,"min_distance_m":`...)
	b = appendFloat(b, e.MinDistanceM)
	b = append(b, `,"stationary_s":`...)
	b = appendFloat(b, e.StationaryS)
	b = append(b, `,"in_hours":`...)
	b = strconv.AppendBool(b, e.InHours)
	b = append(b, `,"breach":`...)
	b = strconv.AppendBool(b, e.Breach)
	b = append(b, `,"confirmed":`...)
	b = strconv.AppendBool(b, e.Confirmed)
	b = append(b, `,"fixes":`...)
	b = strconv.AppendInt(b, int64(e.Fixes), 10)
	b = append(b, `,"interpolated":`...)
	b = strconv.AppendBool(b, e.Interpolated)
	b = append(b, `,"lat":`...)
	b = appendFloat(b, e.Lat)
	b = append(b, `,"lon":`...)
	b = appendFloat(b, e.Lon)
	return append(b, '}')
}

func appendFloat(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// CSVHeader is the header row of the CSV encoding.
var CSVHeader = []string{"id", "visit", "site", "zone", "kind", "device", "agency", "t",
	"duration_s", "min_distance_m", "stationary_s", "in_hours", "breach", "confirmed", "fixes", "interpolated", "lat", "lon"}

// CSVRecord returns the event as a CSV row matching CSVHeader.
func (e *Event) CSVRecord() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{e.ID, e.Visit, e.Site, e.Zone, string(e.Kind), e.Device, e.Agency,
		e.T.UTC().Format(time.RFC3339Nano), f(e.DurationS), f(e.MinDistanceM), f(e.StationaryS),
		strconv.FormatBool(e.InHours), strconv.FormatBool(e.Breach), strconv.FormatBool(e.Confirmed),
		strconv.Itoa(e.Fixes), strconv.FormatBool(e.Interpolated), f(e.Lat), f(e.Lon)}
}
