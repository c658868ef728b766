package tenancycli

import (
	"runtime/debug"
	"testing"
)

// The version is the library's wherever it sits in the build: the main module (the tenancy
// binary), a dependency of an application, or a dependency replaced by a tag or a directory.
func TestBuildVersion(t *testing.T) {
	t.Parallel()
	dep := func(v string, r *debug.Module) []*debug.Module {
		return []*debug.Module{{Path: "github.com/jackc/pgx/v5", Version: "v5.12.0"}, {Path: modulePath, Version: v, Replace: r}}
	}
	app := debug.Module{Path: "example.com/myapp", Version: "v1.2.0"}
	for _, c := range []struct {
		name string
		bi   *debug.BuildInfo
		want versionInfo
	}{
		{"tenancy binary", &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Path: modulePath, Version: "v0.3.0"}},
			versionInfo{Module: modulePath, Version: "v0.3.0", Go: "go1.25.0"}},
		{"tenancy tree", &debug.BuildInfo{GoVersion: "go1.25.0", Main: debug.Module{Path: modulePath, Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "abc123"}}},
			versionInfo{Module: modulePath, Version: "(devel)", Revision: "abc123+dirty", Go: "go1.25.0"}},
		{"embedded", &debug.BuildInfo{GoVersion: "go1.26.1", Main: app, Deps: dep("v0.3.0", nil)},
			versionInfo{Module: modulePath, Version: "v0.3.0", Go: "go1.26.1", Program: "example.com/myapp v1.2.0"}},
		{"replaced by a tag", &debug.BuildInfo{GoVersion: "go1.26.1", Main: app, Deps: dep("v0.3.0", &debug.Module{Path: "example.com/fork", Version: "v0.3.1"})},
			versionInfo{Module: modulePath, Version: "v0.3.1", Go: "go1.26.1", Program: "example.com/myapp v1.2.0"}},
		{"replaced by a directory", &debug.BuildInfo{GoVersion: "go1.26.1", Main: app, Deps: dep("v0.3.0", &debug.Module{Path: "../tenancy"})},
			versionInfo{Module: modulePath, Version: "(devel)", Go: "go1.26.1", Program: "example.com/myapp v1.2.0"}},
		{"absent", &debug.BuildInfo{GoVersion: "go1.26.1", Main: app},
			versionInfo{Module: modulePath, Version: "unknown", Go: "go1.26.1", Program: "example.com/myapp v1.2.0"}},
	} {
		if got := buildVersion(c.bi); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
