package catalog

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// TenantSetLimits sets (nil: clears) the limits of tenant slug; false if there is no such tenant.
func TenantSetLimits(ctx context.Context, db DB, slug string, limits []byte) (bool, error) {
	tag, err := db.Exec(ctx, `UPDATE tenancy.tenants SET limits = $2, updated_at = now() WHERE slug = $1`, slug, limits)
	return err == nil && tag.RowsAffected() > 0, err
}

// Usage is one tenant's counters.
type Usage struct {
	TenantID     int64
	Slug         string // read only
	Tier         string // read only
	Transactions int64
	StatementMS  float64
	Errors       int64
	Timeouts     int64
	Busy         int64
	ArchiveRows  int64
	UpdatedAt    time.Time // read only
}

// UsageAdd adds each row's counters to the tenant's, in one statement.
func UsageAdd(ctx context.Context, db DB, rows []Usage) error {
	n := len(rows)
	ids, tx, ms, errs, tos, busy, ar := make([]int64, n), make([]int64, n), make([]float64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	for i, r := range rows {
		ids[i], tx[i], ms[i], errs[i], tos[i], busy[i], ar[i] = r.TenantID, r.Transactions, r.StatementMS, r.Errors, r.Timeouts, r.Busy, r.ArchiveRows
	}
	_, err := db.Exec(ctx, `
		INSERT INTO tenancy.usage AS u (tenant_id, transactions, statement_ms, errors, timeouts, busy, archive_rows)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::float8[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[])
		ON CONFLICT (tenant_id) DO UPDATE SET
			transactions = u.transactions + EXCLUDED.transactions,
			statement_ms = u.statement_ms + EXCLUDED.statement_ms,
			errors = u.errors + EXCLUDED.errors,
			timeouts = u.timeouts + EXCLUDED.timeouts,
			busy = u.busy + EXCLUDED.busy,
			archive_rows = u.archive_rows + EXCLUDED.archive_rows,
			updated_at = now()`, ids, tx, ms, errs, tos, busy, ar)
	return err
}

// UsageList returns the counters of every tenant that is not deleted, in slug order (zero for a
// tenant that has none yet).
func UsageList(ctx context.Context, db DB) ([]Usage, error) {
	rows, err := db.Query(ctx, `
		SELECT t.id, t.slug, t.tier, coalesce(u.transactions, 0), coalesce(u.statement_ms, 0), coalesce(u.errors, 0),
			coalesce(u.timeouts, 0), coalesce(u.busy, 0), coalesce(u.archive_rows, 0), coalesce(u.updated_at, t.created_at)
		FROM tenancy.tenants t LEFT JOIN tenancy.usage u ON u.tenant_id = t.id
		WHERE t.status <> 'deleted' ORDER BY t.slug`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Usage, error) {
		var u Usage
		err := r.Scan(&u.TenantID, &u.Slug, &u.Tier, &u.Transactions, &u.StatementMS, &u.Errors, &u.Timeouts, &u.Busy, &u.ArchiveRows, &u.UpdatedAt)
		return u, err
	})
}

// SchemaSizes returns the size in bytes of the tables (with their indexes and TOAST) of every
// schema of the database that db reaches.
func SchemaSizes(ctx context.Context, db DB) (map[string]int64, error) {
	rows, err := db.Query(ctx, `
		SELECT n.nspname, sum(pg_total_relation_size(c.oid))::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'm', 'p') GROUP BY n.nspname`)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var name string
	var size int64
	_, err = pgx.ForEachRow(rows, []any{&name, &size}, func() error { out[name] = size; return nil })
	return out, err
}

// DatabaseSize returns the size of database name on db's server.
func DatabaseSize(ctx context.Context, db DB, name string) (int64, error) {
	var size int64
	err := db.QueryRow(ctx, `SELECT pg_database_size($1)`, name).Scan(&size)
	return size, err
}

// PoolTable is one table of a pool placement and its size.
type PoolTable struct {
	Name  string
	Bytes int64
}

// PoolTables returns the tables of pool schema with a tenant_id column.
func PoolTables(ctx context.Context, db DB, schema string) ([]PoolTable, error) {
	rows, err := db.Query(ctx, `
		SELECT c.relname, pg_total_relation_size(c.oid)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
		ORDER BY 1`, schema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (PoolTable, error) {
		var t PoolTable
		err := r.Scan(&t.Name, &t.Bytes)
		return t, err
	})
}

// PoolTableRows counts the rows of each tenant in table schema.table (one scan for all tenants).
func PoolTableRows(ctx context.Context, db DB, schema, table string) (map[int64]int64, error) {
	rows, err := db.Query(ctx, `SELECT tenant_id, count(*) FROM `+pgx.Identifier{schema, table}.Sanitize()+` GROUP BY 1`)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	var id, n int64
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	return out, err
}
