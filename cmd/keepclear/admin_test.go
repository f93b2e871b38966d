package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keepclear/keepclear/internal/auth"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/store/sqlite"
)

// token create --owntracks-key gives the agency token the key its OwnTracks
// phones encrypt with; the key is stored sealed, opens with the token, and
// token list says only that one is set.
func TestTokenCreateOwnTracksKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"token", "create", "--db", db, "--role", "agency", "--agency", "rcmp", "--owntracks-key", "correct horse"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	tok := strings.TrimSpace(out.String())
	out.Reset()
	if code := run(ctx, []string{"token", "create", "--db", db, "--role", "admin", "--owntracks-key", "x"}, nil, &out, &errb); code == 0 {
		t.Error("an admin token took an OwnTracks key")
	}
	out.Reset()
	if code := run(ctx, []string{"token", "list", "--db", db}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "OWNTRACKS KEY") ||
		!strings.Contains(out.String(), "set") || strings.Contains(out.String(), "correct horse") {
		t.Errorf("list: %s", out.String())
	}
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := auth.NewAuthenticator(st, 0, 0).Authenticate(ctx, tok)
	if err != nil || p.Agency != "rcmp" || p.OwnTracksKey == nil || *p.OwnTracksKey.Bytes() != *feed.OwnTracksKey("correct horse") {
		t.Fatalf("%v %v", p, err)
	}
}
