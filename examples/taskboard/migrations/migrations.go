// Package migrations holds taskboard's SQL migrations, compiled in: the shared line (users,
// memberships, plans, sessions) and the tenant line (projects, tasks, comments, labels, API
// tokens), each following tenancy's conventions. Benchmarks may use them as a realistic schema.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed shared/*.sql tenant/*.sql
var files embed.FS

// Shared returns the shared migrations (applied once, in the shared schema).
func Shared() fs.FS { return sub("shared") }

// Tenant returns the tenant migrations (applied to every placement).
func Tenant() fs.FS { return sub("tenant") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the folders are embedded: cannot happen
	}
	return f
}
