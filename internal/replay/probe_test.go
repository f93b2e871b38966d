package replay

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keepclear/keepclear/internal/monitor"
	"github.com/keepclear/keepclear/internal/site"
)

func TestClockNeverJumpsForOneRecord(t *testing.T) { // m10
	var c inputClock
	base := int64(1_700_000_000_000)
	for i := 0; i < 40; i++ {
		c.add(base + int64(i)*1000)
	}
	c.add(base + 3*24*3600*1000)
	for i := 40; i < 70; i++ {
		if got := c.add(base + int64(i)*1000); got > base+int64(i)*1000 {
			t.Fatalf("after record %d the clock reads %d s past the feed", i, (got-base)/1000-int64(i))
		}
	}
}

func TestTwoFilesInterleaved(t *testing.T) { // m11
	ss, err := site.Load(strings.NewReader(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-123.1,49.28]},"properties":{"id":"a","name":"A","kind":"sis","opening_hours":"24/7","timezone":"UTC","zones":[{"name":"f","radius_m":30}]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var one, two, both bytes.Buffer
	t0 := time.Date(2026, 11, 16, 15, 0, 0, 0, time.UTC)
	line := func(dev string, i int, lat float64) string {
		return fmt.Sprintf(`{"device":%q,"agency":"x","t":"%s","lat":%v,"lon":-123.1,"acc":5}`+"\n", dev, t0.Add(time.Duration(i)*5*time.Second).Format(time.RFC3339), lat)
	}
	for i := 0; i < 120; i++ {
		la, lb := 49.29, 49.29
		if i >= 10 && i < 60 {
			la = 49.28
		}
		if i >= 30 && i < 90 {
			lb = 49.28
		}
		one.WriteString(line("car-a", i, la))
		two.WriteString(line("car-b", i, lb))
		both.WriteString(line("car-a", i, la))
		both.WriteString(line("car-b", i, lb))
	}
	runOn := func(ins ...Input) string {
		m, _ := monitor.New(monitor.Config{Secret: []byte("s")}, ss)
		var out bytes.Buffer
		if _, err := Run(m, ins, Options{}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	merged, split := runOn(bytesInput(both.Bytes())), runOn(bytesInput(one.Bytes()), bytesInput(two.Bytes()))
	if merged != split || strings.Count(merged, "\n") != 4 {
		t.Errorf("two files:\n%s\none merged file:\n%s", split, merged)
	}
}
