package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/keepclear/keepclear/internal/store"
	"github.com/keepclear/keepclear/internal/store/postgres"
	"github.com/keepclear/keepclear/internal/store/sqlite"
)

// applyConfig fills the flags not given on the command line from the
// environment (KEEPCLEAR_<FLAG>, dashes as underscores) and then from the
// config file (lines "name = value"; # comments). Precedence: flag, env,
// file, default.
func applyConfig(fs *flag.FlagSet, file string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fileVals := map[string]string{}
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return fmt.Errorf("config %s:%d: want name = value", file, n)
			}
			k = strings.TrimSpace(k)
			if fs.Lookup(k) == nil {
				return fmt.Errorf("config %s:%d: unknown setting %q", file, n, k)
			}
			fileVals[k] = strings.Trim(strings.TrimSpace(v), `"`)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil || f.Name == "config" {
			return
		}
		env := "KEEPCLEAR_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
			return
		}
		if v, ok := fileVals[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config %s: %w", f.Name, e)
			}
		}
	})
	return err
}

// openStore opens PostgreSQL for a postgres:// URL, else the SQLite file.
func openStore(ctx context.Context, dsn string) (store.Store, string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return nil, "", err
		}
		kind := "PostgreSQL"
		if db.PostGIS() {
			kind += " with PostGIS"
		}
		return db, kind, nil
	}
	db, err := sqlite.Open(dsn)
	if err != nil {
		return nil, "", err
	}
	return db, "SQLite " + dsn, nil
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "keepclear.db", "database: a SQLite file path, or a postgres:// URL")
}
