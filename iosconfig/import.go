// Package iosconfig translates a Cisco IOS running-config into a cbacd TOML
// configuration (the format config.Parse loads): hostname, the global "ip
// inspect" settings and "ip inspect name" rules, interfaces, static routes,
// static NAT, numbered and named access lists, static ARP entries and
// "ip tcp intercept". The importer loads its own output: an intercept
// value cbac's loader refuses is left out (written as a comment) and its
// line reported as security-relevant, partly translated.
//
// Every line of the input gets one outcome: translated (the TOML cites it
// as "# line N: ..."), summarised (lines with no meaning for cbac: "!"
// comments, version, service, boot markers, banners, line blocks, end), or
// reported (a Note with its line number and the reason). A Note is
// security-relevant when it concerns an access list, inspection, NAT, an
// access group, TCP intercept or another filtering feature whose meaning
// is not in the output.
//
// The package does no I/O beyond the io.Reader and io.Writer it is given.
package iosconfig

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Options steer an import.
type Options struct {
	// Name is the input's name, cited in the TOML's header comment.
	Name string
	// Devices maps IOS interface names (matched without regard to case) to
	// the Linux devices cbacd binds. The device "-" leaves an interface
	// out on purpose. Every interface that is imported needs an entry.
	Devices map[string]string
}

// SkipDevice as a device in Options.Devices leaves the interface out.
const SkipDevice = "-"

// A Note reports a line, or a block of lines (Line to End), that is not
// translated or only partly translated.
type Note struct {
	Line, End int    // End == Line for one line
	Text      string // the IOS line, trimmed
	Reason    string
	// Security: the line filters or translates traffic in IOS and its
	// meaning is not (or only partly) in the TOML.
	Security bool
	// Partial: the rest of the line is translated.
	Partial bool
}

func (n Note) String() string {
	s := "line " + itoa(n.Line)
	if n.End > n.Line {
		s = "lines " + itoa(n.Line) + "-" + itoa(n.End)
	}
	s += ": `" + n.Text + "`: "
	switch {
	case n.Security && n.Partial:
		return s + "SECURITY, partly translated: " + n.Reason
	case n.Security:
		return s + "SECURITY, not translated: " + n.Reason
	}
	return s + n.Reason
}

// Result is a translation.
type Result struct {
	// TOML is the cbacd configuration.
	TOML []byte
	// Notes are the reported lines in line order.
	Notes []Note
	// Quiet are the numbers of the lines with no meaning for cbac.
	Quiet []int
	// Lines is the number of input lines.
	Lines int
	// Counts of what was translated.
	Interfaces, Rules, AccessLists, StaticNAT, Routes int
}

// Security reports whether a security-relevant line was not translated.
func (r *Result) Security() int {
	n := 0
	for _, no := range r.Notes {
		if no.Security {
			n++
		}
	}
	return n
}

// WriteReport writes the notes one per line, then one line summarising the
// quiet lines with their numbers as ranges, then a total.
func (r *Result) WriteReport(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Notes {
		b.WriteString(n.String())
		b.WriteByte('\n')
	}
	if len(r.Quiet) > 0 {
		fmt.Fprintf(&b, "%d lines with no meaning for cbac (comments, version, service, boot markers, banners, line blocks, end): lines %s\n",
			len(r.Quiet), ranges(r.Quiet))
	}
	fmt.Fprintf(&b, "imported %d interfaces, %d inspection rules, %d access lists, %d static NAT entries, %d routes; %d lines reported, %d of them security-relevant and not translated\n",
		r.Interfaces, r.Rules, r.AccessLists, r.StaticNAT, r.Routes, len(r.Notes), r.Security())
	_, err := io.WriteString(w, b.String())
	return err
}

// ranges formats sorted line numbers as "1-3, 5, 7-9".
func ranges(ns []int) string {
	var b strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(itoa(ns[i]))
		if j > i {
			b.WriteString("-" + itoa(ns[j]))
		}
		i = j + 1
	}
	return b.String()
}

// ErrMapping is what a *MappingError wraps.
var ErrMapping = errors.New("interface mapping")

// An InterfaceRef names an interface of the input and its line.
type InterfaceRef struct {
	Name string
	Line int
}

// A MappingError reports interfaces that need a device and map entries
// that name no interface of the input.
type MappingError struct {
	Missing []InterfaceRef // imported interfaces without a device
	Unknown []string       // Options.Devices keys that match no interface
	Shared  []string       // devices given to more than one interface
	Known   []InterfaceRef // every interface of the input
}

func (e *MappingError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		var names, example []string
		for _, m := range e.Missing {
			names = append(names, m.Name+" (line "+itoa(m.Line)+")")
			example = append(example, m.Name+"=DEVICE")
		}
		parts = append(parts, "interfaces need a Linux device: "+strings.Join(names, ", ")+
			"; give -map "+strings.Join(example, ",")+" (DEVICE "+SkipDevice+" leaves one out)")
	}
	if len(e.Unknown) > 0 {
		var known []string
		for _, k := range e.Known {
			known = append(known, k.Name)
		}
		parts = append(parts, "-map names interfaces the configuration does not have: "+strings.Join(e.Unknown, ", ")+
			" (it has: "+strings.Join(known, ", ")+")")
	}
	if len(e.Shared) > 0 {
		parts = append(parts, "-map gives one device to several interfaces: "+strings.Join(e.Shared, ", "))
	}
	return strings.Join(parts, "; ")
}

func (e *MappingError) Unwrap() error { return ErrMapping }

// MaxLine is the longest input line accepted, in bytes.
const MaxLine = 64 << 10

// Import reads a running-config from r and translates it. The error is an
// I/O error, a line longer than MaxLine (naming it), or a *MappingError.
func Import(r io.Reader, opt Options) (*Result, error) {
	lines, err := readLines(r)
	if err != nil {
		return nil, err
	}
	t := newTranslator(lines, opt)
	t.run()
	if err := t.mapDevices(); err != nil {
		return nil, err
	}
	t.resolve()
	res := &Result{Lines: len(lines)}
	res.TOML = t.checkIntercept(t.emit())
	sort.SliceStable(t.notes, func(i, j int) bool { return t.notes[i].Line < t.notes[j].Line })
	res.Notes = t.notes
	sort.Ints(t.quiet)
	res.Quiet = t.quiet
	res.Interfaces, res.Rules, res.AccessLists, res.StaticNAT, res.Routes = t.counts()
	return res, nil
}
