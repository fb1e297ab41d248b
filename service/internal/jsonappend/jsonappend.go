// Package jsonappend writes the JSON of the order path's hottest messages
// (order answers and each batch's events) by hand, byte for byte as
// encoding/json writes them, without reflection: reflection and its
// garbage were a fifth of the exchange's CPU per batched order
// (docs/performance.md). The types that use it test their output against
// encoding/json's.
package jsonappend

import (
	"encoding/json"
	"strconv"
	"time"
)

// String appends s as a JSON string. Plain ASCII, what every name, id and
// code on the order path is, is copied as is; anything encoding/json
// would escape (controls, quotes, <, >, &, non-ASCII) goes through it.
func String(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// Int appends n.
func Int(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }

// Bool appends b.
func Bool(dst []byte, b bool) []byte { return strconv.AppendBool(dst, b) }

// Time appends t as time.Time's MarshalJSON does: RFC 3339 with
// nanoseconds, quoted.
func Time(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// Key appends a member's name and colon, after a comma unless it is the
// object's first: key is a literal the caller knows needs no escaping.
func Key(dst []byte, key string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// Array appends n elements as a JSON array, each appended by elem.
func Array(dst []byte, n int, elem func(dst []byte, i int) []byte) []byte {
	dst = append(dst, '[')
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, i)
	}
	return append(dst, ']')
}
