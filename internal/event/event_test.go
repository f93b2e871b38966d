package event

import (
	"bytes"
	"encoding/json"
	"github.com/keepclear/keepclear/internal/jsontext"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func sample() Event {
	return Event{ID: "v1-1", Visit: "v1", Site: "insite", Zone: "frontage \"a\"", Kind: Dwell, Device: "ab12",
		Agency: "vpd", T: time.Date(2026, 11, 16, 10, 0, 5, 500e6, time.UTC), DurationS: 65.5,
		MinDistanceM: 12.3, StationaryS: 60, InHours: true, Breach: true, Confirmed: true, Fixes: 7,
		Interpolated: false, Lat: 49.28111, Lon: -123.10111}
}

// hostile holds every control character, quotes, backslashes, HTML
// characters, U+2028/U+2029, multi-byte runes and invalid UTF-8.
func hostile() string {
	var b strings.Builder
	for c := 0; c < 0x20; c++ {
		b.WriteByte(byte(c))
	}
	b.WriteString("\x7f \"q\" \\ </script>&<> \u2028\u2029 é 日本 🚓 ")
	b.WriteString("\xff\xfe bad \xc3( trunc \xe2\x82 end \xed\xa0\x80 surrogate")
	return b.String()
}

// stdJSON is encoding/json's spelling of e, without HTML escaping (which
// AppendJSON does not do) and without the encoder's newline.
func stdJSON(t *testing.T, e Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// The fields AppendJSON writes are exactly the struct's, by JSON name, in
// the struct's order, and encoding/json reads back each one as it was.
func TestAppendJSONFieldForField(t *testing.T) {
	for _, e := range []Event{sample(), {Kind: Resumed}, {ID: "x", Kind: Enter, Confirmed: false, Fixes: 0, Interpolated: true,
		T: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), DurationS: 0.25, MinDistanceM: 149.9, Lat: -89.99999, Lon: 179.99999}} {
		b := e.AppendJSON(nil)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON: %s", b)
		}
		// Decoded as a struct: every field equal.
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want, got := reflect.ValueOf(e), reflect.ValueOf(back)
		typ := want.Type()
		for i := 0; i < typ.NumField(); i++ {
			name := typ.Field(i).Tag.Get("json")
			if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
				t.Errorf("field %s: AppendJSON gave %v, want %v (%s)", name, got.Field(i), want.Field(i), b)
			}
		}
		// Decoded generically: the same keys, in the struct's order, with no
		// extra or missing ones.
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if tok, _ := dec.Token(); tok != json.Delim('{') {
			t.Fatalf("not an object: %s", b)
		}
		var keys []string
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var v any
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
		}
		var tags []string
		for i := 0; i < typ.NumField(); i++ {
			tags = append(tags, typ.Field(i).Tag.Get("json"))
		}
		if !reflect.DeepEqual(keys, tags) {
			t.Errorf("keys %v, want the struct's %v", keys, tags)
		}
		// Byte for byte what encoding/json writes.
		if std := stdJSON(t, e); !bytes.Equal(b, std) {
			t.Errorf("AppendJSON and encoding/json differ:\n%s\n%s", b, std)
		}
	}
}

func TestAppendJSONNewFieldsAfterBreach(t *testing.T) {
	s := sample()
	b := string(s.AppendJSON(nil))
	if !strings.Contains(b, `"breach":true,"confirmed":true,"fixes":7,"interpolated":false,"lat":`) {
		t.Errorf("field order: %s", b)
	}
	e := Event{Kind: Enter, Interpolated: true}
	if b := string(e.AppendJSON(nil)); !strings.Contains(b, `"breach":false,"confirmed":false,"fixes":0,"interpolated":true,`) {
		t.Errorf("unset fields: %s", b)
	}
}

// Any string gives valid JSON: control characters, quotes, backslashes and
// invalid UTF-8 (which becomes U+FFFD, as encoding/json makes it).
func TestAppendJSONEscapesAnyString(t *testing.T) {
	h := hostile()
	e := Event{ID: h, Visit: h, Site: h, Zone: h, Kind: Kind(h), Device: h, Agency: h, T: time.Unix(0, 0).UTC(), Fixes: -3}
	b := e.AppendJSON(nil)
	if !json.Valid(b) {
		t.Fatalf("invalid JSON: %q", b)
	}
	if bytes.Contains(b, []byte(`\x`)) || bytes.Contains(b, []byte(`\a`)) || bytes.Contains(b, []byte(`\v`)) {
		t.Errorf("Go escapes in JSON: %s", b)
	}
	for _, c := range b {
		if c < 0x20 {
			t.Fatalf("raw control character %#x in %q", c, b)
		}
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	// Each invalid byte becomes one U+FFFD, as encoding/json makes it.
	want := string(bytes.Runes([]byte(h)))
	for _, s := range []string{back.ID, back.Visit, back.Site, back.Zone, string(back.Kind), back.Device, back.Agency} {
		if s != want {
			t.Errorf("round trip:\n got %q\nwant %q", s, want)
		}
		if !utf8.ValidString(s) {
			t.Errorf("decoded string is not UTF-8: %q", s)
		}
	}
	if back.Fixes != -3 {
		t.Errorf("fixes %d", back.Fixes)
	}
	// What encoding/json writes for the same event, byte for byte.
	if std := stdJSON(t, e); !bytes.Equal(b, std) {
		t.Errorf("AppendJSON and encoding/json differ:\n%s\n%s", b, std)
	}
}

func TestAppendStringEachByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		s := "a" + string([]byte{byte(c)}) + "b"
		b := jsontext.AppendString(nil, s)
		var back string
		if !json.Valid(b) || json.Unmarshal(b, &back) != nil {
			t.Fatalf("byte %#x: %s", c, b)
		}
		want, _ := json.Marshal(s)
		var w string
		json.Unmarshal(want, &w)
		if back != w {
			t.Errorf("byte %#x: %q, encoding/json %q", c, back, w)
		}
	}
}

func TestAppendJSONAllocatesNothing(t *testing.T) {
	e := sample()
	e.Zone = "door\n\"x\"\x00\xff"
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON allocates %v times", n)
	}
}

func TestCSV(t *testing.T) {
	e := sample()
	e.Interpolated = true
	rec := e.CSVRecord()
	if len(rec) != len(CSVHeader) {
		t.Fatal("CSV record and header differ in length")
	}
	got := map[string]string{}
	for i, h := range CSVHeader {
		got[h] = rec[i]
	}
	for k, v := range map[string]string{"breach": "true", "confirmed": "true", "fixes": "7", "interpolated": "true", "kind": "dwell", "lat": "49.28111"} {
		if got[k] != v {
			t.Errorf("CSV %s = %q, want %q", k, got[k], v)
		}
	}
	// The header names every JSON field, in the same order.
	typ := reflect.TypeOf(e)
	for i := 0; i < typ.NumField(); i++ {
		if CSVHeader[i] != typ.Field(i).Tag.Get("json") {
			t.Errorf("CSV column %d is %q, JSON field %q", i, CSVHeader[i], typ.Field(i).Tag.Get("json"))
		}
	}
	if rec[14] != strconv.Itoa(e.Fixes) {
		t.Errorf("fixes column %q", rec[14])
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	e := sample()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = e.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}
