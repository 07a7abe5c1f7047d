package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
		want string
	}{
		{"stamped", Info{Module: "cbac", Version: "(devel)", Revision: "0123abc", Time: "2026-01-02T03:04:05Z", GoVersion: "go1.26.8"},
			"cbac (devel) revision 0123abc 2026-01-02T03:04:05Z go1.26.8"},
		{"modified", Info{Module: "cbac", Version: "v1.2.3", Revision: "0123abc", Modified: true, GoVersion: "go1.26.8"},
			"cbac v1.2.3 revision 0123abc (modified) go1.26.8"},
		{"unstamped", Info{Module: "cbac", Version: "(devel)", GoVersion: "go1.26.8"},
			"cbac (devel) revision unknown (built without VCS stamping) go1.26.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// A test binary has build information: the module path and the Go version.
func TestRead(t *testing.T) {
	in := Read()
	if in.Module != "cbac" || in.GoVersion != runtime.Version() || !strings.HasPrefix(in.GoVersion, "go") {
		t.Errorf("Read() = %+v", in)
	}
}
