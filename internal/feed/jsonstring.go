package feed

import "github.com/keepclear/keepclear/internal/jsontext"

// AppendJSONString appends s to b as a JSON string; see jsontext.AppendString.
func AppendJSONString(b []byte, s string) []byte { return jsontext.AppendString(b, s) }
