package feed

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// Strings that strconv.AppendQuote renders as invalid JSON, and the other
// corners of JSON strings.
var jsonStringCases = []string{
	"", "car-17", `car "17"`, `back\slash`, "nul\x00byte", "bell\a", "\b\f\n\r\t", "\x1f\x7f",
	"del\x7f", "é ü ß", "日本語", "emoji 😀", "line\u2028sep\u2029para",
	"bad \xff byte", "truncated \xc3", "\xed\xa0\x80 surrogate half", "\xf4\x90\x80\x80 beyond U+10FFFF",
	"<script>&amp;</script>", "\ufffd already", strings.Repeat("x", 100) + "\x00",
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range jsonStringCases {
		b := AppendJSONString([]byte("prefix:"), s)
		got, ok := bytes.CutPrefix(b, []byte("prefix:"))
		if !ok {
			t.Fatalf("%q: prefix lost: %s", s, b)
		}
		if !json.Valid(got) {
			t.Errorf("%q: invalid JSON %s", s, got)
		}
		// The same bytes as encoding/json without HTML escaping.
		var std bytes.Buffer
		enc := json.NewEncoder(&std)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimSuffix(std.Bytes(), []byte("\n")); !bytes.Equal(got, want) {
			t.Errorf("%q: %s, encoding/json writes %s", s, got, want)
		}
		// Back through encoding/json: the same text, invalid bytes as U+FFFD.
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %v", s, err)
		} else if want := string([]rune(s)); back != want {
			t.Errorf("%q: read back as %q, want %q", s, back, want)
		}
	}
}

func TestAppendJSONStringEscapes(t *testing.T) {
	for s, want := range map[string]string{
		"a\x00b":   `"a\u0000b"`,
		"\x1b[0m":  `"\u001b[0m"`,
		"\n":       `"\n"`,
		`"\`:       `"\"\\"`,
		"x\xffy":   `"x\ufffdy"`,
		"\u2028":   `"\u2028"`,
		"plain é/": `"plain é/"`,
	} {
		if got := string(AppendJSONString(nil, s)); got != want {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

func TestAppendJSONStringAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := "car \"17\"\x00\xff😀"
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSONString(buf[:0], s) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// A fix with any device or agency renders as valid JSON that encoding/json
// and our own decoder read back.
func TestAppendJSONAnyString(t *testing.T) {
	for _, s := range jsonStringCases {
		if s == "" {
			continue
		}
		f := NewFix()
		f.Device, f.Agency, f.T, f.Lat, f.Lon, f.Acc, f.Invalid = s, s+"-agency", time.Date(2026, 11, 22, 10, 0, 0, 5e6, time.UTC), 49.28111, -123.10111, 0, true
		b := f.AppendJSON(nil)
		if !json.Valid(b) {
			t.Errorf("%q: invalid JSON %s", s, b)
			continue
		}
		var std struct {
			Device, Agency string
			T              time.Time
			Lat, Lon, Acc  float64
			Valid          *bool
		}
		if err := json.Unmarshal(b, &std); err != nil || std.Device != string([]rune(s)) || std.Agency != string([]rune(s+"-agency")) ||
			!std.T.Equal(f.T) || std.Lat != f.Lat || std.Acc != 0 || std.Valid == nil || *std.Valid {
			t.Errorf("%q: encoding/json read %+v %v from %s", s, std, err, b)
		}
		var d Decoder
		back, err := d.Decode(b, Options{})
		if err != nil || back.Device != string([]rune(s)) || !back.Invalid || back.Acc != 0 || back.Speed != -1 || !math.IsNaN(back.Heading) {
			t.Errorf("%q: decoded %+v %v from %s", s, back, err, b)
		}
	}
}

// Values Validate refuses still make valid JSON.
func TestAppendJSONNonFinite(t *testing.T) {
	f := NewFix()
	f.Device, f.Agency, f.T = "d", "a", time.Unix(1763805600, 0)
	f.Lat, f.Lon, f.Acc, f.Speed, f.Heading = math.NaN(), math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(1)
	if b := f.AppendJSON(nil); !json.Valid(b) {
		t.Errorf("invalid JSON %s", b)
	}
}
