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

// checkTime rejects fixes dated too far from now.
func (s *Server) checkTime(f *feed.Fix) error {
	now := s.Now()
	switch {
	case f.T.After(now.Add(s.cfg.MaxFixAhead)):
		return &feed.FieldError{Field: "t", Reason: fmt.Sprintf("time %s is more than %s in the future", f.T.UTC().Format(time.RFC3339), s.cfg.MaxFixAhead)}
	case f.T.Before(now.Add(-s.cfg.MaxFixAge)):
		return &feed.FieldError{Field: "t", Reason: fmt.Sprintf("time %s is older than %s", f.T.UTC().Format(time.RFC3339), s.cfg.MaxFixAge)}
	}
	return nil
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
	reject := func(i, line int, err error) {
		rr := recordResult{Index: i, Line: line, Status: "rejected", Error: err.Error()}
		var fe *feed.FieldError
		if errors.As(err, &fe) {
			rr.Field, rr.Error = fe.Field, fe.Reason
		}
		resp.Results = append(resp.Results, rr)
		resp.Rejected++
	}
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
		if s.metrics != nil {
			s.metrics.Fixes(p.Agency, nil, resp.Rejected)
		}
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
		s.metrics.Fixes(p.Agency, counts, resp.Rejected)
	}
	writeJSON(w, 200, resp)
}

// submitOne runs a single fix from a phone app.
func (s *Server) submitOne(w http.ResponseWriter, r *http.Request, f feed.Fix, err error) bool {
	p := principal(r)
	if err == nil {
		err = s.checkTime(&f)
	}
	if err != nil {
		if s.metrics != nil {
			s.metrics.Fixes(p.Agency, nil, 1)
		}
		var fe *feed.FieldError
		if errors.As(err, &fe) {
			s.fail(w, r, errorf(400, fe.Field, "%s", fe.Reason))
		} else {
			s.fail(w, r, errorf(400, "", "%v", err))
		}
		return false
	}
	res, err := s.pipe.Submit(r.Context(), []feed.Fix{f})
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	if s.metrics != nil {
		s.metrics.Fixes(p.Agency, map[monitor.Outcome]int{res.Outcomes[0]: 1}, 0)
	}
	return true
}

// handleOsmAnd speaks the OsmAnd protocol of the Traccar Client app: a
// query string (GET), a form body, or a JSON body.
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
	if s.submitOne(w, r, f, err) {
		w.WriteHeader(http.StatusOK)
	}
}

// handleOwnTracks speaks OwnTracks' HTTP mode. Messages other than
// locations, and empty bodies, are answered with [] and ignored.
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
	device := r.Header.Get("X-Limit-D")
	if device == "" {
		device = r.URL.Query().Get("d")
	}
	f, err := feed.ParseOwnTracks(b, device, feed.Options{Agency: principal(r).Agency, ForceAgency: true})
	if errors.Is(err, feed.ErrNotLocation) {
		ok()
		return
	}
	if s.submitOne(w, r, f, err) {
		ok()
	}
}
