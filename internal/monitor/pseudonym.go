package monitor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// PseudonymBytes is how much of the HMAC a pseudonym keeps (64 bits, 16 hex).
const PseudonymBytes = 8

// Pseudonymizer derives pseudonyms: HMAC-SHA256(key(period), agency ":"
// device), truncated, where key(period) = HMAC-SHA256(secret, period label).
// The label is the ISO week ("2026-W47") or the day ("2026-11-22") of the
// fix, so one vehicle cannot be followed from one period to the next.
type Pseudonymizer struct {
	secret []byte
	daily  bool
	// a one-entry key cache: consecutive fixes share a period
	period int64
	key    []byte
}

// NewPseudonymizer returns a pseudonymizer for rotation "week" or "day".
func NewPseudonymizer(secret []byte, rotation string) *Pseudonymizer {
	return &Pseudonymizer{secret: secret, daily: rotation == "day", period: -1}
}

// Period is the rotation period holding t, as a sortable number.
func (p *Pseudonymizer) Period(t time.Time) int64 {
	t = t.UTC()
	if p.daily {
		return t.Unix() / 86400
	}
	y, w := t.ISOWeek()
	return int64(y)*100 + int64(w)
}

// PeriodLabel is the period's human name, which keys the HMAC.
func (p *Pseudonymizer) PeriodLabel(period int64) string {
	if p.daily {
		return time.Unix(period*86400, 0).UTC().Format("2006-01-02")
	}
	w := period % 100
	ws := strconv.FormatInt(w, 10)
	if w < 10 {
		ws = "0" + ws
	}
	return strconv.FormatInt(period/100, 10) + "-W" + ws
}

// Pseudonym returns the device's pseudonym for period.
func (p *Pseudonymizer) Pseudonym(period int64, agency, device string) string {
	if period != p.period {
		m := hmac.New(sha256.New, p.secret)
		m.Write([]byte(p.PeriodLabel(period)))
		p.key, p.period = m.Sum(nil), period
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(agency))
	m.Write([]byte{':'})
	m.Write([]byte(device))
	sum := m.Sum(nil)
	return hex.EncodeToString(sum[:PseudonymBytes])
}
