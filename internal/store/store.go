// Package store defines keepclear's storage: the interface the server and
// the ingest pipeline use, and the types it speaks. Two adapters implement
// it, store/sqlite (the embedded default) and store/postgres; one
// conformance suite (store/storetest) runs against both real databases.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/monitor"
)

// Errors the adapters translate their database errors into.
var (
	ErrNotFound = errors.New("store: not found")
	ErrConflict = errors.New("store: conflict")
	ErrInvalid  = errors.New("store: invalid")
)

// Batch is what one ingest commit writes, in one transaction: events
// (idempotent by id), weekly cell increments, and the device states that
// let a restarted server resume open visits.
type Batch struct {
	Events     []event.Event
	Cells      map[monitor.Cell]*monitor.CellValue
	SaveStates []monitor.DeviceState
	DropStates []string // pseudonyms
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Events) == 0 && len(b.Cells) == 0 && len(b.SaveStates) == 0 && len(b.DropStates) == 0
}

// EventQuery filters events; zero values match everything.
type EventQuery struct {
	Site, Zone, Agency string
	Kind               event.Kind
	Breach             *bool
	From, To           time.Time // From inclusive, To exclusive
	Cursor             string    // from a previous page
	Limit              int       // default 100, at most 10,000
}

// MaxLimit bounds a page.
const MaxLimit = 10000

// Normalize applies the defaults and checks the limit.
func (q *EventQuery) Normalize() error {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return fmt.Errorf("%w: limit must be 1..%d", ErrInvalid, MaxLimit)
	}
	return nil
}

// Dialect says how an adapter spells query parameters and values.
type Dialect struct {
	Placeholder func(n int) string        // the n-th parameter (1-based): "?" or "$n"
	TimeColumn  string                    // the event time column
	Time        func(time.Time) any       // a time as the column stores it
	Bool        func(bool) any            // a boolean as the columns store it
	After       func(t, id string) string // keyset condition "(time, id) > (t, id)"
}

// Where renders the query's filters and cursor as SQL conditions and their
// arguments, for the adapters to share one reading of EventQuery.
func (q *EventQuery) Where(d Dialect) (conds []string, args []any, err error) {
	add := func(col string, v any) {
		args = append(args, v)
		conds = append(conds, col+d.Placeholder(len(args)))
	}
	if q.Site != "" {
		add("site = ", q.Site)
	}
	if q.Zone != "" {
		add("zone = ", q.Zone)
	}
	if q.Kind != "" {
		add("kind = ", string(q.Kind))
	}
	if q.Agency != "" {
		add("agency = ", q.Agency)
	}
	if q.Breach != nil {
		add("breach = ", d.Bool(*q.Breach))
	}
	if !q.From.IsZero() {
		add(d.TimeColumn+" >= ", d.Time(q.From))
	}
	if !q.To.IsZero() {
		add(d.TimeColumn+" < ", d.Time(q.To))
	}
	if q.Cursor != "" {
		c, err := DecodeCursor(q.Cursor)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, d.Time(time.UnixMilli(c.TMs)), c.ID)
		conds = append(conds, d.After(d.Placeholder(len(args)-1), d.Placeholder(len(args))))
	}
	return conds, args, nil
}

// Cursor is a position in (time, id) order. Pages never repeat or skip an
// event that existed when the first page was read; events that arrive later
// take their place in that order.
type Cursor struct {
	TMs int64
	ID  string
}

// Encode renders the cursor as an opaque string.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.TMs, 10) + ":" + c.ID))
}

// DecodeCursor parses an opaque cursor.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if ts, id, ok := strings.Cut(string(b), ":"); ok {
			if t, err := strconv.ParseInt(ts, 10, 64); err == nil && id != "" {
				return Cursor{t, id}, nil
			}
		}
	}
	return Cursor{}, fmt.Errorf("%w: malformed cursor", ErrInvalid)
}

// Annotation is a liaison's note on an event. Annotations are append-only:
// a correction is a new annotation, and the history is kept.
type Annotation struct {
	ID        int64     `json:"id"`
	EventID   string    `json:"event"`
	Role      string    `json:"role"`
	Author    string    `json:"author"` // the token's name, never a person's id from outside
	Label     string    `json:"label"`  // called_by_staff, pursuit, emergency, disputed, note
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

// Labels are the annotation labels accepted.
var Labels = []string{"called_by_staff", "pursuit", "emergency", "disputed", "breach_confirmed", "note"}

// Token is an API token; only its SHA-256 hash is stored.
type Token struct {
	ID     int64
	Name   string
	Role   string
	Agency string // for agency tokens
	Hash   []byte
	// OwnTracksKey is the agency's OwnTracks encryption key, sealed with a
	// key only the token itself gives (auth.SealKey); nil when none is set.
	// Stores keep it as opaque bytes.
	OwnTracksKey []byte
	CreatedAt    time.Time
}

// SiteRecord is a stored site, as its GeoJSON Feature.
type SiteRecord struct {
	ID        string
	Feature   []byte
	UpdatedAt time.Time
}

// CellRow is one stored weekly cell aggregate.
type CellRow struct {
	monitor.Cell
	monitor.CellValue
}

// Store is what keepclear needs from a database.
type Store interface {
	// Write commits a batch in one transaction. Events already stored (same
	// id) are left as they are.
	Write(ctx context.Context, b *Batch) error
	Events(ctx context.Context, q EventQuery) (events []event.Event, next string, err error)
	Event(ctx context.Context, id string) (event.Event, error)

	Annotate(ctx context.Context, a Annotation) (Annotation, error)
	Annotations(ctx context.Context, eventID string) ([]Annotation, error)

	Sites(ctx context.Context) ([]SiteRecord, error)
	PutSite(ctx context.Context, s SiteRecord) error
	DeleteSite(ctx context.Context, id string) error

	Cells(ctx context.Context, site, week string) ([]CellRow, error)
	DeviceStates(ctx context.Context) ([]monitor.DeviceState, error)

	CreateToken(ctx context.Context, t Token) (Token, error)
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id int64) error

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}
