package feed

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// GPXReader streams the track points of a GPX file (one device a file).
// Each <trkpt> (or <rtept>/<wpt> with a time) becomes a fix; <time> is
// required; <speed> (m/s) and <course> are read from the point or its
// extensions, <hdop> is taken as a rough accuracy (hdop × 5 m).
type GPXReader struct {
	d     *xml.Decoder
	opt   Options
	n     int
	inTrk bool
	named bool // the caller named the device: <trk><name> does not override
}

// NewGPX returns a streaming GPX reader. The device is the track's
// <trk><name>, else opt.Device; named forces opt.Device.
func NewGPX(r io.Reader, opt Options, named bool) *GPXReader {
	d := xml.NewDecoder(r)
	d.Strict = true
	return &GPXReader{d: d, opt: opt, named: named}
}

type gpxPoint struct {
	Lat    string  `xml:"lat,attr"`
	Lon    string  `xml:"lon,attr"`
	Time   string  `xml:"time"`
	Speed  *string `xml:"speed"`
	Course *string `xml:"course"`
	HDOP   *string `xml:"hdop"`
	Ext    struct {
		Inner []byte `xml:",innerxml"`
	} `xml:"extensions"`
}

// Next returns the next fix.
func (g *GPXReader) Next() (Fix, error) {
	for {
		tok, err := g.d.Token()
		if err == io.EOF {
			return Fix{}, io.EOF
		}
		if err != nil {
			if se, ok := err.(*xml.SyntaxError); ok {
				return Fix{}, fmt.Errorf("gpx: line %d: %s", se.Line, se.Msg)
			}
			return Fix{}, fmt.Errorf("gpx: %w", err)
		}
		if ee, ok := tok.(xml.EndElement); ok && ee.Name.Local == "trk" {
			g.inTrk = false
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "trk":
			g.inTrk = true
			continue
		case "name":
			// <trk><name> names the device, unless the caller did.
			var name string
			if err := g.d.DecodeElement(&name, &se); err == nil && g.inTrk && !g.named {
				if name = strings.TrimSpace(name); name != "" {
					g.opt.Device = name
				}
			}
			continue
		case "trkpt", "rtept":
		default:
			continue
		}
		g.n++
		line, _ := g.d.InputPos()
		var p gpxPoint
		if err := g.d.DecodeElement(&p, &se); err != nil {
			return Fix{}, fmt.Errorf("gpx: line %d: %w", line, err)
		}
		f, rerr := g.fix(&p, line)
		if rerr != nil {
			return Fix{}, rerr
		}
		return f, nil
	}
}

func (g *GPXReader) fix(p *gpxPoint, line int) (Fix, error) {
	bad := func(field, format string, a ...any) error {
		return &RecordError{Line: line, Field: field, Reason: fmt.Sprintf("trkpt %d: ", g.n) + fmt.Sprintf(format, a...)}
	}
	f := NewFix()
	var err error
	if f.Lat, err = strconv.ParseFloat(p.Lat, 64); err != nil {
		return Fix{}, bad("lat", "want a number, got %q", p.Lat)
	}
	if f.Lon, err = strconv.ParseFloat(p.Lon, 64); err != nil {
		return Fix{}, bad("lon", "want a number, got %q", p.Lon)
	}
	if f.T, err = ParseTime(strings.TrimSpace(p.Time)); err != nil {
		return Fix{}, bad("time", "%v", err)
	}
	num := func(s *string) (float64, bool) {
		if s == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(*s), 64)
		return v, err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	speed, course := p.Speed, p.Course
	if len(p.Ext.Inner) > 0 {
		// Garmin TrackPointExtension and similar: <ns:speed>, <ns:course>
		// at any depth.
		ext := extensionValues(p.Ext.Inner)
		if v, ok := ext["speed"]; ok && speed == nil {
			speed = &v
		}
		if v, ok := ext["course"]; ok && course == nil {
			course = &v
		}
	}
	if v, ok := num(speed); ok && v >= 0 {
		f.Speed = v
	}
	if v, ok := num(course); ok {
		f.Heading = v
	}
	if v, ok := num(p.HDOP); ok && v >= 0 {
		f.Acc = v * 5
	}
	g.opt.applyAgency(&f)
	f.Device = g.opt.Device
	if err := f.Validate(); err != nil {
		return Fix{}, recordError(line, err)
	}
	return f, nil
}

// extensionValues collects the text of the leaf elements of a GPX
// <extensions> block by local name.
func extensionValues(inner []byte) map[string]string {
	out := map[string]string{}
	d := xml.NewDecoder(strings.NewReader(string(inner)))
	var name string
	for {
		tok, err := d.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name = t.Name.Local
		case xml.CharData:
			if s := strings.TrimSpace(string(t)); s != "" && name != "" {
				out[name] = s
			}
		case xml.EndElement:
			name = ""
		}
	}
}
