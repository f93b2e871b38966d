// Package monitor is keepclear's use case: each fix goes through the zone
// index and the per-device visit state machine, which emits boundary events
// (DESIGN.md "Detection rules"). It is deterministic: time comes only from
// the fixes and from Advance, so the same feed gives the same events, byte
// for byte. A Monitor is not safe for concurrent use; its caller serialises.
package monitor

import (
	"errors"
	"time"
)

// Config holds the detection rules' parameters. Zero values take the
// defaults of DESIGN.md.
type Config struct {
	// Secret keys the pseudonyms; required.
	Secret []byte
	// Rotation is the pseudonym key period: "week" (ISO week, default) or "day".
	Rotation string
	// SignalTimeout: silence inside a zone for longer closes the visit
	// with signal_lost (default 10 min).
	SignalTimeout time.Duration
	// AccuracyLimit: fixes with a worse accuracy (m) are ignored for
	// entering (default 50).
	AccuracyLimit float64
	// MaxSpeed: fixes implying a faster jump (m/s) are dropped (default 70).
	MaxSpeed float64
	// ExitMargin is the least hysteresis band beyond the radius (default
	// 10 m; the fix's accuracy when larger).
	ExitMargin float64
	// ExitAfter and ExitFixes: an exit needs this long and this many fixes
	// beyond the band (default 15 s and 2).
	ExitAfter time.Duration
	ExitFixes int
	// RepeatCount entries of one zone within RepeatWindow make a
	// repeat_pass (default 3 within 30 min).
	RepeatCount  int
	RepeatWindow time.Duration
	// StillSpeed: a fix with a reported speed below it is stationary
	// (default 1 m/s).
	StillSpeed float64
	// StillRadius and StillWindow: without a speed, a device whose fixes
	// have stayed within StillRadius (or their accuracy, when larger) of
	// their running centre for StillWindow is stationary from the start of
	// that stay (default 35 m and 20 s: a still receiver wanders 10-30 m,
	// while a car at walking pace leaves 35 m within the window). One fix
	// beyond the radius is taken as an outlier; two in a row end the stay.
	StillRadius float64
	StillWindow time.Duration
	// Aggregate turns on the weekly cell aggregates (TakeCells).
	Aggregate bool
}

func (c Config) withDefaults() (Config, error) {
	if len(c.Secret) == 0 {
		return c, errors.New("monitor: a pseudonym secret is required")
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Rotation == "" {
		c.Rotation = "week"
	}
	if c.Rotation != "week" && c.Rotation != "day" {
		return c, errors.New("monitor: rotation must be week or day")
	}
	defD(&c.SignalTimeout, 10*time.Minute)
	def(&c.AccuracyLimit, 50)
	def(&c.MaxSpeed, 70)
	def(&c.ExitMargin, 10)
	defD(&c.ExitAfter, 15*time.Second)
	if c.ExitFixes == 0 {
		c.ExitFixes = 2
	}
	if c.RepeatCount == 0 {
		c.RepeatCount = 3
	}
	defD(&c.RepeatWindow, 30*time.Minute)
	def(&c.StillSpeed, 1)
	def(&c.StillRadius, 35)
	defD(&c.StillWindow, 20*time.Second)
	return c, nil
}
