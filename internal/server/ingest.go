package server

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/valyala/fastjson"
)

var decoders = sync.Pool{New: func() any { return new(feed.Decoder) }}

// readBody reads the request body (gunzipped when sent so), refusing more
// than the limit before or after decompression.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	var rd io.Reader = body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, errorf(400, "", "body is not valid gzip: %v", err)
		}
		defer zr.Close()
		rd = zr
	}
	b, err := io.ReadAll(io.LimitReader(rd, s.cfg.MaxBodyBytes+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(b)) > s.cfg.MaxBodyBytes:
		return nil, errorf(413, "", "body larger than %d bytes", s.cfg.MaxBodyBytes)
	case err != nil:
		return nil, errorf(400, "", "cannot read body: %v", err)
	}
	return b, nil
}

// refusal is a record refused before detection, with the result it is
// counted under (too_old, future, …).
type refusal struct {
	result string
	fe     *feed.FieldError
}

func (e *refusal) Error() string { return e.fe.Error() }
func (e *refusal) Unwrap() error { return e.fe }

// checkTime rejects fixes dated too far from now.
func (s *Server) checkTime(f *feed.Fix) error {
	now := s.Now()
	switch {
	case f.T.After(now.Add(s.cfg.MaxFixAhead)):
		return &refusal{"future", &feed.FieldError{Field: "t", Reason: fmt.Sprintf("time %s is more than %s in the future", f.T.UTC().Format(time.RFC3339), s.cfg.MaxFixAhead)}}
	case f.T.Before(now.Add(-s.cfg.MaxFixAge)):
		return &refusal{"too_old", &feed.FieldError{Field: "t", Reason: fmt.Sprintf("time %s is older than %s (--max-fix-age)", f.T.UTC().Format(time.RFC3339), s.cfg.MaxFixAge)}}
	}
	return nil
}

// refusalResult names why a record was refused.
func refusalResult(err error) string {
	var rf *refusal
	switch {
	case errors.As(err, &rf):
		return rf.result
	case errors.Is(err, feed.ErrMalformed):
		return "malformed"
	case errors.Is(err, feed.ErrNoPosition):
		return "no_position"
	case errors.Is(err, feed.ErrNoKey), errors.Is(err, feed.ErrDecryptFailed):
		return "decrypt_failed"
	}
	return "invalid"
}

// count records n records of an agency under result, in the metrics and in
// the last day's summary.
func (s *Server) count(agency, endpoint, result string, n int, reason string) {
	if n <= 0 {
		return
	}
	if s.metrics != nil {
		s.metrics.Refused(agency, result, n) // Refused adds under any result label
	}
	s.ingest.add(s.Now(), agency, endpoint, result, n, reason)
}

// recordResult is the answer for one record that was not simply accepted.
type recordResult struct {
	Index  int    `json:"index"`          // 0-based position in the batch
	Line   int    `json:"line,omitempty"` // 1-based line, for NDJSON
	Status string `json:"status"`         // rejected, duplicate, out_of_order, jump
	Error  string `json:"error,omitempty"`
	Field  string `json:"field,omitempty"`
}

type fixesResponse struct {
	Received int            `json:"received"`
	Accepted int            `json:"accepted"` // used by the engine
	Dropped  int            `json:"dropped"`  // valid but duplicate, out of order or a jump
	Rejected int            `json:"rejected"` // invalid
	Events   int            `json:"events"`
	Results  []recordResult `json:"results,omitempty"`
}

// handleFixes takes NDJSON or a JSON array of fixes. Good records are
// accepted even when others in the batch are rejected; the answer lists the
// records that were not accepted, with the reason.
func (s *Server) handleFixes(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	b, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	opt := feed.Options{Agency: p.Agency, ForceAgency: true}
	dec := decoders.Get().(*feed.Decoder)
	defer decoders.Put(dec)
	var fixes []feed.Fix
	var index []int // batch index of each fix
	var resp fixesResponse
	refused := map[string]int{}
	lastReason := map[string]string{}
	reject := func(i, line int, err error) {
		rr := recordResult{Index: i, Line: line, Status: "rejected", Error: err.Error()}
		var fe *feed.FieldError
		if errors.As(err, &fe) {
			rr.Field, rr.Error = fe.Field, fe.Reason
		}
		resp.Results = append(resp.Results, rr)
		resp.Rejected++
		res := "invalid"
		var rf *refusal
		if errors.As(err, &rf) {
			res = rf.result
		}
		refused[res]++
		lastReason[res] = err.Error()
	}
	defer func() {
		for res, n := range refused {
			s.count(p.Agency, "/api/v1/fixes", res, n, lastReason[res])
		}
	}()
	add := func(i, line int, f feed.Fix, err error) {
		resp.Received++
		if err == nil {
			err = s.checkTime(&f)
		}
		if err != nil {
			reject(i, line, err)
			return
		}
		fixes = append(fixes, f)
		index = append(index, i)
	}
	trimmed := bytes.TrimSpace(b)
	switch {
	case len(trimmed) == 0:
		s.fail(w, r, errorf(400, "", "empty body: send NDJSON (one fix a line) or a JSON array of fixes"))
		return
	case trimmed[0] == '[':
		var jp fastjson.Parser
		v, err := jp.ParseBytes(trimmed)
		if err != nil {
			s.fail(w, r, errorf(400, "", "malformed JSON array: %v", err))
			return
		}
		arr, _ := v.Array()
		if len(arr) > s.cfg.MaxBatch {
			s.fail(w, r, errorf(413, "", "%d fixes in one request; at most %d", len(arr), s.cfg.MaxBatch))
			return
		}
		for i, item := range arr {
			f, err := dec.FromJSON(item, opt)
			add(i, 0, f, err)
		}
	default:
		line := 0
		for rest := b; len(rest) > 0; {
			var l []byte
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				l, rest = rest[:i], rest[i+1:]
			} else {
				l, rest = rest, nil
			}
			line++
			if l = bytes.TrimSpace(l); len(l) == 0 {
				continue
			}
			if resp.Received >= s.cfg.MaxBatch {
				s.fail(w, r, errorf(413, "", "more than %d fixes in one request", s.cfg.MaxBatch))
				return
			}
			f, err := dec.Decode(l, opt)
			add(resp.Received, line, f, err)
		}
	}
	if len(fixes) == 0 {
		writeJSON(w, 400, map[string]any{"error": "no valid fix in the request", "rejected": resp.Rejected, "results": resp.Results})
		return
	}
	res, err := s.pipe.Submit(r.Context(), fixes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	counts := map[monitor.Outcome]int{}
	for i, o := range res.Outcomes {
		counts[o]++
		switch o {
		case monitor.Accepted, monitor.VanMoved:
			resp.Accepted++
		default:
			resp.Dropped++
			resp.Results = append(resp.Results, recordResult{Index: index[i], Status: o.String()})
		}
	}
	resp.Events = res.Events
	if s.metrics != nil {
		s.metrics.Fixes(p.Agency, counts, 0)
	}
	for o, n := range counts {
		s.ingest.add(s.Now(), p.Agency, "/api/v1/fixes", o.String(), n, "")
	}
	writeJSON(w, 200, resp)
}

// phoneRecord runs one record from a phone app. It returns an error only
// for what the sender must fix (4xx: malformed, no device id) or for a
// failure of ours (5xx, which the app retries). A record that can never be
// used — too old, in the future, without a position, out of range, not
// decryptable — is counted per agency and reason, logged at debug level
// (never with the token or the device id), and nil is returned: the app
// gets its 2xx and goes on to its next record instead of retrying this one
// forever.
func (s *Server) phoneRecord(r *http.Request, f feed.Fix, err error) error {
	p := principal(r)
	endpoint := r.Pattern
	if i := strings.IndexByte(endpoint, ' '); i >= 0 {
		endpoint = endpoint[i+1:] // the route template: OsmAnd paths hold tokens
	}
	if err == nil {
		err = s.checkTime(&f)
	}
	if err != nil {
		result := refusalResult(err)
		s.count(p.Agency, endpoint, result, 1, err.Error())
		s.log.Debug("phone record refused", "agency", p.Agency, "endpoint", endpoint, "result", result, "reason", err.Error())
		if result != "malformed" {
			return nil
		}
		var fe *feed.FieldError
		if errors.As(err, &fe) {
			return errorf(400, fe.Field, "%s", fe.Reason)
		}
		return errorf(400, "", "%v", err)
	}
	res, err := s.pipe.Submit(r.Context(), []feed.Fix{f})
	if err != nil {
		return err
	}
	o := res.Outcomes[0]
	if s.metrics != nil {
		s.metrics.Fixes(p.Agency, map[monitor.Outcome]int{o: 1}, 0)
	}
	s.ingest.add(s.Now(), p.Agency, endpoint, o.String(), 1, "")
	if o != monitor.Accepted && o != monitor.VanMoved {
		s.log.Debug("phone record dropped", "agency", p.Agency, "endpoint", endpoint, "result", o.String())
	}
	return nil
}

// handleOsmAnd speaks the OsmAnd protocol of the Traccar Client apps: a
// query string (GET, or POST without a body: legacy Android and iOS), a form
// body (Traccar Client 10, the SDK), or a JSON body (Traccar Client 9). It
// answers 200 with an empty body, as Traccar does.
func (s *Server) handleOsmAnd(w http.ResponseWriter, r *http.Request) {
	opt := feed.Options{Agency: principal(r).Agency, ForceAgency: true}
	var f feed.Fix
	var err error
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var b []byte
		if b, err = s.readBody(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		f, err = feed.ParseOsmAndJSON(b, s.Now(), opt)
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if perr := r.ParseForm(); perr != nil {
			s.fail(w, r, errorf(400, "", "malformed query or form: %v", perr))
			return
		}
		f, err = feed.ParseOsmAnd(r.Form, s.Now(), opt)
	}
	if err := s.phoneRecord(r, f, err); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// handleOwnTracks speaks OwnTracks' HTTP mode, and answers as the OwnTracks
// Recorder does: 200 with a JSON array (empty: keepclear sends no friends
// or commands back). Messages other than locations, and empty bodies, are
// answered and ignored. An encrypted message is opened with the token's
// OwnTracks key and processed as its inner message; one that does not open
// is answered 200 (the phone cannot fix it by retrying) and counted as
// decrypt_failed.
func (s *Server) handleOwnTracks(w http.ResponseWriter, r *http.Request) {
	b, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ok := func() {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		ok()
		return
	}
	p := principal(r)
	q := r.URL.Query()
	id := feed.OwnTracksIdentity{User: r.Header.Get("X-Limit-U"), Device: r.Header.Get("X-Limit-D")}
	if id.User == "" {
		id.User = q.Get("u")
	}
	if id.Device == "" {
		id.Device = q.Get("d")
	}
	opt := feed.Options{Agency: p.Agency, ForceAgency: true}
	f, err := feed.ParseOwnTracks(b, id, opt)
	var enc *feed.ErrEncrypted
	if errors.As(err, &enc) {
		var plain []byte
		if plain, err = feed.DecryptOwnTracks(p.OwnTracksKey.Bytes(), enc.Data); err == nil {
			f, err = feed.ParseOwnTracks(plain, id, opt)
			switch {
			case errors.As(err, &enc):
				err = &feed.FieldError{Field: "_type", Reason: "an encrypted message inside an encrypted message"}
			case errors.Is(err, feed.ErrMalformed) && !strings.Contains(err.Error(), "no device"):
				// The phone encrypted something that is not a message: its
				// retries would send the same bytes, so answer 2xx.
				err = fmt.Errorf("%w: decrypted payload: %v", feed.ErrDecryptFailed, err)
			}
		}
	}
	if errors.Is(err, feed.ErrNotLocation) {
		ok()
		return
	}
	if err := s.phoneRecord(r, f, err); err != nil {
		s.fail(w, r, err)
		return
	}
	ok()
}
