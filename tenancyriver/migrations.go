package tenancyriver

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Migration places River's migrations From+1 through To (River's own version numbers) in one
// file of the application's shared migrations, File ("0003_river.up.sql"). A file, once applied,
// never changes: when a River release brings new migrations, add a Migration for them in a new
// file, From the previous To.
type Migration struct {
	File     string
	From, To int
}

// LatestVersion is the newest River migration of the River release this package is built with.
// A test of the application can compare it with the last Migration's To.
func LatestVersion() int {
	all, err := riverMigrations()
	if err != nil || len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Version
}

// SharedMigrations returns shared, the application's shared migrations, with River's added as
// the files ms name (for tenancy.Config.SharedMigrations). The Migrations must cover River's
// versions from 1 without gaps; their files must not clash with the application's. River's
// tables go to the shared schema (tenancy applies shared migrations with it as search_path), and
// tenancy grants the application role its privileges on them, as on every shared table. River's
// own ledger (river_migration) records the versions too, so River's tools agree.
func SharedMigrations(shared fs.FS, ms ...Migration) (fs.FS, error) {
	all, err := riverMigrations()
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, errors.New("tenancyriver: SharedMigrations needs at least one Migration")
	}
	out := fstest.MapFS{}
	if shared != nil {
		entries, err := fs.ReadDir(shared, ".")
		if err != nil {
			return nil, fmt.Errorf("tenancyriver: read the shared migrations: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := fs.ReadFile(shared, e.Name())
			if err != nil {
				return nil, fmt.Errorf("tenancyriver: read the shared migrations: %w", err)
			}
			out[e.Name()] = &fstest.MapFile{Data: b, Mode: 0o444}
		}
	}
	next := 0
	for _, m := range ms {
		if m.From != next || m.To <= m.From || m.To > len(all) {
			return nil, fmt.Errorf("tenancyriver: Migration %q: From %d, To %d: want From %d and To above it, at most %d (River's newest)", m.File, m.From, m.To, next, len(all))
		}
		if path.Base(m.File) != m.File || !strings.HasSuffix(m.File, ".up.sql") {
			return nil, fmt.Errorf("tenancyriver: Migration File %q: want a file name NNNN_name.up.sql", m.File)
		}
		down := strings.TrimSuffix(m.File, ".up.sql") + ".down.sql"
		for _, name := range []string{m.File, down} {
			if _, ok := out[name]; ok {
				return nil, fmt.Errorf("tenancyriver: Migration File %q: the application's shared migrations have %s", m.File, name)
			}
		}
		var up, dn strings.Builder
		fmt.Fprintf(&up, "-- River's migrations %d to %d (github.com/riverqueue/river, written by tenancyriver).\n", m.From+1, m.To)
		fmt.Fprintf(&dn, "-- River's migrations %d down to %d (github.com/riverqueue/river, written by tenancyriver).\n", m.To, m.From+1)
		for v := m.From + 1; v <= m.To; v++ {
			sql, err := oneTransaction(v, untemplate(all[v-1].SQLUp))
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&up, "\n-- %03d %s\n%s\n", v, all[v-1].Name, sql)
		}
		up.WriteString(ledgerSQL(m.From+1, m.To))
		for v := m.To; v > m.From; v-- {
			fmt.Fprintf(&dn, "\n-- %03d %s\n%s\n", v, all[v-1].Name, untemplate(all[v-1].SQLDown))
		}
		out[m.File] = &fstest.MapFile{Data: []byte(up.String()), Mode: 0o444}
		out[down] = &fstest.MapFile{Data: []byte(dn.String()), Mode: 0o444}
		next = m.To
	}
	return out, nil
}

// riverMigrations are River's migrations for PostgreSQL, in order; version v at index v-1.
func riverMigrations() ([]rivermigrate.Migration, error) {
	m, err := rivermigrate.New[pgx.Tx](riverpgxv5.New(nil), nil)
	if err != nil {
		return nil, fmt.Errorf("tenancyriver: River's migrations: %w", err)
	}
	all := m.AllVersions()
	for i, mig := range all {
		if mig.Version != i+1 {
			return nil, fmt.Errorf("tenancyriver: River's migrations: version %d at position %d", mig.Version, i+1)
		}
	}
	return all, nil
}

// untemplate drops River's schema placeholder: the shared schema is first in search_path when
// tenancy applies shared migrations, and River's client finds its tables through search_path.
func untemplate(sql string) string {
	return strings.ReplaceAll(sql, "/* TEMPLATE: schema */", "")
}

// oneTransaction adapts River's migration v to run in one transaction with the others, as tenancy
// applies shared migrations: River's 004 adds the job state 'pending' to the enum that 002 makes
// and uses it at once, which PostgreSQL refuses within one transaction (55P04). 002 makes the
// enum with 'pending' in its place instead, and 004's ADD VALUE IF NOT EXISTS adds nothing.
func oneTransaction(v int, sql string) (string, error) {
	if v != 2 {
		return sql, nil
	}
	const discarded = "  'discarded',\n"
	if strings.Count(sql, discarded) != 1 || !strings.Contains(sql, "CREATE TYPE river_job_state AS ENUM(") {
		return "", errors.New("tenancyriver: River's migration 2 has changed: the job state enum was not found")
	}
	return strings.Replace(sql, discarded, discarded+"  'pending',\n", 1), nil
}

// ledgerSQL records versions from..to in River's ledger, whose shape changed at version 5.
func ledgerSQL(from, to int) string {
	var b strings.Builder
	b.WriteString("\n-- River's own ledger.\n")
	if to >= 5 {
		fmt.Fprintf(&b, "INSERT INTO river_migration (line, version) SELECT 'main', v FROM generate_series(%d, %d) v ON CONFLICT DO NOTHING;\n", from, to)
	} else {
		fmt.Fprintf(&b, "INSERT INTO river_migration (version) SELECT v FROM generate_series(%d, %d) v ON CONFLICT DO NOTHING;\n", from, to)
	}
	return b.String()
}
