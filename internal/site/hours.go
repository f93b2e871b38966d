package site

import (
	"fmt"
	"strings"
	"time"
)

// Hours is a parsed OpenStreetMap opening_hours value, for what pharmacy,
// NSP and SIS entries in OpenStreetMap really carry:
//
//	24/7
//	off                                     (also "closed")
//	Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00    (day ranges and lists)
//	Mo-Sa 9:00-12:00, 13:00-20:00; Su off   (several ranges, H:MM or HH:MM)
//	Fr,Sa 22:00-04:00                       (spans past midnight)
//	10:00-18:00                             (every day)
//	Mo-Fr 09:00-17:00; PH off               (public holidays: PH off, PH closed,
//	Mo-Sa 08:00-20:00; Su,PH 10:00-18:00     PH 10:00-14:00, Su,PH …)
//	Mo-Fr 09:00-17:00; Dec 25 off; Jan 1 off; Dec 24 09:00-12:00
//	Jan-Mar Mo-Fr 10:00-16:00; Apr-Dec Mo-Fr 09:00-18:00
//	Mo-Fr 09:00-17:00 "by appointment"      (comments)
//	Mo-Fr 09:00-17:00, Sa 10:00-14:00       (", " before a selector: an
//	                                         additional rule)
//	Mo-Fr 09:00-18:00; We 12:00-13:00 off   (off for a time range only)
//
// Rules are read in order. A rule separated by ";" replaces what earlier
// rules said for every day (and date) it selects; one joined by "," adds to
// it. "off" or "closed" without times closes the selected days, with times
// only those times. A rule selects by dates (month ranges, month days and
// their ranges, wrapping round the year as in "Dec 24-Jan 02") and by
// weekdays and PH; a rule with both selects the days that match both. A day
// owns the part of its spans that runs past midnight, so "Mo-Su
// 09:00-03:00; Su off" is closed from Sunday 09:00 to Monday 03:00 and open
// on Sunday 00:00-03:00 (Saturday night's span).
//
// Times are wall-clock times in the site's own zone, so DST is taken into
// account by evaluating in that zone. PH matches the public holidays of the
// calendar the hours were parsed with (ParseHoursIn); without one, PH
// matches no day (UsesPH tells, and a sites file refuses that).
//
// Anything else (SH, sunrise, week numbers, years, "unknown", "||"
// fallbacks, nth weekdays such as Mo[1]) is an error naming the token.
// Hours are immutable once parsed and safe for concurrent use.
type Hours struct {
	text  string
	rules []rule
	ph    bool      // some rule selects PH
	cal   *Holidays // nil: PH matches nothing
}

// rule is one opening_hours rule.
type rule struct {
	additional bool // joined by ",": adds to earlier rules instead of replacing
	off        bool
	dates      []dateRange // empty: any date
	weekdays   uint8       // bit d for day d (Monday = 0); with ph unset and 0: any day
	ph         bool        // PH is among the day selectors
	spans      []span      // empty: the whole day
}

// span is [from, to) in minutes from the day's midnight; to may pass 24:00
// (up to 48:00) to spill into the next day.
type span struct{ from, to int16 }

// dateRange selects month days from..to (month*32+day), wrapping round the
// new year when from > to.
type dateRange struct{ from, to int16 }

const (
	dayMinutes  = 24 * 60
	weekMinutes = 7 * dayMinutes
)

var (
	dayNames   = []string{"Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"}
	monthNames = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	monthDays  = []int{31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
)

// ParseHours parses an opening_hours value without a holiday calendar: PH
// rules are accepted but select no day (see ParseHoursIn). An empty string
// is an error: say "24/7" or "off".
func ParseHours(s string) (*Hours, error) { return parseHours(s, nil) }

// ParseHoursIn parses an opening_hours value whose PH rules select the
// public holidays of region (a code LoadHolidays knows, e.g. "CA-BC"; ""
// for none).
func ParseHoursIn(s, region string) (*Hours, error) {
	var c *Holidays
	if region != "" {
		var err error
		if c, err = LoadHolidays(region); err != nil {
			return nil, err
		}
	}
	return parseHours(s, c)
}

func parseHours(s string, c *Holidays) (*Hours, error) {
	h := &Hours{text: strings.TrimSpace(s), cal: c}
	if h.text == "" {
		return nil, fmt.Errorf("empty opening_hours (use \"24/7\" or \"off\")")
	}
	toks, err := lex(h.text)
	if err != nil {
		return nil, fmt.Errorf("opening_hours %q: %w", h.text, err)
	}
	p := &parser{toks: toks}
	if err := p.parse(h); err != nil {
		return nil, fmt.Errorf("opening_hours %q: %w", h.text, err)
	}
	if len(h.rules) == 0 {
		return nil, fmt.Errorf("opening_hours %q: no rule (use \"24/7\" or \"off\")", h.text)
	}
	return h, nil
}

// String is the opening_hours text as given.
func (h *Hours) String() string { return h.text }

// UsesPH reports whether a rule selects public holidays (PH).
func (h *Hours) UsesPH() bool { return h.ph }

// Holidays is the calendar PH is judged by, nil if none.
func (h *Hours) Holidays() *Holidays { return h.cal }

// Open reports whether the site is open at t, read on the wall clock of loc.
// It does not allocate.
func (h *Hours) Open(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	y, m, d := lt.Date()
	min := lt.Hour()*60 + lt.Minute()
	if h.dayOpen(y, m, d, lt.Weekday(), min) {
		return true
	}
	// The previous day's spans that run past midnight.
	py, pm, pd := time.Date(y, m, d-1, 12, 0, 0, 0, time.UTC).Date()
	return h.dayOpen(py, pm, pd, (lt.Weekday()+6)%7, min+dayMinutes)
}

// dayOpen reports whether the schedule of day y-m-d covers minute min
// (0 ≤ min < 48:00) of it.
func (h *Hours) dayOpen(y int, m time.Month, d int, wd time.Weekday, min int) bool {
	md := int16(int(m)*32 + d)
	wbit := uint8(1) << ((int(wd) + 6) % 7)
	holiday, holidayKnown := false, false
	open := false
	for i := range h.rules {
		r := &h.rules[i]
		if len(r.dates) > 0 && !r.matchesDate(md) {
			continue
		}
		if r.weekdays != 0 || r.ph {
			ok := r.weekdays&wbit != 0
			if !ok && r.ph {
				if !holidayKnown {
					holiday, holidayKnown = h.cal.Is(y, m, d), true
				}
				ok = holiday
			}
			if !ok {
				continue
			}
		}
		in := r.covers(min)
		switch {
		case r.off && len(r.spans) > 0:
			if in {
				open = false
			}
		case r.off:
			open = false
		case r.additional:
			open = open || in
		default:
			open = in
		}
	}
	return open
}

func (r *rule) matchesDate(md int16) bool {
	for _, dr := range r.dates {
		if dr.from <= dr.to {
			if md >= dr.from && md <= dr.to {
				return true
			}
		} else if md >= dr.from || md <= dr.to {
			return true
		}
	}
	return false
}

func (r *rule) covers(min int) bool {
	if len(r.spans) == 0 {
		return min < dayMinutes
	}
	for _, s := range r.spans {
		if min >= int(s.from) && min < int(s.to) {
			return true
		}
	}
	return false
}
