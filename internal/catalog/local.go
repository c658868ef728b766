package catalog

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The local catalog is what a database holding placements but not the catalog carries: a
// template database (hence every tenant database copied from it) and every other server's home
// database. It is its own migration line, recorded in tenancy.catalog_version of that database.
//
//go:embed sql/local/*.sql
var localFiles embed.FS

// LocalFiles returns the local catalog's migrations.
func LocalFiles() fs.FS { f, _ := fs.Sub(localFiles, "sql/local"); return f }

// localLedgerSQL is the local catalog's version table, the same shape as the catalog's own. It
// cannot be part of 0001, which creates the schema: releases before the line existed ran 0001's
// SQL alone.
const localLedgerSQL = `
	CREATE TABLE IF NOT EXISTS tenancy.catalog_version (
		version    bigint PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`

// InstallLocal creates the local catalog in tx's database, or upgrades it to the newest version.
// A local catalog made before it had versions (schema tenancy with a placements table and no
// version table) is recorded as version 1, which is exactly what those releases installed. It
// is idempotent; the caller serialises concurrent installs in one database, as it serialises the
// placement rows it then writes.
func InstallLocal(ctx context.Context, tx pgx.Tx) error {
	migs, err := migrate.Load(LocalFiles())
	if err != nil {
		return err
	}
	return installLocal(ctx, tx, migs)
}

func installLocal(ctx context.Context, tx pgx.Tx, migs []migrate.Migration) error {
	var schema, placements, ledger, mainCatalog bool
	if err := tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenancy'),
		       to_regclass('tenancy.placements') IS NOT NULL,
		       to_regclass('tenancy.catalog_version') IS NOT NULL,
		       to_regclass('tenancy.tenants') IS NOT NULL`).Scan(&schema, &placements, &ledger, &mainCatalog); err != nil {
		return err
	}
	var current int64
	switch {
	case mainCatalog:
		return fmt.Errorf("the database holds a tenancy catalog, not a local one")
	case !schema:
	case !placements:
		return fmt.Errorf("the database has a tenancy schema that is not a local catalog (no tenancy.placements)")
	case !ledger:
		// Made by a release before the line had versions: that was version 1.
		if _, err := tx.Exec(ctx, localLedgerSQL); err != nil {
			return fmt.Errorf("local catalog version table: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tenancy.catalog_version (version, name) VALUES ($1, $2)`, migs[0].Version, migs[0].Name); err != nil {
			return err
		}
		current = migs[0].Version
	default:
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tenancy.catalog_version`).Scan(&current); err != nil {
			return err
		}
	}
	if latest := migrate.Latest(migs); current > latest {
		return fmt.Errorf("the local catalog is at version %d, newer than this tenancy release knows (%d): upgrade tenancy", current, latest)
	}
	for _, m := range migs {
		if m.Version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, m.Up); err != nil {
			return fmt.Errorf("local catalog migration %d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, localLedgerSQL); err != nil {
			return fmt.Errorf("local catalog version table: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tenancy.catalog_version (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			return err
		}
	}
	return nil
}
