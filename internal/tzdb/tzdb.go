// Package tzdb is the IANA time zone database keepclear judges operating
// hours with. It is embedded in the binary (zoneinfo.zip, copied by gen.go
// from a named Go toolchain), so the same feed gives the same in_hours and
// breach verdicts on every machine, whatever tz database the host has, or
// none. The host's database is used only when asked for explicitly
// (UseSystem, for `--tzdata system`).
//
// time/tzdata is not enough for this: the time package consults it only
// after the host's zoneinfo, and Go's own copy may be older than the rules
// in force (British Columbia's move to UTC−07:00 all year is in IANA 2026b;
// Go 1.26 ships 2025c).
package tzdb

//go:generate go run gen.go -toolchain go1.27.4

import (
	"archive/zip"
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed zoneinfo.zip
var zoneinfoZip []byte

// Where a DB reads its zones from.
const (
	SourceEmbedded = "embedded"
	SourceSystem   = "system"
)

// ErrUnknownZone is wrapped by Load's error for a name the database lacks.
var ErrUnknownZone = errors.New("tzdb: unknown time zone")

// DB is a tz database. Each zone is read once and the same *time.Location
// is handed to every caller (a Location is safe for concurrent use). A DB
// is safe for concurrent use.
type DB struct {
	source  string
	version func() string
	read    func(name string) (*time.Location, error)

	mu    sync.Mutex
	zones map[string]*time.Location // only zones that loaded: unknown names are not remembered
}

var (
	embedded = &DB{source: SourceEmbedded, version: func() string { return embeddedVersion }, read: readEmbedded}
	system   = &DB{source: SourceSystem, version: sync.OnceValue(systemVersion), read: readSystem}
	current  atomic.Pointer[DB] // nil: embedded
)

// Embedded is the database built into the binary.
func Embedded() *DB { return embedded }

// System is the host's database, as time.LoadLocation reads it ($ZONEINFO,
// then the platform's zoneinfo directories).
func System() *DB { return system }

// Default is the database Load uses: Embedded unless UseSystem or Use
// chose the host's.
func Default() *DB {
	if db := current.Load(); db != nil {
		return db
	}
	return embedded
}

// UseSystem makes Load read the host's database from now on. Call it at
// start-up, before any site is loaded (zones already loaded keep the rules
// they were read with).
func UseSystem() { current.Store(system) }

// UseEmbedded makes Load read the embedded database again (the default).
func UseEmbedded() { current.Store(embedded) }

// Use selects the database by name, as a --tzdata flag gives it:
// "embedded" (or "") or "system".
func Use(source string) error {
	switch source {
	case SourceEmbedded, "":
		UseEmbedded()
	case SourceSystem:
		UseSystem()
	default:
		return fmt.Errorf("tzdb: unknown tz database %q (want %q or %q)", source, SourceEmbedded, SourceSystem)
	}
	return nil
}

// Load returns the named zone from the Default database.
func Load(name string) (*time.Location, error) { return Default().Load(name) }

// Version is the IANA version of the Default database, e.g. "2026c"
// ("unknown" for a host database that does not say).
func Version() string { return Default().Version() }

// Load returns the zone named by an IANA name such as "America/Vancouver".
// "" and "UTC" are time.UTC, as for time.LoadLocation. "Local" (the host's
// own zone) is refused by the embedded database: it would differ from
// machine to machine.
func (db *DB) Load(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	db.mu.Lock()
	loc, ok := db.zones[name]
	db.mu.Unlock()
	if ok {
		return loc, nil
	}
	loc, err := db.read(name)
	if err != nil {
		return nil, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if prev, ok := db.zones[name]; ok {
		return prev, nil // loaded meanwhile by another goroutine: keep one copy
	}
	if db.zones == nil {
		db.zones = map[string]*time.Location{}
	}
	db.zones[name] = loc
	return loc, nil
}

// Version is the database's IANA version, e.g. "2026c", or "unknown".
func (db *DB) Version() string { return db.version() }

// Source is SourceEmbedded or SourceSystem.
func (db *DB) Source() string { return db.source }

// String describes the database for logs and `keepclear version`, e.g.
// "IANA 2026c (embedded)".
func (db *DB) String() string { return fmt.Sprintf("IANA %s (%s)", db.Version(), db.source) }

// embeddedIndex maps zone names to the members of the embedded archive.
var embeddedIndex = sync.OnceValues(func() (map[string]*zip.File, error) {
	zr, err := zip.NewReader(bytes.NewReader(zoneinfoZip), int64(len(zoneinfoZip)))
	if err != nil {
		return nil, fmt.Errorf("tzdb: embedded zoneinfo.zip: %w", err)
	}
	idx := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		idx[f.Name] = f
	}
	return idx, nil
})

// maxZoneBytes bounds one zone file (the largest is a few kB).
const maxZoneBytes = 1 << 20

func readEmbedded(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, fmt.Errorf("%w %q: the host's local zone is not a named zone; name one such as \"America/Vancouver\"", ErrUnknownZone, name)
	}
	idx, err := embeddedIndex()
	if err != nil {
		return nil, err
	}
	f, ok := idx[name]
	if !ok || f.UncompressedSize64 > maxZoneBytes {
		return nil, fmt.Errorf("%w %q", ErrUnknownZone, name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("tzdb: %s: %w", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxZoneBytes))
	if err != nil {
		return nil, fmt.Errorf("tzdb: %s: %w", name, err)
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil, fmt.Errorf("tzdb: %s: %w", name, err)
	}
	return loc, nil
}

func readSystem(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q in the host's tz database: %v", ErrUnknownZone, name, err)
	}
	return loc, nil
}

// systemVersion reads the host database's version where it records one:
// the "# version 2025b" first line of tzdata.zi, or a +VERSION file.
func systemVersion() string {
	var dirs []string
	if z := os.Getenv("ZONEINFO"); z != "" {
		dirs = append(dirs, z)
	}
	// The directories the time package reads on Unix systems.
	dirs = append(dirs, "/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo")
	for _, dir := range dirs {
		if v := versionLine(filepath.Join(dir, "tzdata.zi"), "# version "); v != "" {
			return v
		}
		if v := versionLine(filepath.Join(dir, "+VERSION"), ""); v != "" {
			return v
		}
	}
	return "unknown"
}

func versionLine(path, prefix string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(io.LimitReader(f, 256)).ReadString('\n')
	v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix)
	if !ok || v == "" || strings.ContainsAny(v, " \t") {
		return ""
	}
	return v
}
