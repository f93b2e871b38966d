package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the scenarios' expected.ndjson from the engine (review the diff!)")

// TestScenarios replays every feed under fixtures/scenarios/ and compares
// the events, byte for byte, with the scenario's expected.ndjson. Each
// expected file was reviewed against DESIGN.md's rules (see
// fixtures/scenarios/README.md for what each scenario must show).
func TestScenarios(t *testing.T) {
	root := filepath.Join("..", "..", "fixtures", "scenarios")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		n++
		dir := filepath.Join(root, d.Name())
		t.Run(d.Name(), func(t *testing.T) {
			sites := filepath.Join(root, "sites.geojson")
			if _, err := os.Stat(filepath.Join(dir, "sites.geojson")); err == nil {
				sites = filepath.Join(dir, "sites.geojson")
			}
			// One feed file, or several (feed-1.ndjson, feed-2.ndjson, …)
			// that replay merges by time.
			feeds, _ := filepath.Glob(filepath.Join(dir, "feed*.*"))
			if len(feeds) == 0 {
				t.Fatalf("no feed file in %s", dir)
			}
			sort.Strings(feeds)
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"replay", "--sites", sites}, feeds...), nil, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden := filepath.Join(dir, "expected.ndjson")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it, then review it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("events differ from %s:\n got:\n%s\nwant:\n%s", golden, out.String(), want)
			}
			// Every event line is valid JSON with the DESIGN.md fields.
			for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line == "" {
					continue
				}
				var e map[string]any
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				for _, k := range []string{"id", "visit", "site", "zone", "kind", "device", "agency", "t", "duration_s",
					"min_distance_m", "stationary_s", "in_hours", "breach", "confirmed", "fixes", "interpolated", "lat", "lon"} {
					if _, ok := e[k]; !ok {
						t.Fatalf("line %d lacks %q", i+1, k)
					}
				}
			}
		})
	}
	if n < 11 {
		t.Errorf("only %d scenarios found", n)
	}
}

// Sending every fix twice and swapping neighbours must not change a single
// event: the out-of-order feed is the parked-out-front feed disturbed, and
// both are replayed here.
func TestOutOfOrderMatchesCleanFeed(t *testing.T) {
	root := filepath.Join("..", "..", "fixtures", "scenarios")
	sites := filepath.Join(root, "sites.geojson")
	var clean, disturbed, errb bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--sites", sites, filepath.Join(root, "parked-out-front", "feed.ndjson")}, nil, &clean, &bytes.Buffer{}); code != 0 {
		t.Fatal("clean replay failed")
	}
	if code := run(context.Background(), []string{"replay", "--sites", sites, filepath.Join(root, "out-of-order", "feed.ndjson")}, nil, &disturbed, &errb); code != 0 {
		t.Fatal("disturbed replay failed")
	}
	// The same events but for the count of fixes inside: the dropped
	// stragglers are not counted.
	fixesRe := regexp.MustCompile(`"fixes":\d+,`)
	a, b := fixesRe.ReplaceAllString(clean.String(), ""), fixesRe.ReplaceAllString(disturbed.String(), "")
	if clean.Len() == 0 || a != b {
		t.Errorf("disturbed feed gave other events than the clean one:\n%s\nclean:\n%s", disturbed.String(), clean.String())
	}
	if !strings.Contains(errb.String(), "duplicate") || !strings.Contains(errb.String(), "out_of_order") {
		t.Errorf("summary does not count the dropped fixes:\n%s", errb.String())
	}
}

func TestReplayDeterministicAndReportsBadRecords(t *testing.T) {
	dir := t.TempDir()
	feed := filepath.Join(dir, "mixed.ndjson")
	os.WriteFile(feed, []byte(strings.Join([]string{
		`{"device":"a","agency":"vpd","t":"2026-11-16T18:00:00Z","lat":49.28111,"lon":-123.10111}`,
		`{"device":"a","agency":"vpd","t":"2026-11-16T18:00:05Z","lat":91,"lon":-123.10111}`,
		`not json`,
		`{"device":"a","agency":"vpd","t":"2026-11-16T18:00:10Z","lat":49.28111,"lon":-123.10111}`,
		``,
		`{"device":"","agency":"vpd","t":"2026-11-16T18:00:10Z","lat":49.28111,"lon":-123.10111}`,
	}, "\n")), 0o644)
	sites := filepath.Join("..", "..", "fixtures", "scenarios", "sites.geojson")
	var out1, out2, errb bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--sites", sites, feed}, nil, &out1, &errb); code != 0 {
		t.Fatalf("exit %d with rejected records, want 0: %s", code, errb.String())
	}
	for _, want := range []string{"mixed.ndjson:2: lat:", "mixed.ndjson:3: malformed JSON", "mixed.ndjson:6: device:", "rejected              3"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if !strings.Contains(out1.String(), `"kind":"enter"`) {
		t.Errorf("the good records around the bad ones were not processed: %s", out1.String())
	}
	run(context.Background(), []string{"replay", "--sites", sites, feed}, nil, &out2, &bytes.Buffer{})
	if out1.String() != out2.String() {
		t.Error("two replays of one feed differ")
	}
}

func TestReplayExitCodes(t *testing.T) {
	sites := filepath.Join("..", "..", "fixtures", "scenarios", "sites.geojson")
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"replay", "--sites", sites, "/nonexistent/feed.ndjson"}, nil, &bytes.Buffer{}, &errb); code != 1 {
		t.Errorf("unreadable input: exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "cannot read") {
		t.Errorf("no message for an unreadable input: %s", errb.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.geojson")
	os.WriteFile(bad, []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,"properties":{"id":"x"}}]}`), 0o644)
	errb.Reset()
	if code := run(context.Background(), []string{"replay", "--sites", bad, "-"}, strings.NewReader(""), &bytes.Buffer{}, &errb); code != 2 {
		t.Errorf("invalid sites: exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "feature 0: geometry") {
		t.Errorf("sites problems not named: %s", errb.String())
	}
}

func TestCSVOutput(t *testing.T) {
	root := filepath.Join("..", "..", "fixtures", "scenarios")
	var out bytes.Buffer
	code := run(context.Background(), []string{"replay", "--format", "csv", "--sites", filepath.Join(root, "sites.geojson"),
		filepath.Join(root, "drive-by", "feed.csv")}, nil, &out, &bytes.Buffer{})
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if lines[0] != "id,visit,site,zone,kind,device,agency,t,duration_s,min_distance_m,stationary_s,in_hours,breach,confirmed,fixes,interpolated,lat,lon" || len(lines) != 5 {
		t.Errorf("csv output:\n%s", out.String())
	}
}

func TestSimIsSeeded(t *testing.T) {
	args := []string{"sim", "--sites", filepath.Join("..", "..", "fixtures", "sites.geojson"), "--duration", "10m", "--vehicles", "5"}
	var a, b, c bytes.Buffer
	run(context.Background(), append(args, "--seed", "7"), nil, &a, &bytes.Buffer{})
	run(context.Background(), append(args, "--seed", "7"), nil, &b, &bytes.Buffer{})
	run(context.Background(), append(args, "--seed", "8"), nil, &c, &bytes.Buffer{})
	if a.Len() == 0 || a.String() != b.String() {
		t.Error("same seed, different feeds")
	}
	if a.String() == c.String() {
		t.Error("different seeds, same feed")
	}
	// 5 vehicles + the van, every 5 s for 10 min.
	if n := strings.Count(a.String(), "\n"); n != 6*120 {
		t.Errorf("%d fixes, want %d", n, 6*120)
	}
}
