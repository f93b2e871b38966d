package loadgen

import (
	"testing"
	"time"
)

// Sent fixes are remembered for one to two windows, then forgotten, so a
// long run's memory stays bounded.
func TestSentFixesRememberedForAWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	l := &loadgen{sent: map[sentKey]int64{}, old: map[sentKey]int64{}, rotated: t0}
	a, b, c := sentKey{1, 2, 3}, sentKey{4, 5, 6}, sentKey{7, 8, 9}
	l.remember([]sentKey{a}, t0)
	l.remember([]sentKey{b}, t0.Add(sentWindow+time.Second)) // rotates: a is in the old window
	if at, ok := l.sentAt(a); !ok || !at.Equal(t0) {
		t.Fatalf("a fix one window old is forgotten: %v %v", at, ok)
	}
	l.remember([]sentKey{c}, t0.Add(2*sentWindow+2*time.Second)) // rotates again: a is gone
	if _, ok := l.sentAt(a); ok {
		t.Error("a fix two windows old is still remembered")
	}
	for _, k := range []sentKey{b, c} {
		if _, ok := l.sentAt(k); !ok {
			t.Errorf("%v forgotten too early", k)
		}
	}
	if n := len(l.sent) + len(l.old); n != 2 {
		t.Errorf("%d fixes remembered, want 2", n)
	}
}
