package config

import "testing"

func TestLocate(t *testing.T) {
	src := `# comment with [brackets] and key = 1
top = "a # not a comment"          # line 2
multi = """
x = 1
[not.a.table]
"""
[t]                                # line 7
a.b = 1                            # line 8
"q.k" = 'v'                        # line 9
inline = { x = 1, y = { z = [1, 2] } }   # line 10
arr = [                            # line 11
  "one",                           # line 12
  # a comment ]
  "two", { k = 3 },                # line 14
]
[[s]]                              # line 16
n = 1
[[s.sub]]                          # line 18
m = 2
[[s]]                              # line 20
n = 2                              # line 21
[[s.sub]]
[[s.sub]]                          # line 23
m = 3                              # line 24
[u."dotted.name"]                  # line 25
v = 1                              # line 26
`
	lines := locate(src)
	want := map[string]int{
		"top": 2, "multi": 3, "t": 7, "t.a.b": 8, "t.q.k": 9,
		"t.inline": 10, "t.inline.x": 10, "t.inline.y.z": 10, "t.inline.y.z[1]": 10,
		"t.arr": 11, "t.arr[0]": 12, "t.arr[1]": 14, "t.arr[2]": 14, "t.arr[2].k": 14,
		"s[0]": 16, "s[0].n": 17, "s[0].sub[0]": 18, "s[0].sub[0].m": 19,
		"s[1]": 20, "s[1].n": 21, "s[1].sub[1]": 23, "s[1].sub[1].m": 24,
		"u.dotted.name": 25, "u.dotted.name.v": 26,
	}
	for k, w := range want {
		if got, ok := lines[k]; !ok || got != w {
			t.Errorf("%s: line %d (found %v), want %d", k, got, ok, w)
		}
	}
	for _, k := range []string{"x", "not.a.table", "key"} {
		if _, ok := lines[k]; ok {
			t.Errorf("%s found inside a string or comment", k)
		}
	}
}

func TestLocateStopsOnGarbage(t *testing.T) {
	for _, src := range []string{"", "[", "[[", "a", "a =", "a = {", "a = [", `a = "`, "a = '''", "= 1", "a = { b = [ { c = \n", "\x00", "a.=1"} {
		locate(src) // must return
	}
	if l := locate("a = 1\n!!\nb = 2\n"); l["a"] != 1 {
		t.Errorf("a before garbage: %v", l)
	}
}
