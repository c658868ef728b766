package placement

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The schema tier (docs/tiers.md): a schema of the tenant's own, tenant_<id>, in the catalog's
// database or in another server's home database.

// Schema is the schema tier.
var Schema Kind = schemaKind{}

type schemaKind struct{}

func (schemaKind) Name() string { return KindSchema }

func (schemaKind) Plan(ctx context.Context, e *Env, server, _ string) (Placement, error) {
	s, err := chooseServer(ctx, e, server)
	return Placement{Kind: KindSchema, Server: s, Owned: true}, err
}

func (schemaKind) Record(ctx context.Context, e *Env, tx pgx.Tx, id int64, p *Placement) error {
	// Placement names derive from the tenant id, never from user input.
	p.Schema = "tenant_" + strconv.FormatInt(id, 10)
	return record(ctx, tx, p)
}

// record inserts p's catalog row with a fresh uid.
func record(ctx context.Context, tx pgx.Tx, p *Placement) error {
	p.UID, p.Owned = NewUID(), true
	var err error
	p.ID, err = catalog.PlacementInsert(ctx, tx, p.Kind, p.Server, p.Database, p.Schema, p.UID)
	if isUniqueViolation(err) {
		return fmt.Errorf("tenancy: placement %s exists already (a move or restore left it: run repair)", p.Label())
	}
	return err
}

func (schemaKind) Fill(ctx context.Context, e *Env, cat CatalogConn, id int64, p Placement, s Steps) error {
	if !p.Local() {
		return e.fillRemote(ctx, cat, id, p, s, func(ctx context.Context, tx pgx.Tx) error {
			return e.createRemoteSchema(ctx, tx, id, p)
		})
	}
	// In the catalog's database: the schema, its migrations, its ledger, its rows and the
	// catalog's change commit together.
	provisioning := s.Load == nil
	point := func(tx pgx.Tx, step string) error {
		if !provisioning { // these crash points are provisioning's (crash.Schema ... crash.Granted)
			return nil
		}
		return e.crash(ctx, step, tx)
	}
	return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
		if ok, err := s.begin(ctx, tx); !ok || err != nil {
			return err
		}
		// A restore may have claimed a warm placement (warm.go): made, migrated and granted.
		made := int64(0)
		if !provisioning {
			var err error
			if made, err = catalog.PlacementVersionShare(ctx, tx, p.ID); err != nil {
				return err
			}
		}
		if made == 0 {
			if err := e.createLocalSchema(ctx, tx, id, &p); err != nil {
				return err
			}
		}
		if err := point(tx, crash.Schema); err != nil {
			return err
		}
		version, err := migrate.Apply(ctx, tx, p.ID, e.searchPath(p.Schema), e.TenantMigs, 0)
		if err != nil {
			return err
		}
		if err := migrate.ApplyLines(ctx, tx, p.ID, e.searchPath(p.Schema), s.Lines); err != nil {
			return err
		}
		if err := point(tx, crash.Migrated); err != nil {
			return err
		}
		if err := GrantSchema(ctx, tx, p.Schema, e.AppRole); err != nil {
			return err
		}
		if err := point(tx, crash.Granted); err != nil {
			return err
		}
		if !provisioning {
			if err := s.load(ctx, tx, id, p.Schema, version, true); err != nil {
				return err
			}
			if err := e.crash(ctx, crash.FillLoaded, tx); err != nil {
				return err
			}
		}
		return s.Finish(ctx, tx)
	})
}

// createLocalSchema creates the schema of tenant id's placement p in the catalog's database, and
// marks it. A schema of that name that exists already (an earlier catalog made it for a tenant
// with the same id) is never taken over: the placement gets a fresh name, recorded in tx.
func (e *Env) createLocalSchema(ctx context.Context, tx pgx.Tx, id int64, p *Placement) error {
	if p.UID != "" {
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, p.Schema).Scan(&taken); err != nil {
			return err
		}
		if taken {
			p.Schema += "_" + p.UID[:6]
			if err := catalog.PlacementRename(ctx, tx, p.ID, p.Schema, ""); err != nil {
				return err
			}
		}
	}
	m, err := e.TenantMark(ctx, id, *p)
	if err != nil {
		return err
	}
	_, err = createTenantSchema(ctx, tx, p.Schema, m) // distributed on Citus (citus_schema.go)
	return err
}

// createRemoteSchema creates a tenant's schema in another server's home database, or finds it
// made by an earlier, interrupted run.
func (e *Env) createRemoteSchema(ctx context.Context, tx pgx.Tx, id int64, p Placement) error {
	localID := p.LocalID()
	want, err := e.TenantMark(ctx, id, p)
	if err != nil {
		return err
	}
	lo, err := catalog.LocalOwnerOf(ctx, tx, localID, p.Schema, true)
	if err == nil {
		owner, comment := lo.Tenant, lo.Comment
		ours, err := e.madeHere(ctx, lo.Catalog, p)
		if err != nil {
			return err
		}
		if owner == nil || *owner != id || !ours || (p.UID != "" && (comment == nil || *comment != want)) {
			return fmt.Errorf("%w: placement %d on the remote server", ErrNotOwned, localID)
		}
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	cid, err := e.CatalogID(ctx)
	if err != nil {
		return err
	}
	if err := catalog.LocalInsert(ctx, tx, localID, KindSchema, p.Schema, &id, cid); err != nil {
		return err
	}
	_, err = createTenantSchema(ctx, tx, p.Schema, want)
	return err
}

func (schemaKind) Drop(ctx context.Context, e *Env, tx pgx.Tx, id int64, p Placement, strict bool) (bool, error) {
	if !p.Local() {
		return e.dropRemoteSchema(ctx, id, p, strict)
	}
	if tx == nil {
		var dropped bool
		err := pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error {
			var err error
			dropped, err = e.dropLocalSchema(ctx, tx, id, p, strict)
			return err
		})
		return dropped, err
	}
	return e.dropLocalSchema(ctx, tx, id, p, strict)
}

// dropLocalSchema drops tenant id's schema in the catalog's database, in tx, if it carries the
// tenant's mark.
func (e *Env) dropLocalSchema(ctx context.Context, tx pgx.Tx, id int64, p Placement, strict bool) (bool, error) {
	var comment *string
	err := tx.QueryRow(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, p.Schema).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // never made, or dropped before a crash
	}
	if err != nil {
		return false, err
	}
	want, err := e.TenantMark(ctx, id, p)
	if err != nil {
		return false, err
	}
	if comment == nil || *comment != want {
		if !strict {
			return false, nil // not made for this placement: left alone
		}
		return false, fmt.Errorf("%w: schema %s", ErrNotOwned, p.Schema)
	}
	if !p.Owned {
		return false, fmt.Errorf("%w: schema %s", ErrNotOwned, p.Schema)
	}
	_, err = tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{p.Schema}.Sanitize()+` CASCADE`)
	return err == nil, err
}

// dropRemoteSchema drops tenant id's schema in another server's home database, and its local
// catalog row, if they are the tenant's.
func (e *Env) dropRemoteSchema(ctx context.Context, id int64, p Placement, strict bool) (dropped bool, err error) {
	e.Conns.Evict(connKey(p))
	want, err := e.TenantMark(ctx, id, p)
	if err != nil {
		return false, err
	}
	home, err := e.OwnerConn(ctx, p.Server, "")
	if err != nil {
		return false, err
	}
	defer home.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, home, func(tx pgx.Tx) error {
		lo, err := catalog.LocalOwnerOf(ctx, tx, p.ID, p.Schema, true)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // never made, or dropped before a crash
		}
		if err != nil {
			return err
		}
		owner, comment := lo.Tenant, lo.Comment
		ours, err := e.madeHere(ctx, lo.Catalog, p)
		if err != nil {
			return err
		}
		if owner == nil || *owner != id || !ours || (p.UID != "" && comment != nil && *comment != want) {
			if !strict {
				return nil
			}
			return fmt.Errorf("%w: schema %s on server %s", ErrNotOwned, p.Schema, ServerLabel(p.Server))
		}
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{p.Schema}.Sanitize()+` CASCADE`); err != nil {
			return err
		}
		dropped = true
		return catalog.LocalDelete(ctx, tx, p.ID)
	})
	return dropped && err == nil, err
}
