package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/store/postgres"
	"github.com/keepclear/keepclear/internal/store/storetest"
)

// DSN is the test database: KEEPCLEAR_TEST_PG, else the local server.
func DSN() string {
	if d := os.Getenv("KEEPCLEAR_TEST_PG"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// MustOpenDB opens the store in a fresh schema, dropped after the test. A
// missing server skips the test outside CI and fails it in CI.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "kc_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, DSN(), postgres.Options{Schema: schema})
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		tb.Skipf("no PostgreSQL at %s (set KEEPCLEAR_TEST_PG): %v", DSN(), err)
	}
	tb.Cleanup(func() {
		db.Pool().Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		db.Close()
	})
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return MustOpenDB(t) })
}

// With PostGIS installed (CI installs it), events carry a geometry column
// that GIS tools read as a layer.
func TestPostGISGeometry(t *testing.T) {
	db := MustOpenDB(t)
	if !db.PostGIS() {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostGIS is installed in CI but the geometry column is missing")
		}
		t.Skip("PostGIS extension not available")
	}
	ctx := context.Background()
	e := event.Event{ID: "v-1", Visit: "v", Site: "insite", Zone: "frontage", Kind: event.Enter, Device: "ab", Agency: "vpd",
		T: time.Date(2026, 11, 16, 18, 0, 0, 0, time.UTC), Confirmed: true, Fixes: 2, Lat: 49.28111, Lon: -123.10111}
	if err := db.Write(ctx, &store.Batch{Events: []event.Event{e}}); err != nil {
		t.Fatal(err)
	}
	// The evidence columns (migration 0002) live beside the geometry.
	if got, err := db.Event(ctx, "v-1"); err != nil || got != e {
		t.Errorf("event beside the geometry: %+v %v", got, err)
	}
	var wkt string
	var srid int
	if err := db.Pool().QueryRow(ctx, `SELECT ST_AsText(geom), ST_SRID(geom) FROM events WHERE id = 'v-1'`).Scan(&wkt, &srid); err != nil {
		t.Fatal(err)
	}
	if wkt != "POINT(-123.10111 49.28111)" || srid != 4326 {
		t.Errorf("geometry %s srid %d", wkt, srid)
	}
	var indexed bool
	db.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'events_geom' AND indexdef LIKE '%gist%')`).Scan(&indexed)
	if !indexed {
		t.Error("no GiST index on events.geom")
	}
	// A spatial query through the index: events within 50 m of Insite.
	var n int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE ST_DWithin(geom::geography, ST_MakePoint(-123.1011, 49.2811)::geography, 50)`).Scan(&n); err != nil || n != 1 {
		t.Errorf("ST_DWithin: %d %v", n, err)
	}
}
