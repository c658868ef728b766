package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The lookups that tell an orphan (a schema or database tenancy made that no placement names)
// from a placement.

// PlacementKey is where a placement lives, and its kind.
type PlacementKey struct {
	Server   string
	Database string
	Schema   string
	Kind     string
}

// PlacementKeys returns where every placement lives.
func PlacementKeys(ctx context.Context, db DB) ([]PlacementKey, error) {
	rows, err := db.Query(ctx, `SELECT server, database, schema, kind FROM tenancy.placements`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PlacementKey, error) {
		var k PlacementKey
		return k, r.Scan(&k.Server, &k.Database, &k.Schema, &k.Kind)
	})
}

// LockPlacementsShare keeps placements from being added or removed until tx ends.
func LockPlacementsShare(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `LOCK TABLE tenancy.placements IN SHARE MODE`)
	return err
}

// LocalSchemaUse reports whether a placement names schema in the catalog's own database, and
// the schema's comment (nil if the schema does not exist).
func LocalSchemaUse(ctx context.Context, db DB, schema string) (used bool, comment *string, err error) {
	err = db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenancy.placements WHERE server = '' AND database = '' AND schema = $1),
		(SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&used, &comment)
	return used, comment, err
}

// DatabaseUsed reports whether a placement lives in database on server.
func DatabaseUsed(ctx context.Context, db DB, server, database string) (bool, error) {
	var used bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenancy.placements WHERE server = $1 AND database = $2)`, server, database).Scan(&used)
	return used, err
}
