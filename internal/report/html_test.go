package report

import "testing"

func TestDurationReadsAsPeopleSayIt(t *testing.T) {
	for s, want := range map[float64]string{0: "0 s", 44.6: "45 s", 60: "1 min", 1110: "18 min 30 s", 3599: "59 min 59 s", 7500: "2 h 05 min"} {
		if got := duration(s); got != want {
			t.Errorf("duration(%v) = %q, want %q", s, got, want)
		}
	}
}
