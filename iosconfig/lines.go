package iosconfig

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A line is one input line.
type line struct {
	n      int    // 1-based
	text   string // trimmed of surrounding blanks and CR
	indent bool   // began with a blank: part of the block above
	words  []string
}

// word returns the i-th word in lower case, or "".
func (l *line) word(i int) string {
	if i < len(l.words) {
		return strings.ToLower(l.words[i])
	}
	return ""
}

// is reports whether the line's first words are ws (case-insensitive).
func (l *line) is(ws ...string) bool {
	if len(l.words) < len(ws) {
		return false
	}
	for i, w := range ws {
		if !strings.EqualFold(l.words[i], w) {
			return false
		}
	}
	return true
}

// rest returns the words from i on, joined by single blanks.
func (l *line) rest(i int) string {
	if i >= len(l.words) {
		return ""
	}
	return strings.Join(l.words[i:], " ")
}

// A block is a top-level line and the indented lines under it.
type block struct {
	head line
	body []line
}

// end is the number of the block's last line.
func (b *block) end() int {
	if len(b.body) > 0 {
		return b.body[len(b.body)-1].n
	}
	return b.head.n
}

func readLines(r io.Reader) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLine)
	var lines []line
	for sc.Scan() {
		raw := strings.TrimRight(sc.Text(), "\r")
		text := strings.TrimSpace(raw)
		lines = append(lines, line{
			n: len(lines) + 1, text: text,
			indent: text != "" && (raw[0] == ' ' || raw[0] == '\t'),
			words:  strings.Fields(text),
		})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes: not a running-config", len(lines)+1, MaxLine)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	return lines, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
