package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keepclear.conf")
	os.WriteFile(file, []byte("# comment\naddr = 0.0.0.0:9000\ndb = \"from-file.db\"\nrate-limit = 5\n"), 0o644)
	t.Setenv("KEEPCLEAR_DB", "from-env.db")
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("config", "", "")
	addr := fs.String("addr", "127.0.0.1:8080", "")
	db := fs.String("db", "keepclear.db", "")
	rate := fs.Float64("rate-limit", 2000, "")
	demo := fs.Bool("demo", false, "")
	if err := fs.Parse([]string{"--rate-limit", "7"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfig(fs, file); err != nil {
		t.Fatal(err)
	}
	if *addr != "0.0.0.0:9000" || *db != "from-env.db" || *rate != 7 || *demo {
		t.Errorf("addr %s (file), db %s (env beats file), rate %v (flag beats file), demo %v", *addr, *db, *rate, *demo)
	}
	os.WriteFile(file, []byte("colour = red\n"), 0o644)
	if err := applyConfig(fs, file); err == nil {
		t.Error("unknown setting accepted")
	}
	t.Setenv("KEEPCLEAR_RATE_LIMIT", "lots")
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Float64("rate-limit", 1, "")
	if err := applyConfig(fs2, ""); err == nil {
		t.Error("a bad environment value accepted")
	}
}
