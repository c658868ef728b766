package catalog

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// The statements on a local catalog (sql/local): the placements rows and the ledger inside a
// tenant database or another server's home database, which record which tenant and which
// catalog each placement there was made for.

// LocalOwner is what a local placements row says of who a placement was made for.
type LocalOwner struct {
	Tenant  *int64  // the tenant; nil in a template
	Catalog string  // the identity (or, before identities, the database name) of the catalog that made it
	Comment *string // the mark on its schema, when asked for
}

// LocalInsert adds local placement id (kind, schema) made by catalog for tenant (nil: a template
// or the shape).
func LocalInsert(ctx context.Context, db DB, id int64, kind, schema string, tenant *int64, catalog string) error {
	_, err := db.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, tenant_id, catalog) VALUES ($1, $2, $3, $4, $5)`,
		id, kind, schema, tenant, catalog)
	return err
}

// LocalOwnerOf reads who local placement id was made for; with schema, also the mark on that
// schema. forUpdate locks the row until tx ends (db must then be a transaction).
func LocalOwnerOf(ctx context.Context, db DB, id int64, schema string, forUpdate bool) (*LocalOwner, error) {
	o := &LocalOwner{}
	q := `SELECT tenant_id, catalog, (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $2)
		FROM tenancy.placements WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	if err := db.QueryRow(ctx, q, id, schema).Scan(&o.Tenant, &o.Catalog, &o.Comment); err != nil {
		return nil, err
	}
	return o, nil
}

// LocalClaim records that local placement id (a copy of the template) is tenant's.
func LocalClaim(ctx context.Context, db DB, id, tenant int64) error {
	_, err := db.Exec(ctx, `UPDATE tenancy.placements SET tenant_id = $2 WHERE id = $1`, id, tenant)
	return err
}

// LocalUnclaimed reports whether local placement id is a template's copy that catalog made and
// no tenant has claimed.
func LocalUnclaimed(ctx context.Context, db DB, id int64, catalog string) (bool, error) {
	var unclaimed bool
	err := db.QueryRow(ctx, `SELECT tenant_id IS NULL AND catalog = $2 FROM tenancy.placements WHERE id = $1`, id, catalog).Scan(&unclaimed)
	return unclaimed, err
}

// LocalDelete forgets local placement id.
func LocalDelete(ctx context.Context, db DB, id int64) error {
	_, err := db.Exec(ctx, `DELETE FROM tenancy.placements WHERE id = $1`, id)
	return err
}

// LocalShapeCatalog reads which catalog installed the shape schema of a server's home database.
func LocalShapeCatalog(ctx context.Context, db DB) (string, error) {
	var made string
	err := db.QueryRow(ctx, `SELECT catalog FROM tenancy.placements WHERE kind = 'shape'`).Scan(&made)
	return made, err
}

// LocalLedger reads placement id's ledger rows (line, version, name, checksum, applied_at,
// duration_ms), as LedgerCopy takes them.
func LocalLedger(ctx context.Context, db DB, id int64) ([][]any, error) {
	rows, err := db.Query(ctx, `SELECT line, version, name, checksum, applied_at, duration_ms FROM tenancy.migrations WHERE placement_id = $1`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
}

// Applied is one migration in a placement's ledger.
type Applied struct {
	Version  int64
	Name     string
	Checksum string
}

// PlacementLedger reads placement id's version and its ledger, oldest first, in the catalog of
// the database db is on (the central one or a local one: they have the same shape).
func PlacementLedger(ctx context.Context, db DB, id int64) (int64, []Applied, error) {
	var version int64
	if err := db.QueryRow(ctx, `SELECT version FROM tenancy.placements WHERE id = $1`, id).Scan(&version); err != nil {
		return 0, nil, err
	}
	rows, err := db.Query(ctx, `SELECT version, name, checksum FROM tenancy.migrations WHERE placement_id = $1 AND line = '' ORDER BY version`, id)
	if err != nil {
		return 0, nil, err
	}
	applied, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Applied, error) {
		var a Applied
		return a, r.Scan(&a.Version, &a.Name, &a.Checksum)
	})
	return version, applied, err
}

// PlacementState is what Check reads of a placement in a local catalog.
type PlacementState struct {
	LocalOwner
	Version, Ledger int64 // the version, and the newest migration in the ledger
}

// LocalState reads local placement id for Check: who it was made for, its version and ledger,
// and the mark on markedSchema ("" for the database's own comment).
func LocalState(ctx context.Context, db DB, id int64, markedSchema string) (*PlacementState, error) {
	s := &PlacementState{}
	err := db.QueryRow(ctx, `
		SELECT tenant_id, catalog, version,
		       coalesce((SELECT max(version) FROM tenancy.migrations WHERE placement_id = $1 AND line = ''), 0),
		       CASE WHEN $2 = '' THEN shobj_description((SELECT oid FROM pg_database WHERE datname = current_database()), 'pg_database')
		            ELSE (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $2) END
		FROM tenancy.placements WHERE id = $1`, id, markedSchema).Scan(&s.Tenant, &s.Catalog, &s.Version, &s.Ledger, &s.Comment)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// StagingInsert adds a placement row in the catalog's database for a restore's staging schema.
func StagingInsert(ctx context.Context, db DB, schema string) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `INSERT INTO tenancy.placements (kind, schema, owned) VALUES ('schema', $1, true) RETURNING id`, schema).Scan(&id)
	return id, err
}
