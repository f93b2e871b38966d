package tzdb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestEmbeddedVersion(t *testing.T) {
	if v := Embedded().Version(); v < "2026c" {
		t.Errorf("embedded tz database %s, want 2026c or newer", v)
	}
	if Version() != Embedded().Version() || Default() != Embedded() {
		t.Errorf("the default is not the embedded database: %v", Default())
	}
	if s := Embedded().String(); s != "IANA "+embeddedVersion+" (embedded)" {
		t.Errorf("String() = %q", s)
	}
}

// zoneinfo.zip and version.go are written together by gen.go: a hand-edited
// or half-regenerated pair fails here.
func TestEmbeddedArchiveMatchesGeneratedVersion(t *testing.T) {
	sum := sha256.Sum256(zoneinfoZip)
	if got := hex.EncodeToString(sum[:]); got != embeddedSHA256 {
		t.Errorf("zoneinfo.zip SHA-256 %s, version.go records %s (from %s): run go generate ./internal/tzdb", got, embeddedSHA256, embeddedFrom)
	}
}

func TestOffsets(t *testing.T) {
	cases := []struct {
		zone   string
		at     time.Time
		offset int // seconds east of UTC
		abbr   string
	}{
		// British Columbia is on UTC−07:00 all year (IANA 2026b).
		{"America/Vancouver", time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), -7 * 3600, ""},
		{"America/Vancouver", time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), -7 * 3600, ""},
		{"America/Vancouver", time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC), -7 * 3600, ""},
		// Before the change it still kept DST: PST in January 2026.
		{"America/Vancouver", time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), -8 * 3600, "PST"},
		{"America/Toronto", time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), -5 * 3600, "EST"},
		{"America/Toronto", time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), -4 * 3600, "EDT"},
		{"Europe/London", time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), 3600, "BST"},
		{"UTC", time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), 0, "UTC"},
	}
	for _, c := range cases {
		loc, err := Load(c.zone)
		if err != nil {
			t.Fatalf("%s: %v", c.zone, err)
		}
		abbr, off := c.at.In(loc).Zone()
		if off != c.offset || (c.abbr != "" && abbr != c.abbr) {
			t.Errorf("%s at %s: %s %+d s, want %s %+d s", c.zone, c.at.Format(time.DateOnly), abbr, off, c.abbr, c.offset)
		}
		if loc.String() != c.zone {
			t.Errorf("%s: location named %q", c.zone, loc)
		}
	}
}

func TestLoadOnce(t *testing.T) {
	var wg sync.WaitGroup
	locs := make([]*time.Location, 16)
	for i := range locs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			locs[i], _ = Load("America/Vancouver")
		}()
	}
	wg.Wait()
	for _, l := range locs {
		if l == nil || l != locs[0] {
			t.Fatalf("each load got its own copy: %p %p", l, locs[0])
		}
	}
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"Mars/Olympus", "Local", "america/vancouver", "../etc/passwd", "/etc/localtime", "America/"} {
		if loc, err := Embedded().Load(name); err == nil || !errors.Is(err, ErrUnknownZone) {
			t.Errorf("%q: %v %v, want ErrUnknownZone", name, loc, err)
		}
	}
	if loc, err := Embedded().Load(""); err != nil || loc != time.UTC {
		t.Errorf(`"": %v %v, want UTC`, loc, err)
	}
}

// The host's database only when asked for, and back.
func TestUse(t *testing.T) {
	t.Cleanup(UseEmbedded)
	if err := Use("system"); err != nil || Default() != System() || Default().Source() != SourceSystem {
		t.Fatalf("Use(system): %v, default %v", err, Default())
	}
	if Version() == "" {
		t.Error("system version empty")
	}
	t.Logf("host: %v", System())
	if loc, err := Load("Mars/Olympus"); err == nil || !errors.Is(err, ErrUnknownZone) {
		t.Errorf("system Mars/Olympus: %v %v", loc, err)
	}
	if err := Use("embedded"); err != nil || Default() != Embedded() {
		t.Fatalf("Use(embedded): %v", err)
	}
	if err := Use("host"); err == nil {
		t.Error("Use(host) accepted")
	}
	if Default() != Embedded() {
		t.Error("a bad Use changed the database")
	}
}

func ExampleLoad() {
	loc, err := Load("America/Vancouver")
	if err != nil {
		panic(err)
	}
	t := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	fmt.Println(Version() >= "2026c", t.In(loc).Format("Mon 15:04 -07:00"))
	// Output: true Wed 10:00 -07:00
}
