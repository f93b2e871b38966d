package storetest

import "testing"

func TestJSONEqualComparesValues(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{ "b": [1, 2], "a": 1.0 }`, true}, // jsonb reorders and respaces
		{`{"id":"ab"}`, `{"id":"ba"}`, false},                    // an anagram is another value
		{`{"a":"x y"}`, `{"a":"xy"}`, false},                     // spaces inside strings count
		{`[1,2]`, `[2,1]`, false},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`{"a":1}`, `not json`, false},
	} {
		if got := jsonEqual([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("jsonEqual(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
