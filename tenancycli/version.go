package tenancycli

import (
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// modulePath is the library's module, looked up in the build information of the running binary.
const modulePath = "github.com/tenancy-go/tenancy"

// versionInfo is what `version` prints.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`            // "(devel)" when built inside the module's own tree
	Revision string `json:"revision,omitempty"` // the VCS revision of such a build, if recorded
	Go       string `json:"go"`
	Program  string `json:"program,omitempty"` // the embedding application's module, if not tenancy
}

func versionCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of tenancy in this binary",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			bi, _ := debug.ReadBuildInfo()
			v := buildVersion(bi)
			if asJSON {
				return a.printJSON(v)
			}
			line := v.Module + " " + v.Version
			if v.Revision != "" {
				line += " " + v.Revision
			}
			line += " " + v.Go
			if v.Program != "" {
				line += " (in " + v.Program + ")"
			}
			a.printf("%s", line)
			return nil
		},
	}
	jsonFlag(cmd, &asJSON)
	return cmd
}

// buildVersion finds the library's version in bi: the main module's when the binary is
// tenancy's own, else the dependency's (or its replacement's).
func buildVersion(bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Module: modulePath, Version: "unknown", Go: runtime.Version()}
	if bi == nil {
		return v
	}
	v.Go = bi.GoVersion
	if bi.Main.Path == modulePath {
		v.Version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value + v.Revision
			case "vcs.modified":
				if s.Value == "true" {
					v.Revision += "+dirty"
				}
			}
		}
		return v
	}
	if bi.Main.Path != "" {
		v.Program = bi.Main.Path
		if bi.Main.Version != "" {
			v.Program += " " + bi.Main.Version
		}
	}
	for _, m := range bi.Deps {
		if m.Path != modulePath {
			continue
		}
		v.Version = m.Version
		if m.Replace != nil && m.Replace.Version != "" {
			v.Version = m.Replace.Version
		}
		if m.Replace != nil && m.Replace.Version == "" {
			v.Version = "(devel)" // replaced by a directory
		}
	}
	return v
}
