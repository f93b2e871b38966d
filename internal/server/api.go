package server

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/report"
	"github.com/keepclear/keepclear/internal/site"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

func (s *Server) handleSites(w http.ResponseWriter, r *http.Request) {
	fc := geojson.NewFeatureCollection()
	for _, st := range s.pipe.Sites() {
		fc.Append(st.Feature())
	}
	b, err := fc.MarshalJSON()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Write(b)
}

// handlePutSite creates or replaces a site from a GeoJSON Feature; the index
// is rebuilt beside the running one and swapped in.
func (s *Server) handlePutSite(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	b, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := site.ParseFeature(b)
	var ve *site.ValidationError
	if errors.As(err, &ve) {
		writeJSON(w, 400, map[string]any{"error": ve.Error(), "field": ve.Problems[0].Field, "problems": ve.Problems})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if st.ID != id {
		s.fail(w, r, errorf(400, "id", "the feature's id %q differs from the path's %q", st.ID, id))
		return
	}
	sites := slices.DeleteFunc(slices.Clone(s.pipe.Sites()), func(x *site.Site) bool { return x.ID == id })
	sites = append(sites, st)
	fb, _ := st.Feature().MarshalJSON()
	stored, _ := st.StoredFeature().MarshalJSON()
	if err := s.store.PutSite(r.Context(), store.SiteRecord{ID: id, Feature: stored}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.pipe.SetSites(sites)
	w.Header().Set("Content-Type", "application/geo+json")
	w.Write(fb)
}

func (s *Server) handleDeleteSite(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	old := s.pipe.Sites()
	sites := slices.DeleteFunc(slices.Clone(old), func(x *site.Site) bool { return x.ID == id })
	if len(sites) == len(old) {
		s.fail(w, r, errorf(404, "id", "no site %q", id))
		return
	}
	if err := s.store.DeleteSite(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	s.pipe.SetSites(sites)
	w.WriteHeader(http.StatusNoContent)
}

// parseEventQuery reads the filters of GET /api/v1/events.
func parseEventQuery(r *http.Request) (store.EventQuery, error) {
	v := r.URL.Query()
	q := store.EventQuery{Site: v.Get("site"), Zone: v.Get("zone"), Agency: v.Get("agency"), Cursor: v.Get("cursor")}
	if k := v.Get("kind"); k != "" {
		kind, ok := event.ParseKind(k)
		if !ok {
			names := make([]string, len(event.Kinds))
			for i, k := range event.Kinds {
				names[i] = string(k)
			}
			return q, errorf(400, "kind", "unknown kind %q (want one of %s)", k, strings.Join(names, ", "))
		}
		q.Kind = kind
	}
	if b := v.Get("breach"); b != "" {
		x, err := strconv.ParseBool(b)
		if err != nil {
			return q, errorf(400, "breach", "want true or false, got %q", b)
		}
		q.Breach = &x
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, errorf(400, p.name, "want an RFC 3339 time, got %q", s)
			}
			*p.dst = t
		}
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxLimit {
			return q, errorf(400, "limit", "want 1..%d, got %q", store.MaxLimit, l)
		}
		q.Limit = n
	}
	if q.Cursor != "" {
		if _, err := store.DecodeCursor(q.Cursor); err != nil {
			return q, errorf(400, "cursor", "malformed cursor")
		}
	}
	return q, nil
}

// format picks the representation: ?format= first, then Accept.
func format(r *http.Request) string {
	switch f := r.URL.Query().Get("format"); f {
	case "csv", "geojson", "json":
		return f
	}
	acc := r.Header.Get("Accept")
	switch {
	case strings.Contains(acc, "text/csv"):
		return "csv"
	case strings.Contains(acc, "application/geo+json"):
		return "geojson"
	}
	return "json"
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	evs, next, err := s.store.Events(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if next != "" {
		u := *r.URL
		v := u.Query()
		v.Set("cursor", next)
		u.RawQuery = v.Encode()
		w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
		w.Header().Set("X-Next-Cursor", next)
	}
	switch format(r) {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		cw.Write(event.CSVHeader)
		for i := range evs {
			cw.Write(evs[i].CSVRecord())
		}
		cw.Flush()
	case "geojson":
		fc := geojson.NewFeatureCollection()
		for _, e := range evs {
			f := geojson.NewFeature(orb.Point{e.Lon, e.Lat})
			f.ID = e.ID
			b, _ := json.Marshal(e)
			json.Unmarshal(b, &f.Properties)
			fc.Append(f)
		}
		b, _ := fc.MarshalJSON()
		w.Header().Set("Content-Type", "application/geo+json")
		w.Write(b)
	default:
		if evs == nil {
			evs = []event.Event{}
		}
		writeJSON(w, 200, map[string]any{"events": evs, "next": next})
	}
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.store.Event(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	anns, err := s.store.Annotations(r.Context(), e.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if anns == nil {
		anns = []store.Annotation{}
	}
	writeJSON(w, 200, map[string]any{"event": e, "annotations": anns})
}

func (s *Server) handleAnnotations(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.store.Event(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	anns, err := s.store.Annotations(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if anns == nil {
		anns = []store.Annotation{}
	}
	writeJSON(w, 200, map[string]any{"annotations": anns})
}

// handleAnnotate appends an annotation: never an overwrite; a correction is
// a new annotation and the history stays.
func (s *Server) handleAnnotate(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var in struct {
		Label string `json:"label"`
		Text  string `json:"text"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		s.fail(w, r, errorf(400, "", "want {\"label\": …, \"text\": …}: %v", err))
		return
	}
	if !slices.Contains(store.Labels, in.Label) {
		s.fail(w, r, errorf(400, "label", "unknown label %q (want one of %s)", in.Label, strings.Join(store.Labels, ", ")))
		return
	}
	if utf8.RuneCountInString(in.Text) > 4000 || !utf8.ValidString(in.Text) {
		s.fail(w, r, errorf(400, "text", "text must be valid UTF-8, at most 4000 characters"))
		return
	}
	if in.Label == "note" && strings.TrimSpace(in.Text) == "" {
		s.fail(w, r, errorf(400, "text", "a note needs text"))
		return
	}
	a, err := s.store.Annotate(r.Context(), store.Annotation{EventID: r.PathValue("id"), Role: string(p.Role), Author: p.Name, Label: in.Label, Text: in.Text})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, 201, a)
}

func (s *Server) siteByID(id string) *site.Site {
	for _, st := range s.pipe.Sites() {
		if st.ID == id {
			return st
		}
	}
	return nil
}

func (s *Server) handleHeatmap(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("site")
	st := s.siteByID(id)
	if st == nil {
		s.fail(w, r, errorf(404, "site", "no site %q", id))
		return
	}
	week := r.URL.Query().Get("week")
	if week == "" {
		week = report.CurrentWeek(s.Now(), st.Location)
	}
	if _, _, err := report.WeekBounds(week, st.Location); err != nil {
		s.fail(w, r, errorf(400, "week", "%v", err))
		return
	}
	h, err := report.SiteHeatmap(r.Context(), s.store, st, week)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, 200, h)
}

// handleReport serves the weekly report (the same HTML as `keepclear
// report`) for one site or all, to open, print or save for the meeting.
func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	sites := s.pipe.Sites()
	if id := r.URL.Query().Get("site"); id != "" {
		st := s.siteByID(id)
		if st == nil {
			s.fail(w, r, errorf(404, "site", "no site %q", id))
			return
		}
		sites = []*site.Site{st}
	}
	week := r.URL.Query().Get("week")
	if week == "" {
		week = report.CurrentWeek(s.Now(), time.UTC)
	}
	if _, _, err := report.WeekBounds(week, time.UTC); err != nil {
		s.fail(w, r, errorf(400, "week", "%v", err))
		return
	}
	rep, err := report.Gather(r.Context(), s.store, sites, week, s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="keepclear-%s.html"`, week))
	report.Render(w, rep)
}
