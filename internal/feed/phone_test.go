package feed

import (
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestOsmAndQuery(t *testing.T) {
	v, _ := url.ParseQuery("id=phone-1&lat=49.28111&lon=-123.10111&timestamp=1763805600&speed=10&bearing=90.5&altitude=10&accuracy=7&batt=80&unknown=x")
	f, err := ParseOsmAnd(v, now, Options{Agency: "vpd", ForceAgency: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Device != "phone-1" || f.Agency != "vpd" || f.Lat != 49.28111 || !f.T.Equal(time.Unix(1763805600, 0)) ||
		math.Abs(f.Speed-5.14444) > 1e-4 || f.Heading != 90.5 || f.Acc != 7 {
		t.Errorf("%+v", f)
	}
	// location=lat,lon, deviceid, ms timestamps, ISO timestamps, no timestamp.
	for q, want := range map[string]time.Time{
		"deviceid=p&location=49.2,-123.1&timestamp=1763805600123":        time.UnixMilli(1763805600123),
		"deviceid=p&location=49.2,-123.1&timestamp=2026-11-22T09:00:00Z": time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
		"deviceid=p&location=49.2,-123.1":                                now,
	} {
		v, _ := url.ParseQuery(q)
		f, err := ParseOsmAnd(v, now, Options{Agency: "vpd"})
		if err != nil || !f.T.Equal(want) || f.Lat != 49.2 || f.Speed != -1 {
			t.Errorf("%s: %+v %v", q, f, err)
		}
	}
	for q, field := range map[string]string{
		"lat=1&lon=2":                          "id",
		"id=p&lat=x&lon=2":                     "lat",
		"id=p&lat=91&lon=2":                    "lat",
		"id=p&lat=1&lon=2&timestamp=yesterday": "timestamp",
		"id=p&location=1":                      "location",
		"id=p&lat=1&lon=2&speed=fast":          "speed",
	} {
		v, _ := url.ParseQuery(q)
		_, err := ParseOsmAnd(v, now, Options{Agency: "vpd"})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want field %s", q, err, field)
		}
	}
}

func TestOsmAndJSON(t *testing.T) {
	b := []byte(`{"location":{"timestamp":"2026-11-22T09:59:58.500Z","coords":{"latitude":49.28,"longitude":-123.1,"accuracy":5,"speed":-1,"heading":-1,"altitude":3},"is_moving":true,"odometer":0,"battery":{"level":0.5}},"device_id":"phone-9"}`)
	f, err := ParseOsmAndJSON(b, now, Options{Agency: "vpd", ForceAgency: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Device != "phone-9" || f.Speed != -1 || !math.IsNaN(f.Heading) || f.Acc != 5 || !f.T.Equal(time.Date(2026, 11, 22, 9, 59, 58, 5e8, time.UTC)) {
		t.Errorf("%+v", f)
	}
	b = []byte(`{"location":{"timestamp":"2026-11-22T09:59:58Z","coords":{"latitude":49.28,"longitude":-123.1,"speed":3.5,"heading":180}},"device_id":"p"}`)
	if f, _ := ParseOsmAndJSON(b, now, Options{Agency: "vpd"}); f.Speed != 3.5 || f.Heading != 180 {
		t.Errorf("m/s speed: %+v", f)
	}
	for _, bad := range []string{`{`, `{"device_id":"p"}`, `{"device_id":"p","location":{"coords":{"latitude":1}}}`, `{"location":{"coords":{"latitude":1,"longitude":2}}}`} {
		if _, err := ParseOsmAndJSON([]byte(bad), now, Options{Agency: "vpd"}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestOwnTracks(t *testing.T) {
	b := []byte(`{"_type":"location","lat":49.28,"lon":-123.1,"tst":1763805600,"tid":"jd","acc":12,"vel":36,"cog":270,"batt":80,"conn":"m"}`)
	f, err := ParseOwnTracks(b, OwnTracksIdentity{}, Options{Agency: "vpd"})
	if err != nil || f.Device != "jd" || f.Speed != 10 || f.Heading != 270 || f.Acc != 12 || !f.T.Equal(time.Unix(1763805600, 0)) {
		t.Errorf("%+v %v", f, err)
	}
	b = []byte(`{"_type":"location","lat":49.28,"lon":-123.1,"tst":1763805600}`)
	if f, err := ParseOwnTracks(b, OwnTracksIdentity{Device: "car-3"}, Options{Agency: "vpd"}); err != nil || f.Device != "/car-3" || f.Speed != -1 {
		t.Errorf("device from header: %+v %v", f, err)
	}
	if _, err := ParseOwnTracks(b, OwnTracksIdentity{}, Options{Agency: "vpd"}); !errors.Is(err, ErrMalformed) {
		t.Errorf("no device: %v", err)
	}
	for _, other := range []string{`{"_type":"transition","event":"enter"}`, `{"_type":"waypoint"}`, `{}`} {
		if _, err := ParseOwnTracks([]byte(other), OwnTracksIdentity{Device: "d"}, Options{}); !errors.Is(err, ErrNotLocation) {
			t.Errorf("%s: %v", other, err)
		}
	}
}

func FuzzOwnTracks(f *testing.F) {
	f.Add([]byte(`{"_type":"location","lat":49.28,"lon":-123.1,"tst":1763805600,"tid":"jd","vel":36}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fx, err := ParseOwnTracks(b, OwnTracksIdentity{Device: "d"}, Options{Agency: "a"})
		if err == nil && fx.Validate() != nil {
			t.Fatal("accepted an invalid fix")
		}
		if err == nil {
			checkAppendJSON(t, fx)
		}
	})
}

func FuzzOsmAnd(f *testing.F) {
	f.Add("id=p&lat=49.2&lon=-123.1&timestamp=2026-11-22+09:00:00&speed=10&valid=false", []byte(`{"location":{"timestamp":"2026-11-22T09:59:58Z","coords":{"latitude":1,"longitude":2,"speed":-1,"heading":-1}},"device_id":"p\u0000"}`))
	f.Add("id=p&lat=49.2&lon=-123.1&timestamp=1763805600&speed=10", []byte(`{"location":{"coords":{"latitude":1,"longitude":2}},"device_id":"p"}`))
	f.Fuzz(func(t *testing.T, q string, body []byte) {
		if v, err := url.ParseQuery(q); err == nil {
			if fx, err := ParseOsmAnd(v, now, Options{Agency: "a"}); err == nil {
				if fx.Validate() != nil {
					t.Fatal("accepted an invalid fix")
				}
				checkAppendJSON(t, fx)
			}
		}
		if fx, err := ParseOsmAndJSON(body, now, Options{Agency: "a"}); err == nil {
			if fx.Validate() != nil {
				t.Fatal("accepted an invalid fix")
			}
			checkAppendJSON(t, fx)
		}
	})
}

// valid=false marks the fix invalid instead of being used or refused; the
// Traccar server reads anything but true or 1 as invalid.
func TestOsmAndValid(t *testing.T) {
	for q, invalid := range map[string]bool{
		"":             false,
		"&valid=true":  false,
		"&valid=TRUE":  false,
		"&valid=1":     false,
		"&valid=false": true,
		"&valid=False": true,
		"&valid=0":     true,
		"&valid=":      true,
	} {
		v, _ := url.ParseQuery("id=p&lat=49.2&lon=-123.1&timestamp=1763805600" + q)
		f, err := ParseOsmAnd(v, now, Options{Agency: "vpd"})
		if err != nil || f.Invalid != invalid {
			t.Errorf("%q: Invalid=%v %v, want %v", q, f.Invalid, err, invalid)
		}
	}
	// An invalid fix is still a well-formed record: its other fields must hold.
	v, _ := url.ParseQuery("id=p&lat=91&lon=-123.1&valid=false")
	if _, err := ParseOsmAnd(v, now, Options{Agency: "vpd"}); err == nil {
		t.Error("valid=false with a bad latitude accepted")
	}
}

func TestOsmAndDateTime(t *testing.T) {
	for q, want := range map[string]time.Time{
		"timestamp=2026-11-22 09:00:00":     time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC),
		"timestamp=2026-11-22+09:00:01":     time.Date(2026, 11, 22, 9, 0, 1, 0, time.UTC),
		"timestamp=2026-11-22%2009:00:02":   time.Date(2026, 11, 22, 9, 0, 2, 0, time.UTC),
		"timestamp=2026-11-22 09:00:03.250": time.Date(2026, 11, 22, 9, 0, 3, 250e6, time.UTC),
	} {
		v, err := url.ParseQuery("id=p&lat=49.2&lon=-123.1&" + q)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ParseOsmAnd(v, now, Options{Agency: "vpd"})
		if err != nil || !f.T.Equal(want) || f.T.Location() != time.UTC {
			t.Errorf("%s: %v %v, want %v", q, f.T, err, want)
		}
	}
	for _, ts := range []string{"2026-11-22 25:00:00", "2026-11-22 09:00", "22/11/2026 09:00:00", "2026-11-22 09:00:00Z", "1999-12-31 23:59:59"} {
		v := url.Values{"id": {"p"}, "lat": {"1"}, "lon": {"2"}, "timestamp": {ts}}
		var fe *FieldError
		if _, err := ParseOsmAnd(v, now, Options{Agency: "vpd"}); !errors.As(err, &fe) || (fe.Field != "timestamp" && fe.Field != "t") {
			t.Errorf("%q: %v, want a timestamp error", ts, err)
		}
	}
}

// Two officers with identical phones send the same tid; their user and
// device tell them apart. The payload's topic counts only when no header or
// query names the device, and Android's owntracks/http/TID topic is the tid.
func TestOwnTracksIdentity(t *testing.T) {
	cases := []struct {
		name       string
		id         OwnTracksIdentity
		topic, tid string
		want       string
	}{
		{"headers", OwnTracksIdentity{"Officer-1", "Pixel8"}, "owntracks/http/l8", "l8", "officer-1/pixel8"},
		{"other headers, same tid", OwnTracksIdentity{"officer-2", "pixel8"}, "owntracks/http/l8", "l8", "officer-2/pixel8"},
		{"user only", OwnTracksIdentity{User: "car17"}, "", "l8", "car17/"},
		{"iOS topic in payload", OwnTracksIdentity{}, "owntracks/car17/iphone", "ip", "car17/iphone"},
		{"topic with a suffix", OwnTracksIdentity{}, "owntracks/car17/iphone/event", "ip", "car17/iphone"},
		{"Android pseudo-topic is the tid", OwnTracksIdentity{}, "owntracks/http/l8", "l8", "l8"},
		{"foreign topic", OwnTracksIdentity{}, "cars/17", "c1", "c1"},
		{"tid only", OwnTracksIdentity{}, "", "c1", "c1"},
		{"nothing", OwnTracksIdentity{}, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := OwnTracksDevice(c.id, c.topic, c.tid); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// The OwnTracks Android app's own test vector (EncryptionProviderTest.kt,
// "given an encrypted message, when decrypting it then the correct message
// is returned"): key "123", a location at 50.1182933,-5.5407733 acc 5.
func TestOwnTracksDecryptAppVector(t *testing.T) {
	msg := []byte(`{"_type":"encrypted","_id":"0571e18d","data":"aUiEKyGnskRz383od0mu4uqxTIxeZUddBVxKEmsdv1FFSH2y0NwqLP1tTqOmxaFhGv0bNX1DT7o81FW9Yaxpla6Byvr6CZV3t2skQv8nlxiIv1ZpQWM1bqHE0JFHwD3/yRx9bLHRF3j67kWcO6o2D/xn4ma8Fd4u86NPobFkRIzIhJljphEZyDCGugp7H3FkydGvgEkljb1/P1K91E/ij+m73wFplvTQm8ba5eWSFlQHDdY2B7QwbVPrKarHJLrm1+Y29+HD4Wg6TNhBJZLvdsmek6AcZLB+bq7Q84tUWoLrKp3aiyJZZX70q4HbVI3skkmDWMuMP2cDmsY9bvBjh1ZWAGlOq5VS1dWIlu6OWgWN9VdDbLzP+s2ykeFXrGs="}`)
	_, err := ParseOwnTracks(msg, OwnTracksIdentity{User: "u", Device: "d"}, Options{Agency: "vpd"})
	var enc *ErrEncrypted
	if !errors.As(err, &enc) {
		t.Fatalf("not recognised as encrypted: %v", err)
	}
	plain, err := DecryptOwnTracks(OwnTracksKey("123"), enc.Data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseOwnTracks(plain, OwnTracksIdentity{User: "u", Device: "d"}, Options{Agency: "vpd"})
	if err != nil || math.Abs(f.Lat-50.1182933) > 1e-6 || math.Abs(f.Lon+5.5407733) > 1e-6 || f.Acc != 5 || f.Device != "u/d" {
		t.Errorf("%s → %+v %v", plain, f, err)
	}
	if _, err := DecryptOwnTracks(OwnTracksKey("124"), enc.Data); !errors.Is(err, ErrDecryptFailed) {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := DecryptOwnTracks(nil, enc.Data); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v", err)
	}
	for _, bad := range []string{"", "!!!", "AAAA"} {
		if _, err := DecryptOwnTracks(OwnTracksKey("123"), bad); !errors.Is(err, ErrDecryptFailed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// The key is the secret's UTF-8 bytes in 32 zero bytes, cut at 32.
func TestOwnTracksKeyDerivation(t *testing.T) {
	k := OwnTracksKey("ключ")
	if string(k[:8]) != "ключ" || k[8] != 0 || k[31] != 0 {
		t.Errorf("%x", k)
	}
	long := OwnTracksKey(strings.Repeat("a", 40))
	if string(long[:]) != strings.Repeat("a", 32) {
		t.Errorf("%x", long)
	}
	var nonce [24]byte
	nonce[0] = 7
	sealed := SealOwnTracks(k, &nonce, []byte(`{"_type":"location"}`))
	if got, err := DecryptOwnTracks(OwnTracksKey("ключ"), sealed); err != nil || string(got) != `{"_type":"location"}` {
		t.Errorf("round trip: %s %v", got, err)
	}
}

// What the sender must fix is ErrMalformed; a record that is merely
// unusable is not, so the phone endpoints can answer it 2xx.
func TestPhoneRecordClasses(t *testing.T) {
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	cases := []struct {
		name string
		err  error
	}{
		{"SDK heartbeat without position", func() error {
			_, err := ParseOsmAnd(q("id=1234&timestamp=1763805600&batt=80&charge=false"), now, Options{Agency: "a"})
			return err
		}()},
		{"JSON without coords", func() error {
			_, err := ParseOsmAndJSON([]byte(`{"device_id":"x","location":{"timestamp":"2026-11-22T10:00:00Z"}}`), now, Options{Agency: "a"})
			return err
		}()},
		{"OwnTracks without lat", func() error {
			_, err := ParseOwnTracks([]byte(`{"_type":"location","tst":1763805600}`), OwnTracksIdentity{"u", "d"}, Options{Agency: "a"})
			return err
		}()},
	}
	for _, c := range cases {
		if !errors.Is(c.err, ErrNoPosition) || errors.Is(c.err, ErrMalformed) {
			t.Errorf("%s: %v", c.name, c.err)
		}
	}
	for _, bad := range []string{"lat=1&lon=2", "id=a&lat=x&lon=2", "id=a&lat=1", "id=a&lat=1&lon=2&timestamp=yesterday", "id=a&location=12"} {
		if _, err := ParseOsmAnd(q(bad), now, Options{Agency: "a"}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: want malformed, got %v", bad, err)
		}
	}
	var fe *FieldError
	if _, err := ParseOsmAnd(q("id=a&lat=91&lon=2"), now, Options{Agency: "a"}); errors.Is(err, ErrMalformed) || !errors.As(err, &fe) || fe.Field != "lat" {
		t.Errorf("lat 91: want invalid, not malformed: %v", err)
	}
	if _, err := ParseOsmAnd(q("id=a&lat=x&lon=2"), now, Options{Agency: "a"}); !errors.As(err, &fe) || fe.Field != "lat" {
		t.Errorf("a malformed field still names its field: %v", err)
	}
}
