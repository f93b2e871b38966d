package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/feed"
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

// An agency token's OwnTracks key is stored sealed under the token: the
// row alone (hash and sealed bytes) does not give it, the token does, and
// it never prints.
func TestOwnTracksKeySealedUnderToken(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tok, rec, err := Create(ctx, db, "rcmp phones", Agency, "rcmp", WithOwnTracksKey("s3cret-phrase"))
	if err != nil {
		t.Fatal(err)
	}
	want := feed.OwnTracksKey("s3cret-phrase")
	if len(rec.OwnTracksKey) == 0 || bytes.Contains(rec.OwnTracksKey, want[:13]) || bytes.Contains(rec.OwnTracksKey, []byte("s3cret")) {
		t.Fatalf("key stored in the clear: %x", rec.OwnTracksKey)
	}
	// What a database copy holds does not open it: not the hash, not another token.
	if _, err := OpenKey(string(rec.Hash), rec.OwnTracksKey); !errors.Is(err, ErrKeySeal) {
		t.Errorf("opened with the stored hash: %v", err)
	}
	if _, err := OpenKey(NewToken(), rec.OwnTracksKey); !errors.Is(err, ErrKeySeal) {
		t.Errorf("opened with another token: %v", err)
	}
	a := NewAuthenticator(db, 0, 0)
	p, err := a.Authenticate(ctx, tok)
	if err != nil || p.OwnTracksKey == nil || *p.OwnTracksKey.Bytes() != *want {
		t.Fatalf("%v %v", p, err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "p", p, "key", p.OwnTracksKey)
	fmt.Fprintf(&buf, "%v %+v %#v %s", p, p, p, p.OwnTracksKey)
	if bytes.Contains(buf.Bytes(), []byte("s3cret")) || bytes.Contains(buf.Bytes(), []byte(fmt.Sprint(want[0], " ", want[1]))) {
		t.Errorf("key printed: %s", buf.String())
	}
	// Without a key, none; a key only for agency tokens.
	tok2, _, _ := Create(ctx, db, "vpd", Agency, "vpd")
	if p, _ := a.Authenticate(ctx, tok2); p.OwnTracksKey != nil {
		t.Error("a key out of nowhere")
	}
	if _, _, err := Create(ctx, db, "adm", Admin, "", WithOwnTracksKey("x")); err == nil {
		t.Error("admin token with an OwnTracks key")
	}
}
