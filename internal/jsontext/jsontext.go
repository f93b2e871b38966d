// Package jsontext writes JSON text by hand where encoding/json's
// reflection is too slow (events and fixes on the replay path), spelled
// exactly as encoding/json spells it.
package jsontext

import "unicode/utf8"

// AppendString appends s to b as a JSON string (RFC 8259), quotes
// included, spelled exactly as encoding/json spells it with HTML escaping
// off: `"` and `\` escaped; control characters as \b, \f, \n, \r, \t or
// \u00XX; each byte of invalid UTF-8 as \ufffd (U+FFFD); U+2028 and U+2029
// escaped, so that the text is also valid JavaScript. Everything else is
// copied as it is, in runs. The result is always valid JSON, whatever s
// holds; strconv.AppendQuote's is not (it writes Go escapes such as \x00,
// \a and \U0001f600). It allocates nothing when b has room.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is plain and not yet copied
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
