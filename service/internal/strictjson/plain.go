package strictjson

import "bytes"

// maxPlainMembers bounds the names plain compares pairwise in one object:
// a bigger object goes to the full check, so a hostile body cannot make
// the comparison quadratic.
const maxPlainMembers = 32

// plain reports whether data is JSON that Check accepts for certain, read
// in one pass without allocating: one value whose strings are printable
// ASCII without escapes, nested at most maxDepth deep, with objects of at
// most maxPlainMembers names that differ in more than case. That is every
// order a bot sends. Anything else (an escape, a byte outside printable
// ASCII, a syntax error, a name twice) is for the full check to read and
// to word the refusal; plain never refuses.
func plain(data []byte) bool {
	s := scanner{data: data}
	s.space()
	if !s.value(0) {
		return false
	}
	s.space()
	return s.i == len(data)
}

type scanner struct {
	data []byte
	i    int
}

func (s *scanner) value(depth int) bool {
	if s.i == len(s.data) {
		return false
	}
	switch s.data[s.i] {
	case '{':
		return s.object(depth + 1)
	case '[':
		return s.array(depth + 1)
	case '"':
		_, ok := s.text()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

func (s *scanner) object(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.i++
	s.space()
	if s.next('}') {
		return true
	}
	var names [maxPlainMembers][]byte
	for n := 0; ; n++ {
		if n == len(names) || s.i == len(s.data) || s.data[s.i] != '"' {
			return false
		}
		name, ok := s.text()
		if !ok {
			return false
		}
		for _, seen := range names[:n] {
			if bytes.EqualFold(seen, name) { // ASCII only: the folding Check does
				return false
			}
		}
		names[n] = name
		s.space()
		if !s.next(':') {
			return false
		}
		s.space()
		if !s.value(depth) {
			return false
		}
		s.space()
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
		s.space()
	}
}

func (s *scanner) array(depth int) bool {
	if depth > maxDepth {
		return false
	}
	s.i++
	s.space()
	if s.next(']') {
		return true
	}
	for {
		if !s.value(depth) {
			return false
		}
		s.space()
		if s.next(']') {
			return true
		}
		if !s.next(',') {
			return false
		}
		s.space()
	}
}

// text reads a string of printable ASCII without escapes and returns its
// contents.
func (s *scanner) text() ([]byte, bool) {
	start := s.i + 1
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.i = i + 1
			return s.data[start:i], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

func (s *scanner) literal(word string) bool {
	if !bytes.HasPrefix(s.data[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; what
// follows it is its caller's to check.
func (s *scanner) number() bool {
	s.next('-')
	switch {
	case s.next('0'):
	case s.i < len(s.data) && s.data[s.i] >= '1' && s.data[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.next('.') && !s.digits() {
		return false
	}
	if s.next('e') || s.next('E') {
		if !s.next('+') {
			s.next('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) next(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}
