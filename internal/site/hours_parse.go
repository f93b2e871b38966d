package site

import (
	"fmt"
	"strconv"
	"strings"
)

// The opening_hours lexer and parser. Every error names the token it stopped
// at and the character position (1-based) where it starts.

type tokKind uint8

const (
	tWord    tokKind = iota // letters: Mo, Dec, PH, off, … (and "24/7")
	tNum                    // digits: a month day
	tTime                   // H:MM or HH:MM, in minutes
	tPunct                  // - , ; and anything else of one character
	tComment                // "…"
)

type token struct {
	kind tokKind
	text string
	pos  int // 1-based character position
	val  int // tNum: the number; tTime: minutes
}

func (t token) String() string { return fmt.Sprintf("%q (at character %d)", t.text, t.pos) }

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case strings.HasPrefix(s[i:], "24/7"):
			i += 4
			toks = append(toks, token{kind: tWord, text: "24/7", pos: start + 1})
		case isLetter(c):
			for i < len(s) && isLetter(s[i]) {
				i++
			}
			toks = append(toks, token{kind: tWord, text: s[start:i], pos: start + 1})
		case isDigit(c):
			for i < len(s) && isDigit(s[i]) {
				i++
			}
			if i < len(s) && s[i] == ':' {
				i++
				for i < len(s) && isDigit(s[i]) {
					i++
				}
				text := s[start:i]
				hh, mm, _ := strings.Cut(text, ":")
				h, err1 := strconv.Atoi(hh)
				m, err2 := strconv.Atoi(mm)
				if len(hh) > 2 || len(mm) != 2 || err1 != nil || err2 != nil || h > 48 || m > 59 || h == 48 && m > 0 {
					return nil, fmt.Errorf("bad time %q (at character %d): want H:MM or HH:MM, up to 48:00", text, start+1)
				}
				toks = append(toks, token{kind: tTime, text: text, pos: start + 1, val: h*60 + m})
				continue
			}
			n, err := strconv.Atoi(s[start:i])
			if err != nil || i-start > 4 {
				return nil, fmt.Errorf("bad number %q (at character %d)", s[start:i], start+1)
			}
			toks = append(toks, token{kind: tNum, text: s[start:i], pos: start + 1, val: n})
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment %q (at character %d)", s[i:], start+1)
			}
			i += end + 2
			toks = append(toks, token{kind: tComment, text: s[start:i], pos: start + 1})
		default:
			// One character, or one UTF-8 sequence, so the error shows it whole.
			n := 1
			for n < 4 && i+n < len(s) && s[i+n]&0xC0 == 0x80 {
				n++
			}
			i += n
			toks = append(toks, token{kind: tPunct, text: s[start:i], pos: start + 1})
		}
	}
	return toks, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

// peekAt is the token n places ahead.
func (p *parser) peekAt(n int) (token, bool) {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n], true
	}
	return token{}, false
}

func (p *parser) isPunct(n int, s string) bool {
	t, ok := p.peekAt(n)
	return ok && t.kind == tPunct && t.text == s
}

const supported = `supported: Mo-Su day ranges and lists, PH, Jan-Dec month ranges, month days (Dec 25), HH:MM-HH:MM time ranges, 24/7, off, closed, open, "comments"`

func unsupported(t token) error {
	hint := supported
	switch t.text {
	case "SH":
		hint = "school holidays are not supported; " + supported
	case "sunrise", "sunset", "dawn", "dusk":
		hint = "times of the sun are not supported; " + supported
	case "unknown":
		hint = `"unknown" cannot be judged; ` + supported
	case "week":
		hint = "week numbers are not supported; " + supported
	case "easter":
		hint = "easter is not supported; " + supported
	case "|":
		hint = `"||" fallback rules are not supported; ` + supported
	case "[":
		hint = "nth weekdays (Mo[1]) are not supported; " + supported
	case "+":
		hint = "open ends (17:00+) and offsets are not supported; " + supported
	}
	if t.kind == tNum && t.val > 31 {
		hint = "years are not supported; " + supported
	}
	return fmt.Errorf("unsupported %s: %s", t, hint)
}

// parse reads every rule into h.
func (p *parser) parse(h *Hours) error {
	additional := false
	for {
		// Empty rules (";;", a trailing ";") are skipped.
		for p.isPunct(0, ";") {
			p.i++
			additional = false
		}
		if _, ok := p.peek(); !ok {
			return nil
		}
		r, err := p.rule()
		if err != nil {
			return err
		}
		r.additional = additional
		h.rules = append(h.rules, r)
		h.ph = h.ph || r.ph
		t, ok := p.peek()
		switch {
		case !ok:
			return nil
		case t.kind == tPunct && t.text == ";":
			additional = false
		case t.kind == tPunct && t.text == ",":
			p.i++
			additional = true
			if _, ok := p.peek(); !ok {
				return fmt.Errorf("rule ends with %s", t)
			}
		default:
			return unsupported(t)
		}
	}
}

// rule reads one rule: [dates] [weekdays] [times] [open|off|closed] [comment].
func (p *parser) rule() (rule, error) {
	var r rule
	first, _ := p.peek()
	if first.kind == tWord && first.text == "24/7" {
		p.i++
		return r, p.modifier(&r, true)
	}
	if first.kind == tWord && monthIndex(first.text) >= 0 {
		if err := p.dates(&r); err != nil {
			return r, err
		}
	}
	if t, ok := p.peek(); ok && t.kind == tWord && (dayIndex(t.text) >= 0 || t.text == "PH") {
		if err := p.weekdays(&r); err != nil {
			return r, err
		}
	}
	if t, ok := p.peek(); ok && (t.kind == tTime || t.kind == tNum) {
		if err := p.times(&r); err != nil {
			return r, err
		}
	}
	return r, p.modifier(&r, len(r.spans) > 0)
}

// modifier reads [open|off|closed] [comment]; hasTimes says whether the rule
// already says when it is open.
func (p *parser) modifier(r *rule, hasTimes bool) error {
	start := p.i
	state := false
	if t, ok := p.peek(); ok && t.kind == tWord {
		switch t.text {
		case "off", "closed":
			r.off, state = true, true
			p.i++
		case "open":
			state = true
			p.i++
		}
	}
	if t, ok := p.peek(); ok && t.kind == tComment {
		p.i++
	}
	if t, ok := p.peek(); ok && !(t.kind == tPunct && (t.text == ";" || t.text == ",")) {
		return unsupported(t)
	}
	if !hasTimes && !state {
		at := "end of value"
		if start > 0 {
			at = "after " + p.toks[start-1].String()
		}
		if start < len(p.toks) && p.toks[start].kind == tComment {
			return fmt.Errorf("missing times (e.g. 09:00-17:00) or \"off\" before comment %s", p.toks[start])
		}
		return fmt.Errorf("missing times (e.g. 09:00-17:00) or \"off\" %s", at)
	}
	return nil
}

// dates reads a list of month ranges and month days: Jan-Mar, Dec 25,
// Dec 24-26, Dec 24-Jan 02, Dec 25,26.
func (p *parser) dates(r *rule) error {
	for {
		t := p.toks[p.i]
		m := monthIndex(t.text)
		p.i++
		if n, ok := p.peek(); ok && n.kind == tNum {
			// Month day, maybe a range to a day of the same or another month.
			from, err := monthDay(m, n)
			if err != nil {
				return err
			}
			p.i++
			to := from
			if p.isPunct(0, "-") {
				e, ok := p.peekAt(1)
				switch {
				case ok && e.kind == tNum:
					if to, err = monthDay(m, e); err != nil {
						return err
					}
					p.i += 2
				case ok && e.kind == tWord && monthIndex(e.text) >= 0:
					d, ok := p.peekAt(2)
					if !ok || d.kind != tNum {
						return fmt.Errorf("date range to %s needs a day (e.g. Dec 24-Jan 02)", e)
					}
					if to, err = monthDay(monthIndex(e.text), d); err != nil {
						return err
					}
					p.i += 3
				default:
					return fmt.Errorf("bad date range at %s", p.toks[p.i])
				}
			}
			r.dates = append(r.dates, dateRange{from, to})
			// "Dec 25,26": another day of the same month.
			for p.isPunct(0, ",") {
				n, ok := p.peekAt(1)
				if !ok || n.kind != tNum {
					break
				}
				d, err := monthDay(m, n)
				if err != nil {
					return err
				}
				r.dates = append(r.dates, dateRange{d, d})
				p.i += 2
			}
		} else {
			to := m
			if p.isPunct(0, "-") {
				e, ok := p.peekAt(1)
				if !ok || e.kind != tWord || monthIndex(e.text) < 0 {
					if !ok {
						return fmt.Errorf("month range %s has no end", t)
					}
					return fmt.Errorf("bad month range end %s (use Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)", e)
				}
				to = monthIndex(e.text)
				p.i += 2
			}
			r.dates = append(r.dates, dateRange{int16((m+1)*32 + 1), int16((to+1)*32 + 31)})
		}
		if !p.isPunct(0, ",") {
			return nil
		}
		n, ok := p.peekAt(1)
		if !ok || n.kind != tWord || monthIndex(n.text) < 0 {
			return nil
		}
		p.i++
	}
}

func monthDay(m int, t token) (int16, error) {
	if t.val < 1 || t.val > monthDays[m] {
		return 0, fmt.Errorf("bad day %s for %s", t, monthNames[m])
	}
	return int16((m+1)*32 + t.val), nil
}

// weekdays reads Mo-Fr, Sa,Su, Su,PH, PH and their lists.
func (p *parser) weekdays(r *rule) error {
	for {
		t := p.toks[p.i]
		p.i++
		if t.text == "PH" {
			r.ph = true
		} else {
			from := dayIndex(t.text)
			to := from
			if p.isPunct(0, "-") {
				e, ok := p.peekAt(1)
				if !ok || e.kind != tWord || dayIndex(e.text) < 0 {
					if !ok {
						return fmt.Errorf("day range %s has no end", t)
					}
					return fmt.Errorf("bad day range end %s (use Mo Tu We Th Fr Sa Su)", e)
				}
				to = dayIndex(e.text)
				p.i += 2
			}
			for d := from; ; d = (d + 1) % 7 { // Sa-Mo wraps round the week
				r.weekdays |= 1 << d
				if d == to {
					break
				}
			}
		}
		if p.isPunct(0, "[") {
			return unsupported(p.toks[p.i])
		}
		if !p.isPunct(0, ",") {
			return nil
		}
		n, ok := p.peekAt(1)
		if !ok || n.kind != tWord || !(dayIndex(n.text) >= 0 || n.text == "PH") {
			return nil // an additional rule, or an error for the caller to name
		}
		p.i++
	}
}

// times reads HH:MM-HH:MM ranges separated by commas (with or without a
// space after them).
func (p *parser) times(r *rule) error {
	for {
		a := p.toks[p.i]
		if a.kind != tTime {
			return fmt.Errorf("bad time %s (want H:MM or HH:MM)", a)
		}
		if !p.isPunct(1, "-") {
			if n, ok := p.peekAt(1); ok {
				if n.text == "+" {
					return unsupported(n)
				}
				return fmt.Errorf("time %s needs an end (HH:MM-HH:MM), got %s", a, n)
			}
			return fmt.Errorf("time %s needs an end (HH:MM-HH:MM)", a)
		}
		b, ok := p.peekAt(2)
		if !ok || b.kind != tTime {
			if !ok {
				return fmt.Errorf("time range from %s has no end", a)
			}
			return fmt.Errorf("bad time %s (want H:MM or HH:MM)", b)
		}
		p.i += 3
		from, to := a.val, b.val
		if from >= dayMinutes {
			return fmt.Errorf("time range %s-%s starts at or after 24:00", a.text, b.text)
		}
		if to <= from {
			to += dayMinutes // 22:00-04:00 runs past midnight
		}
		if to-from > dayMinutes {
			return fmt.Errorf("time range %s-%s is longer than a day", a.text, b.text)
		}
		r.spans = append(r.spans, span{int16(from), int16(to)})
		if p.isPunct(0, "+") || p.isPunct(0, "/") {
			return unsupported(p.toks[p.i])
		}
		if !p.isPunct(0, ",") {
			return nil
		}
		if n, ok := p.peekAt(1); !ok || (n.kind != tTime && n.kind != tNum) {
			return nil
		}
		p.i++
	}
}

func dayIndex(s string) int {
	for i, n := range dayNames {
		if n == s {
			return i
		}
	}
	return -1
}

func monthIndex(s string) int {
	for i, n := range monthNames {
		if n == s {
			return i
		}
	}
	return -1
}
