package feed

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// CSVReader reads fixes from CSV with a header row naming the fields of the
// NDJSON format (device, agency, t, lat, lon, acc, speed, heading, valid);
// speed or heading -1 means unknown. Columns may come in any order; unknown
// columns are ignored; a few common aliases (time, timestamp, latitude,
// longitude, accuracy) are understood.
type CSVReader struct {
	r   *csv.Reader
	opt Options
	col map[string]int
}

var csvAliases = map[string]string{
	"device": "device", "device_id": "device", "id": "device",
	"agency": "agency",
	"t":      "t", "time": "t", "timestamp": "t",
	"lat": "lat", "latitude": "lat",
	"lon": "lon", "lng": "lon", "longitude": "lon",
	"acc": "acc", "accuracy": "acc",
	"speed":   "speed",
	"heading": "heading", "bearing": "heading", "course": "heading",
	"valid": "valid",
}

// NewCSV reads the header and returns a reader, or an error naming what the
// header lacks.
func NewCSV(r io.Reader, opt Options) (*CSVReader, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("csv: empty input, want a header row")
		}
		return nil, fmt.Errorf("csv: header: %w", err)
	}
	c := &CSVReader{r: cr, opt: opt, col: map[string]int{}}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if name, ok := csvAliases[h]; ok {
			if _, dup := c.col[name]; !dup {
				c.col[name] = i
			}
		}
	}
	var missing []string
	for _, need := range []string{"t", "lat", "lon"} {
		if _, ok := c.col[need]; !ok {
			missing = append(missing, need)
		}
	}
	if _, ok := c.col["device"]; !ok && opt.Device == "" {
		missing = append(missing, "device")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("csv: header lacks %s (have %q)", strings.Join(missing, ", "), header)
	}
	return c, nil
}

// Next returns the next fix.
func (c *CSVReader) Next() (Fix, error) {
	rec, err := c.r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return Fix{}, &RecordError{Line: pe.Line, Reason: pe.Err.Error()}
		}
		return Fix{}, err
	}
	line, _ := c.r.FieldPos(0)
	get := func(name string) string {
		if i, ok := c.col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	f := NewFix()
	f.Device, f.Agency = get("device"), get("agency")
	if f.T, err = ParseTime(get("t")); err != nil {
		return Fix{}, &RecordError{Line: line, Field: "t", Reason: err.Error()}
	}
	for _, n := range []struct {
		name     string
		dst      *float64
		optional bool
	}{{"lat", &f.Lat, false}, {"lon", &f.Lon, false}, {"acc", &f.Acc, true}, {"speed", &f.Speed, true}, {"heading", &f.Heading, true}} {
		s := get(n.name)
		if s == "" && n.optional {
			continue
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return Fix{}, &RecordError{Line: line, Field: n.name, Reason: fmt.Sprintf("want a finite number, got %q", s)}
		}
		*n.dst = v
	}
	if get("acc") != "" && f.Acc < 0 {
		return Fix{}, &RecordError{Line: line, Field: "acc", Reason: "accuracy must be >= 0 metres"}
	}
	if get("speed") != "" && f.Speed < 0 && f.Speed != unknown {
		return Fix{}, &RecordError{Line: line, Field: "speed", Reason: "speed must be >= 0 m/s (or -1: unknown)"}
	}
	if f.Heading == unknown {
		f.Heading = math.NaN()
	}
	if s := get("valid"); s != "" {
		valid, err := strconv.ParseBool(s)
		if err != nil {
			return Fix{}, &RecordError{Line: line, Field: "valid", Reason: fmt.Sprintf("want true or false, got %q", s)}
		}
		f.Invalid = !valid
	}
	c.opt.applyAgency(&f)
	if _, ok := c.col["device"]; !ok {
		f.Device = c.opt.Device
	}
	if err := f.Validate(); err != nil {
		return Fix{}, recordError(line, err)
	}
	return f, nil
}
