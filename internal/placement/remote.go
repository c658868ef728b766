package placement

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// Placements outside the catalog's database: the database tier (a database per tenant, on any
// server) and schema-tier placements on other servers.
//
// Such a database carries a small local catalog (schema tenancy: current_tenant_id(), a
// placements table and the migration ledger), so that DDL and its ledger rows commit together
// there exactly as in the catalog's own database; the central ledger is brought level after each
// commit, and a rerun copies whatever a crash left behind. The local placements rows also record
// which tenant and which catalog a placement was made for, so tenancy never takes over, nor
// drops, a database or schema it did not create.

// connKey is the key of p's database in the connection-pool registry.
func connKey(p Placement) connpool.Key { return connpool.Key{Server: p.Server, Database: p.Database} }

// fillRemote fills placement p outside the catalog's database: make creates (or finds) it in
// the transaction on its database, then it is migrated, granted and loaded there; the catalog's
// ledger and s.Finish follow in a catalog transaction once that has committed.
func (e *Env) fillRemote(ctx context.Context, cat CatalogConn, id int64, p Placement, s Steps, make func(ctx context.Context, tx pgx.Tx) error) error {
	sc, err := e.Server(ctx, p.Server)
	if err != nil {
		return err
	}
	conn, err := e.OwnerConn(ctx, p.Server, p.Database)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	localID := p.LocalID()
	var ledger [][]any
	var version int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if err := make(ctx, tx); err != nil {
			return err
		}
		if version, err = migrate.Apply(ctx, tx, localID, e.searchPath(p.Schema), e.TenantMigs, 0); err != nil {
			return err
		}
		if len(s.Lines) > 0 {
			// A template made by an older release may lack the local catalog's lines.
			if err := catalog.InstallLocal(ctx, tx); err != nil {
				return err
			}
			if err := migrate.ApplyLines(ctx, tx, localID, e.searchPath(p.Schema), s.Lines); err != nil {
				return err
			}
		}
		if err := GrantSchema(ctx, tx, p.Schema, sc.App.ConnConfig.User); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA tenancy TO `+pgx.Identifier{sc.App.ConnConfig.User}.Sanitize()); err != nil {
			return err
		}
		if err := s.load(ctx, tx, id, p.Schema, version, false); err != nil {
			return err
		}
		if err := e.crash(ctx, crash.FillLoaded, tx); err != nil {
			return err
		}
		ledger, err = catalog.LocalLedger(ctx, tx, localID)
		return err
	})
	if err != nil {
		return err
	}
	if err := e.crash(ctx, crash.FillCommitted, nil); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
		if err := catalog.LedgerCopy(ctx, tx, p.ID, version, ledger); err != nil {
			return err
		}
		return s.Finish(ctx, tx)
	})
}

// MigrateRemote brings a placement outside the catalog's database to version to (the fleet
// runner's migrate.Placements): the DDL and the local ledger commit together in the placement's
// database, then the catalog's ledger is brought level. A crash in between leaves the catalog
// behind the placement; the rerun finds nothing to apply there and copies the ledger.
func (e *Env) MigrateRemote(ctx context.Context, t *migrate.Target, migs []migrate.Migration, to int64, lines []migrate.Line) (int64, error) {
	conn, err := e.OwnerConn(ctx, t.Server, t.Database)
	if err != nil {
		return t.Version, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sc, err := e.Server(ctx, t.Server)
	if err != nil {
		return t.Version, err
	}
	localID := Placement{ID: t.PlacementID, Kind: t.Kind}.LocalID()
	var version int64
	var ledger [][]any
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The local catalog's own line first: this is how tenant databases made by an older
		// release get its newer versions.
		if err := catalog.InstallLocal(ctx, tx); err != nil {
			return err
		}
		var err error
		if version, err = migrate.Apply(ctx, tx, localID, e.searchPath(t.Schema), migs, to); err != nil {
			return err
		}
		if err := migrate.ApplyLines(ctx, tx, localID, e.searchPath(t.Schema), lines); err != nil {
			return err
		}
		if err := GrantMissing(ctx, tx, t.Schema, sc.App.ConnConfig.User); err != nil {
			return err
		}
		ledger, err = catalog.LocalLedger(ctx, tx, localID)
		return err
	})
	if err != nil {
		return t.Version, err
	}
	err = pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error { return catalog.LedgerCopy(ctx, tx, t.PlacementID, version, ledger) })
	if err != nil {
		return t.Version, err
	}
	return version, nil
}

// AfterApply runs in a placement's transaction after migrations were applied to it (the fleet
// runner's migrate.Placements): the shape schema must stay unreadable by the application role
// (no grants) and follow the RLS convention, or no tenant gets the migration; a tenant placement
// gives the application role the tables it cannot use yet (and a pool on Citus distributes them:
// afterPool).
func (e *Env) AfterApply(ctx context.Context, tx pgx.Tx, t *migrate.Target) error {
	if t.Kind == migrate.KindShape {
		return catalog.CheckRLS(ctx, tx, catalog.ShapeSchema)
	}
	if t.Kind == migrate.KindPool {
		return e.afterPool(ctx, tx, t)
	}
	return GrantMissing(ctx, tx, t.Schema, e.AppRole)
}

// BeforeTenants brings the shape schema of every other server's home database to version to
// (the fleet runner's migrate.Placements), so that statements prepared there match the tenant
// schemas they will run against.
func (e *Env) BeforeTenants(ctx context.Context, to int64) error {
	names, err := catalog.ServerNames(ctx, e.Owner)
	if err != nil {
		return err
	}
	for _, name := range names {
		conn, err := e.OwnerConn(ctx, name, "")
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := migrate.Apply(ctx, tx, 0, e.searchPath(catalog.ShapeSchema), e.TenantMigs, to); err != nil {
				return err
			}
			if len(e.ShapeLines) > 0 {
				if err := catalog.InstallLocal(ctx, tx); err != nil {
					return err
				}
				if err := migrate.ApplyLines(ctx, tx, 0, e.searchPath(catalog.ShapeSchema), e.ShapeLines); err != nil {
					return err
				}
			}
			return catalog.CheckRLS(ctx, tx, catalog.ShapeSchema)
		})
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("server %s: %w", name, err)
		}
	}
	return nil
}

// InstallHome installs, idempotently, the local catalog and the shape schema in a server's home
// database (on the owner connection owner), so that schema-tier placements can live there.
func (e *Env) InstallHome(ctx context.Context, owner *pgx.Conn, appRole string) error {
	catalogDB, err := e.CatalogDB(ctx)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.Catalog); err != nil {
			return err
		}
		var installed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenancy')`).Scan(&installed); err != nil {
			return err
		}
		if installed {
			made, err := catalog.LocalShapeCatalog(ctx, tx)
			if err != nil || made != catalogDB {
				return fmt.Errorf("%w: its database already has a tenancy schema of another catalog", ErrNotOwned)
			}
			return catalog.InstallLocal(ctx, tx) // brought up to date
		}
		if err := catalog.InstallLocal(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{catalog.ShapeSchema}.Sanitize()); err != nil {
			return err
		}
		if err := catalog.LocalInsert(ctx, tx, 0, migrate.KindShape, catalog.ShapeSchema, nil, catalogDB); err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, 0, e.searchPath(catalog.ShapeSchema), e.TenantMigs, 0); err != nil {
			return fmt.Errorf("tenant migrations in the shape schema (tenant migrations that use shared tables cannot serve other servers): %w", err)
		}
		if err := migrate.ApplyLines(ctx, tx, 0, e.searchPath(catalog.ShapeSchema), e.ShapeLines); err != nil {
			return fmt.Errorf("tenant type migrations in the shape schema: %w", err)
		}
		app := pgx.Identifier{appRole}.Sanitize()
		_, err := tx.Exec(ctx, fmt.Sprintf(`GRANT USAGE ON SCHEMA tenancy, %s, %s TO %s`, pgx.Identifier{catalog.ShapeSchema}.Sanitize(), pgx.Identifier{e.Shared}.Sanitize(), app))
		return err
	})
}

// OpenConfig configures a pool for a placement database (the connection registry's opener).
// The application role's search_path starts with a schema of the tenant's shape that it cannot
// read unbound (tenancy_shape in a home database), or, in a tenant's own database, with the
// tenant schema itself, whose forced RLS shows nothing unbound.
func (e *Env) OpenConfig(ctx context.Context, k connpool.Key) (*pgxpool.Config, error) {
	sc, err := e.Server(ctx, k.Server)
	if err != nil {
		return nil, err
	}
	base := sc.App
	if k.Admin {
		if base = sc.Owner; base == nil {
			return nil, ErrReadOnly
		}
	}
	cfg := base.Copy()
	cfg.ConnConfig.Database = k.Database
	if k.Database == "" {
		cfg.ConnConfig.Database = sc.Home
	}
	if !k.Admin {
		first := DatabaseSchema
		if k.Database == "" {
			first = catalog.ShapeSchema
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{first}.Sanitize() + ", " + pgx.Identifier{e.Shared}.Sanitize() + ", pg_temp"
	}
	cfg.MinConns = 0
	return cfg, nil
}

// IsUndefinedTable reports the error of a catalog query run before the catalog is installed.
func IsUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000")
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
