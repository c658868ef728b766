// Package catalog installs and upgrades the tenancy catalog (the "tenancy" schema), the shared
// schema and the shape schema, and the local catalog of the other databases that hold
// placements; it runs the statements on the catalog's tables (one file per table) and checks
// the row-level security convention of tenant tables.
package catalog

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// Schema is the catalog's schema; ShapeSchema is the empty tenant-shaped schema that unbound
// connections have first in their search_path: pgx prepares a cached statement before a batched
// set_config runs, so it is prepared against this schema; the application role may not read it,
// so an unbound query fails rather than reading a tenant's rows.
const (
	Schema      = "tenancy"
	ShapeSchema = "tenancy_shape"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// InstallOpts says what to install.
type InstallOpts struct {
	AppRole      string
	SharedSchema string
	Shared       []migrate.Migration
	Tenant       []migrate.Migration
	TypeLines    []migrate.Line // every tenant type's line, which the shape schema carries too
}

// Install creates or upgrades the catalog, applies the shared migrations, brings the shape schema
// to the latest tenant version and grants the application role what it needs, all in one
// transaction: it is idempotent and either completes or changes nothing.
func Install(ctx context.Context, admin *pgxpool.Pool, o InstallOpts) error {
	return pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.Catalog); err != nil {
			return err
		}
		if err := KeepLocal(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			CREATE SCHEMA IF NOT EXISTS tenancy;
			CREATE TABLE IF NOT EXISTS tenancy.catalog_version (
				version    bigint PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("create catalog schema: %w", err)
		}
		if err := upgradeCatalog(ctx, tx); err != nil {
			return err
		}
		app := pgx.Identifier{o.AppRole}.Sanitize()
		shared := pgx.Identifier{o.SharedSchema}.Sanitize()
		shape := pgx.Identifier{ShapeSchema}.Sanitize()
		if _, err := tx.Exec(ctx, fmt.Sprintf(`
			GRANT USAGE ON SCHEMA tenancy TO %[1]s;
			GRANT SELECT ON tenancy.tenants, tenancy.domains, tenancy.placements TO %[1]s;
			GRANT SELECT, INSERT, UPDATE ON tenancy.usage TO %[1]s;
			GRANT SELECT (name, app_url) ON tenancy.servers TO %[1]s;
			CREATE SCHEMA IF NOT EXISTS %[2]s;
			CREATE SCHEMA IF NOT EXISTS %[3]s;
			COMMENT ON SCHEMA %[3]s IS 'tenancy: the shape of a tenant schema, empty; unbound connections point here';
			GRANT USAGE ON SCHEMA %[2]s, %[3]s TO %[1]s`, app, shared, shape)); err != nil {
			return fmt.Errorf("grant the application role %s: %w", o.AppRole, err)
		}
		sharedID, err := ensurePlacement(ctx, tx, "shared", o.SharedSchema)
		if err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, sharedID, shared, o.Shared, 0); err != nil {
			return fmt.Errorf("shared migrations: %w", err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`
			GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %[2]s TO %[1]s;
			GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %[2]s TO %[1]s`, app, shared)); err != nil {
			return fmt.Errorf("grant shared tables: %w", err)
		}
		shapeID, err := ensurePlacement(ctx, tx, "shape", ShapeSchema)
		if err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, shapeID, shape+", "+shared, o.Tenant, 0); err != nil {
			return fmt.Errorf("tenant migrations (shape schema): %w", err)
		}
		if err := migrate.ApplyLines(ctx, tx, shapeID, shape+", "+shared, o.TypeLines); err != nil {
			return fmt.Errorf("tenant type migrations (shape schema): %w", err)
		}
		return CheckRLS(ctx, tx, ShapeSchema)
	})
}

func upgradeCatalog(ctx context.Context, tx pgx.Tx) error {
	sub, _ := subFS()
	migs, err := migrate.Load(sub)
	if err != nil {
		return err
	}
	var current int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tenancy.catalog_version`).Scan(&current); err != nil {
		return err
	}
	if latest := migrate.Latest(migs); current > latest {
		return fmt.Errorf("the catalog is at version %d, newer than this tenancy release knows (%d): upgrade tenancy", current, latest)
	}
	for _, m := range migs {
		if m.Version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.Up); err != nil {
			return fmt.Errorf("catalog migration %d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tenancy.catalog_version (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return err
		}
	}
	return nil
}

func ensurePlacement(ctx context.Context, tx pgx.Tx, kind, schema string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO tenancy.placements (kind, schema, owned) VALUES ($1, $2, false)
			ON CONFLICT (server, database, schema) DO NOTHING RETURNING id)
		SELECT id FROM ins UNION ALL
		SELECT id FROM tenancy.placements WHERE server = '' AND database = '' AND schema = $2 AND kind = $1`,
		kind, schema).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("%s placement %q: %w", kind, schema, err)
	}
	return id, nil
}

// CheckRLS reports every table in schema that does not follow the tenant-table convention: a
// tenant_id column of type bigint (the catalog's id, which backup, restore, move and the
// owner-side statements compare it with), row-level security enabled and forced, and at least
// one policy.
func CheckRLS(ctx context.Context, tx pgx.Tx, schema string) error {
	rows, err := tx.Query(ctx, `
		SELECT c.relname,
		       coalesce((SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
		                 WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped), ''),
		       c.relrowsecurity, c.relforcerowsecurity,
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		ORDER BY c.relname`, schema)
	if err != nil {
		return err
	}
	var problems []string
	for rows.Next() {
		var name, colType string
		var rls, force, policy bool
		if err := rows.Scan(&name, &colType, &rls, &force, &policy); err != nil {
			return err
		}
		var missing []string
		switch colType {
		case "bigint":
		case "":
			missing = append(missing, "a tenant_id column")
		default:
			missing = append(missing, "a bigint tenant_id (it is "+colType+")")
		}
		if !rls {
			missing = append(missing, "ENABLE ROW LEVEL SECURITY")
		}
		if !force {
			missing = append(missing, "FORCE ROW LEVEL SECURITY")
		}
		if !policy {
			missing = append(missing, "a policy on tenant_id")
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("%s lacks %s", name, strings.Join(missing, ", ")))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("tenant tables must follow the row-level security convention (see docs/rls.md): %s", strings.Join(problems, "; "))
	}
	return nil
}
