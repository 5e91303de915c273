package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestLinkerValuesWin(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-x"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}
	got := get("1.4.0", "def", bi)
	want := Info{Version: "1.4.0", Revision: "def", GoVersion: "go1.26.8"}
	if got != want {
		t.Fatalf("get = %+v, want %+v", got, want)
	}
}

func TestToolchainStampIsTheFallback(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings []debug.BuildSetting
		version  string
		want     Info
	}{
		{"clean tree", []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}},
			"v0.0.0-20261201-abc", Info{"v0.0.0-20261201-abc", "abc", "go1.26.8"}},
		{"dirty tree", []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "abc"}},
			"v0.0.0-20261201-abc+dirty", Info{"v0.0.0-20261201-abc+dirty", "abc-dirty", "go1.26.8"}},
		{"no VCS (go run, go test)", nil, "(devel)", Info{"(devel)", "unknown", "go1.26.8"}},
		{"nothing at all", nil, "", Info{"(devel)", "unknown", "go1.26.8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: tc.version}, Settings: tc.settings}
			if got := get("", "", bi); got != tc.want {
				t.Fatalf("get = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWithoutBuildInfo(t *testing.T) {
	got := get("", "", nil)
	if got != (Info{"(devel)", "unknown", runtime.Version()}) {
		t.Fatalf("get without build info = %+v", got)
	}
}

func TestLine(t *testing.T) {
	l := Line("hotline-gw")
	if !strings.HasPrefix(l, "hotline-gw ") || !strings.Contains(l, runtime.Version()) || !strings.Contains(l, "revision ") {
		t.Fatalf("Line = %q", l)
	}
	if Get().Version == "" || Get().Revision == "" {
		t.Fatalf("Get = %+v: empty fields", Get())
	}
}
