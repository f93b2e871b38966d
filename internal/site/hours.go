package site

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Hours is a parsed OpenStreetMap opening_hours value, for the common subset
// sites use:
//
//	24/7
//	off
//	Mo-Fr 09:00-21:00; Sa,Su 10:00-18:00
//	Mo-Sa 08:00-12:00,13:00-20:00; Su off
//	Fr,Sa 22:00-04:00          (spans past midnight)
//	10:00-18:00                (every day)
//
// Rules are separated by ";". A later rule replaces earlier ones for the days
// it names, as in OSM. Times are wall-clock times in the site's own zone, so
// DST is taken into account by evaluating in that zone. The week is held as a
// bitmap of its 10,080 minutes; a lookup is a bit test.
type Hours struct {
	text string
	week [(weekMinutes + 63) / 64]uint64
}

const (
	dayMinutes  = 24 * 60
	weekMinutes = 7 * dayMinutes
)

var dayNames = []string{"Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"}

// ParseHours parses an opening_hours value. An empty string is an error:
// say "24/7" or "off".
func ParseHours(s string) (*Hours, error) {
	h := &Hours{text: strings.TrimSpace(s)}
	if h.text == "" {
		return nil, fmt.Errorf("empty opening_hours (use \"24/7\" or \"off\")")
	}
	// Per day (Monday = 0), the list of [start, end) minute spans; end may
	// pass 24:00 to spill into the next day.
	var days [7][][2]int
	for _, rule := range strings.Split(h.text, ";") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		if rule == "24/7" {
			for d := range days {
				days[d] = [][2]int{{0, dayMinutes}}
			}
			continue
		}
		sel, spans, err := parseRule(rule)
		if err != nil {
			return nil, fmt.Errorf("opening_hours %q: rule %q: %w", h.text, rule, err)
		}
		for d := 0; d < 7; d++ {
			if sel[d] {
				days[d] = spans
			}
		}
	}
	for d, spans := range days {
		for _, sp := range spans {
			for m := sp[0]; m < sp[1]; m++ {
				w := (d*dayMinutes + m) % weekMinutes
				h.week[w/64] |= 1 << (w % 64)
			}
		}
	}
	return h, nil
}

// parseRule parses "[days] (times|off)" into the days it selects and their
// spans (nil for off).
func parseRule(rule string) (sel [7]bool, spans [][2]int, err error) {
	fields := strings.Fields(rule)
	rest := fields
	if len(fields) > 0 && isDaySelector(fields[0]) {
		if sel, err = parseDays(fields[0]); err != nil {
			return sel, nil, err
		}
		rest = fields[1:]
	} else {
		for d := range sel {
			sel[d] = true
		}
	}
	switch {
	case len(rest) == 0:
		return sel, nil, fmt.Errorf("missing times (e.g. 09:00-17:00) or \"off\"")
	case len(rest) > 1:
		return sel, nil, fmt.Errorf("unsupported %q (supported: day ranges, time ranges, 24/7, off)", strings.Join(rest[1:], " "))
	case rest[0] == "off" || rest[0] == "closed":
		return sel, nil, nil
	}
	for _, tr := range strings.Split(rest[0], ",") {
		sp, err := parseSpan(tr)
		if err != nil {
			return sel, nil, err
		}
		spans = append(spans, sp)
	}
	return sel, spans, nil
}

func isDaySelector(s string) bool {
	return len(s) >= 2 && s[0] >= 'A' && s[0] <= 'Z'
}

func dayIndex(s string) (int, error) {
	for i, n := range dayNames {
		if n == s {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (use Mo Tu We Th Fr Sa Su)", s)
}

func parseDays(s string) (sel [7]bool, err error) {
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, err := dayIndex(a)
		if err != nil {
			return sel, err
		}
		to := from
		if isRange {
			if to, err = dayIndex(b); err != nil {
				return sel, err
			}
		}
		for d := from; ; d = (d + 1) % 7 { // Sa-Mo wraps round the week
			sel[d] = true
			if d == to {
				break
			}
		}
	}
	return sel, nil
}

func parseClock(s string) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || h > 48 || m < 0 || m > 59 {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	return h*60 + m, nil
}

func parseSpan(s string) ([2]int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return [2]int{}, fmt.Errorf("bad time range %q (want HH:MM-HH:MM)", s)
	}
	from, err := parseClock(a)
	if err != nil {
		return [2]int{}, err
	}
	to, err := parseClock(b)
	if err != nil {
		return [2]int{}, err
	}
	if from >= dayMinutes {
		return [2]int{}, fmt.Errorf("bad time range %q: starts after 24:00", s)
	}
	if to <= from {
		to += dayMinutes // 22:00-04:00 runs past midnight
	}
	if to-from > dayMinutes {
		return [2]int{}, fmt.Errorf("bad time range %q: longer than a day", s)
	}
	return [2]int{from, to}, nil
}

// String is the opening_hours text as given.
func (h *Hours) String() string { return h.text }

// Open reports whether the site is open at t, read on the wall clock of loc.
func (h *Hours) Open(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	d := (int(lt.Weekday()) + 6) % 7 // Monday = 0
	w := d*dayMinutes + lt.Hour()*60 + lt.Minute()
	return h.week[w/64]&(1<<(w%64)) != 0
}
