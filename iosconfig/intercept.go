package iosconfig

import (
	"errors"
	"strconv"
	"strings"

	"cbac/config"
)

// strVal is a parsed word and the line it comes from.
type strVal struct {
	v   string
	c   cite
	set bool
}

// intercept is "ip tcp intercept ...": IOS intercepts nothing without a
// list, so the other lines are translated only with one.
type intercept struct {
	list, mode, dropMode                 strVal
	maxIncLow, maxIncHigh                intVal
	oneMinLow, oneMinHigh                intVal
	watchTimeout, finRst, connectTimeout intVal // seconds
	lines                                []line // every intercept line translated so far
	// dropped: the table is not emitted (no list, or the list is not
	// imported).
	dropped bool
	// refused maps a key of [tcp_intercept] to the loader's reason for
	// refusing its value: the key is written as a comment.
	refused map[string]string
}

// tcpIntercept translates an "ip tcp intercept ..." line.
func (t *translator) tcpIntercept(l *line) {
	ti := &t.intercept
	w := l.words[3:]
	arg := func(i int) string {
		if i < len(w) {
			return strings.ToLower(w[i])
		}
		return ""
	}
	set := func(v *intVal, s string, max int64) bool {
		n, ok := number(s, 1, max)
		if !ok {
			t.note(l, true, "value "+quote(s)+" out of IOS's range 1-"+itoa(int(max))+": not translated")
			return false
		}
		t.replaced(v.c, l)
		*v = intVal{v: n, c: citeOf(l), set: true}
		return true
	}
	word := func(v *strVal, s string) {
		t.replaced(v.c, l)
		*v = strVal{v: s, c: citeOf(l), set: true}
	}
	ok := true
	switch {
	case len(w) == 2 && arg(0) == "list":
		// An extended list: cbac matches it on the servers' addresses.
		if n, isNum := number(w[1], 100, 2699); !isNum || n >= 200 && n < 2000 {
			t.note(l, true, "IOS takes an extended access list number (100-199, 2000-2699): not translated")
			ok = false
			break
		}
		word(&ti.list, w[1])
	case len(w) == 2 && arg(0) == "mode":
		switch arg(1) {
		case "intercept", "watch":
			word(&ti.mode, arg(1))
		default:
			t.note(l, true, "mode "+quote(w[1])+": IOS's modes are intercept and watch; not translated")
			ok = false
		}
	case len(w) == 3 && (arg(0) == "max-incomplete" || arg(0) == "one-minute") && (arg(1) == "low" || arg(1) == "high"):
		v := map[string]*intVal{
			"max-incomplete low": &ti.maxIncLow, "max-incomplete high": &ti.maxIncHigh,
			"one-minute low": &ti.oneMinLow, "one-minute high": &ti.oneMinHigh,
		}[arg(0)+" "+arg(1)]
		ok = set(v, w[2], maxThreshold)
	case len(w) == 2 && arg(0) == "drop-mode":
		switch arg(1) {
		case "oldest", "random":
			word(&ti.dropMode, arg(1))
		default:
			t.note(l, true, "drop-mode "+quote(w[1])+": IOS's drop modes are oldest and random; not translated")
			ok = false
		}
	case len(w) == 2 && arg(0) == "watch-timeout":
		ok = set(&ti.watchTimeout, w[1], maxSeconds)
	case len(w) == 2 && arg(0) == "finrst-timeout":
		ok = set(&ti.finRst, w[1], maxSeconds)
	case len(w) == 2 && arg(0) == "connection-timeout":
		ok = set(&ti.connectTimeout, w[1], maxSeconds)
	default:
		t.note(l, true, "this ip tcp intercept setting is not supported by cbac")
		ok = false
	}
	if ok {
		ti.lines = append(ti.lines, *l)
	}
}

// resolveIntercept drops the intercept settings when nothing is
// intercepted: no list, or a list that is not imported.
func (t *translator) resolveIntercept() {
	ti := &t.intercept
	if len(ti.lines) == 0 {
		return
	}
	reason := "IOS intercepts nothing without `ip tcp intercept list`: nothing to translate"
	if ti.list.set {
		if a := t.findACL(ti.list.v); a != nil && a.defined {
			return
		}
		t.note(&line{n: ti.list.c.n, text: ti.list.c.text}, true,
			"access list "+ti.list.v+" is not defined: the servers it would name are not protected; not translated")
		reason = "the intercept list (line " + itoa(ti.list.c.n) + ") is not translated, so neither is this"
	}
	ti.dropped = true
	for i := range ti.lines {
		if l := &ti.lines[i]; l.n != ti.list.c.n {
			t.note(l, false, reason)
		}
	}
}

// Keys of [tcp_intercept] as emitted, with cbacd's default for each.
var interceptKeys = []struct{ key, def string }{
	{"list", ""},
	{"mode", tomlString(string(config.InterceptModeIntercept))},
	{"max_incomplete", thresholdText(config.DefaultInterceptThresholdLow, config.DefaultInterceptThresholdHigh)},
	{"one_minute", thresholdText(config.DefaultInterceptThresholdLow, config.DefaultInterceptThresholdHigh)},
	{"drop_mode", tomlString("oldest")},
	{"watch_timeout", tomlString(strconv.FormatInt(secs(config.DefaultInterceptWatch), 10) + "s")},
	{"finrst_timeout", tomlString(strconv.FormatInt(secs(config.DefaultInterceptFinRst), 10) + "s")},
	{"connection_timeout", tomlString(strconv.FormatInt(secs(config.DefaultInterceptConnection), 10) + "s")},
}

func thresholdText(low, high int64) string {
	return "{ low = " + strconv.FormatInt(low, 10) + ", high = " + strconv.FormatInt(high, 10) + " }"
}

// emitIntercept writes [tcp_intercept], every key (IOS defaults without
// a line); a key the loader refused is written as a comment.
func (t *translator) emitIntercept(w *tomlWriter) {
	ti := &t.intercept
	if !ti.list.set || ti.dropped {
		return
	}
	w.line("")
	w.line("[tcp_intercept]")
	for _, k := range interceptKeys {
		var value string
		var cites []cite
		str := func(v strVal) {
			value = k.def
			if v.set {
				value, cites = tomlString(v.v), []cite{v.c}
			}
		}
		pair := func(low, high intVal) {
			lo, hi := int64(config.DefaultInterceptThresholdLow), int64(config.DefaultInterceptThresholdHigh)
			if low.set {
				lo = low.v
			}
			if high.set {
				hi = high.v
			}
			value, cites = thresholdText(lo, hi), []cite{low.c, high.c}
		}
		timer := func(v intVal) {
			value = k.def
			if v.set {
				value, cites = tomlString(strconv.FormatInt(v.v, 10)+"s"), []cite{v.c}
			}
		}
		switch k.key {
		case "list":
			str(ti.list)
		case "mode":
			str(ti.mode)
		case "max_incomplete":
			pair(ti.maxIncLow, ti.maxIncHigh)
		case "one_minute":
			pair(ti.oneMinLow, ti.oneMinHigh)
		case "drop_mode":
			str(ti.dropMode)
		case "watch_timeout":
			timer(ti.watchTimeout)
		case "finrst_timeout":
			timer(ti.finRst)
		case "connection_timeout":
			timer(ti.connectTimeout)
		}
		if _, ok := ti.refused["tcp_intercept."+k.key]; ok {
			w.b.WriteString("# refused by cbacd: ")
		}
		w.kv(k.key, value, cites...)
	}
}

// checkIntercept runs cbac's loader on the translation and leaves out,
// with a note on their lines, the [tcp_intercept] values it refuses
// (thresholds out of order, counting cbacd's defaults; a mode cbacd
// does not run): the rest of the table keeps protecting the servers. It returns the final TOML.
func (t *translator) checkIntercept(toml []byte) []byte {
	ti := &t.intercept
	if !ti.list.set || ti.dropped {
		return toml
	}
	// Each round refuses at least one more key of the table, or stops.
	for range interceptKeys {
		_, err := config.Parse("import", toml)
		more := false
		for _, e := range configErrors(err) {
			// Only a value the loader refuses: a TOML the importer wrote
			// wrong must fail the import, not be commented out.
			if !strings.HasPrefix(e.Key, "tcp_intercept.") || e.Key == "tcp_intercept.list" ||
				errors.Is(e, config.ErrSyntax) || errors.Is(e, config.ErrUnknownKey) {
				continue
			}
			if _, ok := ti.refused[e.Key]; ok {
				continue
			}
			if ti.refused == nil {
				ti.refused = map[string]string{}
			}
			ti.refused[e.Key] = e.Err.Error()
			t.noteRefused(strings.TrimPrefix(e.Key, "tcp_intercept."), e.Err.Error())
			more = true
		}
		if !more {
			return toml
		}
		toml = t.emit()
	}
	return toml
}

// noteRefused reports the lines of a value the loader refused.
func (t *translator) noteRefused(key, reason string) {
	ti := &t.intercept
	var vals []cite
	switch key {
	case "mode":
		vals = []cite{ti.mode.c}
	case "max_incomplete":
		vals = []cite{ti.maxIncLow.c, ti.maxIncHigh.c}
	case "one_minute":
		vals = []cite{ti.oneMinLow.c, ti.oneMinHigh.c}
	case "drop_mode":
		vals = []cite{ti.dropMode.c}
	case "watch_timeout":
		vals = []cite{ti.watchTimeout.c}
	case "finrst_timeout":
		vals = []cite{ti.finRst.c}
	case "connection_timeout":
		vals = []cite{ti.connectTimeout.c}
	}
	def := ""
	for _, k := range interceptKeys {
		if k.key == key {
			def = k.def
		}
	}
	for _, c := range vals {
		if c.n > 0 {
			t.notes = append(t.notes, Note{Line: c.n, End: c.n, Text: c.text, Security: true, Partial: true,
				Reason: "cbacd refuses " + key + " (" + reason + "): the list is protected with cbacd's default " + key + " = " + def})
		}
	}
}

// configErrors returns the *config.Error values in err.
func configErrors(err error) []*config.Error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	var out []*config.Error
	for _, x := range errs {
		var e *config.Error
		if x != nil && errors.As(x, &e) {
			out = append(out, e)
		}
	}
	return out
}
