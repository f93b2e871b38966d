package site

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/au"
	"github.com/rickar/cal/v2/ca"
)

// Holidays is a region's public holiday calendar, what PH selects in a
// site's opening_hours. A date is a holiday when it is one of the region's
// holidays or the weekday it is observed on (e.g. Canada Day on a Sunday is
// observed on Monday 2 July; both days are PH).
type Holidays struct {
	code string
	hols []*cal.Holiday
	days []uint32 // civil dates (year<<9 | month<<5 | day) from firstYear to lastYear, sorted
}

// The years whose holidays are computed when a calendar is loaded; outside
// them a date is judged by the library directly.
const firstYear, lastYear = 1990, 2100

// Code is the region code the calendar was loaded for (e.g. "CA-BC").
func (c *Holidays) Code() string {
	if c == nil {
		return ""
	}
	return c.code
}

// Is reports whether y-m-d is a public holiday (actual or observed). A nil
// calendar has no holidays. It does not allocate.
func (c *Holidays) Is(y int, m time.Month, d int) bool {
	if c == nil {
		return false
	}
	if y >= firstYear && y <= lastYear {
		_, found := slices.BinarySearch(c.days, civil(y, m, d))
		return found
	}
	for _, h := range c.hols {
		act, obs := h.Calc(y)
		if sameDay(act, y, m, d) || sameDay(obs, y, m, d) {
			return true
		}
	}
	return false
}

// Name is the name of the holiday on y-m-d ("" if none), for display.
func (c *Holidays) Name(y int, m time.Month, d int) string {
	if c == nil {
		return ""
	}
	for _, h := range c.hols {
		act, obs := h.Calc(y)
		if sameDay(act, y, m, d) {
			return h.Name
		}
		if sameDay(obs, y, m, d) {
			return h.Name + " (observed)"
		}
	}
	return ""
}

func civil(y int, m time.Month, d int) uint32 { return uint32(y)<<9 | uint32(m)<<5 | uint32(d) }

func sameDay(t time.Time, y int, m time.Month, d int) bool {
	if t.IsZero() {
		return false
	}
	ty, tm, td := t.Date()
	return ty == y && tm == m && td == d
}

// Canadian provinces are not in rickar/cal (its ca package has the national
// list only), so their statutory holidays are assembled here from its
// Canadian definitions, with the provincial days added.
var (
	// familyDayBC: second Monday of February 2013–2018, third since 2019.
	familyDayBC2013 = &cal.Holiday{Name: "Family Day", Type: cal.ObservancePublic, Month: time.February,
		Weekday: time.Monday, Offset: 2, Func: cal.CalcWeekdayOffset, StartYear: 2013, EndYear: 2018}
	familyDay = &cal.Holiday{Name: "Family Day", Type: cal.ObservancePublic, Month: time.February,
		Weekday: time.Monday, Offset: 3, Func: cal.CalcWeekdayOffset}
	familyDayBC = familyDay.Clone(&cal.Holiday{StartYear: 2019})
	familyDayON = familyDay.Clone(&cal.Holiday{StartYear: 2008})
	bcDay       = ca.CivicDay.Clone(&cal.Holiday{Name: "British Columbia Day"})
	// Statutory in British Columbia since 2023.
	truthAndReconciliationBC = ca.NationalDayForTruthAndReconciliation.Clone(&cal.Holiday{StartYear: 2023, Type: cal.ObservancePublic})
)

// regions maps a holidays code to its calendar's holidays. Add a region by
// adding a line (and a test of a date in it).
var regions = map[string][]*cal.Holiday{
	// Canada as a whole: rickar/cal's national list.
	"CA": ca.Holidays,
	// British Columbia, Employment Standards Act statutory holidays.
	"CA-BC": {ca.NewYear, familyDayBC2013, familyDayBC, ca.GoodFriday, ca.VictoriaDay, ca.CanadaDay, bcDay,
		ca.LabourDay, truthAndReconciliationBC, ca.ThanksgivingDay, ca.RemembranceDay, ca.ChristmasDay},
	// Ontario, Employment Standards Act public holidays.
	"CA-ON": {ca.NewYear, familyDayON, ca.GoodFriday, ca.VictoriaDay, ca.CanadaDay, ca.LabourDay,
		ca.ThanksgivingDay, ca.ChristmasDay, ca.BoxingDay},
	// Australian states and territories: rickar/cal's own lists.
	"AU-ACT": au.HolidaysACT,
	"AU-NSW": au.HolidaysNSW,
	"AU-NT":  au.HolidaysNT,
	"AU-QLD": au.HolidaysQLD,
	"AU-SA":  au.HolidaysSA,
	"AU-TAS": au.HolidaysTAS,
	"AU-VIC": au.HolidaysVIC,
	"AU-WA":  au.HolidaysWA,
}

// HolidayRegions lists the codes LoadHolidays knows, sorted.
func HolidayRegions() []string {
	codes := make([]string, 0, len(regions))
	for c := range regions {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	return codes
}

var (
	holidaysMu     sync.Mutex
	holidaysLoaded = map[string]*Holidays{}
)

// LoadHolidays returns the public holiday calendar of a region code such as
// "CA-BC", "CA-ON" or "AU-NSW" (case-insensitive). Calendars are computed
// once per process and shared.
func LoadHolidays(code string) (*Holidays, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	hols, ok := regions[code]
	if !ok {
		hint := ""
		if code == "AU" {
			hint = " (Australian holidays are by state: say AU-NSW, AU-VIC, …)"
		}
		return nil, fmt.Errorf("unknown holidays region %q%s: known regions are %s", code, hint, strings.Join(HolidayRegions(), ", "))
	}
	holidaysMu.Lock()
	defer holidaysMu.Unlock()
	if c, ok := holidaysLoaded[code]; ok {
		return c, nil
	}
	c := &Holidays{code: code, hols: hols}
	for y := firstYear; y <= lastYear; y++ {
		for _, h := range hols {
			act, obs := h.Calc(y)
			for _, t := range []time.Time{act, obs} {
				if !t.IsZero() {
					ty, tm, td := t.Date()
					c.days = append(c.days, civil(ty, tm, td))
				}
			}
		}
	}
	slices.Sort(c.days)
	c.days = slices.Compact(c.days)
	holidaysLoaded[code] = c
	return c, nil
}
