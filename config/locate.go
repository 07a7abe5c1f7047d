package config

import (
	"strconv"
	"strings"
)

// The TOML decoder keeps key positions to itself, so semantic errors find
// the line of a key by scanning the source again. locate is a small,
// forgiving TOML tokenizer: it follows table headers, arrays of tables,
// dotted and quoted keys, inline tables and arrays (single- and multi-line),
// strings of the four kinds and comments, and records the line where each
// key path first appears. It never fails: on text it does not understand it
// stops and keeps what it found (the decoder reports syntax errors).
//
// Key paths are the ones errors print: parts joined by ".", the element of
// an array of tables or of an array value as "[i]" counted from 0:
//
//	interface[1].inspect_in    access_lists.101[0]    inspect.one_minute.low

type locator struct {
	src  string
	pos  int
	line int
	// lines maps a key path to the line (from 1) where it appears.
	lines map[string]int
	// arrays counts the elements of each array of tables seen so far,
	// by indexed path of its header ("nat.static").
	arrays map[string]int
}

func locate(src string) map[string]int {
	l := &locator{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	l.document()
	return l.lines
}

func (l *locator) record(path string, line int) {
	if _, ok := l.lines[path]; !ok {
		l.lines[path] = line
	}
}

func (l *locator) eof() bool { return l.pos >= len(l.src) }

func (l *locator) peek() byte {
	if l.eof() {
		return 0
	}
	return l.src[l.pos]
}

func (l *locator) advance() {
	if l.src[l.pos] == '\n' {
		l.line++
	}
	l.pos++
}

// space skips blanks, and newlines and comments when nl is set.
func (l *locator) space(nl bool) {
	for !l.eof() {
		switch c := l.peek(); {
		case c == ' ' || c == '\t' || c == '\r':
			l.advance()
		case c == '\n' && nl:
			l.advance()
		case c == '#':
			for !l.eof() && l.peek() != '\n' {
				l.advance()
			}
		default:
			return
		}
	}
}

func (l *locator) document() {
	var table string // indexed path of the current table
	for {
		l.space(true)
		if l.eof() {
			return
		}
		start := l.pos
		if l.peek() == '[' {
			line := l.line
			l.advance()
			array := l.peek() == '['
			if array {
				l.advance()
			}
			parts, ok := l.key()
			if !ok {
				return
			}
			table = joinKey(l.join("", parts[:len(parts)-1]), parts[len(parts)-1:])
			if array {
				n := l.arrays[table]
				l.arrays[table] = n + 1
				table += "[" + strconv.Itoa(n) + "]"
			}
			l.record(table, line)
			for !l.eof() && l.peek() != '\n' {
				l.advance()
			}
		} else {
			line := l.line
			parts, ok := l.key()
			if !ok || l.peek() != '=' {
				return
			}
			l.advance()
			path := joinKey(table, parts)
			l.record(path, line)
			if !l.value(path) {
				return
			}
		}
		if l.pos == start {
			return
		}
	}
}

// join builds a header path, giving each prefix that names an array of
// tables its current element ("[[interface.alias]]" under the second
// interface is interface[1].alias).
func (l *locator) join(prefix string, parts []string) string {
	path := prefix
	for _, p := range parts {
		path = joinKey(path, []string{p})
		if n, ok := l.arrays[path]; ok && n > 0 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

func joinKey(prefix string, parts []string) string {
	k := strings.Join(parts, ".")
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// key reads a dotted key and the blanks after it.
func (l *locator) key() ([]string, bool) {
	var parts []string
	for {
		l.space(false)
		var part string
		switch c := l.peek(); {
		case c == '"' || c == '\'':
			s, ok := l.str()
			if !ok {
				return nil, false
			}
			part = s
		case isBare(c):
			start := l.pos
			for !l.eof() && isBare(l.peek()) {
				l.advance()
			}
			part = l.src[start:l.pos]
		default:
			return nil, false
		}
		parts = append(parts, part)
		l.space(false)
		if l.peek() != '.' {
			return parts, true
		}
		l.advance()
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// str reads a string of any of the four kinds and returns its raw text
// (escapes are not decoded: key names with escapes are rare enough).
func (l *locator) str() (string, bool) {
	q := l.peek()
	delim := string(q)
	if strings.HasPrefix(l.src[l.pos:], strings.Repeat(delim, 3)) {
		delim = strings.Repeat(delim, 3)
	}
	for range delim {
		l.advance()
	}
	start := l.pos
	for !l.eof() {
		if q == '"' && l.peek() == '\\' {
			l.advance()
			if !l.eof() {
				l.advance()
			}
			continue
		}
		if strings.HasPrefix(l.src[l.pos:], delim) {
			s := l.src[start:l.pos]
			for range delim {
				l.advance()
			}
			// A multi-line string may end with up to two extra quotes.
			for len(delim) == 3 && l.peek() == q {
				l.advance()
			}
			return s, true
		}
		if len(delim) == 1 && l.peek() == '\n' {
			return "", false
		}
		l.advance()
	}
	return "", false
}

// value reads the value of key path, recording the keys of inline tables
// and the elements of arrays.
func (l *locator) value(path string) bool {
	l.space(false)
	switch c := l.peek(); c {
	case '"', '\'':
		_, ok := l.str()
		return ok
	case '{':
		l.advance()
		for {
			l.space(false)
			if l.peek() == '}' {
				l.advance()
				return true
			}
			line := l.line
			parts, ok := l.key()
			if !ok || l.peek() != '=' {
				return false
			}
			l.advance()
			sub := joinKey(path, parts)
			l.record(sub, line)
			if !l.value(sub) {
				return false
			}
			l.space(false)
			if l.peek() == ',' {
				l.advance()
			}
		}
	case '[':
		l.advance()
		for i := 0; ; i++ {
			l.space(true)
			if l.eof() {
				return false
			}
			if l.peek() == ']' {
				l.advance()
				return true
			}
			elem := path + "[" + strconv.Itoa(i) + "]"
			l.record(elem, l.line)
			if !l.value(elem) {
				return false
			}
			l.space(true)
			if l.peek() == ',' {
				l.advance()
			}
		}
	case 0:
		return false
	default:
		// Number, boolean or date: up to a delimiter.
		start := l.pos
		for !l.eof() {
			if c := l.peek(); c == ',' || c == ']' || c == '}' || c == '\n' || c == '#' {
				break
			}
			l.advance()
		}
		return l.pos > start
	}
}
