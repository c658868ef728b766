package tenancy

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The pool tier (docs/tiers.md): many tenants' rows in one shared placement schema, told apart by
// tenant_id and the forced RLS policy that every tenant table carries anyway. A pool placement is
// migrated once for all its tenants, and joining one is a catalog row: no DDL.

// PoolDefault is the pool that pool-tier tenants join unless TenantCreateOpts.Pool names another.
const PoolDefault = "default"

var poolNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

func poolSchema(name string) string { return "pool_" + name }

func poolMark(name string) string { return "tenancy:pool:" + name }

// PoolCreate creates the pool placement name (schema pool_<name>, at the current tenant
// migration version) if it does not exist yet. Pools are also created on first use.
func (c *Client) PoolCreate(ctx context.Context, name string) error {
	_, err := c.ensurePool(ctx, name)
	return err
}

// ensurePool returns the placement id of pool name, creating it if needed.
func (c *Client) ensurePool(ctx context.Context, name string) (int64, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return 0, err
	}
	if !poolNamePattern.MatchString(name) {
		return 0, fmt.Errorf("tenancy: invalid pool name %q (want 1-40 of a-z, 0-9 and '_', starting with a letter)", truncate(name, 60))
	}
	schema := poolSchema(name)
	const find = `SELECT id FROM tenancy.placements WHERE kind = 'pool' AND server = '' AND database = '' AND schema = $1`
	var id int64
	err = admin.QueryRow(ctx, find, schema).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, notFoundOr(err, ErrTenantNotFound, "pool "+name)
	}
	err = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.Pool(schema)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, find, schema).Scan(&id); err == nil {
			return nil // created meanwhile
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO tenancy.placements (kind, schema, owned) VALUES ('pool', $1, true) RETURNING id`, schema).Scan(&id); err != nil {
			return err
		}
		s := pgx.Identifier{schema}.Sanitize()
		// No IF NOT EXISTS: a schema tenancy did not create is never taken over.
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; COMMENT ON SCHEMA %s IS %s`, s, s, quoteLiteral(poolMark(name)))); err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, id, s+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, 0); err != nil {
			return err
		}
		return c.grantSchema(ctx, tx, schema)
	})
	if err != nil {
		return 0, fmt.Errorf("tenancy: create pool %s: %w", name, err)
	}
	return id, nil
}

// createPoolTenant adds a tenant to a pool: one transaction, no DDL, born active.
func (c *Client) createPoolTenant(ctx context.Context, slug, name string, settings []byte, pool string) (*Tenant, error) {
	if pool == "" {
		pool = PoolDefault
	}
	placementID, err := c.ensurePool(ctx, pool)
	if err != nil {
		return nil, err
	}
	var id int64
	err = c.owner.QueryRow(ctx, `
		INSERT INTO tenancy.tenants (slug, name, status, tier, settings, placement_id)
		VALUES ($1, $2, 'active', 'pool', $3, $4)
		ON CONFLICT (slug) DO NOTHING RETURNING id`, slug, name, settings, placementID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, tenantErr(ErrTenantExists, slug)
	}
	if err != nil {
		return nil, err
	}
	return c.TenantGetByID(ctx, id)
}

// deletePoolRows removes one tenant's rows from a pool placement, inside tx. Every DELETE names
// the tenant (tenantRows): the owner may bypass RLS. The transaction is bound to the tenant too,
// for a plain owner's forced policies. Tables are emptied referencing-first so that foreign
// keys between tenant tables hold throughout.
func deletePoolRows(ctx context.Context, tx pgx.Tx, tenantID int64, schema string) error {
	if _, err := tx.Exec(ctx, `SELECT set_config('tenancy.tenant_id', $1, true)`, fmt.Sprint(tenantID)); err != nil {
		return err
	}
	tables, err := tablesReferencingFirst(ctx, tx, schema)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.Exec(ctx, `DELETE FROM `+tenantRows(schema, t, tenantID)); err != nil {
			return err
		}
	}
	return nil
}

// tablesReferencingFirst lists the tables of schema so that every table comes before the
// tables it references (self-references ignored).
func tablesReferencingFirst(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT c.relname, coalesce(array_agg(r.relname) FILTER (WHERE r.relname IS NOT NULL AND r.oid <> c.oid), '{}')
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'f'
		LEFT JOIN pg_class r ON r.oid = k.confrelid AND r.relnamespace = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		GROUP BY c.relname ORDER BY c.relname`, schema)
	if err != nil {
		return nil, err
	}
	refs := map[string][]string{}
	var names []string
	for rows.Next() {
		var name string
		var to []string
		if err := rows.Scan(&name, &to); err != nil {
			return nil, err
		}
		names = append(names, name)
		refs[name] = to
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Depth-first: a table is emitted after everything that references it.
	referencedBy := map[string][]string{}
	for from, tos := range refs {
		for _, to := range tos {
			referencedBy[to] = append(referencedBy[to], from)
		}
	}
	var out []string
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(string)
	visit = func(n string) {
		if state[n] != 0 {
			return
		}
		state[n] = 1
		for _, from := range referencedBy[n] {
			visit(from)
		}
		state[n] = 2
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out, nil
}
