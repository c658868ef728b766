package catalog

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// The statements on the catalog's placements and ledger that the tiers (internal/placement) run.

// PlacementInsert adds a placement row owned by tenancy and returns its id.
func PlacementInsert(ctx context.Context, db DB, kind, server, database, schema, uid string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO tenancy.placements (kind, server, database, schema, owned, uid) VALUES ($1, $2, $3, $4, true, $5) RETURNING id`,
		kind, server, database, schema, uid).Scan(&id)
	return id, err
}

// PoolFind returns the id and the tenant type of the pool placement in schema; found is false
// if there is none.
func PoolFind(ctx context.Context, db DB, schema string) (id int64, typ string, found bool, err error) {
	err = db.QueryRow(ctx, `SELECT id, coalesce(type, 'default') FROM tenancy.placements WHERE kind = 'pool' AND server = '' AND database = '' AND schema = $1`, schema).Scan(&id, &typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", false, nil
	}
	return id, typ, err == nil, err
}

// PoolInsert adds the pool placement in schema for tenants of type typ and returns its id.
func PoolInsert(ctx context.Context, db DB, schema, typ string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO tenancy.placements (kind, schema, owned, type) VALUES ('pool', $1, true, $2) RETURNING id`, schema, typ).Scan(&id)
	return id, err
}

// PlacementVersionShare reads placement id's migration version and holds off its migration
// (FOR SHARE) until tx ends.
func PlacementVersionShare(ctx context.Context, tx pgx.Tx, id int64) (int64, error) {
	var version int64
	err := tx.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1 FOR SHARE`, id).Scan(&version)
	return version, err
}

// PlacementRename records that placement id's schema, or its database, has another name.
func PlacementRename(ctx context.Context, db DB, id int64, schema, database string) error {
	if database != "" {
		_, err := db.Exec(ctx, `UPDATE tenancy.placements SET database = $2 WHERE id = $1`, id, database)
		return err
	}
	_, err := db.Exec(ctx, `UPDATE tenancy.placements SET schema = $2 WHERE id = $1`, id, schema)
	return err
}

// LedgerCopy brings the catalog's ledger of placement id level with the rows of its local ledger
// (line, version, name, checksum, applied_at, duration_ms), its version to version, and the
// versions of its other lines to their newest ledger rows.
func LedgerCopy(ctx context.Context, db DB, id, version int64, ledger [][]any) error {
	lines := false
	for _, row := range ledger {
		if _, err := db.Exec(ctx, `
			INSERT INTO tenancy.migrations (placement_id, line, version, name, checksum, applied_at, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, append([]any{id}, row...)...); err != nil {
			return err
		}
		lines = lines || row[0] != ""
	}
	if !lines {
		_, err := db.Exec(ctx, `UPDATE tenancy.placements SET version = $2 WHERE id = $1`, id, version)
		return err
	}
	_, err := db.Exec(ctx, `
		UPDATE tenancy.placements SET version = $2, lines = coalesce((
			SELECT jsonb_object_agg(line, v) FROM (
				SELECT line, max(version) AS v FROM tenancy.migrations WHERE placement_id = $1 AND line <> '' GROUP BY line) l), '{}')
		WHERE id = $1`, id, version)
	return err
}
