// Package postgres is the production store: PostgreSQL through pgx (a
// pool), with embedded migrations, batched writes in one round trip, and —
// where the PostGIS extension is installed — a geometry(Point,4326) column
// on events with a GiST index, so QGIS or ogr2ogr read events as a layer.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the PostgreSQL store.
type DB struct {
	pool    *pgxpool.Pool
	postgis bool
	Now     func() time.Time
}

var _ store.Store = (*DB)(nil)

// Options tune Open.
type Options struct {
	// Schema, when set, is created if missing and put first on the
	// search_path (tests use one schema each).
	Schema string
}

// Open connects, pings, and applies the migrations.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opt.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opt.Schema + ",public"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	if opt.Schema != "" {
		if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{opt.Schema}.Sanitize()); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: create schema: %w", err)
		}
	}
	s := &DB{pool: pool, Now: time.Now}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// PostGIS reports whether events carry a PostGIS geometry column.
func (s *DB) PostGIS() bool { return s.postgis }

// Migrate applies the embedded migrations not yet applied, each in a
// transaction, then adds the PostGIS geometry where the extension exists.
func (s *DB) Migrate(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		body, _ := migrations.ReadFile(name)
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, now()) ON CONFLICT DO NOTHING`, version)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			_, err = tx.Exec(ctx, string(body))
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migrate %s: %w", version, err)
		}
	}
	return s.addGeometry(ctx)
}

func (s *DB) addGeometry(ctx context.Context) error {
	var available bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis')`).Scan(&available); err != nil {
		return fmt.Errorf("postgres: postgis check: %w", err)
	}
	if !available {
		return nil
	}
	// One extension per database; it lives in public, on every search_path.
	if _, err := s.pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public`); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" { // created concurrently
			err = nil
		}
		if err != nil {
			return fmt.Errorf("postgres: create extension postgis: %w", err)
		}
	}
	for _, q := range []string{
		`ALTER TABLE events ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326)
			GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED`,
		`CREATE INDEX IF NOT EXISTS events_geom ON events USING gist (geom)`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("postgres: postgis geometry: %w", err)
		}
	}
	s.postgis = true
	return nil
}

func formatError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return fmt.Errorf("postgres: %s: %w", op, store.ErrConflict)
		case "23503":
			return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// Write commits a batch in one transaction; rows travel as arrays, so a
// batch is a few round trips whatever its size.
func (s *DB) Write(ctx context.Context, b *store.Batch) error {
	if b.Empty() {
		return nil
	}
	return formatError("write", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if n := len(b.Events); n > 0 {
			var c struct {
				id, visit, site, zone, kind, device, agency []string
				t                                           []time.Time
				dur, dist, still, lat, lon                  []float64
				inHours, breach, confirmed, interpolated    []bool
				fixes                                       []int32
			}
			for i := range b.Events {
				e := &b.Events[i]
				c.id, c.visit, c.site, c.zone = append(c.id, e.ID), append(c.visit, e.Visit), append(c.site, e.Site), append(c.zone, e.Zone)
				c.kind, c.device, c.agency = append(c.kind, string(e.Kind)), append(c.device, e.Device), append(c.agency, e.Agency)
				c.t, c.dur, c.dist, c.still = append(c.t, e.T), append(c.dur, e.DurationS), append(c.dist, e.MinDistanceM), append(c.still, e.StationaryS)
				c.inHours, c.breach, c.lat, c.lon = append(c.inHours, e.InHours), append(c.breach, e.Breach), append(c.lat, e.Lat), append(c.lon, e.Lon)
				c.confirmed, c.fixes, c.interpolated = append(c.confirmed, e.Confirmed), append(c.fixes, int32(e.Fixes)), append(c.interpolated, e.Interpolated)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO events (`+eventCols+`)
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
					$8::timestamptz[], $9::float8[], $10::float8[], $11::float8[], $12::bool[], $13::bool[],
					$14::bool[], $15::int4[], $16::bool[], $17::float8[], $18::float8[])
				ON CONFLICT (id) DO NOTHING`,
				c.id, c.visit, c.site, c.zone, c.kind, c.device, c.agency, c.t, c.dur, c.dist, c.still, c.inHours, c.breach,
				c.confirmed, c.fixes, c.interpolated, c.lat, c.lon); err != nil {
				return err
			}
		}
		if len(b.Cells) > 0 {
			var site, zone, week []string
			var how, clat, clon []int32
			var fixes []int64
			var still []float64
			for c, v := range b.Cells {
				site, zone, week = append(site, c.Site), append(zone, c.Zone), append(week, c.Week)
				how, clat, clon = append(how, int32(c.HourOfWeek)), append(clat, c.CellLat), append(clon, c.CellLon)
				fixes, still = append(fixes, v.Fixes), append(still, v.StationaryS)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO cells AS c
				SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[], $5::int4[], $6::int4[], $7::int8[], $8::float8[])
				ON CONFLICT (site, week, zone, hour_of_week, cell_lat, cell_lon)
				DO UPDATE SET fixes = c.fixes + excluded.fixes, stationary_s = c.stationary_s + excluded.stationary_s`,
				site, zone, week, how, clat, clon, fixes, still); err != nil {
				return err
			}
		}
		if len(b.SaveStates) > 0 {
			ps := make([]string, len(b.SaveStates))
			js := make([]string, len(b.SaveStates))
			for i, ds := range b.SaveStates {
				j, _ := json.Marshal(ds)
				ps[i], js[i] = ds.Pseudonym, string(j)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO device_state SELECT p, s::jsonb, now() FROM unnest($1::text[], $2::text[]) AS u(p, s)
				ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`, ps, js); err != nil {
				return err
			}
		}
		if len(b.DropStates) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM device_state WHERE pseudonym = ANY($1)`, b.DropStates); err != nil {
				return err
			}
		}
		return nil
	}))
}

var dialect = store.Dialect{
	Placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
	TimeColumn:  "t",
	Time:        func(t time.Time) any { return t },
	Bool:        func(b bool) any { return b },
	After:       func(t, id string) string { return "(t, id) > (" + t + ", " + id + ")" },
}

// eventCols names the events columns in the order Write binds and
// scanEvent reads them (the table's own order differs: migrations append
// columns, and PostGIS adds geom).
const eventCols = `id, visit, site, zone, kind, device, agency, t, duration_s, min_distance_m, stationary_s, in_hours, breach,
	confirmed, fixes, interpolated, lat, lon`

func scanEvent(row pgx.Row) (event.Event, error) {
	var e event.Event
	var kind string
	var fixes int32
	err := row.Scan(&e.ID, &e.Visit, &e.Site, &e.Zone, &kind, &e.Device, &e.Agency, &e.T, &e.DurationS, &e.MinDistanceM,
		&e.StationaryS, &e.InHours, &e.Breach, &e.Confirmed, &fixes, &e.Interpolated, &e.Lat, &e.Lon)
	e.Fixes = int(fixes)
	e.Kind, e.T = event.Kind(kind), e.T.UTC()
	return e, err
}

// Events returns a page of events in (time, id) order.
func (s *DB) Events(ctx context.Context, q store.EventQuery) ([]event.Event, string, error) {
	if err := q.Normalize(); err != nil {
		return nil, "", err
	}
	where, args, err := q.Where(dialect)
	if err != nil {
		return nil, "", err
	}
	sqlq := `SELECT ` + eventCols + ` FROM events`
	if len(where) > 0 {
		sqlq += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit+1)
	sqlq += fmt.Sprintf(" ORDER BY t, id LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, "", formatError("events", err)
	}
	defer rows.Close()
	var out []event.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, "", formatError("events", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", formatError("events", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		last := out[len(out)-1]
		next = store.Cursor{TMs: last.T.UnixMilli(), ID: last.ID}.Encode()
	}
	return out, next, nil
}

// Event returns one event.
func (s *DB) Event(ctx context.Context, id string) (event.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1`, id))
	return e, formatError("event "+id, err)
}

// Annotate appends an annotation.
func (s *DB) Annotate(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	a.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	err := s.pool.QueryRow(ctx, `INSERT INTO annotations (event_id, role, author, label, text, created_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
		a.EventID, a.Role, a.Author, a.Label, a.Text, a.CreatedAt).Scan(&a.ID)
	return a, formatError("annotate "+a.EventID, err)
}

// Annotations lists an event's annotations, oldest first.
func (s *DB) Annotations(ctx context.Context, eventID string) ([]store.Annotation, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, event_id, role, author, label, text, created_at FROM annotations WHERE event_id = $1 ORDER BY id`, eventID)
	if err != nil {
		return nil, formatError("annotations", err)
	}
	defer rows.Close()
	var out []store.Annotation
	for rows.Next() {
		var a store.Annotation
		if err := rows.Scan(&a.ID, &a.EventID, &a.Role, &a.Author, &a.Label, &a.Text, &a.CreatedAt); err != nil {
			return nil, formatError("annotations", err)
		}
		a.CreatedAt = a.CreatedAt.UTC()
		out = append(out, a)
	}
	return out, formatError("annotations", rows.Err())
}

// Sites lists the stored sites by id.
func (s *DB) Sites(ctx context.Context) ([]store.SiteRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, feature::text, updated_at FROM sites ORDER BY id`)
	if err != nil {
		return nil, formatError("sites", err)
	}
	defer rows.Close()
	var out []store.SiteRecord
	for rows.Next() {
		var r store.SiteRecord
		var f string
		if err := rows.Scan(&r.ID, &f, &r.UpdatedAt); err != nil {
			return nil, formatError("sites", err)
		}
		r.Feature, r.UpdatedAt = []byte(f), r.UpdatedAt.UTC()
		out = append(out, r)
	}
	return out, formatError("sites", rows.Err())
}

// PutSite creates or replaces a site.
func (s *DB) PutSite(ctx context.Context, r store.SiteRecord) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sites VALUES ($1, $2::jsonb, $3) ON CONFLICT (id) DO UPDATE SET feature = excluded.feature, updated_at = excluded.updated_at`,
		r.ID, string(r.Feature), s.Now())
	return formatError("put site "+r.ID, err)
}

// DeleteSite removes a site.
func (s *DB) DeleteSite(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sites WHERE id = $1`, id)
	if err != nil {
		return formatError("delete site", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete site %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Cells returns a site's weekly aggregates.
func (s *DB) Cells(ctx context.Context, site, week string) ([]store.CellRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT site, zone, week, hour_of_week, cell_lat, cell_lon, fixes, stationary_s
		FROM cells WHERE site = $1 AND week = $2 ORDER BY zone, hour_of_week, cell_lat, cell_lon`, site, week)
	if err != nil {
		return nil, formatError("cells", err)
	}
	defer rows.Close()
	var out []store.CellRow
	for rows.Next() {
		var c store.CellRow
		var how int16
		if err := rows.Scan(&c.Site, &c.Zone, &c.Week, &how, &c.CellLat, &c.CellLon, &c.Fixes, &c.StationaryS); err != nil {
			return nil, formatError("cells", err)
		}
		c.HourOfWeek = int(how)
		out = append(out, c)
	}
	return out, formatError("cells", rows.Err())
}

// DeviceStates returns the saved device states.
func (s *DB) DeviceStates(ctx context.Context) ([]monitor.DeviceState, error) {
	rows, err := s.pool.Query(ctx, `SELECT state::text FROM device_state ORDER BY pseudonym`)
	if err != nil {
		return nil, formatError("device states", err)
	}
	defer rows.Close()
	var out []monitor.DeviceState
	for rows.Next() {
		var j string
		if err := rows.Scan(&j); err != nil {
			return nil, formatError("device states", err)
		}
		var ds monitor.DeviceState
		if err := json.Unmarshal([]byte(j), &ds); err != nil {
			return nil, fmt.Errorf("postgres: device state: %w", err)
		}
		out = append(out, ds)
	}
	return out, formatError("device states", rows.Err())
}

// CreateToken stores a token (its hash).
func (s *DB) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	t.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	err := s.pool.QueryRow(ctx, `INSERT INTO tokens (name, role, agency, hash, owntracks_key, created_at) VALUES ($1,$2,$3,$4,$5,$6) RETURNING id`,
		t.Name, t.Role, t.Agency, t.Hash, nilIfEmpty(t.OwnTracksKey), t.CreatedAt).Scan(&t.ID)
	return t, formatError("create token", err)
}

// TokenByHash finds a token by its hash.
func (s *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	var t store.Token
	err := s.pool.QueryRow(ctx, `SELECT id, name, role, agency, hash, owntracks_key, created_at FROM tokens WHERE hash = $1`, hash).
		Scan(&t.ID, &t.Name, &t.Role, &t.Agency, &t.Hash, &t.OwnTracksKey, &t.CreatedAt)
	t.CreatedAt = t.CreatedAt.UTC()
	return t, formatError("token", err)
}

// Tokens lists the tokens.
func (s *DB) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, role, agency, hash, owntracks_key, created_at FROM tokens ORDER BY id`)
	if err != nil {
		return nil, formatError("tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.Agency, &t.Hash, &t.OwnTracksKey, &t.CreatedAt); err != nil {
			return nil, formatError("tokens", err)
		}
		t.CreatedAt = t.CreatedAt.UTC()
		out = append(out, t)
	}
	return out, formatError("tokens", rows.Err())
}

// nilIfEmpty stores an absent value as NULL.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// RevokeToken deletes a token.
func (s *DB) RevokeToken(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE id = $1`, id)
	if err != nil {
		return formatError("revoke token", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: revoke token %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// Ping checks the database.
func (s *DB) Ping(ctx context.Context) error { return formatError("ping", s.pool.Ping(ctx)) }

// Close closes the pool.
func (s *DB) Close() error { s.pool.Close(); return nil }

// Pool exposes the pool to tests that inspect the schema.
func (s *DB) Pool() *pgxpool.Pool { return s.pool }
