package placement

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// Warm placements (docs/tiers.md): schema-tier placements in the catalog's database, made,
// migrated and granted ahead of time, that a create claims by renaming the schema and writing
// the tenant's mark, in the transaction that makes the tenant. Until then a warm schema carries
// a mark for tenant 0, which names no tenant, and the row in tenancy.warm.

// warmSchema names a warm placement's schema by its uid: no tenant id exists yet.
func warmSchema(uid string) string { return "tenant_warm_" + uid }

// MakeWarm makes one warm placement, at the latest tenant migration, in one transaction: a crash
// leaves nothing of it.
func (e *Env) MakeWarm(ctx context.Context) error {
	return pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error {
		uid := NewUID()
		p := Placement{Kind: KindSchema, Schema: warmSchema(uid), UID: uid, Owned: true}
		var err error
		if p.ID, err = catalog.PlacementInsert(ctx, tx, p.Kind, "", "", p.Schema, p.UID); err != nil {
			return err
		}
		if err := catalog.WarmInsert(ctx, tx, p.ID); err != nil {
			return err
		}
		m, err := e.TenantMark(ctx, 0, p)
		if err != nil {
			return err
		}
		// A distributed schema on Citus, as a tenant's own: ALTER SCHEMA ... RENAME keeps it one.
		if _, err := createTenantSchema(ctx, tx, p.Schema, m); err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, p.ID, e.searchPath(p.Schema), e.TenantMigs, 0); err != nil {
			return err
		}
		// The tables' grants now; USAGE on the schema only when a tenant claims it, so that the
		// application role cannot reach a warm schema's tables and leave rows there for a
		// future tenant.
		if err := GrantMissing(ctx, tx, p.Schema, e.AppRole); err != nil {
			return err
		}
		return e.crash(ctx, crash.WarmMade, tx)
	})
}

// ClaimWarm gives tenant id a warm placement at version, in tx (which has made the tenant's
// row): the schema is renamed tenant_<id> (with the uid's head if that name is taken, as
// createLocalSchema does) and marked as the tenant's. found is false when none is ready; the
// claim is undone if tx rolls back.
func (e *Env) ClaimWarm(ctx context.Context, tx pgx.Tx, id, version int64) (p Placement, found bool, err error) {
	w, found, err := catalog.WarmClaim(ctx, tx, version)
	if err != nil || !found {
		return p, false, err
	}
	p = Placement{ID: w.ID, Kind: KindSchema, Schema: w.Schema, UID: w.UID, Owned: true}
	// The warm schema must still be the one made for this placement; and its new name may be
	// taken by a leftover of a crash; and on Citus the rename is sent statement by statement.
	// One round trip for the three.
	name := "tenant_" + strconv.FormatInt(id, 10)
	var comment *string
	var taken, citus bool
	if err := tx.QueryRow(ctx, `SELECT (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1),
		EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2), `+citusSQL, p.Schema, name).Scan(&comment, &taken, &citus); err != nil {
		return p, false, fmt.Errorf("warm placement %s: %w", p.Schema, err)
	}
	want, err := e.TenantMark(ctx, 0, p)
	if err != nil {
		return p, false, err
	}
	if comment == nil || *comment != want {
		return p, false, fmt.Errorf("%w: warm schema %s", ErrNotOwned, p.Schema)
	}
	if taken {
		name += "_" + p.UID[:6]
	}
	m, err := e.TenantMark(ctx, id, p)
	if err != nil {
		return p, false, err
	}
	from, to := pgx.Identifier{p.Schema}.Sanitize(), pgx.Identifier{name}.Sanitize()
	if err := execStatements(ctx, tx, citus, `ALTER SCHEMA `+from+` RENAME TO `+to, `COMMENT ON SCHEMA `+to+` IS `+QuoteLiteral(m),
		`GRANT USAGE ON SCHEMA `+to+` TO `+pgx.Identifier{e.AppRole}.Sanitize()); err != nil {
		return p, false, err
	}
	p.Schema = name
	if err := catalog.PlacementRename(ctx, tx, p.ID, p.Schema, ""); err != nil {
		return p, false, err
	}
	return p, true, e.crash(ctx, crash.WarmClaimed, tx)
}

// DiscardWarm drops one warm placement that is not at version (the tenant migrations moved on
// since it was made), in one transaction; found is false when there is none.
func (e *Env) DiscardWarm(ctx context.Context, version int64) (found bool, err error) {
	err = pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error {
		w, ok, err := catalog.WarmTakeStale(ctx, tx, version)
		if err != nil || !ok {
			return err
		}
		found = true
		p := Placement{ID: w.ID, Kind: KindSchema, Schema: w.Schema, UID: w.UID, Owned: true}
		if _, err := e.dropLocalSchema(ctx, tx, 0, p, true); err != nil {
			return err
		}
		return catalog.WarmPlacementDelete(ctx, tx, p.ID)
	})
	return found, err
}
