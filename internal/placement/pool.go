package placement

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The pool tier (docs/tiers.md): many tenants' rows in one shared placement schema, told apart by
// tenant_id and the forced RLS policy that every tenant table carries anyway. A pool placement is
// migrated once for all its tenants, and joining one is a catalog row: no DDL.

// Pool is the pool tier.
var Pool Kind = poolKind{}

type poolKind struct{}

// PoolDefault is the pool that pool-tier tenants join unless told otherwise.
const PoolDefault = "default"

var poolNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// PoolSchema is the schema of pool name.
func PoolSchema(name string) string { return "pool_" + name }

func (poolKind) Name() string { return KindPool }

// Plan finds (or makes) the pool: pools live on the catalog's server only.
func (poolKind) Plan(ctx context.Context, e *Env, server, pool string) (Placement, error) {
	if server != "" && server != DefaultServer {
		return Placement{}, fmt.Errorf("%w: pools live on the catalog's server", ErrTierNotAvailable)
	}
	if pool == "" {
		pool = PoolDefault
	}
	// Any type: the caller chose the pool for the tenant's type (EnsurePoolType).
	id, err := e.EnsurePoolType(ctx, pool, "", nil)
	if err != nil {
		return Placement{}, err
	}
	return Placement{ID: id, Kind: KindPool, Schema: PoolSchema(pool), Owned: true}, nil
}

// Record does nothing: the pool exists, and a tenant joins it by its own catalog row.
func (poolKind) Record(context.Context, *Env, pgx.Tx, int64, *Placement) error { return nil }

// Fill loads the tenant's rows into the pool, in one catalog transaction.
func (poolKind) Fill(ctx context.Context, e *Env, cat CatalogConn, id int64, p Placement, s Steps) error {
	return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
		if ok, err := s.begin(ctx, tx); !ok || err != nil {
			return err
		}
		// FOR SHARE holds off a fleet migration of the pool while its rows are loaded.
		version, err := catalog.PlacementVersionShare(ctx, tx, p.ID)
		if err != nil {
			return err
		}
		if err := s.load(ctx, tx, id, p.Schema, version, true); err != nil {
			return err
		}
		if err := e.crash(ctx, crash.FillLoaded, tx); err != nil {
			return err
		}
		return s.Finish(ctx, tx)
	})
}

// Drop deletes the tenant's rows from the pool and keeps the pool.
func (poolKind) Drop(ctx context.Context, e *Env, tx pgx.Tx, id int64, p Placement, _ bool) (bool, error) {
	if tx == nil {
		return true, pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error { return deletePoolRows(ctx, tx, id, p.Schema) })
	}
	return true, deletePoolRows(ctx, tx, id, p.Schema)
}

// EnsurePool returns the placement id of pool name (schema pool_<name>, at the current tenant
// migration version), creating it for the default type if needed.
func (e *Env) EnsurePool(ctx context.Context, name string) (int64, error) {
	return e.EnsurePoolType(ctx, name, DefaultType, nil)
}

// DefaultType is the tenant type of pools made without one (tenancy.DefaultType).
const DefaultType = "default"

// EnsurePoolType is EnsurePool for tenants of type typ: a new pool gets lines after the common
// line (its type's); an existing pool of another type is ErrTypeMismatch, since a pool holds
// tenants of one type. typ "" accepts a pool of any type, and makes one of DefaultType.
func (e *Env) EnsurePoolType(ctx context.Context, name, typ string, lines []migrate.Line) (int64, error) {
	if e.Owner == nil {
		return 0, ErrReadOnly
	}
	if !poolNamePattern.MatchString(name) {
		return 0, fmt.Errorf("tenancy: invalid pool name %q (want 1-40 of a-z, 0-9 and '_', starting with a letter)", truncate(name, 60))
	}
	schema := PoolSchema(name)
	sameType := func(id int64, has string, found bool, err error) (int64, error) {
		if found && err == nil && typ != "" && has != typ {
			return 0, fmt.Errorf("%w: pool %s holds tenants of type %s, not %s", ErrTypeMismatch, name, has, typ)
		}
		return id, err
	}
	id, has, found, err := catalog.PoolFind(ctx, e.Owner, schema)
	if found || err != nil {
		return sameType(id, has, found, err)
	}
	citus, err := IsCitus(ctx, e.Owner)
	if err != nil {
		return 0, err
	}
	if citus {
		if err := e.makePoolSchema(ctx, name, schema); err != nil {
			return 0, fmt.Errorf("tenancy: create pool %s: %w", name, err)
		}
	}
	err = pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.Pool(schema)); err != nil {
			return err
		}
		if id, has, found, err = catalog.PoolFind(ctx, tx, schema); found || err != nil {
			return err // created meanwhile, or failed
		}
		made := typ
		if made == "" {
			made = DefaultType
		}
		if id, err = catalog.PoolInsert(ctx, tx, schema, made); err != nil {
			return err
		}
		if err := catalog.KeepLocal(ctx, tx); err != nil { // docs/citus.md
			return err
		}
		s := pgx.Identifier{schema}.Sanitize()
		if citus {
			// Made and committed above (makePoolSchema).
			if err := checkPoolSchema(ctx, tx, name, schema); err != nil {
				return err
			}
		} else if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; COMMENT ON SCHEMA %s IS %s`, s, s, QuoteLiteral(PoolMark(name)))); err != nil {
			// No IF NOT EXISTS: a schema tenancy did not create is never taken over.
			return err
		}
		if _, err := tx.Exec(ctx, migrate.PoolCitusSQL); err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, id, e.searchPath(schema), e.TenantMigs, 0); err != nil {
			return err
		}
		if err := migrate.ApplyLines(ctx, tx, id, e.searchPath(schema), lines); err != nil {
			return err
		}
		if err := GrantSchema(ctx, tx, schema, e.AppRole); err != nil || !citus {
			return err
		}
		return DistributePool(ctx, tx, schema) // docs/citus.md
	})
	if err != nil {
		if citus {
			e.dropPoolSchema(ctx, schema)
		}
		return 0, fmt.Errorf("tenancy: create pool %s: %w", name, err)
	}
	return sameType(id, has, found, nil)
}

// PoolExists reports whether pool name exists.
func (e *Env) PoolExists(ctx context.Context, name string) (bool, error) {
	_, _, found, err := catalog.PoolFind(ctx, e.Owner, PoolSchema(name))
	return found, err
}

// deletePoolRows removes one tenant's rows from a pool placement, inside tx. Every DELETE names
// the tenant (TenantRows): the owner may bypass RLS. The transaction is bound to the tenant too,
// for a plain owner's forced policies (on the workers too, on Citus: BindOwnerTx). Tables are
// emptied referencing-first so that foreign keys between tenant tables hold throughout.
func deletePoolRows(ctx context.Context, tx pgx.Tx, tenantID int64, schema string) error {
	if err := BindOwnerTx(ctx, tx, tenantID); err != nil {
		return err
	}
	tables, err := TablesReferencingFirst(ctx, tx, schema)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if _, err := tx.Exec(ctx, `DELETE FROM `+TenantRows(schema, t, tenantID)); err != nil {
			return err
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
