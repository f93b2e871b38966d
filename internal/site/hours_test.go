package site

import (
	"strings"
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

// realValues are opening_hours as OpenStreetMap pharmacy, NSP and SIS
// entries write them, each with instants (local wall-clock time in zone)
// that must be open or closed. Dates: 2026-11-16 is a Monday; 2026-09-07
// (Labour Day), 2026-11-11 (Remembrance Day) and 2026-09-30 (Truth and
// Reconciliation) are statutory holidays in British Columbia.
var realValues = []struct {
	hours, region, zone string
	checks              []hoursCheck
}{
	{"Mo-Fr 09:00-17:00; Sa 10:00-14:00; PH off", "CA-BC", "America/Vancouver", []hoursCheck{
		{"2026-11-16 09:00", true}, {"2026-11-16 08:59", false}, {"2026-11-16 17:00", false},
		{"2026-11-14 11:00", true}, {"2026-11-15 11:00", false},
		{"2026-09-07 10:00", false}, // Labour Day
		{"2026-11-11 10:00", false}, // Remembrance Day, statutory in BC
		{"2026-09-30 10:00", false}, // Truth and Reconciliation, statutory in BC since 2023
		{"2026-11-12 10:00", true},
	}},
	{"Mo-Fr 09:00-17:00; Sa 10:00-14:00; PH closed", "CA-ON", "America/Toronto", []hoursCheck{
		{"2026-11-11 10:00", true},  // Remembrance Day is not a public holiday in Ontario
		{"2026-12-28 10:00", false}, // Boxing Day (a Saturday) observed on Monday
		{"2026-02-16 10:00", false}, // Family Day
		{"2026-08-03 10:00", true},  // the Civic Holiday is not statutory in Ontario
	}},
	{"Mo-Su 09:00-03:00", "", "America/Vancouver", []hoursCheck{
		{"2026-11-17 02:59", true}, {"2026-11-17 03:00", false}, {"2026-11-17 08:59", false},
		{"2026-11-16 23:30", true}, {"2026-11-16 00:30", true},
	}},
	{"Mo-Su 09:00-03:00; Su off", "", "America/Vancouver", []hoursCheck{
		{"2026-11-15 02:00", true},  // Saturday night's span
		{"2026-11-15 12:00", false}, // Sunday off
		{"2026-11-16 02:00", false}, // Sunday night is Sunday's
		{"2026-11-16 09:00", true},
	}},
	{"24/7", "", "America/Vancouver", []hoursCheck{{"2026-11-16 03:00", true}, {"2026-12-25 00:00", true}}},
	{"24/7; PH off", "CA-BC", "America/Vancouver", []hoursCheck{{"2026-11-11 12:00", false}, {"2026-11-12 00:00", true}, {"2026-11-10 23:59", true}}},
	{"Mo-Fr 9:00-12:00, 13:00-17:00", "", "America/Vancouver", []hoursCheck{
		{"2026-11-16 09:00", true}, {"2026-11-16 12:30", false}, {"2026-11-16 16:59", true}, {"2026-11-14 10:00", false},
	}},
	{"Mo-Fr 09:00-12:00,13:00-17:00; Dec 25 off; Jan 1 off", "", "America/Vancouver", []hoursCheck{
		{"2026-12-24 10:00", true}, {"2026-12-25 10:00", false}, {"2027-01-01 10:00", false},
		{"2026-12-25 12:30", false}, {"2027-01-04 13:00", true},
	}},
	{"Mo-Fr 09:00-17:00; Dec 24 09:00-12:00; Dec 25 off", "", "America/Vancouver", []hoursCheck{
		{"2026-12-24 11:59", true}, {"2026-12-24 12:00", false}, {"2026-12-25 10:00", false},
	}},
	{"Jan-Mar Mo-Fr 10:00-16:00; Apr-Dec Mo-Fr 09:00-18:00", "", "America/Vancouver", []hoursCheck{
		{"2026-01-15 09:30", false}, {"2026-01-15 10:00", true}, {"2026-03-31 17:00", false},
		{"2026-04-01 09:30", true}, {"2026-11-16 17:30", true}, {"2026-11-15 12:00", false},
	}},
	{"Mo-Sa 08:00-20:00; Su,PH 10:00-18:00", "CA-BC", "America/Vancouver", []hoursCheck{
		{"2026-11-16 08:00", true}, {"2026-11-15 09:00", false}, {"2026-11-15 10:00", true},
		{"2026-09-07 09:00", false}, {"2026-09-07 10:00", true}, {"2026-09-07 19:00", false},
	}},
	{`Mo-Fr 09:00-17:00 "by appointment"`, "", "America/Vancouver", []hoursCheck{
		{"2026-11-16 10:00", true}, {"2026-11-14 10:00", false},
	}},
	{`Mo-Fr 08:30-18:00; Sa 09:00-13:00; PH off "closed on statutory holidays"`, "CA-BC", "America/Vancouver", []hoursCheck{
		{"2026-11-16 08:30", true}, {"2026-11-11 12:00", false}, {"2026-07-01 12:00", false}, {"2026-08-03 12:00", false},
	}},
	{"Mo-Fr 09:00-17:00; PH 10:00-14:00", "CA-BC", "America/Vancouver", []hoursCheck{
		{"2026-09-07 09:30", false}, {"2026-09-07 10:30", true}, {"2026-09-07 15:00", false}, {"2026-09-08 09:30", true},
	}},
	{"Mo-Th 09:00-21:00; Fr,Sa 22:00-04:00", "", "America/Vancouver", []hoursCheck{
		{"2026-11-14 03:00", true}, {"2026-11-15 03:59", true}, {"2026-11-15 04:00", false}, {"2026-11-13 12:00", false},
	}},
	{"Mo-Fr 08:00-18:00; We 12:00-13:00 off", "", "America/Vancouver", []hoursCheck{
		{"2026-11-18 11:59", true}, {"2026-11-18 12:30", false}, {"2026-11-18 13:00", true}, {"2026-11-17 12:30", true},
	}},
	{"Mo-Fr 09:00-17:00, Sa 10:00-14:00", "", "America/Vancouver", []hoursCheck{
		{"2026-11-14 10:00", true}, {"2026-11-16 16:00", true}, {"2026-11-15 11:00", false},
	}},
	{"Mo-Su 08:00-22:00; Dec 24-Jan 02 10:00-16:00", "", "America/Vancouver", []hoursCheck{
		{"2026-12-23 20:00", true}, {"2026-12-31 20:00", false}, {"2027-01-02 11:00", true}, {"2027-01-03 20:00", true},
	}},
	{"off", "", "America/Vancouver", []hoursCheck{{"2026-11-16 12:00", false}}},
	{"closed; Dec 24 10:00-14:00", "", "America/Vancouver", []hoursCheck{{"2026-11-16 12:00", false}, {"2026-12-24 12:00", true}}},
	{"Mo-Fr 07:00-19:00; Sa,Su 09:00-17:00; PH off", "AU-NSW", "Australia/Sydney", []hoursCheck{
		{"2026-01-26 10:00", false}, // Australia Day
		{"2026-04-06 10:00", false}, // Easter Monday
		{"2026-10-05 10:00", false}, // Labour Day in NSW
		{"2026-11-16 07:00", true},
	}},
	{"Mo-Fr 09:00-17:00; Sep 30 off", "", "America/Vancouver", []hoursCheck{{"2026-09-30 10:00", false}, {"2026-09-29 10:00", true}}},
}

type hoursCheck struct {
	when string // local "2006-01-02 15:04"
	open bool
}

func TestHoursRealValues(t *testing.T) {
	for _, c := range realValues {
		t.Run(c.hours, func(t *testing.T) {
			h, err := ParseHoursIn(c.hours, c.region)
			if err != nil {
				t.Fatal(err)
			}
			loc := mustZone(t, c.zone)
			for _, k := range c.checks {
				at, err := time.ParseInLocation("2006-01-02 15:04", k.when, loc)
				if err != nil {
					t.Fatal(err)
				}
				if got := h.Open(at, loc); got != k.open {
					t.Errorf("%s (%s) in %s: open=%v, want %v", k.when, at.Weekday(), c.zone, got, k.open)
				}
			}
		})
	}
}

// Vancouver with the embedded tz database: daylight time starts on
// 2026-03-08, and from 2026-11-01 British Columbia stays on UTC−07:00, so
// 16:30 UTC is 09:30 local on both sides of 1 November (with the old rule
// it would be 08:30 PST from 1 November on).
func TestHoursVancouver2026(t *testing.T) {
	van := mustZone(t, "America/Vancouver")
	h, err := ParseHoursIn("Mo-Su 09:00-21:00; PH 10:00-16:00", "CA-BC")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		utc  time.Time
		open bool
	}{
		{time.Date(2026, 3, 7, 17, 30, 0, 0, time.UTC), true},    // Sat 09:30 PST
		{time.Date(2026, 3, 7, 16, 30, 0, 0, time.UTC), false},   // Sat 08:30 PST
		{time.Date(2026, 3, 8, 16, 30, 0, 0, time.UTC), true},    // Sun 09:30 PDT
		{time.Date(2026, 10, 31, 16, 30, 0, 0, time.UTC), true},  // Sat 09:30 PDT
		{time.Date(2026, 11, 1, 16, 30, 0, 0, time.UTC), true},   // Sun 09:30 MST (PST would say 08:30)
		{time.Date(2026, 11, 11, 16, 30, 0, 0, time.UTC), false}, // Remembrance Day 09:30: PH hours start at 10:00
		{time.Date(2026, 11, 11, 17, 0, 0, 0, time.UTC), true},   // 10:00
		{time.Date(2026, 11, 11, 23, 0, 0, 0, time.UTC), false},  // 16:00
	} {
		if got := h.Open(c.utc, van); got != c.open {
			t.Errorf("%s (%s): open=%v, want %v", c.utc.Format(time.RFC3339), c.utc.In(van).Format("Mon 2006-01-02 15:04 -07:00"), got, c.open)
		}
	}
}

func TestHolidayCalendars(t *testing.T) {
	for _, c := range []struct {
		region string
		date   string
		want   bool
	}{
		{"CA-BC", "2026-01-01", true}, {"CA-BC", "2026-02-16", true}, {"CA-BC", "2018-02-12", true}, {"CA-BC", "2018-02-19", false},
		{"CA-BC", "2026-04-03", true}, {"CA-BC", "2026-04-06", false}, {"CA-BC", "2026-05-18", true}, {"CA-BC", "2026-07-01", true},
		{"CA-BC", "2026-08-03", true}, {"CA-BC", "2026-09-07", true}, {"CA-BC", "2026-09-30", true}, {"CA-BC", "2022-09-30", false},
		{"CA-BC", "2026-10-12", true}, {"CA-BC", "2026-11-11", true}, {"CA-BC", "2026-12-25", true}, {"CA-BC", "2026-12-26", false},
		{"CA-BC", "2026-11-16", false},
		{"CA-ON", "2026-02-16", true}, {"CA-ON", "2026-08-03", false}, {"CA-ON", "2026-11-11", false}, {"CA-ON", "2026-12-26", true},
		{"CA-ON", "2026-12-28", true}, {"CA-ON", "2026-04-03", true}, {"CA-ON", "2026-09-30", false},
		{"AU-NSW", "2026-01-26", true}, {"AU-NSW", "2026-04-03", true}, {"AU-NSW", "2026-04-06", true}, {"AU-NSW", "2026-04-25", true},
		{"AU-NSW", "2026-06-08", true}, {"AU-NSW", "2026-10-05", true}, {"AU-NSW", "2026-11-03", false}, {"AU-VIC", "2026-11-03", true},
		{"ca-bc", "2026-11-11", true},
		{"CA-BC", "2150-12-25", true}, {"CA-BC", "2150-12-24", false}, // beyond the precomputed years
	} {
		cal, err := LoadHolidays(c.region)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := time.Parse("2006-01-02", c.date)
		if got := cal.Is(d.Year(), d.Month(), d.Day()); got != c.want {
			t.Errorf("%s %s (%s): holiday=%v, want %v", c.region, c.date, d.Weekday(), got, c.want)
		}
	}
	if name := mustHolidays(t, "CA-BC").Name(2026, 11, 11); name != "Remembrance Day" {
		t.Errorf("2026-11-11 in BC: %q", name)
	}
	for _, bad := range []string{"", "AU", "CA-XX", "US-CA"} {
		if _, err := LoadHolidays(bad); err == nil || !strings.Contains(err.Error(), "CA-BC") {
			t.Errorf("LoadHolidays(%q): %v, want an error listing the known regions", bad, err)
		}
	}
}

func mustHolidays(tb testing.TB, code string) *Holidays {
	tb.Helper()
	c, err := LoadHolidays(code)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestHoursErrors(t *testing.T) {
	for _, c := range []struct{ hours, token string }{
		{"", "empty"},
		{"Mo-Fr", `after "Fr"`},
		{"Xx 09:00-10:00", `"Xx"`},
		{"Mo-Fr 9-17", `"9"`},
		{"Mo-Fr 09:00", `"09:00"`},
		{"Mo-Fr 25:00-26:00", "25:00"},
		{"Mo-Fr 09:60-10:00", `"09:60"`},
		{"sunrise-sunset", `"sunrise"`},
		{"Mo-Fr 09:00-17:00; SH off", `"SH"`},
		{"Mo[1] 09:00-12:00", `"["`},
		{"Mo-Fr 09:00+", `"+"`},
		{"Mo-Fr 09:00-17:00 || \"by appointment\"", `"|"`},
		{"2026 Dec 25 off", `"2026"`},
		{"week 01-10 Mo 09:00-12:00", `"week"`},
		{"Mo-Fr 09:00-17:00 unknown", `"unknown"`},
		{"Dec 32 off", `"32"`},
		{"Feb 30 off", `"30"`},
		{"Jan-Foo 09:00-10:00", `"Foo"`},
		{"Mo-Fr 09:00-17:00 \"unterminated", "unterminated"},
		{`"by appointment"`, "comment"},
		{"mo-fr 09:00-17:00", `"mo"`},
		{"Mo–Fr 09:00-17:00", `"–"`},
		{"Mo-Fr 09:00-17:00,", `","`},
		{"Mo-Fr 08:00-08:01-09:00", `"-"`},
		{"Mo-Fr 10:00-35:00", "longer than a day"},
	} {
		_, err := ParseHours(c.hours)
		if err == nil {
			t.Errorf("%q: no error", c.hours)
			continue
		}
		if !strings.Contains(err.Error(), c.token) {
			t.Errorf("%q: error %q does not name %s", c.hours, err, c.token)
		}
	}
	if _, err := ParseHoursIn("Mo-Fr 09:00-17:00; PH off", "XX-YY"); err == nil || !strings.Contains(err.Error(), "XX-YY") {
		t.Errorf("unknown region: %v", err)
	}
}

// Without a calendar PH selects no day (a sites file refuses that; see
// TestLoadPHNeedsHolidays).
func TestHoursPHWithoutCalendar(t *testing.T) {
	h, err := ParseHours("Mo-Fr 09:00-17:00; PH off")
	if err != nil {
		t.Fatal(err)
	}
	van := mustZone(t, "America/Vancouver")
	at, _ := time.ParseInLocation("2006-01-02 15:04", "2026-11-11 10:00", van)
	if !h.UsesPH() || h.Holidays() != nil || !h.Open(at, van) {
		t.Errorf("UsesPH=%v Holidays=%v Open=%v", h.UsesPH(), h.Holidays(), h.Open(at, van))
	}
}

func TestHoursOpenDoesNotAllocate(t *testing.T) {
	h, err := ParseHoursIn("Mo-Fr 09:00-12:00, 13:00-17:00; Sa 10:00-14:00; Dec 24-Jan 02 10:00-14:00; Su,PH off", "CA-BC")
	if err != nil {
		t.Fatal(err)
	}
	van := mustZone(t, "America/Vancouver")
	at := time.Date(2026, 11, 11, 18, 0, 0, 0, time.UTC)
	if n := testing.AllocsPerRun(100, func() { h.Open(at, van) }); n != 0 {
		t.Errorf("Open allocates %v times", n)
	}
}

func BenchmarkHoursOpen(b *testing.B) {
	h, err := ParseHoursIn("Mo-Fr 09:00-12:00, 13:00-17:00; Sa 10:00-14:00; Dec 25 off; Su,PH off", "CA-BC")
	if err != nil {
		b.Fatal(err)
	}
	van := mustZone(b, "America/Vancouver")
	at := time.Date(2026, 11, 11, 18, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		h.Open(at, van)
	}
}

func FuzzParseHours(f *testing.F) {
	seeds := []string{"24/7", "Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00", "Fr,Sa 22:00-04:00", "off", "Su-Tu 10:00-11:00",
		"Mo-Fr 09:00-17:00 \"x;y\"", "Dec 24-Jan 02 off", "Jan,Mar-Apr Mo 10:00-26:00", "Dec 25,26 off"}
	for _, v := range realValues {
		seeds = append(seeds, v.hours)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	zones := []*time.Location{time.UTC, mustZone(f, "America/Vancouver"), mustZone(f, "Australia/Sydney")}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHoursIn(s, "CA-BC")
		h2, err2 := ParseHours(s)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("%q: with a calendar %v, without %v", s, err, err2)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if h.String() != strings.TrimSpace(s) || h2.UsesPH() != h.UsesPH() {
			t.Fatalf("%q: String %q, UsesPH %v/%v", s, h.String(), h.UsesPH(), h2.UsesPH())
		}
		// Any instant, including far from the precomputed holiday years.
		for _, u := range []int64{1763800000, 0, -1e10, 1e11, 1796947200 /* 2026-12-10 */, 1789084800} {
			for _, loc := range zones {
				h.Open(time.Unix(u, 0), loc)
				h2.Open(time.Unix(u, 0), loc)
			}
		}
		// A reparse of the same text gives the same verdicts.
		again, err := ParseHoursIn(s, "CA-BC")
		if err != nil {
			t.Fatalf("%q: reparse: %v", s, err)
		}
		for u := int64(1767225600); u < 1767225600+8*86400; u += 3271 {
			if again.Open(time.Unix(u, 0), zones[1]) != h.Open(time.Unix(u, 0), zones[1]) {
				t.Fatalf("%q: reparse differs at %d", s, u)
			}
		}
	})
}
