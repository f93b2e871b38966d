// Package monitor is keepclear's detection: each fix goes through the zone
// index and the per-device visit state machine, which emits boundary events
// (DESIGN.md "Detection rules"). It is deterministic: time comes only from
// the fixes (measurement time) and from the arrival clock the caller passes
// in (Process's arrival, Tick), so the same feed and clock give the same
// events, byte for byte. A Monitor is not safe for concurrent use; its
// caller serialises.
//
// Where each rule lives:
//   - the visit states and their transitions: visit.go (phase, onFix,
//     confirm, close, resume)
//   - order, duplicates, accuracy, jumps: monitor.go (Process, isJump)
//   - stationary time (speed, window, heartbeat): still.go
//   - passes between fixes: pass.go
//   - silence on the arrival clock, silent vehicles: monitor.go (Tick)
//   - mobile sites: van.go
//   - what survives a restart: state.go
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
	// MaxGap: a device not heard from for longer (arrival clock), or whose
	// next fix comes longer after its previous one (measurement time),
	// has its open visits closed with signal_lost (default 30 min).
	MaxGap time.Duration
	// SilentAfter: a device with an open visit not heard from for longer
	// is reported silent on the live map (default 5 min).
	SilentAfter time.Duration
	// ResumeKeep: how long (arrival clock) a visit closed by silence is kept
	// so that the device's late fixes can resume it (default 7 days, the
	// server's --max-fix-age).
	ResumeKeep time.Duration
	// AccuracyLimit: fixes with a worse accuracy (m) never enter a zone,
	// set a distance or move a stay (default 50).
	AccuracyLimit float64
	// MaxSpeed: fixes implying a faster jump (m/s) beyond both fixes'
	// accuracies are dropped (default 70).
	MaxSpeed float64
	// ExitMargin is the least hysteresis band beyond the radius (default
	// 10 m; the fix's accuracy when larger).
	ExitMargin float64
	// ExitAfter and ExitFixes: an exit needs this long and this many fixes
	// beyond the band (default 15 s and 2).
	ExitAfter time.Duration
	ExitFixes int
	// RepeatCount confirmed entries of one zone within RepeatWindow (both
	// ends inclusive) make a repeat_pass (default 3 within 30 min).
	RepeatCount  int
	RepeatWindow time.Duration
	// StillSpeed: slower is stationary, whether reported or estimated from
	// displacement (default 1 m/s).
	StillSpeed float64
	// HeartbeatAfter: consecutive fixes further apart than this are judged
	// by the heartbeat rule (same place, within max(sum of accuracies,
	// HeartbeatRadius), means stationary all along; default 30 s and 20 m).
	HeartbeatAfter  time.Duration
	HeartbeatRadius float64
	// PassMaxGap: the longest gap between two fixes over which a pass
	// through a zone is interpolated (default 60 s).
	PassMaxGap time.Duration
	// Aggregate turns on the weekly cell aggregates.
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
	defD(&c.MaxGap, 30*time.Minute)
	defD(&c.SilentAfter, 5*time.Minute)
	defD(&c.ResumeKeep, 7*24*time.Hour)
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
	defD(&c.HeartbeatAfter, 30*time.Second)
	def(&c.HeartbeatRadius, 20)
	defD(&c.PassMaxGap, 60*time.Second)
	if c.MaxGap < 0 || c.SilentAfter < 0 || c.AccuracyLimit < 0 || c.MaxSpeed < 0 || c.RepeatCount < 1 {
		return c, errors.New("monitor: durations, limits and counts must be positive")
	}
	return c, nil
}
