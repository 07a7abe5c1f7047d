// Package version reports what build a binary is: the module version and
// the VCS revision the Go toolchain stamped into it, and the Go version.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info describes the running binary's build.
type Info struct {
	Module    string // module path ("cbac")
	Version   string // module version; "(devel)" for a build from a work tree
	Revision  string // vcs.revision; "" when the build was not stamped (-buildvcs=false)
	Time      string // vcs.time (RFC 3339), if stamped
	Modified  bool   // vcs.modified: the work tree had uncommitted changes
	GoVersion string
}

// Read returns the running binary's build information.
func Read() Info {
	in := Info{Module: "cbac", Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if bi.Main.Path != "" {
		in.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		in.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		in.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// String is the one-line form `cbacd version` prints:
// "cbac (devel) revision 0123abcd... (modified) 2026-01-02T03:04:05Z go1.26.8".
func (in Info) String() string {
	rev := "revision unknown (built without VCS stamping)"
	if in.Revision != "" {
		rev = "revision " + in.Revision
		if in.Modified {
			rev += " (modified)"
		}
		if in.Time != "" {
			rev += " " + in.Time
		}
	}
	return fmt.Sprintf("%s %s %s %s", in.Module, in.Version, rev, in.GoVersion)
}
