// Package storetest is the conformance suite every store adapter must pass,
// run against the real databases (no mocks).
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/store"
)

// Opener returns a fresh, empty, migrated store for one test.
type Opener func(t *testing.T) store.Store

var base = time.Date(2026, 11, 16, 18, 0, 0, 0, time.UTC)

func ev(i int, site, zone string, kind event.Kind, breach bool) event.Event {
	return event.Event{
		ID: fmt.Sprintf("v%03d-%d", i/3, i%3+1), Visit: fmt.Sprintf("v%03d", i/3), Site: site, Zone: zone, Kind: kind,
		Device: "0123456789abcdef", Agency: []string{"vpd", "rcmp"}[i%2], T: base.Add(time.Duration(i) * time.Minute).Add(123 * time.Millisecond),
		DurationS: float64(i), MinDistanceM: 12.5, StationaryS: 3, InHours: i%4 != 0, Breach: breach,
		Confirmed: breach || i%3 != 2, Fixes: i % 4, Interpolated: i%7 == 3, Lat: 49.28111, Lon: -123.10111,
	}
}

func sample() []event.Event {
	var out []event.Event
	for i := 0; i < 30; i++ {
		site := []string{"insite", "owl"}[i%3/2]
		kind := []event.Kind{event.Enter, event.Dwell, event.Exit}[i%3]
		out = append(out, ev(i, site, []string{"frontage", "vicinity"}[i%2], kind, i%5 == 0))
	}
	return out
}

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"WriteIsIdempotent", testWriteIdempotent},
		{"EvidenceRoundTrip", testEvidenceRoundTrip},
		{"EventFilters", testEventFilters},
		{"Pagination", testPagination},
		{"PaginationUnderConcurrentInserts", testPaginationConcurrent},
		{"Annotations", testAnnotations},
		{"Sites", testSites},
		{"Cells", testCells},
		{"DeviceStates", testDeviceStates},
		{"Tokens", testTokens},
		{"BadQueries", testBadQueries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

func mustWrite(t *testing.T, s store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
}

func all(t *testing.T, s store.Store, q store.EventQuery) []event.Event {
	t.Helper()
	var out []event.Event
	for i := 0; ; i++ {
		page, next, err := s.Events(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		if i > 10000 {
			t.Fatal("pagination does not end")
		}
		q.Cursor = next
	}
}

func testWriteIdempotent(t *testing.T, s store.Store) {
	evs := sample()
	mustWrite(t, s, &store.Batch{Events: evs})
	mustWrite(t, s, &store.Batch{Events: evs[:10]}) // a retried batch
	got := all(t, s, store.EventQuery{Limit: 1000})
	if len(got) != len(evs) {
		t.Fatalf("%d events stored, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i] != evs[i] {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got[i], evs[i])
		}
	}
	e, err := s.Event(ctx, evs[7].ID)
	if err != nil || e != evs[7] {
		t.Errorf("Event: %+v %v", e, err)
	}
	if _, err := s.Event(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing event: %v", err)
	}
	if err := s.Write(ctx, &store.Batch{}); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// testEvidenceRoundTrip stores events with each evidence field set and
// unset (confirmed, fixes, interpolated) and the resumed kind, and reads
// them back unchanged, as a page and one by one; kind=resumed selects the
// resumed event.
func testEvidenceRoundTrip(t *testing.T, s store.Store) {
	mk := func(id string, kind event.Kind, confirmed bool, fixes int, interpolated bool) event.Event {
		e := ev(0, "insite", "frontage", kind, false)
		e.ID, e.Visit, e.Confirmed, e.Fixes, e.Interpolated = id, "v-evidence", confirmed, fixes, interpolated
		e.T = base.Add(time.Duration(len(id)) * time.Second)
		return e
	}
	evs := []event.Event{
		mk("a", event.Enter, false, 0, false),             // all unset (and the legacy defaults)
		mk("bb", event.Enter, true, 0, false),             // confirmed only
		mk("ccc", event.Dwell, false, 1, false),           // one loose fix
		mk("dddd", event.Enter, false, 0, true),           // interpolated pass
		mk("eeeee", event.SignalLost, true, 2, false),     // confirmed, two fixes
		mk("ffffff", event.Resumed, true, 3, false),       // reopened visit
		mk("ggggggg", event.Exit, true, 1<<20, true),      // everything set, a large count
		mk("hhhhhhhh", event.RepeatPass, true, 17, false), // the rest of the kinds
	}
	evs[6].Breach = true
	mustWrite(t, s, &store.Batch{Events: evs})
	got := all(t, s, store.EventQuery{Limit: 3})
	if len(got) != len(evs) {
		t.Fatalf("%d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i] != evs[i] {
			t.Errorf("page, event %s:\n got %+v\nwant %+v", evs[i].ID, got[i], evs[i])
		}
		one, err := s.Event(ctx, evs[i].ID)
		if err != nil || one != evs[i] {
			t.Errorf("Event(%s): %+v %v", evs[i].ID, one, err)
		}
	}
	resumed := all(t, s, store.EventQuery{Kind: event.Resumed})
	if len(resumed) != 1 || resumed[0] != evs[5] {
		t.Errorf("kind=resumed: %+v", resumed)
	}
	no := false
	if got := all(t, s, store.EventQuery{Kind: event.Resumed, Breach: &no}); len(got) != 1 {
		t.Errorf("kind=resumed&breach=false: %+v", got)
	}
}

func testEventFilters(t *testing.T, s store.Store) {
	evs := sample()
	mustWrite(t, s, &store.Batch{Events: evs})
	yes := true
	cases := []struct {
		name string
		q    store.EventQuery
		keep func(e event.Event) bool
	}{
		{"site", store.EventQuery{Site: "owl"}, func(e event.Event) bool { return e.Site == "owl" }},
		{"zone", store.EventQuery{Zone: "vicinity"}, func(e event.Event) bool { return e.Zone == "vicinity" }},
		{"kind", store.EventQuery{Kind: event.Dwell}, func(e event.Event) bool { return e.Kind == event.Dwell }},
		{"agency", store.EventQuery{Agency: "rcmp"}, func(e event.Event) bool { return e.Agency == "rcmp" }},
		{"breach", store.EventQuery{Breach: &yes}, func(e event.Event) bool { return e.Breach }},
		{"from-to", store.EventQuery{From: base.Add(5 * time.Minute), To: base.Add(9*time.Minute + 123*time.Millisecond)},
			func(e event.Event) bool {
				return !e.T.Before(base.Add(5*time.Minute)) && e.T.Before(base.Add(9*time.Minute+123*time.Millisecond))
			}},
		{"combined", store.EventQuery{Site: "insite", Kind: event.Enter, Breach: &yes},
			func(e event.Event) bool { return e.Site == "insite" && e.Kind == event.Enter && e.Breach }},
	}
	for _, c := range cases {
		var want []string
		for _, e := range evs {
			if c.keep(e) {
				want = append(want, e.ID)
			}
		}
		var got []string
		for _, e := range all(t, s, c.q) {
			got = append(got, e.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(want) == 0 {
			t.Errorf("%s: got %v, want %v", c.name, got, want)
		}
	}
}

func testPagination(t *testing.T, s store.Store) {
	evs := sample()
	// Two events at the same instant: the id breaks the tie.
	twin := evs[4]
	twin.ID, twin.Visit = "v001-9", "v001"
	evs = append(evs, twin)
	mustWrite(t, s, &store.Batch{Events: evs})
	for _, limit := range []int{1, 7, 31, 100} {
		got := all(t, s, store.EventQuery{Limit: limit})
		if len(got) != len(evs) {
			t.Fatalf("limit %d: %d events, want %d", limit, len(got), len(evs))
		}
		seen := map[string]bool{}
		for i, e := range got {
			if seen[e.ID] {
				t.Fatalf("limit %d: %s twice", limit, e.ID)
			}
			seen[e.ID] = true
			if i > 0 && (e.T.Before(got[i-1].T) || e.T.Equal(got[i-1].T) && e.ID < got[i-1].ID) {
				t.Fatalf("limit %d: out of (t, id) order at %d", limit, i)
			}
		}
	}
}

func testPaginationConcurrent(t *testing.T, s store.Store) {
	evs := sample()
	mustWrite(t, s, &store.Batch{Events: evs})
	q := store.EventQuery{Limit: 4}
	var got []event.Event
	for round := 0; ; round++ {
		page, next, err := s.Events(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		// New events keep arriving between pages, some dated before the
		// cursor (an exit is dated at its first far fix), some after.
		late := ev(100+round, "insite", "frontage", event.Exit, false)
		late.T = base.Add(time.Duration(round) * 7 * time.Minute)
		late.ID = fmt.Sprintf("late-%d", round)
		mustWrite(t, s, &store.Batch{Events: []event.Event{late}})
		if next == "" {
			break
		}
		q.Cursor = next
	}
	seen := map[string]int{}
	for _, e := range got {
		seen[e.ID]++
	}
	for _, e := range evs {
		if seen[e.ID] != 1 {
			t.Errorf("original event %s seen %d times", e.ID, seen[e.ID])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s seen %d times", id, n)
		}
	}
}

func testAnnotations(t *testing.T, s store.Store) {
	evs := sample()
	mustWrite(t, s, &store.Batch{Events: evs})
	a1, err := s.Annotate(ctx, store.Annotation{EventID: evs[1].ID, Role: "liaison", Author: "liaison-1", Label: "called_by_staff", Text: "staff called 911"})
	if err != nil || a1.ID == 0 || a1.CreatedAt.IsZero() {
		t.Fatalf("%+v %v", a1, err)
	}
	a2, err := s.Annotate(ctx, store.Annotation{EventID: evs[1].ID, Role: "liaison", Author: "site-2", Label: "disputed", Text: "no call logged"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Annotations(ctx, evs[1].ID)
	if err != nil || len(list) != 2 || list[0].ID != a1.ID || list[1].ID != a2.ID || list[0].Text != "staff called 911" || list[1].Label != "disputed" {
		t.Errorf("history: %+v %v", list, err)
	}
	if _, err := s.Annotate(ctx, store.Annotation{EventID: "nope", Role: "liaison", Author: "x", Label: "note"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("annotating a missing event: %v", err)
	}
	if list, _ := s.Annotations(ctx, evs[2].ID); len(list) != 0 {
		t.Errorf("annotations leaked: %v", list)
	}
}

func testSites(t *testing.T, s store.Store) {
	f1 := []byte(`{"type":"Feature","properties":{"id":"a","v":1}}`)
	f2 := []byte(`{"type":"Feature","properties":{"id":"a","v":2}}`)
	if err := s.PutSite(ctx, store.SiteRecord{ID: "b", Feature: f1}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSite(ctx, store.SiteRecord{ID: "a", Feature: f1}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSite(ctx, store.SiteRecord{ID: "a", Feature: f2}); err != nil {
		t.Fatal(err)
	}
	list, err := s.Sites(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
		t.Fatalf("%v %v", list, err)
	}
	if !jsonEqual(list[0].Feature, f2) {
		t.Errorf("replaced feature: %s", list[0].Feature)
	}
	if err := s.DeleteSite(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSite(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func testCells(t *testing.T, s store.Store) {
	c := monitor.Cell{Site: "insite", Zone: "frontage", Week: "2026-W47", HourOfWeek: 10, CellLat: 492811, CellLon: -1231012}
	other := c
	other.HourOfWeek = 11
	mustWrite(t, s, &store.Batch{Cells: map[monitor.Cell]*monitor.CellValue{c: {Fixes: 3, StationaryS: 10}, other: {Fixes: 1}}})
	mustWrite(t, s, &store.Batch{Cells: map[monitor.Cell]*monitor.CellValue{c: {Fixes: 2, StationaryS: 5.5}}})
	rows, err := s.Cells(ctx, "insite", "2026-W47")
	if err != nil || len(rows) != 2 {
		t.Fatalf("%v %v", rows, err)
	}
	if rows[0].Cell != c || rows[0].Fixes != 5 || rows[0].StationaryS != 15.5 || rows[1].Fixes != 1 {
		t.Errorf("cells: %+v", rows)
	}
	if rows, _ := s.Cells(ctx, "insite", "2026-W48"); len(rows) != 0 {
		t.Errorf("other week: %v", rows)
	}
}

func testDeviceStates(t *testing.T, s store.Store) {
	a := monitor.DeviceState{Pseudonym: "aaaa", Agency: "vpd", Period: 202647, LastT: 1, Visits: []monitor.VisitState{{ID: "v1", Site: "insite", Zone: "frontage", Seq: 2, StillMs: 5000, Breach: true}}}
	b := monitor.DeviceState{Pseudonym: "bbbb", Agency: "vpd", Period: 202647, LastT: 2}
	mustWrite(t, s, &store.Batch{SaveStates: []monitor.DeviceState{a, b}})
	a.LastT = 9
	mustWrite(t, s, &store.Batch{SaveStates: []monitor.DeviceState{a}, DropStates: []string{"bbbb"}})
	got, err := s.DeviceStates(ctx)
	if err != nil || len(got) != 1 || got[0].LastT != 9 || len(got[0].Visits) != 1 || got[0].Visits[0] != a.Visits[0] {
		t.Errorf("%+v %v", got, err)
	}
}

func testTokens(t *testing.T, s store.Store) {
	tok, err := s.CreateToken(ctx, store.Token{Name: "vpd feed", Role: "agency", Agency: "vpd", Hash: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil || tok.ID == 0 {
		t.Fatalf("%+v %v", tok, err)
	}
	if _, err := s.CreateToken(ctx, store.Token{Name: "dup", Role: "admin", Hash: []byte("0123456789abcdef0123456789abcdef")}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate hash: %v", err)
	}
	got, err := s.TokenByHash(ctx, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil || got.Role != "agency" || got.Agency != "vpd" || got.Name != "vpd feed" {
		t.Errorf("%+v %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	if got.OwnTracksKey != nil {
		t.Errorf("a token created without an OwnTracks key has one: %x", got.OwnTracksKey)
	}
	// A sealed OwnTracks key is kept byte for byte, binary bytes included.
	sealed := []byte{0, 1, 2, 0xff, 0xfe, 0, 'k', 'e', 'y'}
	ot, err := s.CreateToken(ctx, store.Token{Name: "ot", Role: "agency", Agency: "rcmp", Hash: []byte("fedcba9876543210fedcba9876543210"), OwnTracksKey: sealed})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenByHash(ctx, ot.Hash); err != nil || !bytes.Equal(got.OwnTracksKey, sealed) || got.Agency != "rcmp" {
		t.Errorf("OwnTracks key: %+v %v", got, err)
	}
	if list, err := s.Tokens(ctx); err != nil || len(list) != 2 || list[0].OwnTracksKey != nil || !bytes.Equal(list[1].OwnTracksKey, sealed) {
		t.Errorf("listed OwnTracks keys: %+v %v", list, err)
	}
	if err := s.RevokeToken(ctx, ot.ID); err != nil {
		t.Fatal(err)
	}
	list, err := s.Tokens(ctx)
	if err != nil || len(list) != 1 {
		t.Errorf("%v %v", list, err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, []byte("0123456789abcdef0123456789abcdef")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
}

func testBadQueries(t *testing.T, s store.Store) {
	if _, _, err := s.Events(ctx, store.EventQuery{Cursor: "!!"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
	if _, _, err := s.Events(ctx, store.EventQuery{Limit: store.MaxLimit + 1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("limit: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Error(err)
	}
}

// jsonEqual reports whether a and b hold the same JSON value. Stores may
// reformat JSON (jsonb reorders keys and drops spaces), so compare what
// they decode to, never their characters.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
