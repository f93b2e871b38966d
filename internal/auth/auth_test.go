package auth

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/store/sqlite"
)

func TestTokens(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tok, rec, err := Create(ctx, db, "vpd feed", Agency, "vpd")
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Hash) == tok || len(tok) < 40 {
		t.Fatal("token stored in the clear, or too short")
	}
	a := NewAuthenticator(db, 2, 2)
	p, err := a.Authenticate(ctx, tok)
	if err != nil || p.Role != Agency || p.Agency != "vpd" {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"", "kc_nope", tok + "x", tok[:len(tok)-1]} {
		if _, err := a.Authenticate(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, _, err := Create(ctx, db, "x", Agency, ""); err == nil {
		t.Error("agency token without agency")
	}
	// Rate limit: 2 a second, burst 2.
	now := time.Unix(1000, 0)
	a.Now = func() time.Time { return now }
	ok1, _ := a.Allow(p)
	ok2, _ := a.Allow(p)
	ok3, wait := a.Allow(p)
	if !ok1 || !ok2 || ok3 || wait <= 0 || wait > time.Second {
		t.Errorf("limit: %v %v %v wait %v", ok1, ok2, ok3, wait)
	}
	now = now.Add(time.Second)
	if ok, _ := a.Allow(p); !ok {
		t.Error("not refilled after a second")
	}
}

func TestRoles(t *testing.T) {
	admin := Principal{Role: Admin}
	if !admin.Can(Liaison) || admin.Can(Agency) {
		t.Error("admin can do all but submit fixes")
	}
	if (Principal{Role: Researcher}).Can(Liaison, Manager) {
		t.Error("researcher is not liaison or manager")
	}
	if _, err := ParseRole("boss"); err == nil {
		t.Error("unknown role accepted")
	}
}
