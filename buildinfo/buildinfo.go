// Package buildinfo says which build of hotline-gw is running: the version
// and VCS revision stamped at link time (make build and make package pass
// them with -ldflags -X), else what the Go toolchain recorded in the binary
// (debug.ReadBuildInfo: the module version and vcs.revision), and the Go
// version. The programs print it for -version and the gateway exports it
// as hotline_build_info.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time, e.g.
//
//	go build -ldflags "-X github.com/hotline12345/hotline-gw/buildinfo.version=1.4.0 \
//	  -X github.com/hotline12345/hotline-gw/buildinfo.revision=$(git rev-parse HEAD)"
var (
	version  string
	revision string
)

// Info is one build's identity.
type Info struct {
	// Version is the release ("1.4.0", from -ldflags), else the main
	// module's version as the toolchain stamped it ("v0.0.0-2026...-abc+dirty"
	// or "(devel)"); never empty.
	Version string
	// Revision is the VCS commit, with "-dirty" when the tree had changes;
	// "unknown" when neither -ldflags nor the toolchain recorded one.
	Revision string
	// GoVersion is the toolchain that built the binary ("go1.26.8").
	GoVersion string
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(version, revision, bi)
}

func get(ldVersion, ldRevision string, bi *debug.BuildInfo) Info {
	in := Info{Version: ldVersion, Revision: ldRevision, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if in.Version == "" {
			in.Version = bi.Main.Version
		}
		if in.Revision == "" {
			var rev string
			var dirty bool
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					dirty = s.Value == "true"
				}
			}
			if rev != "" && dirty {
				rev += "-dirty"
			}
			in.Revision = rev
		}
	}
	if in.Version == "" {
		in.Version = "(devel)"
	}
	if in.Revision == "" {
		in.Revision = "unknown"
	}
	return in
}

// String is the line -version prints after the program's name:
// "1.4.0 (revision 74c7773…, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// Line is what a program prints for -version: "hotline-gw 1.4.0
// (revision 74c7773…, go1.26.8)".
func Line(program string) string { return program + " " + Get().String() }
