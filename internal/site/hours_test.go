package site

import (
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/tzdb"
)

// mustZone loads a zone from the embedded tz database, as sites do.
func mustZone(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := tzdb.Load(name)
	if err != nil {
		tb.Fatal(err)
	}
	return loc
}

func TestHours(t *testing.T) {
	tor := mustZone(t, "America/Toronto")
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, tor)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// 2026-11-16 is a Monday.
	cases := []struct {
		hours string
		when  string
		open  bool
	}{
		{"24/7", "2026-11-16 03:00", true},
		{"off", "2026-11-16 12:00", false},
		{"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "2026-11-16 08:59", false},
		{"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "2026-11-16 09:00", true},
		{"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "2026-11-16 20:59", true},
		{"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "2026-11-16 21:00", false},
		{"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "2026-11-21 09:30", false},
		{"Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "2026-11-22 17:59", true},
		{"Mo-Sa 08:00-12:00,13:00-20:00; Su off", "2026-11-17 12:30", false},
		{"Mo-Sa 08:00-12:00,13:00-20:00; Su off", "2026-11-17 13:30", true},
		{"Mo-Sa 08:00-12:00,13:00-20:00; Su off", "2026-11-22 13:30", false},
		{"Fr,Sa 22:00-04:00", "2026-11-21 02:00", true},  // Sat 02:00 from Friday night
		{"Fr,Sa 22:00-04:00", "2026-11-22 03:59", true},  // Sun 03:59 from Saturday night
		{"Fr,Sa 22:00-04:00", "2026-11-23 02:00", false}, // Mon
		{"Su-Tu 10:00-11:00", "2026-11-17 10:30", true},  // wraps the week
		{"Su-Tu 10:00-11:00", "2026-11-18 10:30", false},
		{"10:00-18:00", "2026-11-19 10:00", true},
		{"Mo-Su 09:00-17:00; We off", "2026-11-18 10:00", false},
		{"Mo-Fr 00:00-24:00", "2026-11-20 23:59", true},
		{"Mo-Fr 00:00-24:00", "2026-11-21 00:00", false},
	}
	for _, c := range cases {
		h, err := ParseHours(c.hours)
		if err != nil {
			t.Fatalf("%q: %v", c.hours, err)
		}
		if got := h.Open(at(c.when), tor); got != c.open {
			t.Errorf("%q at %s (%s): open=%v, want %v", c.hours, c.when, at(c.when).Weekday(), got, c.open)
		}
	}
}

func TestHoursAcrossDST(t *testing.T) {
	tor := mustZone(t, "America/Toronto")
	h, _ := ParseHours("Mo-Su 09:00-21:00")
	// Clocks went back at 02:00 on Sunday 2026-11-01: 13:30 UTC is 09:30 EDT
	// on the Saturday and 08:30 EST on the Sunday.
	sat := time.Date(2026, 10, 31, 13, 30, 0, 0, time.UTC)
	sun := time.Date(2026, 11, 1, 13, 30, 0, 0, time.UTC)
	if !h.Open(sat, tor) || h.Open(sun, tor) {
		t.Errorf("open Sat=%v Sun=%v, want true false", h.Open(sat, tor), h.Open(sun, tor))
	}
}

func TestHoursErrors(t *testing.T) {
	for _, s := range []string{"", "Mo-Fr", "Xx 09:00-10:00", "Mo-Fr 9-17", "Mo-Fr 09:00", "Mo-Fr 25:00-26:00",
		"Mo-Fr 09:00-17:00 open", "PH off", "Mo-Fr 09:60-10:00", "sunrise-sunset"} {
		if _, err := ParseHours(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func FuzzParseHours(f *testing.F) {
	for _, s := range []string{"24/7", "Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "Fr,Sa 22:00-04:00", "off", "Su-Tu 10:00-11:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHours(s)
		if err != nil {
			return
		}
		h.Open(time.Unix(1763800000, 0), time.UTC)
	})
}
