package main

import (
	"io"
	"log/slog"
	"testing"
)

// The profiler shows the process's memory: it is served on loopback only.
func TestPprofLoopbackOnly(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:6060", "example.org:6060", "nonsense"} {
		if _, err := servePprof(addr, log); err == nil {
			t.Errorf("--pprof %s was accepted", addr)
		}
	}
	prof, err := servePprof("127.0.0.1:0", log)
	if err != nil {
		t.Fatalf("--pprof 127.0.0.1:0: %v", err)
	}
	prof.Close()
}
