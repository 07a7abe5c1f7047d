package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Kinds of configuration errors, for errors.Is.
var (
	ErrSyntax       = errors.New("toml syntax error")
	ErrUnknownKey   = errors.New("unknown key")
	ErrValue        = errors.New("invalid value")
	ErrSMTPAndESMTP = errors.New("smtp and esmtp in one rule")
	ErrThreshold    = errors.New("low threshold above high")
	ErrTimer        = errors.New("invalid timer")
	ErrUndefined    = errors.New("reference to an undefined name")
	ErrNATConflict  = errors.New("conflicting static NAT")
	ErrACL          = errors.New("malformed access-list entry")
	ErrDuplicate    = errors.New("duplicate")
)

// An Error is one problem in a configuration file. Its text is
//
//	FILE:LINE: KEY: message
//
// with LINE left out when it is not known and KEY when the problem is not
// about one key (a syntax error). Key paths count array elements from 0:
// interface[1].inspect_in is the inspect_in key of the second [[interface]].
type Error struct {
	File string
	Line int
	Key  string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// kindError is a message of one of the Err* kinds; errors.Is finds the
// kind and anything the message wraps.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// errorf returns a message of the given kind; format may use %w.
func errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

// problems collects the errors of one file, at most one per key.
type problems struct {
	file  string
	lines map[string]int
	errs  []*Error
	keys  map[string]bool // keys in errs
}

const maxProblems = 20

func (p *problems) add(key string, err error) {
	if p.has(key) {
		return
	}
	if p.keys == nil {
		p.keys = map[string]bool{}
	}
	p.keys[key] = true
	p.errs = append(p.errs, &Error{File: p.file, Line: lineOf(p.lines, key), Key: key, Err: err})
}

// has reports whether key already has an error (a value that did not
// parse is not reported again as missing).
func (p *problems) has(key string) bool { return p.keys[key] }

// lineOf returns the line of key, or of its nearest enclosing key that
// appears in the file (a missing required key is reported at its table).
func lineOf(lines map[string]int, key string) int {
	for key != "" {
		if n, ok := lines[key]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// err returns the collected errors in line order, joined, or nil.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	errs := make([]error, 0, maxProblems+1)
	for i, e := range p.errs {
		if i == maxProblems {
			errs = append(errs, fmt.Errorf("%s: %d more errors", p.file, len(p.errs)-i))
			break
		}
		errs = append(errs, e)
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

var tomlLine = regexp.MustCompile(`^toml: line (\d+)(?: \(last key "([^"]*)"\))?: (.*)$`)

// decodeError turns an error of the TOML decoder into an *Error.
func decodeError(file string, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		kind := ErrSyntax
		if strings.HasPrefix(pe.Message, badDuration) {
			kind = ErrTimer // from duration.UnmarshalTOML
		}
		return &Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Err: errorf(kind, "%s", pe.Message)}
	}
	if m := tomlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: line, Key: m[2], Err: errorf(ErrValue, "%s", m[3])}
	}
	return &Error{File: file, Err: errorf(ErrValue, "%s", strings.TrimPrefix(err.Error(), "toml: "))}
}
