package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSitesCheckSampleSites(t *testing.T) {
	var out, errb bytes.Buffer
	// 2026-11-11 18:00 UTC is 11:00 on Remembrance Day in Vancouver (UTC−07:00).
	code := run(context.Background(), []string{"sites", "check", "--now", "2026-11-11T18:00:00Z", filepath.Join("..", "..", "fixtures", "sites.geojson")}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{
		`feature 0: site "insite" "Insite" (sis)`,
		"opening_hours: Mo-Su 09:00-03:00",
		"now: open at Wed 2026-11-11 11:00 America/Vancouver (UTC-07:00)",
		"door         radius 10 m, no_entry true, max_dwell_s none, hours_only true",
		"vicinity     radius 150 m, no_entry false, max_dwell_s 600, hours_only true",
		`warning: zone "door": no max_dwell_s: stops are not judged`,
		`feature 8: site "outreach-van"`,
		"now: closed at Wed 2026-11-11 11:00", // the van: Mo-Su 18:00-02:00
		"valid, 9 site(s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func TestSitesCheckHolidays(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sites.geojson")
	in := `{"type":"FeatureCollection","features":[` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"a","name":"A","kind":"nsp","opening_hours":"Mo-Fr 09:00-17:00; PH off","holidays":"CA-BC","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30,"max_dwell_s":60}]}},` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[-79.38,43.65]},"properties":{"id":"b","name":"B","kind":"sis","opening_hours":"Mo-Fr 09:00-17:00","holidays":"CA-ON","timezone":"America/Toronto","zones":[{"name":"f","radius_m":30,"no_entry":true,"max_dwell_s":0,"hours_only":false}]}}]}`
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"sites", "check", "--now", "2026-11-11T18:00:00Z", path}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{
		"opening_hours: Mo-Fr 09:00-17:00; PH off (holidays: CA-BC)",
		"now: closed at Wed 2026-11-11 11:00 America/Vancouver (UTC-07:00), public holiday: Remembrance Day",
		"now: open at Wed 2026-11-11 13:00 America/Toronto (UTC-05:00)",
		"radius 30 m, no_entry true, max_dwell_s 0, hours_only false",
		`warning: holidays "CA-ON" is set but opening_hours has no PH rule`,
		"valid, 2 site(s), 1 warning(s)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSitesCheckBrokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.geojson")
	in := `{"type":"FeatureCollection","features":[` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"ok","name":"OK","kind":"nsp","opening_hours":"24/7","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30}]}},` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"ph","name":"PH","kind":"nsp","opening_hours":"Mo-Fr 09:00-17:00; PH off","timezone":"America/Vancouver","zones":[{"name":"f","radius_m":30}]}},` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"bad","name":"Bad","kind":"nsp","opening_hours":"Mo-Fr 09:00-17:00; sunrise-sunset","holidays":"XX","timezone":"Mars/Olympus","zones":[{"name":"f","radius_m":-1}]}}]}`
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"sites", "check", path}, nil, &out, &errb)
	if code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	for _, want := range []string{
		"invalid, 5 problem(s)",
		"feature 1: opening_hours:", "no \"holidays\" region",
		"feature 2: holidays:", `unknown holidays region "XX"`,
		`feature 2: opening_hours:`, `"sunrise"`,
		"feature 2: timezone:",
		"feature 2: zones[0].radius_m:",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %s", out.String())
	}
	for _, args := range [][]string{{"sites"}, {"sites", "check"}, {"sites", "list", path}, {"sites", "check", filepath.Join(dir, "missing.geojson")}} {
		if code := run(context.Background(), args, nil, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
