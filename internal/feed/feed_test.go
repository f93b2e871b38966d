package feed

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func readAll(t *testing.T, r Reader) (fixes []Fix, bad []*RecordError) {
	t.Helper()
	for {
		f, err := r.Next()
		if err == io.EOF {
			return
		}
		var re *RecordError
		if errors.As(err, &re) {
			bad = append(bad, re)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		fixes = append(fixes, f)
	}
}

func TestNDJSON(t *testing.T) {
	in := strings.Join([]string{
		`{"device":"car-17","agency":"tps","t":"2026-11-22T10:00:00Z","lat":43.6532,"lon":-79.3832,"acc":8,"speed":0.4,"heading":90}`,
		`{"device":"car-17","agency":"tps","t":1763805601,"lat":43.6532,"lon":-79.3832}`,
		`{"device":"car-17","t":1763805602500,"lat":43.6532,"lon":-79.3832,"acc":null}`,
		`   `,
		`{"device":"car-17","agency":"tps","t":"yesterday","lat":43.6532,"lon":-79.3832}`,
		`{"device":"car-17","agency":"tps","t":1763805603,"lat":"43.6","lon":-79.3832}`,
		`{"device":"car-17","agency":"tps","t":1763805603,"lon":-79.3832}`,
		`{"device":"car-17","agency":"tps","t":1763805603,"lat":43.6,"lon":-181}`,
		`{"device":"car-17","agency":"tps","t":1763805603,"lat":43.6,"lon":1,"speed":-2}`,
		`{"device":"car-17","agency":"tps","t":4102444800,"lat":43.6,"lon":1}`,
		`[1,2]`,
		`{"device":"car-17","agency":"tps","t":1763805604,"lat":43.6,"lon":1,"heading":400}`,
		`{"device":"car-17","agency":"tps","t":"2026-11-22T10:00:05.250-05:00","lat":43.6,"lon":1e0}`,
	}, "\n")
	fixes, bad := readAll(t, NewNDJSON(strings.NewReader(in), Options{Agency: "default"}))
	if len(fixes) != 4 {
		t.Fatalf("got %d fixes, want 4: %+v", len(fixes), fixes)
	}
	f := fixes[0]
	if f.Device != "car-17" || f.Agency != "tps" || f.Lat != 43.6532 || f.Acc != 8 || f.Speed != 0.4 || f.Heading != 90 ||
		!f.T.Equal(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("first fix: %+v", f)
	}
	if !fixes[1].T.Equal(time.Unix(1763805601, 0)) || fixes[1].Acc != -1 || fixes[1].Speed != -1 || !math.IsNaN(fixes[1].Heading) {
		t.Errorf("unix seconds / unknown optionals: %+v", fixes[1])
	}
	if !fixes[2].T.Equal(time.UnixMilli(1763805602500)) || fixes[2].Agency != "default" {
		t.Errorf("unix ms / default agency: %+v", fixes[2])
	}
	if !fixes[3].T.Equal(time.Date(2026, 11, 22, 15, 0, 5, 250e6, time.UTC)) {
		t.Errorf("offset time: %v", fixes[3].T)
	}
	want := []struct {
		line  int
		field string
	}{{5, "t"}, {6, "lat"}, {7, "lat"}, {8, "lon"}, {9, "speed"}, {10, "t"}, {11, ""}, {12, "heading"}}
	if len(bad) != len(want) {
		t.Fatalf("bad records: %v", bad)
	}
	for i, w := range want {
		if bad[i].Line != w.line || bad[i].Field != w.field {
			t.Errorf("bad record %d: line %d field %q (%s), want line %d field %q", i, bad[i].Line, bad[i].Field, bad[i].Reason, w.line, w.field)
		}
	}
}

func TestAppendJSONRoundTrips(t *testing.T) {
	f := NewFix()
	f.Device, f.Agency, f.T, f.Lat, f.Lon, f.Speed, f.Heading = "car \"17\"\x00\n", "vpd", time.UnixMilli(1763805600123).UTC(), 49.28111, -123.10111, 3.5, 270
	var d Decoder
	b := f.AppendJSON(nil)
	back, err := d.Decode(b, Options{})
	if err != nil || back != f {
		t.Errorf("%s\n%+v %v, want %+v", b, back, err, f)
	}
	f.Speed, f.Heading, f.Acc, f.Invalid = -1, math.NaN(), 0, true
	b = f.AppendJSON(nil)
	back, err = d.Decode(b, Options{})
	if err != nil || back.Device != f.Device || back.Speed != -1 || !math.IsNaN(back.Heading) || back.Acc != 0 || !back.Invalid {
		t.Errorf("%s\n%+v %v, want %+v", b, back, err, f)
	}
}

func TestNDJSONForcedAgency(t *testing.T) {
	in := `{"device":"a","agency":"other","t":1763805601,"lat":1,"lon":1}`
	fixes, _ := readAll(t, NewNDJSON(strings.NewReader(in), Options{Agency: "tps", ForceAgency: true}))
	if len(fixes) != 1 || fixes[0].Agency != "tps" {
		t.Errorf("agency not taken from the token: %+v", fixes)
	}
}

func TestNDJSONLongLine(t *testing.T) {
	long := `{"device":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	in := long + "\n" + `{"device":"a","agency":"b","t":1763805601,"lat":1,"lon":1}` + "\n" + strings.Repeat("y", 300<<10) + "\n" + `{"device":"a","agency":"b","t":1763805602,"lat":1,"lon":1}`
	fixes, bad := readAll(t, NewNDJSON(strings.NewReader(in), Options{}))
	if len(fixes) != 2 || len(bad) != 2 || bad[0].Line != 1 || bad[1].Line != 3 {
		t.Errorf("fixes %d, bad %v", len(fixes), bad)
	}
}

func TestCSV(t *testing.T) {
	in := "\ufeffTime,Latitude,Longitude,device,agency,accuracy,extra\n" +
		"2026-11-22T10:00:00Z,43.65,-79.38,car-1,tps,5,x\n" +
		"# a comment\n" +
		"2026-11-22T10:00:01Z,abc,-79.38,car-1,tps,5,x\n" +
		"1763805602,43.65,-79.38,car-1,,,\n"
	r, err := NewCSV(strings.NewReader(in), Options{Agency: "dflt"})
	if err != nil {
		t.Fatal(err)
	}
	fixes, bad := readAll(t, r)
	if len(fixes) != 2 || fixes[0].Acc != 5 || fixes[1].Agency != "dflt" || fixes[1].Acc != -1 {
		t.Errorf("fixes: %+v", fixes)
	}
	if len(bad) != 1 || bad[0].Line != 4 || bad[0].Field != "lat" {
		t.Errorf("bad: %v", bad)
	}
	if _, err := NewCSV(strings.NewReader("a,b\n"), Options{}); err == nil || !strings.Contains(err.Error(), "t, lat, lon, device") {
		t.Errorf("header error: %v", err)
	}
}

func TestGPX(t *testing.T) {
	in := `<?xml version="1.0"?>
<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1" xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">
<trk><name>unit-9</name><trkseg>
<trkpt lat="49.28" lon="-123.10"><ele>5</ele><time>2026-11-16T18:00:00Z</time><hdop>2</hdop></trkpt>
<trkpt lat="49.29" lon="-123.10"><time>2026-11-16T18:00:05Z</time><extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>4.5</gpxtpx:speed><gpxtpx:course>270</gpxtpx:course></gpxtpx:TrackPointExtension></extensions></trkpt>
<trkpt lat="95" lon="-123.10"><time>2026-11-16T18:00:10Z</time></trkpt>
<trkpt lat="49.3" lon="-123.10"></trkpt>
</trkseg></trk></gpx>`
	fixes, bad := readAll(t, NewGPX(strings.NewReader(in), Options{Agency: "vpd", Device: "file"}, false))
	if len(fixes) != 2 {
		t.Fatalf("fixes: %+v", fixes)
	}
	if fixes[0].Device != "unit-9" || fixes[0].Agency != "vpd" || fixes[0].Acc != 10 {
		t.Errorf("first: %+v", fixes[0])
	}
	if fixes[1].Speed != 4.5 || fixes[1].Heading != 270 {
		t.Errorf("extensions: %+v", fixes[1])
	}
	if len(bad) != 2 || bad[0].Field != "lat" || bad[1].Field != "time" || bad[0].Line != 6 {
		t.Errorf("bad: %v", bad)
	}
	_, err := NewGPX(strings.NewReader("<gpx><trk>"), Options{Device: "d"}, false).Next()
	if err == nil || errors.Is(err, ErrRecord) || err == io.EOF {
		t.Errorf("truncated XML: %v, want a read error", err)
	}
}

func TestParseTime(t *testing.T) {
	for s, want := range map[string]time.Time{
		"2026-11-22T10:00:00Z":      time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		"1763805600":                time.Unix(1763805600, 0),
		"1763805600123":             time.UnixMilli(1763805600123),
		"1763805600.5":              time.Unix(1763805600, 5e8),
		"2026-11-22T10:00:00+01:00": time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "abc", "2026-11-22", "-5", "1e400", "NaN"} {
		if _, err := ParseTime(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// The parsers must never panic, and whatever they accept must validate.
func FuzzNDJSON(f *testing.F) {
	f.Add([]byte(`{"device":"car-17","agency":"tps","t":"2026-11-22T10:00:00Z","lat":43.6532,"lon":-79.3832,"acc":8,"speed":0.4,"heading":90}`))
	f.Add([]byte(`{"device":"a","t":1763805602500,"lat":1,"lon":2}` + "\n" + `{"t":[]}`))
	f.Add([]byte("\n\n{\"lat\":1e999}"))
	f.Add([]byte(`{"device":"a\u0000\u2028","agency":"\"","t":1763805602,"lat":1,"lon":2,"speed":-1,"heading":-1,"valid":false}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewNDJSON(bytes.NewReader(b), Options{Agency: "x"})
		for i := 0; i < 1000; i++ {
			fx, err := r.Next()
			if err == io.EOF {
				return
			}
			if err == nil {
				if verr := fx.Validate(); verr != nil {
					t.Fatalf("accepted an invalid fix: %v", verr)
				}
				checkAppendJSON(t, fx)
			} else if !errors.Is(err, ErrRecord) {
				t.Fatalf("unexpected error: %v", err)
			}
		}
	})
}

// checkAppendJSON: whatever fix a reader accepts renders as valid JSON,
// and one whose strings are valid UTF-8 (the others come back with U+FFFD)
// reads back the same.
func checkAppendJSON(t *testing.T, fx Fix) {
	t.Helper()
	b := fx.AppendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("AppendJSON wrote invalid JSON: %s", b)
	}
	if !utf8.ValidString(fx.Device) || !utf8.ValidString(fx.Agency) {
		return
	}
	var d Decoder
	back, err := d.Decode(b, Options{})
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	if err != nil || back.Device != fx.Device || back.Agency != fx.Agency || !back.T.Equal(fx.T) || back.Lat != fx.Lat || back.Lon != fx.Lon ||
		!same(back.Acc, fx.Acc) || !same(back.Speed, fx.Speed) || !same(back.Heading, fx.Heading) || back.Invalid != fx.Invalid {
		t.Fatalf("AppendJSON does not round-trip: %+v\n%s\n%+v %v", fx, b, back, err)
	}
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("device,agency,t,lat,lon,acc\ncar,tps,1763805602,1,2,3\n"))
	f.Add([]byte("t,lat,lon\n\"x,1,2\n"))
	f.Add([]byte("device,t,lat,lon,speed,heading,valid\n\"a\x00\",1763805602,1,2,-1,-1,false\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewCSV(bytes.NewReader(b), Options{Agency: "x", Device: "d"})
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			fx, err := r.Next()
			if err == io.EOF {
				return
			}
			if err == nil {
				if verr := fx.Validate(); verr != nil {
					t.Fatalf("accepted an invalid fix: %v", verr)
				}
				checkAppendJSON(t, fx)
			} else if !errors.Is(err, ErrRecord) {
				return // a broken stream ends reading
			}
		}
	})
}

func FuzzGPX(f *testing.F) {
	f.Add([]byte(`<gpx><trk><name>u</name><trkseg><trkpt lat="1" lon="2"><time>2026-11-16T18:00:00Z</time><speed>3</speed></trkpt></trkseg></trk></gpx>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewGPX(bytes.NewReader(b), Options{Agency: "x", Device: "d"}, false)
		for i := 0; i < 1000; i++ {
			fx, err := r.Next()
			if err != nil && !errors.Is(err, ErrRecord) {
				return
			}
			if err == nil {
				if verr := fx.Validate(); verr != nil {
					t.Fatalf("accepted an invalid fix: %v", verr)
				}
				checkAppendJSON(t, fx)
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-22T10:00:00Z", "1763805600", "1763805600123", "1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { ParseTime(s) })
}

func BenchmarkNDJSON(b *testing.B) {
	line := []byte(`{"device":"car-17","agency":"tps","t":"2026-11-22T10:00:00Z","lat":43.6532,"lon":-79.3832,"acc":8,"speed":0.4}` + "\n")
	buf := bytes.Repeat(line, 10000)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewNDJSON(bytes.NewReader(buf), Options{})
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "fixes/s")
}

// Speed or heading -1 means unknown, in NDJSON and CSV alike; any other
// negative value is an error.
func TestUnknownSpeedAndHeading(t *testing.T) {
	nd := strings.Join([]string{
		`{"device":"a","agency":"b","t":1763805601,"lat":1,"lon":1,"speed":-1,"heading":-1}`,
		`{"device":"a","agency":"b","t":1763805602,"lat":1,"lon":1,"speed":-1.0,"heading":90}`,
		`{"device":"a","agency":"b","t":1763805603,"lat":1,"lon":1,"speed":2.5,"heading":-1e0}`,
		`{"device":"a","agency":"b","t":1763805604,"lat":1,"lon":1,"speed":-2}`,
		`{"device":"a","agency":"b","t":1763805605,"lat":1,"lon":1,"speed":-0.5}`,
		`{"device":"a","agency":"b","t":1763805606,"lat":1,"lon":1,"heading":-2}`,
		`{"device":"a","agency":"b","t":1763805607,"lat":1,"lon":1,"heading":-0.5}`,
	}, "\n")
	csvIn := "device,agency,t,lat,lon,speed,heading\n" +
		"a,b,1763805601,1,1,-1,-1\n" +
		"a,b,1763805602,1,1,-1.0,90\n" +
		"a,b,1763805603,1,1,2.5,-1\n" +
		"a,b,1763805604,1,1,-2,\n" +
		"a,b,1763805605,1,1,-0.5,\n" +
		"a,b,1763805606,1,1,,-2\n" +
		"a,b,1763805607,1,1,,-0.5\n"
	cr, err := NewCSV(strings.NewReader(csvIn), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		r        Reader
		firstBad int // line of the first bad record (the CSV header is line 1)
	}{{"ndjson", NewNDJSON(strings.NewReader(nd), Options{}), 4}, {"csv", cr, 5}} {
		fixes, bad := readAll(t, c.r)
		if len(fixes) != 3 {
			t.Fatalf("%s: %d fixes, want 3: %+v %v", c.name, len(fixes), fixes, bad)
		}
		if f := fixes[0]; f.Speed != -1 || !math.IsNaN(f.Heading) {
			t.Errorf("%s: -1 not unknown: speed %v heading %v", c.name, f.Speed, f.Heading)
		}
		if f := fixes[1]; f.Speed != -1 || f.Heading != 90 {
			t.Errorf("%s: speed %v heading %v, want -1 90", c.name, f.Speed, f.Heading)
		}
		if f := fixes[2]; f.Speed != 2.5 || !math.IsNaN(f.Heading) {
			t.Errorf("%s: speed %v heading %v, want 2.5 NaN", c.name, f.Speed, f.Heading)
		}
		want := []string{"speed", "speed", "heading", "heading"}
		if len(bad) != len(want) {
			t.Fatalf("%s: bad records %v, want fields %v", c.name, bad, want)
		}
		for i, w := range want {
			if bad[i].Field != w || bad[i].Line != c.firstBad+i {
				t.Errorf("%s: bad record %d: line %d field %q (%s), want line %d field %q", c.name, i, bad[i].Line, bad[i].Field, bad[i].Reason, c.firstBad+i, w)
			}
		}
	}
}

// "valid":false (NDJSON) or a valid column (CSV) marks a fix invalid, and
// AppendJSON writes it back.
func TestValidField(t *testing.T) {
	nd := `{"device":"a","agency":"b","t":1763805601,"lat":1,"lon":1,"valid":false}
{"device":"a","agency":"b","t":1763805602,"lat":1,"lon":1,"valid":true}
{"device":"a","agency":"b","t":1763805603,"lat":1,"lon":1,"valid":null}
{"device":"a","agency":"b","t":1763805604,"lat":1,"lon":1,"valid":"no"}`
	fixes, bad := readAll(t, NewNDJSON(strings.NewReader(nd), Options{}))
	if len(fixes) != 3 || !fixes[0].Invalid || fixes[1].Invalid || fixes[2].Invalid {
		t.Errorf("ndjson: %+v", fixes)
	}
	if len(bad) != 1 || bad[0].Field != "valid" || bad[0].Line != 4 {
		t.Errorf("ndjson bad: %v", bad)
	}
	if b := fixes[0].AppendJSON(nil); !bytes.HasSuffix(b, []byte(`,"valid":false}`)) {
		t.Errorf("AppendJSON of an invalid fix: %s", b)
	}
	if b := fixes[1].AppendJSON(nil); bytes.Contains(b, []byte(`valid`)) {
		t.Errorf("AppendJSON of a valid fix: %s", b)
	}
	r, err := NewCSV(strings.NewReader("device,agency,t,lat,lon,valid\na,b,1763805601,1,1,false\na,b,1763805602,1,1,1\na,b,1763805603,1,1,\na,b,1763805604,1,1,maybe\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	fixes, bad = readAll(t, r)
	if len(fixes) != 3 || !fixes[0].Invalid || fixes[1].Invalid || fixes[2].Invalid {
		t.Errorf("csv: %+v", fixes)
	}
	if len(bad) != 1 || bad[0].Field != "valid" || bad[0].Line != 5 {
		t.Errorf("csv bad: %v", bad)
	}
}
