package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/store"
)

// A database made before migration 0002 keeps its events, which read back
// with the evidence defaults: not confirmed, no fixes, not interpolated.
func TestMigrate0002KeepsOldEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := migrations.ReadFile("migrations/0001_init.sql")
	for _, q := range []string{
		string(first),
		`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES ('0001_init', 1)`,
		`INSERT INTO events VALUES ('v-1', 'v', 'insite', 'door', 'enter', 'ab', 'vpd', 1795370400000, 0, 3.5, 0, 1, 1, 49.28111, -123.10111)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	e, err := db.Event(ctx, "v-1")
	want := event.Event{ID: "v-1", Visit: "v", Site: "insite", Zone: "door", Kind: event.Enter, Device: "ab", Agency: "vpd",
		T: time.UnixMilli(1795370400000).UTC(), MinDistanceM: 3.5, InHours: true, Breach: true, Lat: 49.28111, Lon: -123.10111}
	if err != nil || e != want {
		t.Fatalf("old event after migration:\n got %+v %v\nwant %+v", e, err, want)
	}
	// New rows carry their evidence beside the old one.
	n := want
	n.ID, n.Confirmed, n.Fixes, n.Interpolated = "v-2", true, 4, true
	if err := db.Write(ctx, &store.Batch{Events: []event.Event{n}}); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Event(ctx, "v-2"); err != nil || got != n {
		t.Errorf("new event: %+v %v", got, err)
	}
}
