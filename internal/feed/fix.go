// Package feed decodes position reports (fixes) from the formats keepclear
// accepts: NDJSON, CSV with a header, GPX; it validates each record and
// reports a bad one with its line (or element) and reason, so that the good
// records around it are still processed. Readers stream: a file is never
// held in memory whole.
package feed

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Fix is one position report. Unknown optional values are negative
// (accuracy, speed) or NaN (heading).
type Fix struct {
	Device  string
	Agency  string
	T       time.Time
	Lat     float64
	Lon     float64
	Acc     float64 // metres, -1 when unknown
	Speed   float64 // m/s, -1 when unknown
	Heading float64 // degrees, NaN when unknown
	// Invalid: the client marked the position invalid (OsmAnd valid=false).
	// Such a fix is heard from, but never enters a zone or moves a stay.
	Invalid bool
}

// NewFix returns a fix with the optional fields unknown.
func NewFix() Fix { return Fix{Acc: -1, Speed: -1, Heading: math.NaN()} }

// Limits on what a fix may hold.
const (
	MaxIDLen = 128
)

// Times outside these bounds are rejected by Validate: a clock set to 1970 or
// to the far future is a broken device, not a position.
var (
	MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrRecord is wrapped by every RecordError.
var ErrRecord = errors.New("feed: bad record")

// RecordError is a record that could not be used; reading goes on after it.
type RecordError struct {
	Line   int    // 1-based line, record or element number
	Field  string // the offending field, if one
	Reason string
}

func (e *RecordError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
}

func (e *RecordError) Unwrap() error { return ErrRecord }

// FieldError is a validation failure of one field.
type FieldError struct{ Field, Reason string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks a fix's fields and returns a *FieldError for the first bad one.
func (f *Fix) Validate() error {
	switch {
	case f.Device == "":
		return &FieldError{"device", "missing device id"}
	case len(f.Device) > MaxIDLen:
		return &FieldError{"device", fmt.Sprintf("longer than %d bytes", MaxIDLen)}
	case f.Agency == "":
		return &FieldError{"agency", "missing agency"}
	case len(f.Agency) > MaxIDLen:
		return &FieldError{"agency", fmt.Sprintf("longer than %d bytes", MaxIDLen)}
	case f.T.IsZero():
		return &FieldError{"t", "missing time"}
	case f.T.Before(MinTime) || !f.T.Before(MaxTime):
		return &FieldError{"t", fmt.Sprintf("time %s out of range [%d, %d)", f.T.UTC().Format(time.RFC3339), MinTime.Year(), MaxTime.Year())}
	case math.IsNaN(f.Lat) || f.Lat < -90 || f.Lat > 90:
		return &FieldError{"lat", fmt.Sprintf("latitude %v out of range [-90, 90]", f.Lat)}
	case math.IsNaN(f.Lon) || f.Lon < -180 || f.Lon > 180:
		return &FieldError{"lon", fmt.Sprintf("longitude %v out of range [-180, 180]", f.Lon)}
	case math.IsInf(f.Acc, 0) || math.IsNaN(f.Acc):
		return &FieldError{"acc", "accuracy must be a finite number of metres"}
	case math.IsInf(f.Speed, 0) || math.IsNaN(f.Speed) || f.Speed > 1000:
		return &FieldError{"speed", fmt.Sprintf("speed %v m/s out of range", f.Speed)}
	case !math.IsNaN(f.Heading) && (f.Heading < 0 || f.Heading > 360):
		return &FieldError{"heading", fmt.Sprintf("heading %v out of range [0, 360]", f.Heading)}
	}
	return nil
}

// ParseTime reads a time as RFC 3339, or as Unix seconds or milliseconds
// (a number above 1e11 is taken as milliseconds: 1e11 s is in the year 5138).
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if c := s[0]; c >= '0' && c <= '9' && len(s) <= 20 && !strings.ContainsAny(s, "-:T") {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("bad time %q", s)
		}
		return UnixTime(v)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q (want RFC 3339, Unix seconds or milliseconds)", s)
	}
	return t, nil
}

// UnixTime reads a number of Unix seconds, or of milliseconds when above 1e11.
func UnixTime(v float64) (time.Time, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1e15 {
		return time.Time{}, fmt.Errorf("bad Unix time %v", v)
	}
	if v > 1e11 {
		return time.UnixMilli(int64(math.Round(v))).UTC(), nil
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}

// AppendJSON renders the fix as one line of the NDJSON feed format (without
// the newline); unknown optional fields are left out, and a fix the client
// marked invalid carries "valid":false. The line is valid JSON whatever the
// fix holds: strings go through AppendJSONString, and a non-finite number
// (which Validate refuses) is written as null.
func (f *Fix) AppendJSON(b []byte) []byte {
	b = append(b, `{"device":`...)
	b = AppendJSONString(b, f.Device)
	b = append(b, `,"agency":`...)
	b = AppendJSONString(b, f.Agency)
	b = append(b, `,"t":"`...)
	b = f.T.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","lat":`...)
	b = appendNumber(b, f.Lat)
	b = append(b, `,"lon":`...)
	b = appendNumber(b, f.Lon)
	for _, o := range [...]struct {
		key string
		v   float64
		ok  bool
	}{{"acc", f.Acc, f.Acc >= 0}, {"speed", f.Speed, f.Speed >= 0}, {"heading", f.Heading, !math.IsNaN(f.Heading)}} {
		if o.ok {
			b = append(b, `,"`...)
			b = append(b, o.key...)
			b = append(b, `":`...)
			b = appendNumber(b, o.v)
		}
	}
	if f.Invalid {
		b = append(b, `,"valid":false`...)
	}
	return append(b, '}')
}

func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}
