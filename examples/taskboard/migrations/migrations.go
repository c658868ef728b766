// Package migrations holds taskboard's SQL migrations, compiled in: the shared line (users,
// memberships, plans, sessions) and the tenant line (projects, tasks, comments, labels, API
// tokens), each following tenancy's conventions; the line of the agency type (clients), and one
// organisation's own migrations (custom/acme). Benchmarks may use them as a realistic schema.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed shared/*.sql tenant/*.sql types custom
var files embed.FS

// Shared returns the shared migrations (applied once, in the shared schema).
func Shared() fs.FS { return sub("shared") }

// Tenant returns the tenant migrations (applied to every placement).
func Tenant() fs.FS { return sub("tenant") }

// TypeAgency is the organisation type with a clients table and page; other organisations are of
// tenancy.DefaultType.
const TypeAgency = "agency"

// Types returns the lines of the organisation types beside the default (tenancy.Config.TypeMigrations).
func Types() map[string]fs.FS { return map[string]fs.FS{TypeAgency: sub("types/" + TypeAgency)} }

// Custom returns single organisations' own migrations, <slug>/NNNN_name.up.sql
// (tenancy.Config.CustomMigrations).
func Custom() fs.FS { return sub("custom") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the folders are embedded: cannot happen
	}
	return f
}
