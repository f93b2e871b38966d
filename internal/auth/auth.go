// Package auth owns API tokens and roles: generating tokens, hashing them
// for storage (only SHA-256 hashes are kept), looking them up with a
// constant-time comparison, and the per-token rate limits.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/keepclear/keepclear/internal/store"
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

// Create makes a token for role (and agency, for agency tokens), stores its
// hash and returns the token itself — the only time it is ever shown.
func Create(ctx context.Context, tokens Tokens, name string, role Role, agency string) (string, store.Token, error) {
	if role == Agency && strings.TrimSpace(agency) == "" {
		return "", store.Token{}, errors.New("auth: an agency token needs --agency")
	}
	if role != Agency {
		agency = ""
	}
	tok := NewToken()
	t, err := tokens.CreateToken(ctx, store.Token{Name: name, Role: string(role), Agency: agency, Hash: Hash(tok)})
	return tok, t, err
}
