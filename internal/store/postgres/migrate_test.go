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
)

// A database made before migration 0002 — with a generated column after
// lon, as the PostGIS geom is on a real one — keeps its events, which read
// back with the evidence defaults (not confirmed, no fixes, not
// interpolated), and takes new events with their evidence.
func TestMigrate0002KeepsOldEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DSN())
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("no PostgreSQL at %s: %v", DSN(), err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	rand.Read(b)
	schema := "kc_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	t.Cleanup(func() { conn.Exec(context.Background(), `DROP SCHEMA `+ident+` CASCADE`) })
	first, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE SCHEMA ` + ident,
		`SET search_path = ` + ident,
		string(first),
		`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL)`,
		`INSERT INTO schema_migrations VALUES ('0001_init', now())`,
		`ALTER TABLE events ADD COLUMN geom_stub double precision GENERATED ALWAYS AS (lat + lon) STORED`,
		`INSERT INTO events (id, visit, site, zone, kind, device, agency, t, duration_s, min_distance_m, stationary_s, in_hours, breach, lat, lon)
			VALUES ('v-1', 'v', 'insite', 'door', 'enter', 'ab', 'vpd', '2026-11-16T18:00:00Z', 0, 3.5, 0, true, true, 49.28111, -123.10111)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	db, err := postgres.Open(ctx, DSN(), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := db.Event(ctx, "v-1")
	want := event.Event{ID: "v-1", Visit: "v", Site: "insite", Zone: "door", Kind: event.Enter, Device: "ab", Agency: "vpd",
		T: time.Date(2026, 11, 16, 18, 0, 0, 0, time.UTC), MinDistanceM: 3.5, InHours: true, Breach: true, Lat: 49.28111, Lon: -123.10111}
	if err != nil || e != want {
		t.Fatalf("old event after migration:\n got %+v %v\nwant %+v", e, err, want)
	}
	n := want
	n.ID, n.Kind, n.Confirmed, n.Fixes, n.Interpolated = "v-2", event.Resumed, true, 4, true
	if err := db.Write(ctx, &store.Batch{Events: []event.Event{n}}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Event(ctx, "v-2"); err != nil || got != n {
		t.Errorf("new event: %+v %v", got, err)
	}
	var stub float64
	if err := db.Pool().QueryRow(ctx, `SELECT geom_stub FROM events WHERE id = 'v-2'`).Scan(&stub); err != nil || stub != n.Lat+n.Lon {
		t.Errorf("generated column: %v %v", stub, err)
	}
}
