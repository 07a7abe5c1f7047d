package iosconfig

import (
	"errors"
	"sort"
	"strings"

	"cbac/acl"
)

// An accessList is a numbered or named IP access list.
type accessList struct {
	name    string
	entries []*aclEntry
	// seq is the last sequence number used (named lists number their
	// entries 10, 20, ... when the input gives none).
	seq int64
	// defined: the input has a permit or deny entry for it, translated
	// or not.
	defined bool
	// standard: a standard list (numbered 1-99 or 1300-1999, or "ip
	// access-list standard"), whose entries match the source only.
	standard bool
	// pending are remarks waiting for the entry they describe.
	pending []*aclEntry
	// seqs maps the sequence numbers of entries to their lines.
	seqs map[int64]int
}

// An aclEntry is an entry in cbac's syntax, or a remark (comment set).
type aclEntry struct {
	text string // "" for a remark
	seq  int64
	c    cite
}

func (t *translator) findACL(name string) *accessList {
	return t.aclByName[name]
}

func (t *translator) acl(name string) *accessList {
	if a := t.findACL(name); a != nil {
		return a
	}
	a := &accessList{name: name, seqs: map[int64]int{}}
	t.acls = append(t.acls, a)
	t.aclByName[name] = a
	return a
}

// numberedACL translates "access-list N ...": 1-99 and 1300-1999 are
// standard lists, 100-199 and 2000-2699 extended.
func (t *translator) numberedACL(l *line) {
	if len(l.words) < 3 {
		t.note(l, true, "incomplete access-list entry")
		return
	}
	n, ok := number(l.words[1], 1, 2699)
	if !ok || n >= 200 && n < 1300 {
		t.note(l, true, "access list "+quote(l.words[1])+" is not an IP access list: cbac filters IPv4 only")
		return
	}
	standard := n < 100 || n >= 1300 && n < 2000
	a := t.acl(l.words[1])
	a.standard = standard
	t.aclEntry(l, a, l.words[2:], standard, false)
}

// namedACL translates an "ip access-list extended|standard NAME" block.
func (t *translator) namedACL(b *block) {
	h := &b.head
	kind := h.word(2)
	if len(h.words) != 4 || kind != "extended" && kind != "standard" {
		if h.word(2) == "resequence" {
			t.noteBlock(b, false, "renumbers entries only: nothing to translate")
			return
		}
		t.noteBlock(b, true, "not an extended or standard IP access list: not translated")
		return
	}
	a := t.acl(h.words[3])
	a.standard = kind == "standard"
	if len(b.body) == 0 {
		t.note(h, false, "access list with no entries: IOS permits everything through it; not translated")
		return
	}
	a.entries = append(a.entries, &aclEntry{c: citeOf(h)}) // the header, cited
	for i := range b.body {
		t.aclEntry(&b.body[i], a, b.body[i].words, kind == "standard", true)
	}
	for _, r := range a.pending {
		r.seq = a.seq + 1 // trailing remarks stay last
	}
	a.pending = nil
	sort.SliceStable(a.entries, func(i, j int) bool { return a.entries[i].seq < a.entries[j].seq })
}

// aclEntry translates one entry, w being its words from the action on
// (after the list number or an optional sequence number).
func (t *translator) aclEntry(l *line, a *accessList, w []string, standard, named bool) {
	seq := int64(-1)
	if named {
		if n, ok := number(w[0], 1, 2147483647); ok {
			seq, w = n, w[1:]
		}
	}
	if seq < 0 {
		seq = a.seq + 10
	}
	if n, ok := a.seqs[seq]; ok {
		t.note(l, true, "sequence number "+itoa(int(seq))+" is already used by line "+itoa(n))
		return
	}
	if len(w) == 0 {
		t.note(l, true, "incomplete access-list entry")
		return
	}
	e := &aclEntry{seq: seq, c: citeOf(l)}
	switch strings.ToLower(w[0]) {
	case "remark":
		// A remark stays above the entry that follows it, wherever
		// that entry's sequence number puts it.
		a.pending = append(a.pending, e)
		a.entries = append(a.entries, e)
		return
	case "permit", "deny":
		a.defined = true
	default:
		t.note(l, true, quote(w[0])+" entries are not supported by cbac (permit, deny and remark are)")
		return
	}
	if standard {
		text, ok := standardEntry(w)
		if !ok {
			t.note(l, true, "malformed standard access-list entry")
			return
		}
		w = strings.Fields(text)
	}
	for i, word := range w {
		if strings.EqualFold(word, "log-input") && i == len(w)-1 {
			w[i] = "log"
			t.note(l, false, "log-input logged as log (cbac does not log the input interface); the entry is translated")
		}
	}
	text := strings.Join(w, " ")
	if _, err := acl.ParseEntry(text); err != nil {
		var pe *acl.ParseError
		reason := err.Error()
		if errors.As(err, &pe) {
			reason = pe.Reason
			if pe.Text != "" {
				reason = quote(pe.Text) + ": " + pe.Reason
			}
		}
		t.note(l, true, "cbac's access lists cannot express this entry: "+reason)
		return
	}
	e.text = text
	if seq > a.seq {
		a.seq = seq
	}
	for _, r := range a.pending {
		r.seq = seq
	}
	a.pending = nil
	a.seqs[seq] = l.n
	a.entries = append(a.entries, e)
}

// standardEntry turns a standard entry (permit|deny SRC [log]) into the
// extended entry that matches the same packets: "permit ip SRC any".
func standardEntry(w []string) (string, bool) {
	src := w[1:]
	log := false
	if n := len(src); n > 0 && strings.EqualFold(src[n-1], "log") {
		log, src = true, src[:n-1]
	}
	var s string
	switch {
	case len(src) == 1 && strings.EqualFold(src[0], "any"):
		s = "any"
	case len(src) == 2 && strings.EqualFold(src[0], "host"):
		s = "host " + src[1]
	case len(src) == 1:
		s = "host " + src[0] // "permit A": wildcard 0.0.0.0
	case len(src) == 2:
		s = src[0] + " " + src[1]
	default:
		return "", false
	}
	text := strings.ToLower(w[0]) + " ip " + s + " any"
	if log {
		text += " log"
	}
	return text, true
}
