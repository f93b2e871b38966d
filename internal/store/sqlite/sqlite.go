// Package sqlite is the embedded store: SQLite through modernc.org/sqlite
// (pure Go), in WAL mode, with its migrations embedded.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/store"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store.
type DB struct {
	db      *sql.DB
	wmu     sync.Mutex // one writer at a time
	wc      *sql.Conn  // the writer's own connection (guarded by wmu), so its page cache stays warm
	ownConn bool       // false for ":memory:", whose one connection is shared
	Now     func() time.Time
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path; ":memory:"
// gives a private in-memory database.
func Open(path string) (*DB, error) {
	q := url.Values{}
	// WAL with synchronous=NORMAL: a commit survives the process being
	// killed (it is in the OS's cache); checkpoints run in the background
	// rather than inside a commit that a client waits for.
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(1)", "wal_autocheckpoint(0)", "journal_size_limit(67108864)"} {
		q.Add("_pragma", p)
	}
	dsn := "file:" + path + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if path == ":memory:" {
		db.SetMaxOpenConns(1) // every connection would be its own database
	}
	s := &DB{db: db, Now: time.Now, stop: make(chan struct{}), stopped: make(chan struct{}), ownConn: path != ":memory:"}
	if err := s.Migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	go s.checkpoints(time.Second)
	return s, nil
}

// checkpoints copies the WAL into the database in the background. Each
// second a PASSIVE checkpoint copies what it can beside the writers; every
// fifth one runs between two writes (holding the writer lock), so it
// can finish — little is left to copy by then — and the next write starts
// the WAL afresh. Under steady load the WAL stays at about five seconds of
// writes, and writers wait only for the short final copy.
func (s *DB) checkpoints(every time.Duration) {
	defer close(s.stopped)
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if i%5 == 0 {
				s.wmu.Lock()
				s.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
				s.wmu.Unlock()
			} else {
				s.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}
}

// Migrate applies the embedded migrations not yet applied, each in a
// transaction.
func (s *DB) Migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, _ := migrations.ReadFile(name)
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migrate %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?)`, version, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migrate %s: %w", version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", version, err)
		}
	}
	return nil
}

// formatError translates SQLite errors into store errors.
func formatError(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	}
	var se *sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3lib.SQLITE_CONSTRAINT_UNIQUE, sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrConflict)
		case sqlite3lib.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Write commits a batch in one transaction.
func (s *DB) Write(ctx context.Context, b *store.Batch) error {
	if b.Empty() {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return formatError("write", err)
	}
	defer tx.Rollback()
	if len(b.Events) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO events (`+eventCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`)
		if err != nil {
			return formatError("write events", err)
		}
		for i := range b.Events {
			e := &b.Events[i]
			if _, err := st.ExecContext(ctx, e.ID, e.Visit, e.Site, e.Zone, string(e.Kind), e.Device, e.Agency, e.T.UnixMilli(),
				e.DurationS, e.MinDistanceM, e.StationaryS, boolInt(e.InHours), boolInt(e.Breach),
				boolInt(e.Confirmed), e.Fixes, boolInt(e.Interpolated), e.Lat, e.Lon); err != nil {
				return formatError("write events", err)
			}
		}
		st.Close()
	}
	if len(b.Cells) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO cells VALUES (?,?,?,?,?,?,?,?)
			ON CONFLICT (site, week, zone, hour_of_week, cell_lat, cell_lon)
			DO UPDATE SET fixes = fixes + excluded.fixes, stationary_s = stationary_s + excluded.stationary_s`)
		if err != nil {
			return formatError("write cells", err)
		}
		for c, v := range b.Cells {
			if _, err := st.ExecContext(ctx, c.Site, c.Zone, c.Week, c.HourOfWeek, c.CellLat, c.CellLon, v.Fixes, v.StationaryS); err != nil {
				return formatError("write cells", err)
			}
		}
		st.Close()
	}
	now := s.Now().UnixMilli()
	if len(b.SaveStates) > 0 {
		// Prepared once a batch: a device in a visit is saved with every
		// batch that moves it, so this runs for hundreds of rows a commit.
		st, err := tx.PrepareContext(ctx, `INSERT INTO device_state VALUES (?,?,?) ON CONFLICT (pseudonym) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms`)
		if err != nil {
			return formatError("write state", err)
		}
		for _, ds := range b.SaveStates {
			j, _ := json.Marshal(ds)
			if _, err := st.ExecContext(ctx, ds.Pseudonym, string(j), now); err != nil {
				st.Close()
				return formatError("write state", err)
			}
		}
		st.Close()
	}
	for _, p := range b.DropStates {
		if _, err := tx.ExecContext(ctx, `DELETE FROM device_state WHERE pseudonym = ?`, p); err != nil {
			return formatError("drop state", err)
		}
	}
	return formatError("commit", tx.Commit())
}

// writerCacheKiB is the writer's page cache (SQLite's default is 2 MiB): it
// keeps the indexes every write walks in memory as the file grows. Readers
// keep the default, so memory does not grow with the pool.
const writerCacheKiB = 32 << 10

// beginWrite starts the batch's transaction on the writer's connection. A
// connection's page cache is dropped whenever another connection has
// written, so batches that moved from one pooled connection to the next
// read the indexes they update from the file again each time. Call with
// wmu held.
func (s *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	if !s.ownConn {
		return s.db.BeginTx(ctx, nil)
	}
	if s.wc == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
			c.Close()
			return nil, err
		}
		s.wc = c
	}
	tx, err := s.wc.BeginTx(ctx, nil)
	if err != nil && ctx.Err() == nil { // a broken connection: the next write takes a new one
		s.wc.Close()
		s.wc = nil
	}
	return tx, err
}

var dialect = store.Dialect{
	Placeholder: func(n int) string { return "?" + strconv.Itoa(n) }, // numbered: a cursor uses one twice
	TimeColumn:  "t_ms",
	Time:        func(t time.Time) any { return t.UnixMilli() },
	Bool:        func(b bool) any { return boolInt(b) },
	After: func(t, id string) string {
		return "(t_ms > " + t + " OR (t_ms = " + t + " AND id > " + id + "))"
	},
}

// eventCols names the events columns in the order Write binds and
// scanEvent reads them (never "INSERT … VALUES" by position: migrations
// append columns).
const eventCols = `id, visit, site, zone, kind, device, agency, t_ms, duration_s, min_distance_m, stationary_s, in_hours, breach,
	confirmed, fixes, interpolated, lat, lon`

func scanEvent(row interface{ Scan(...any) error }) (event.Event, error) {
	var e event.Event
	var kind string
	var tms int64
	var inHours, breach, confirmed, interpolated int
	err := row.Scan(&e.ID, &e.Visit, &e.Site, &e.Zone, &kind, &e.Device, &e.Agency, &tms, &e.DurationS, &e.MinDistanceM,
		&e.StationaryS, &inHours, &breach, &confirmed, &e.Fixes, &interpolated, &e.Lat, &e.Lon)
	e.Kind, e.T, e.InHours, e.Breach = event.Kind(kind), time.UnixMilli(tms).UTC(), inHours != 0, breach != 0
	e.Confirmed, e.Interpolated = confirmed != 0, interpolated != 0
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
	sqlq += " ORDER BY t_ms, id LIMIT " + dialect.Placeholder(len(args))
	rows, err := s.db.QueryContext(ctx, sqlq, args...)
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
	e, err := scanEvent(s.db.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id))
	return e, formatError("event "+id, err)
}

// Annotate appends an annotation.
func (s *DB) Annotate(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	a.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	res, err := s.db.ExecContext(ctx, `INSERT INTO annotations (event_id, role, author, label, text, created_ms) VALUES (?,?,?,?,?,?)`,
		a.EventID, a.Role, a.Author, a.Label, a.Text, a.CreatedAt.UnixMilli())
	if err != nil {
		return a, formatError("annotate "+a.EventID, err)
	}
	a.ID, _ = res.LastInsertId()
	return a, nil
}

// Annotations lists an event's annotations, oldest first.
func (s *DB) Annotations(ctx context.Context, eventID string) ([]store.Annotation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, event_id, role, author, label, text, created_ms FROM annotations WHERE event_id = ? ORDER BY id`, eventID)
	if err != nil {
		return nil, formatError("annotations", err)
	}
	defer rows.Close()
	var out []store.Annotation
	for rows.Next() {
		var a store.Annotation
		var ms int64
		if err := rows.Scan(&a.ID, &a.EventID, &a.Role, &a.Author, &a.Label, &a.Text, &ms); err != nil {
			return nil, formatError("annotations", err)
		}
		a.CreatedAt = time.UnixMilli(ms).UTC()
		out = append(out, a)
	}
	return out, formatError("annotations", rows.Err())
}

// Sites lists the stored sites by id.
func (s *DB) Sites(ctx context.Context) ([]store.SiteRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, feature, updated_ms FROM sites ORDER BY id`)
	if err != nil {
		return nil, formatError("sites", err)
	}
	defer rows.Close()
	var out []store.SiteRecord
	for rows.Next() {
		var r store.SiteRecord
		var f string
		var ms int64
		if err := rows.Scan(&r.ID, &f, &ms); err != nil {
			return nil, formatError("sites", err)
		}
		r.Feature, r.UpdatedAt = []byte(f), time.UnixMilli(ms).UTC()
		out = append(out, r)
	}
	return out, formatError("sites", rows.Err())
}

// PutSite creates or replaces a site.
func (s *DB) PutSite(ctx context.Context, r store.SiteRecord) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sites VALUES (?,?,?) ON CONFLICT (id) DO UPDATE SET feature = excluded.feature, updated_ms = excluded.updated_ms`,
		r.ID, string(r.Feature), s.Now().UnixMilli())
	return formatError("put site "+r.ID, err)
}

// DeleteSite removes a site.
func (s *DB) DeleteSite(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sites WHERE id = ?`, id)
	if err != nil {
		return formatError("delete site", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: delete site %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// Cells returns a site's weekly aggregates.
func (s *DB) Cells(ctx context.Context, site, week string) ([]store.CellRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT site, zone, week, hour_of_week, cell_lat, cell_lon, fixes, stationary_s
		FROM cells WHERE site = ? AND week = ? ORDER BY zone, hour_of_week, cell_lat, cell_lon`, site, week)
	if err != nil {
		return nil, formatError("cells", err)
	}
	defer rows.Close()
	var out []store.CellRow
	for rows.Next() {
		var c store.CellRow
		if err := rows.Scan(&c.Site, &c.Zone, &c.Week, &c.HourOfWeek, &c.CellLat, &c.CellLon, &c.Fixes, &c.StationaryS); err != nil {
			return nil, formatError("cells", err)
		}
		out = append(out, c)
	}
	return out, formatError("cells", rows.Err())
}

// DeviceStates returns the saved device states.
func (s *DB) DeviceStates(ctx context.Context) ([]monitor.DeviceState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state FROM device_state ORDER BY pseudonym`)
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
			return nil, fmt.Errorf("sqlite: device state: %w", err)
		}
		out = append(out, ds)
	}
	return out, formatError("device states", rows.Err())
}

// CreateToken stores a token (its hash).
func (s *DB) CreateToken(ctx context.Context, t store.Token) (store.Token, error) {
	t.CreatedAt = s.Now().UTC().Truncate(time.Millisecond)
	res, err := s.db.ExecContext(ctx, `INSERT INTO tokens (name, role, agency, hash, owntracks_key, created_ms) VALUES (?,?,?,?,?,?)`,
		t.Name, t.Role, t.Agency, t.Hash, nilIfEmpty(t.OwnTracksKey), t.CreatedAt.UnixMilli())
	if err != nil {
		return t, formatError("create token", err)
	}
	t.ID, _ = res.LastInsertId()
	return t, nil
}

// TokenByHash finds a token by its hash.
func (s *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	var t store.Token
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, role, agency, hash, owntracks_key, created_ms FROM tokens WHERE hash = ?`, hash).
		Scan(&t.ID, &t.Name, &t.Role, &t.Agency, &t.Hash, &t.OwnTracksKey, &ms)
	t.CreatedAt = time.UnixMilli(ms).UTC()
	return t, formatError("token", err)
}

// Tokens lists the tokens (without their secrets, which are never stored).
func (s *DB) Tokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, role, agency, hash, owntracks_key, created_ms FROM tokens ORDER BY id`)
	if err != nil {
		return nil, formatError("tokens", err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		var t store.Token
		var ms int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.Agency, &t.Hash, &t.OwnTracksKey, &ms); err != nil {
			return nil, formatError("tokens", err)
		}
		t.CreatedAt = time.UnixMilli(ms).UTC()
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
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id = ?`, id)
	if err != nil {
		return formatError("revoke token", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: revoke token %d: %w", id, store.ErrNotFound)
	}
	return nil
}

// Ping checks the database.
func (s *DB) Ping(ctx context.Context) error { return formatError("ping", s.db.PingContext(ctx)) }

// Close stops the checkpoints, checkpoints once more, and closes the database.
func (s *DB) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.stopped
		s.wmu.Lock()
		if s.wc != nil {
			s.wc.Close()
			s.wc = nil
		}
		s.wmu.Unlock()
		s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	})
	return s.db.Close()
}
