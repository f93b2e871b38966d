// Package replay runs feed files through the monitor offline: the
// deterministic harness for detection. It reads each input as a stream,
// reports bad records with their line, writes events as NDJSON or CSV, shows
// progress, and sums up what it saw.
package replay

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keepclear/keepclear/internal/event"
	"github.com/keepclear/keepclear/internal/feed"
	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/schollz/progressbar/v3"
)

// Input is one feed to read.
type Input struct {
	Name   string // shown in messages; a path, or "-" for standard input
	Open   func() (io.ReadCloser, error)
	Size   int64 // bytes, for progress; 0 when unknown
	Format feed.Format
	GZip   bool
}

// FileInput describes a file path ("-" is standard input).
func FileInput(path string, format feed.Format, stdin io.Reader) Input {
	in := Input{Name: path, Format: format, GZip: strings.HasSuffix(strings.ToLower(path), ".gz")}
	if format == "" {
		in.Format = feed.DetectFormat(path)
	}
	if path == "-" {
		in.Open = func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }
		return in
	}
	if st, err := os.Stat(path); err == nil {
		in.Size = st.Size()
	}
	in.Open = func() (io.ReadCloser, error) { return os.Open(path) }
	return in
}

// Options control a run.
type Options struct {
	Output   string // "ndjson" (default) or "csv"
	Agency   string // for records that name none
	Progress bool   // draw a progress bar on Log
	// MaxReported bad records are listed on Log; the rest are only counted.
	MaxReported int
}

// Summary is what a run saw.
type Summary struct {
	Inputs     int
	Unreadable []string // inputs that could not be read at all
	Records    int64    // records read, good or bad
	Rejected   map[string]int64
	Stats      monitor.Stats
	Open       []monitor.OpenVisit
	Elapsed    time.Duration
}

// Run replays inputs through m, writing events to out and messages to log.
func Run(m *monitor.Monitor, inputs []Input, opt Options, out, log io.Writer) (*Summary, error) {
	if opt.MaxReported == 0 {
		opt.MaxReported = 100
	}
	start := time.Now()
	sum := &Summary{Inputs: len(inputs), Rejected: map[string]int64{}}
	bw := bufio.NewWriterSize(out, 64<<10)
	var emit func(*event.Event)
	var buf []byte
	switch opt.Output {
	case "", "ndjson":
		emit = func(e *event.Event) {
			buf = e.AppendJSON(buf[:0])
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	case "csv":
		cw := csv.NewWriter(bw)
		cw.Write(event.CSVHeader)
		emit = func(e *event.Event) { cw.Write(e.CSVRecord()) }
		defer cw.Flush()
	default:
		return nil, fmt.Errorf("replay: unknown output format %q (want ndjson or csv)", opt.Output)
	}

	var total int64
	for _, in := range inputs {
		total += in.Size
	}
	var bar *progressbar.ProgressBar
	if opt.Progress && total > 0 {
		bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(log),
			progressbar.OptionSetDescription("replay"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetWidth(30),
		)
	}
	// Open every input; a record is taken from the one whose next record
	// is oldest (each file in its own order: a record late within its file
	// is late).
	var srcs []*source
	for _, in := range inputs {
		rc, err := in.Open()
		if err != nil {
			sum.Unreadable = append(sum.Unreadable, in.Name)
			fmt.Fprintf(log, "%s: cannot read: %v\n", in.Name, unwrapPath(err))
			continue
		}
		var r io.Reader = rc
		if bar != nil {
			pr := progressbar.NewReader(rc, bar)
			r = &pr
		}
		rd, err := feed.NewReader(r, in.Format, in.GZip, feed.Options{Agency: opt.Agency, Device: deviceFromName(in.Name)})
		if err != nil {
			rc.Close()
			sum.Unreadable = append(sum.Unreadable, in.Name)
			fmt.Fprintf(log, "%s: cannot read: %v\n", in.Name, err)
			continue
		}
		srcs = append(srcs, newSource(in, rc, rd))
	}
	rep := &reporter{sum: sum, log: log, max: opt.MaxReported}
	for _, s := range srcs {
		s.advance(rep)
	}
	var (
		mo     monitor.Out
		clock  inputClock
		ticked int64
	)
	for {
		var s *source
		for _, c := range srcs {
			if c.ok && (s == nil || c.fix.T.Before(s.fix.T)) {
				s = c
			}
		}
		if s == nil {
			break
		}
		sum.Records++
		now := clock.add(s.fix.T.UnixMilli())
		mo.Reset()
		if now-ticked >= 1000 {
			m.Tick(time.UnixMilli(now), &mo)
			ticked = now
		}
		// A record cannot have arrived before it was measured: a device
		// whose own records move the clock is heard from as they do.
		m.Process(&s.fix, time.UnixMilli(max(now, s.fix.T.UnixMilli())), &mo)
		for i := range mo.Events {
			emit(&mo.Events[i])
		}
		s.advance(rep)
	}
	for _, s := range srcs {
		s.rc.Close()
	}
	reported := rep.n
	if bar != nil {
		bar.Finish()
	}
	if int64(reported) < totalRejected(sum) {
		fmt.Fprintf(log, "(%d more bad records not listed)\n", totalRejected(sum)-int64(reported))
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("replay: write events: %w", err)
	}
	sum.Stats = m.Stats()
	sum.Open = m.OpenVisits()
	sum.Elapsed = time.Since(start)
	return sum, nil
}

func totalRejected(s *Summary) int64 {
	var n int64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// source is one input being read, with its next record. Each input is
// decoded on a goroutine of its own, a batch of records at a time, so that
// decoding and detection overlap on two cores; the records still reach the
// monitor one by one in the input's order, so the output is the same.
type source struct {
	in   Input
	rc   io.ReadCloser
	ch   chan []item // decoded batches, in order; closed at the end
	free chan []item // batches handed back for reuse
	buf  []item
	pos  int
	fix  feed.Fix
	ok   bool // fix holds the next record
}

// item is a decoded record, or the error reading it.
type item struct {
	fix feed.Fix
	err error
}

const batchLen = 256

func newSource(in Input, rc io.ReadCloser, rd feed.Reader) *source {
	s := &source{in: in, rc: rc, ch: make(chan []item, 4), free: make(chan []item, 6)}
	go func() {
		defer close(s.ch)
		batch := make([]item, 0, batchLen)
		for {
			f, err := rd.Next()
			if err == io.EOF {
				break
			}
			batch = append(batch, item{f, err})
			var re *feed.RecordError
			if err != nil && !errors.As(err, &re) {
				break // the input cannot be read on: the error ends it
			}
			if len(batch) == batchLen {
				s.ch <- batch
				select {
				case batch = <-s.free:
					batch = batch[:0]
				default:
					batch = make([]item, 0, batchLen)
				}
			}
		}
		if len(batch) > 0 {
			s.ch <- batch
		}
	}()
	return s
}

// advance takes the next good record, reporting bad ones.
func (s *source) advance(rep *reporter) {
	s.ok = false
	for {
		if s.pos == len(s.buf) {
			if s.buf != nil {
				select {
				case s.free <- s.buf:
				default:
				}
			}
			b, ok := <-s.ch
			if !ok {
				s.buf = nil
				return
			}
			s.buf, s.pos = b, 0
		}
		it := &s.buf[s.pos]
		s.pos++
		if it.err == nil {
			s.fix, s.ok = it.fix, true
			return
		}
		if re := (*feed.RecordError)(nil); errors.As(it.err, &re) {
			rep.bad(s.in.Name, re)
			continue
		}
		rep.sum.Unreadable = append(rep.sum.Unreadable, s.in.Name)
		fmt.Fprintf(rep.log, "%s: read failed: %v\n", s.in.Name, it.err)
	}
}

// reporter lists bad records (up to max) and counts them all.
type reporter struct {
	sum *Summary
	log io.Writer
	max int
	n   int
}

func (r *reporter) bad(name string, re *feed.RecordError) {
	r.sum.Records++
	reason := re.Field
	if reason == "" {
		reason = "record"
	}
	r.sum.Rejected[reason]++
	if r.n < r.max {
		fmt.Fprintf(r.log, "%s:%d: %s\n", name, re.Line, strings.TrimPrefix(re.Error(), fmt.Sprintf("line %d: ", re.Line)))
		r.n++
	}
}

// inputClock is the replay's arrival clock (DESIGN.md "Silence is judged on
// the arrival clock"): the lower median of the last clockWindow records'
// times. One record — dated in the future, or a late straggler — cannot
// move it; a feed that is late as a whole moves it at its own pace, so its
// devices are heard from, never silent.
type inputClock struct {
	ring    [clockWindow]int64
	n, next int
	now     int64
	scratch [clockWindow]int64
}

const clockWindow = 31

func (c *inputClock) add(t int64) int64 {
	c.ring[c.next] = t
	c.next = (c.next + 1) % clockWindow
	if c.n < clockWindow {
		c.n++
	} else if c.next%8 != 0 {
		return c.now
	}
	s := c.scratch[:c.n]
	copy(s, c.ring[:c.n])
	slices.Sort(s)
	c.now = s[(len(s)-1)/2]
	return c.now
}

// deviceFromName names the device of a one-track file (GPX) after the file.
func deviceFromName(name string) string {
	if name == "-" {
		return "stdin"
	}
	base := filepath.Base(name)
	for _, ext := range []string{".gz", ".gpx", ".csv", ".ndjson", ".jsonl", ".json"} {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	st := s.Stats
	rate := float64(s.Records) / s.Elapsed.Seconds()
	fmt.Fprintf(w, "replay: %d input(s), %d records in %s (%.0f records/s)\n", s.Inputs, s.Records, s.Elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "  accepted      %9d  (outside every zone %d, in a zone %d)\n",
		st.ByOutcome[monitor.Accepted], st.Outside, st.InZone)
	if n := st.ByOutcome[monitor.VanMoved]; n > 0 {
		fmt.Fprintf(w, "  van positions %9d  (moved a mobile site's zones)\n", n)
	}
	fmt.Fprintf(w, "  rejected      %9d%s\n", totalRejected(s), breakdown(s.Rejected, "bad "))
	dropped := map[string]int64{}
	for _, o := range []monitor.Outcome{monitor.OutOfOrder, monitor.Duplicate, monitor.Jump} {
		if n := st.ByOutcome[o]; n > 0 {
			dropped[o.String()] = n
		}
	}
	fmt.Fprintf(w, "  dropped       %9d%s\n", st.ByOutcome[monitor.OutOfOrder]+st.ByOutcome[monitor.Duplicate]+st.ByOutcome[monitor.Jump], breakdown(dropped, ""))
	if st.LowAccuracy > 0 {
		fmt.Fprintf(w, "  low accuracy  %9d  (ignored for entering)\n", st.LowAccuracy)
	}
	events := map[string]int64{}
	var n int64
	for k, v := range st.Events {
		events[string(k)] = v
		n += v
	}
	fmt.Fprintf(w, "  events        %9d%s\n", n, breakdown(events, ""))
	fmt.Fprintf(w, "  open visits at end of input: %d\n", len(s.Open))
	for _, v := range s.Open {
		fmt.Fprintf(w, "    %s  %s/%s  device %s (%s)  since %s  last fix %s  breach %v\n",
			v.Visit, v.Site, v.Zone, v.Device, v.Agency, v.Since.Format(time.RFC3339), v.LastFix.Format(time.RFC3339), v.Breach)
	}
	for _, u := range s.Unreadable {
		fmt.Fprintf(w, "  unreadable: %s\n", u)
	}
}

func breakdown(m map[string]int64, prefix string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s%s %d", prefix, k, m[k])
	}
	return "  (" + strings.Join(parts, ", ") + ")"
}
