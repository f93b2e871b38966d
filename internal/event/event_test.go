package event

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestAppendJSONRoundTrips(t *testing.T) {
	e := Event{ID: "v1-1", Visit: "v1", Site: "insite", Zone: "frontage \"a\"", Kind: Dwell, Device: "ab12",
		Agency: "vpd", T: time.Date(2026, 11, 16, 10, 0, 5, 500e6, time.UTC), DurationS: 65.5,
		MinDistanceM: 12.3, StationaryS: 60, InHours: true, Breach: true, Lat: 49.28111, Lon: -123.10111}
	b := e.AppendJSON(nil)
	var back Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if !reflect.DeepEqual(e, back) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, e)
	}
	std, _ := json.Marshal(e)
	var a, c map[string]any
	json.Unmarshal(b, &a)
	json.Unmarshal(std, &c)
	if !reflect.DeepEqual(a, c) {
		t.Errorf("AppendJSON and encoding/json disagree:\n%s\n%s", b, std)
	}
	if len(e.CSVRecord()) != len(CSVHeader) {
		t.Error("CSV record and header differ in length")
	}
}
