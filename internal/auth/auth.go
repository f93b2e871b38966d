// Package auth owns API tokens and roles: generating tokens, hashing them
// for storage (only SHA-256 hashes are kept), looking them up with a
// constant-time comparison, the per-token rate limits, and an agency
// token's OwnTracks encryption key.
//
// The OwnTracks key is stored sealed (secretbox) under a key derived from
// the token itself, HMAC-SHA256(token, "keepclear owntracks key v1"). The
// token is never stored, only SHA-256(token), from which the sealing key
// cannot be computed; so a copy of the database alone does not reveal the
// key, while each request — which carries the token — opens it. The opened
// key lives only in memory, in the authenticator's cache, and never prints
// (Key redacts itself in fmt and slog).
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/store"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/time/rate"
)

// Role is what a token may do.
type Role string

// The roles of DESIGN.md.
const (
	Agency     Role = "agency"     // submits fixes, nothing else
	Liaison    Role = "liaison"    // live map, annotations
	Manager    Role = "manager"    // reports, heatmaps
	Researcher Role = "researcher" // queries and exports
	Admin      Role = "admin"      // sites, tokens, everything but submitting fixes
)

// Roles lists every role.
var Roles = []Role{Agency, Liaison, Manager, Researcher, Admin}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want agency, liaison, manager, researcher or admin)", s)
}

// Principal is an authenticated token.
type Principal struct {
	TokenID int64
	Name    string
	Role    Role
	Agency  string
	// OwnTracksKey is the agency's OwnTracks encryption key, opened with
	// the token; nil when the token has none.
	OwnTracksKey *Key
}

// LogValue leaves the key out of logs.
func (p Principal) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("token_id", p.TokenID), slog.String("name", p.Name),
		slog.String("role", string(p.Role)), slog.String("agency", p.Agency))
}

// Key is a secretbox key that never prints.
type Key struct{ k [32]byte }

// Bytes returns the key for secretbox.
func (k *Key) Bytes() *[32]byte {
	if k == nil {
		return nil
	}
	return &k.k
}

func (k *Key) String() string            { return "[key redacted]" }
func (k *Key) GoString() string          { return "[key redacted]" }
func (k *Key) LogValue() slog.Value      { return slog.StringValue("[key redacted]") }
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[key redacted]") }

// sealingKey derives the key that seals a token's OwnTracks key.
func sealingKey(token string) *[32]byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("keepclear owntracks key v1"))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return &k
}

// SealKey seals an OwnTracks key under the token: nonce (24) || secretbox.
func SealKey(token string, key *[32]byte) []byte {
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic(err)
	}
	return secretbox.Seal(nonce[:], key[:], &nonce, sealingKey(token))
}

// ErrKeySeal means a stored OwnTracks key does not open with the token.
var ErrKeySeal = errors.New("auth: stored OwnTracks key does not open with this token")

// OpenKey opens what SealKey sealed.
func OpenKey(token string, sealed []byte) (*Key, error) {
	if len(sealed) < 24+secretbox.Overhead {
		return nil, ErrKeySeal
	}
	var nonce [24]byte
	copy(nonce[:], sealed)
	b, ok := secretbox.Open(nil, sealed[24:], &nonce, sealingKey(token))
	if !ok || len(b) != 32 {
		return nil, ErrKeySeal
	}
	k := new(Key)
	copy(k.k[:], b)
	return k, nil
}

// Can reports whether the principal has one of the roles; admin has every
// role but agency.
func (p Principal) Can(roles ...Role) bool {
	for _, r := range roles {
		if p.Role == r || (p.Role == Admin && r != Agency) {
			return true
		}
	}
	return false
}

const prefix = "kc_"

// NewToken returns a fresh random token (32 bytes, base64url, "kc_" prefix).
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Hash is what the store keeps of a token.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ErrUnauthorized means no valid token.
var ErrUnauthorized = errors.New("auth: missing or invalid token")

// Tokens is the store part the authenticator needs.
type Tokens interface {
	TokenByHash(ctx context.Context, hash []byte) (store.Token, error)
	CreateToken(ctx context.Context, t store.Token) (store.Token, error)
}

// Authenticator checks tokens, caching lookups for a short while.
type Authenticator struct {
	tokens Tokens
	ttl    time.Duration
	mu     sync.Mutex
	cache  map[[32]byte]cached
	limits map[int64]*rate.Limiter
	rps    rate.Limit
	burst  int
	Now    func() time.Time
}

type cached struct {
	p       Principal
	hash    []byte
	ok      bool
	expires time.Time
}

// NewAuthenticator returns an authenticator with a per-token limit of rps
// requests a second (burst of burst); rps <= 0 means no limit.
func NewAuthenticator(tokens Tokens, rps float64, burst int) *Authenticator {
	lim := rate.Limit(rps)
	if rps <= 0 {
		lim = rate.Inf
	}
	return &Authenticator{tokens: tokens, ttl: 30 * time.Second, cache: map[[32]byte]cached{},
		limits: map[int64]*rate.Limiter{}, rps: lim, burst: burst, Now: time.Now}
}

// Authenticate returns the principal of a token.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if !strings.HasPrefix(token, prefix) || len(token) > 128 {
		return Principal{}, ErrUnauthorized
	}
	h := sha256.Sum256([]byte(token))
	now := a.Now()
	a.mu.Lock()
	c, hit := a.cache[h]
	a.mu.Unlock()
	if !hit || now.After(c.expires) {
		t, err := a.tokens.TokenByHash(ctx, h[:])
		switch {
		case errors.Is(err, store.ErrNotFound):
			c = cached{ok: false}
		case err != nil:
			return Principal{}, fmt.Errorf("auth: %w", err)
		default:
			c = cached{ok: true, hash: t.Hash, p: Principal{TokenID: t.ID, Name: t.Name, Role: Role(t.Role), Agency: t.Agency}}
			if len(t.OwnTracksKey) > 0 {
				// A key that does not open stays nil: its phones' encrypted
				// messages are then counted as decrypt_failed.
				c.p.OwnTracksKey, _ = OpenKey(token, t.OwnTracksKey)
			}
		}
		c.expires = now.Add(a.ttl)
		a.mu.Lock()
		if len(a.cache) > 100_000 {
			clear(a.cache)
		}
		a.cache[h] = c
		a.mu.Unlock()
	}
	// The lookup was by hash; compare in constant time all the same, so that
	// no timing difference tells how much of a guess was right.
	if !c.ok || subtle.ConstantTimeCompare(c.hash, h[:]) != 1 {
		return Principal{}, ErrUnauthorized
	}
	return c.p, nil
}

// Allow takes one request from the principal's rate limit. When refused, it
// returns how long to wait.
func (a *Authenticator) Allow(p Principal) (bool, time.Duration) {
	if a.rps == rate.Inf {
		return true, 0
	}
	a.mu.Lock()
	l := a.limits[p.TokenID]
	if l == nil {
		l = rate.NewLimiter(a.rps, a.burst)
		a.limits[p.TokenID] = l
	}
	a.mu.Unlock()
	r := l.ReserveN(a.Now(), 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(a.Now()); d > 0 {
		r.CancelAt(a.Now())
		return false, d
	}
	return true, 0
}

// Option sets something more on a token being created.
type Option func(*createOptions)

type createOptions struct{ ownTracksSecret string }

// WithOwnTracksKey gives an agency token the secret its OwnTracks phones
// encrypt with (the app's "Encryption key"). Only the derived key is kept,
// sealed under the token.
func WithOwnTracksKey(secret string) Option {
	return func(o *createOptions) { o.ownTracksSecret = secret }
}

// Create makes a token for role (and agency, for agency tokens), stores its
// hash and returns the token itself — the only time it is ever shown.
func Create(ctx context.Context, tokens Tokens, name string, role Role, agency string, opts ...Option) (string, store.Token, error) {
	var o createOptions
	for _, opt := range opts {
		opt(&o)
	}
	if role == Agency && strings.TrimSpace(agency) == "" {
		return "", store.Token{}, errors.New("auth: an agency token needs --agency")
	}
	if o.ownTracksSecret != "" && role != Agency {
		return "", store.Token{}, errors.New("auth: only an agency token takes an OwnTracks key")
	}
	if role != Agency {
		agency = ""
	}
	tok := NewToken()
	rec := store.Token{Name: name, Role: string(role), Agency: agency, Hash: Hash(tok)}
	if o.ownTracksSecret != "" {
		rec.OwnTracksKey = SealKey(tok, feed.OwnTracksKey(o.ownTracksSecret))
	}
	t, err := tokens.CreateToken(ctx, rec)
	return tok, t, err
}
