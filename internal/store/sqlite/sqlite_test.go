package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/store/sqlite"
	"github.com/keepclear/keepclear/internal/store/storetest"
)

// MustOpenDB opens a fresh database file in a temporary directory.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "keepclear.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return MustOpenDB(t) })
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	for i := 0; i < 2; i++ {
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		db.Close()
	}
}
