package feed

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"

	"github.com/valyala/fastjson"
)

// MaxLineBytes is the longest NDJSON line read; a longer one is a record error.
const MaxLineBytes = 64 << 10

// Options shape how records become fixes.
type Options struct {
	// Agency, when ForceAgency is set, replaces whatever agency a record
	// names (the server takes it from the token). Otherwise it fills in
	// records that name none.
	Agency      string
	ForceAgency bool
	// Device names the device of formats that carry one track and no device
	// field (GPX, a CSV without a device column); formats with a device
	// field never take it.
	Device string
}

// Reader yields fixes one by one. Next returns a *RecordError for a record it
// could not use (call Next again for the following ones), io.EOF at the end,
// or another error when the input itself fails.
type Reader interface {
	Next() (Fix, error)
}

// NDJSONReader reads one JSON object a line.
type NDJSONReader struct {
	r    *bufio.Reader
	d    Decoder
	opt  Options
	line int
}

// NewNDJSON returns a streaming NDJSON reader.
func NewNDJSON(r io.Reader, opt Options) *NDJSONReader {
	return &NDJSONReader{r: bufio.NewReaderSize(r, 256<<10), opt: opt}
}

// Line is the number of the last line read.
func (d *NDJSONReader) Line() int { return d.line }

// Next returns the next fix.
func (d *NDJSONReader) Next() (Fix, error) {
	for {
		b, err := d.r.ReadSlice('\n')
		if len(b) > 0 || err == nil {
			d.line++
		}
		if errors.Is(err, bufio.ErrBufferFull) || (err == nil && len(b) > MaxLineBytes) {
			// Skip the rest of the over-long line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = d.r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return Fix{}, err
			}
			return Fix{}, &RecordError{Line: d.line, Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		if err != nil && err != io.EOF {
			return Fix{}, err
		}
		if len(b) > MaxLineBytes {
			return Fix{}, &RecordError{Line: d.line, Reason: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		line := bytes.TrimSpace(b)
		if len(line) == 0 {
			if err == io.EOF {
				return Fix{}, io.EOF
			}
			continue
		}
		f, perr := d.d.Decode(line, d.opt)
		if perr != nil {
			return Fix{}, recordError(d.line, perr)
		}
		return f, nil
	}
}

func recordError(line int, err error) *RecordError {
	var fe *FieldError
	if errors.As(err, &fe) {
		return &RecordError{Line: line, Field: fe.Field, Reason: fe.Reason}
	}
	return &RecordError{Line: line, Reason: err.Error()}
}

// Decoder turns JSON fix objects into fixes. It reuses its parser, reads
// each object in one pass, and interns agency names, so decoding allocates
// little more than the device id. A Decoder is not safe for concurrent use.
type Decoder struct {
	p        fastjson.Parser
	agencies map[string]string
	// one object's decoding state, filled by visit
	cur     Fix
	err     error
	seen    uint8
	opt     Options
	visitFn func(key []byte, v *fastjson.Value)
}

const (
	seenT = 1 << iota
	seenLat
	seenLon
)

// unknown is how the feed formats say "not known" for speed and heading,
// as the phone apps do.
const unknown = -1

// maxInterned bounds the agency names a Decoder remembers.
const maxInterned = 1024

// Decode parses one fix object. It returns a *FieldError, or another error
// for malformed JSON.
func (d *Decoder) Decode(b []byte, opt Options) (Fix, error) {
	v, err := d.p.ParseBytes(b)
	if err != nil {
		return Fix{}, fmt.Errorf("malformed JSON: %v", err)
	}
	return d.FromJSON(v, opt)
}

// FromJSON converts a parsed JSON object into a validated fix. Unknown keys
// are ignored.
func (d *Decoder) FromJSON(v *fastjson.Value, opt Options) (Fix, error) {
	o, err := v.Object()
	if err != nil {
		return Fix{}, &FieldError{"", "record is not a JSON object"}
	}
	if d.visitFn == nil {
		d.visitFn = d.visit // bound once: no closure per record
	}
	d.cur, d.err, d.seen, d.opt = NewFix(), nil, 0, opt
	o.Visit(d.visitFn)
	f := d.cur
	switch {
	case d.err != nil:
		return Fix{}, d.err
	case d.seen&seenT == 0:
		return Fix{}, &FieldError{"t", "missing time"}
	case d.seen&seenLat == 0:
		return Fix{}, &FieldError{"lat", "missing latitude"}
	case d.seen&seenLon == 0:
		return Fix{}, &FieldError{"lon", "missing longitude"}
	}
	opt.applyAgency(&f)
	return f, f.Validate()
}

// visit reads one key of the object being decoded into d.cur.
func (d *Decoder) visit(key []byte, val *fastjson.Value) {
	if d.err != nil {
		return
	}
	f := &d.cur
	var err error
	switch string(key) {
	case "device":
		f.Device, err = jsonString(val, "device")
	case "agency":
		if d.opt.ForceAgency {
			return
		}
		if val.Type() != fastjson.TypeString {
			err = &FieldError{"agency", "want a string"}
			break
		}
		f.Agency = d.intern(val.GetStringBytes())
	case "t":
		d.seen |= seenT
		switch val.Type() {
		case fastjson.TypeString:
			// No copy of the text: ParseTime keeps no reference to it (its
			// errors quote it), and RFC 3339 names no zone to keep.
			b := val.GetStringBytes()
			f.T, err = ParseTime(unsafe.String(unsafe.SliceData(b), len(b)))
		case fastjson.TypeNumber:
			f.T, err = UnixTime(val.GetFloat64())
		default:
			err = errors.New("want RFC 3339 or Unix seconds/milliseconds")
		}
		if err != nil {
			err = &FieldError{"t", err.Error()}
		}
	case "lat":
		d.seen |= seenLat
		f.Lat, err = jsonNumber(val, "lat")
	case "lon":
		d.seen |= seenLon
		f.Lon, err = jsonNumber(val, "lon")
	case "acc":
		f.Acc, err = jsonOptional(val, "acc", -1)
		if err == nil && f.Acc < 0 && val.Type() != fastjson.TypeNull {
			err = &FieldError{"acc", "accuracy must be >= 0 metres"}
		}
	case "speed":
		f.Speed, err = jsonOptional(val, "speed", -1)
		if err == nil && f.Speed < 0 && f.Speed != unknown {
			err = &FieldError{"speed", "speed must be >= 0 m/s (or -1: unknown)"}
		}
	case "heading":
		f.Heading, err = jsonOptional(val, "heading", math.NaN())
		if f.Heading == unknown {
			f.Heading = math.NaN()
		}
	case "valid":
		switch val.Type() {
		case fastjson.TypeFalse:
			f.Invalid = true
		case fastjson.TypeTrue, fastjson.TypeNull:
		default:
			err = &FieldError{"valid", "want true or false"}
		}
	}
	d.err = err
}

func (d *Decoder) intern(b []byte) string {
	if s, ok := d.agencies[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.agencies == nil {
		d.agencies = map[string]string{}
	}
	if len(d.agencies) < maxInterned {
		d.agencies[s] = s
	}
	return s
}

func (opt *Options) applyAgency(f *Fix) {
	if opt.ForceAgency || f.Agency == "" {
		f.Agency = opt.Agency
	}
}

func jsonString(v *fastjson.Value, field string) (string, error) {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes()), nil
	case fastjson.TypeNumber:
		return v.String(), nil
	}
	return "", &FieldError{field, "want a string"}
}

func jsonNumber(v *fastjson.Value, field string) (float64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, &FieldError{field, "want a number"}
	}
	x, err := v.Float64()
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, &FieldError{field, "want a finite number"}
	}
	return x, nil
}

func jsonOptional(v *fastjson.Value, field string, unknown float64) (float64, error) {
	if v.Type() == fastjson.TypeNull {
		return unknown, nil
	}
	return jsonNumber(v, field)
}
