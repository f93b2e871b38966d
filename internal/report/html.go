package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// Render writes the weekly report as one self-contained, print-friendly
// HTML file: no scripts, no external resources; charts are inline SVG.
func Render(w io.Writer, r *Weekly) error {
	return page.Execute(w, r)
}

var dayNames = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

var page = template.Must(template.New("weekly").Funcs(template.FuncMap{
	"heatgrid": heatGrid,
	"trend":    trendChart,
	"spots":    spotMap,
	"local": func(t time.Time, sw SiteWeek) string {
		return t.In(sw.Site.Location).Format("Mon 2 Jan 15:04")
	},
	"mins":       func(s float64) string { return fmt.Sprintf("%.0f min", s/60) },
	"secs":       duration,
	"short":      func(s string) string { return s[:min(8, len(s))] },
	"join":       func(s []string) string { return strings.Join(s, ", ") },
	"label":      func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"ts":         func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"notCounted": notCounted,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>keepclear weekly report {{.Week}}</title>
<style>
body { font: 12pt/1.4 system-ui, sans-serif; color: #1d2330; margin: 2rem; }
h1 { font-size: 18pt; margin: 0; } h2 { font-size: 15pt; margin: 1.5rem 0 .25rem; border-bottom: 2px solid #1d2330; }
h3 { font-size: 12pt; margin: 1rem 0 .25rem; }
.meta { color: #555; font-size: 10pt; }
.figures { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
table { border-collapse: collapse; font-size: 10pt; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
.none { color: #555; font-style: italic; }
.ann { font-size: 9pt; color: #333; }
section.site { page-break-after: always; }
svg text { font: 9px system-ui, sans-serif; }
@media print { body { margin: 0; } }
</style></head><body>
<h1>keepclear — weekly report, week {{.Week}}</h1>
<p class="meta">Generated {{ts .Generated}}. Vehicles are shown by weekly pseudonym, never by their own id. Times are the site's local time.
Entries count arrivals in the outermost zone; a breach is a confirmed visit that broke its zone's agreed rule (entry during hours into a no-entry zone, or a stop longer than allowed).
A visit is confirmed when two of its fixes, or one by more than its accuracy, were inside the zone; an unconfirmed visit (one loose fix near the edge) and a pass seen only between two fixes are never breaches.
A visit whose signal was lost and then resumed is one visit.</p>
{{range .Sites}}{{$sw := .}}
<section class="site">
<h2>{{.Site.Name}}</h2>
<p class="meta">{{.Site.Kind}} · hours {{.Site.Hours}} · {{.Site.Location}} · {{.Heatmap.Entries}} entries, {{.Heatmap.Breaches}} visits with a breach</p>
<div class="figures">
<div><h3>When: entries (number) and minutes stopped (colour)</h3>{{heatgrid .Heatmap}}</div>
<div><h3>Trend: entries and breaches by week</h3>{{trend .Trend}}</div>
<div><h3>Where vehicles were ({{.Heatmap.Zone}} zone)</h3>{{spots $sw}}</div>
</div>
<h3>Visits with a breach</h3>
{{if .Breaches}}<table><tr><th>start</th><th>zone</th><th>agency · vehicle</th><th>stayed</th><th>stopped</th><th>closest</th><th>events</th><th>annotations</th></tr>
{{range .Breaches}}<tr><td>{{local .Start $sw}}</td><td>{{.Zone}}</td><td>{{.Agency}} · {{short .Device}}</td><td>{{secs .DurationS}}</td><td>{{secs .StationaryS}}</td><td>{{printf "%.0f" .MinDistance}} m</td><td>{{join .Kinds}}</td>
<td>{{range .Annotations}}<div class="ann"><b>{{label .Label}}</b> {{.Text}} — {{.Author}} ({{.Role}}), {{ts .CreatedAt}}</div>{{else}}<span class="none">none</span>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="none">No breach this week.</p>{{end}}
{{with notCounted .Heatmap}}<p class="meta">{{.}}</p>{{end}}
</section>
{{else}}<p class="none">No sites.</p>{{end}}
</body></html>
`))

// notCounted says in words which visits of the week were not counted as
// breaches for want of evidence, or "" when there were none.
func notCounted(h *Heatmap) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	var parts []string
	if h.Unconfirmed > 0 {
		parts = append(parts, plural(h.Unconfirmed, "unconfirmed visit", "unconfirmed visits")+" (a single loose fix near the edge)")
	}
	if h.BetweenFixes > 0 {
		parts = append(parts, plural(h.BetweenFixes, "pass", "passes")+" between fixes (seen only on the line between two fixes)")
	}
	if h.LegacyBreaches > 0 {
		parts = append(parts, plural(h.LegacyBreaches, "visit", "visits")+" flagged as a breach before events recorded their evidence (whether confirmed is unknown)")
	}
	if len(parts) == 0 {
		return ""
	}
	return "Not counted as breaches: " + strings.Join(parts, "; ") + "."
}

func heatGrid(h *Heatmap) template.HTML {
	const c, left, top = 18, 30, 14
	var b strings.Builder
	maxMin := 0.0
	for _, d := range h.Days {
		for _, x := range d {
			maxMin = math.Max(maxMin, x.StationaryMin)
		}
	}
	fmt.Fprintf(&b, `<svg width="%d" height="%d" role="img" aria-label="day by hour heatmap">`, left+24*c+2, top+7*c+2)
	for hr := 0; hr < 24; hr += 3 {
		fmt.Fprintf(&b, `<text x="%d" y="10">%02d</text>`, left+hr*c+2, hr)
	}
	for d, row := range h.Days {
		fmt.Fprintf(&b, `<text x="0" y="%d">%s</text>`, top+d*c+12, dayNames[d])
		for hr, x := range row {
			a := 0.0
			if maxMin > 0 {
				a = x.StationaryMin / maxMin
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#c62828" fill-opacity="%.2f" stroke="#ddd"><title>%s %02d:00 · %d entries · %.1f min stopped · %d breaches</title></rect>`,
				left+hr*c, top+d*c, c, c, 0.05+0.95*a, dayNames[d], hr, x.Entries, x.StationaryMin, x.Breaches)
			if x.Entries > 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%d</text>`, left+hr*c+c/2, top+d*c+12, x.Entries)
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func trendChart(ts []WeekTotal) template.HTML {
	const bw, gap, hgt, top = 34, 10, 110, 12
	maxN := 1
	for _, t := range ts {
		maxN = max(maxN, t.Entries)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" role="img" aria-label="weekly trend">`, len(ts)*(bw+gap), top+hgt+24)
	for i, t := range ts {
		x := i * (bw + gap)
		he := float64(hgt) * float64(t.Entries) / float64(maxN)
		hb := float64(hgt) * float64(t.Breaches) / float64(maxN)
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#3b4a6b"><title>%s: %d entries</title></rect>`, x, float64(top+hgt)-he, bw, he, t.Week, t.Entries)
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#c62828"><title>%s: %d breaches</title></rect>`, x+bw/4, float64(top+hgt)-hb, bw/2, hb, t.Week, t.Breaches)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="middle">%d</text>`, x+bw/2, float64(top+hgt)-he-2, t.Entries)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, x+bw/2, top+hgt+12, t.Week[5:])
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// spotMap draws the site, its zones and the ~10 m cells where vehicles were,
// in metres around the site (north up); no map tiles, so the file stands alone.
func spotMap(sw SiteWeek) template.HTML {
	const size = 220.0
	reach := sw.Site.Reach() * 1.1
	c := sw.Site.Footprint.Center()
	scale := size / 2 / reach
	cos := math.Cos(c[1] * math.Pi / 180)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%.0f" height="%.0f" role="img" aria-label="where vehicles were"><rect width="100%%" height="100%%" fill="#f6f7f9"/>`, size, size)
	for _, z := range sw.Site.Zones {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="none" stroke="#3b4a6b"/><text x="%.1f" y="%.1f">%s %.0f m</text>`,
			size/2, size/2, z.RadiusM*scale, size/2+3, size/2-z.RadiusM*scale+10, z.Name, z.RadiusM)
	}
	maxS := 1.0
	for _, s := range sw.Heatmap.Spots {
		maxS = math.Max(maxS, s.StationaryS)
	}
	for _, s := range sw.Heatmap.Spots {
		dx := (s.Lon - c[0]) * cos * 111320 * scale
		dy := (s.Lat - c[1]) * 110540 * scale
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="#c62828" fill-opacity="%.2f"><title>%d fixes, %.0f s stopped</title></circle>`,
			size/2+dx, size/2-dy, 2+4*s.StationaryS/maxS, 0.25+0.75*s.StationaryS/maxS, s.Fixes, s.StationaryS)
	}
	fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1d2330"/></svg>`, size/2, size/2)
	return template.HTML(b.String())
}

// duration reads as people say it: "45 s", "18 min 30 s", "2 h 05 min".
func duration(s float64) string {
	n := int(math.Round(s))
	switch {
	case n < 60:
		return fmt.Sprintf("%d s", n)
	case n < 3600:
		if n%60 == 0 {
			return fmt.Sprintf("%d min", n/60)
		}
		return fmt.Sprintf("%d min %d s", n/60, n%60)
	}
	return fmt.Sprintf("%d h %02d min", n/3600, n%3600/60)
}
