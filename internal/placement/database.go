package placement

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The database tier (docs/tiers.md): a database of the tenant's own, on any server, copied from
// a template database kept at the current tenant migration version, so creating one replays no
// migration. Its tables live in the schema "tenant". Like every placement outside the catalog's
// database it carries a small local catalog (remote.go).

// Database is the database tier.
var Database Kind = databaseKind{}

type databaseKind struct{}

func (databaseKind) Name() string { return KindDatabase }

// Plan chooses the server and makes sure its template is current first: tenant migrations the
// template cannot take (they reference shared tables) are refused before anything is made.
func (databaseKind) Plan(ctx context.Context, e *Env, server, _ string) (Placement, error) {
	s, err := chooseServer(ctx, e, server)
	if err != nil {
		return Placement{}, err
	}
	if err := refuseDatabaseOnCitus(ctx, e, s); err != nil {
		return Placement{}, err
	}
	conn, err := e.OwnerConn(ctx, s, "")
	if err != nil {
		return Placement{}, err
	}
	_, err = e.ensureTemplate(ctx, s, conn)
	conn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return Placement{}, err
	}
	return Placement{Kind: KindDatabase, Server: s, Owned: true}, nil
}

func (databaseKind) Record(ctx context.Context, e *Env, tx pgx.Tx, id int64, p *Placement) error {
	var catalogDB string
	if err := tx.QueryRow(ctx, `SELECT current_database()`).Scan(&catalogDB); err != nil {
		return err
	}
	p.Database, p.Schema = TenantDatabaseName(catalogDB, id), DatabaseSchema
	return record(ctx, tx, p)
}

// Fill copies the template into the tenant's database (or finds the copy an interrupted run
// made), claims it, and fills it.
func (databaseKind) Fill(ctx context.Context, e *Env, cat CatalogConn, id int64, p Placement, s Steps) error {
	home, err := e.OwnerConn(ctx, p.Server, "")
	if err != nil {
		return err
	}
	db, err := e.createTenantDatabase(ctx, cat, home, id, p)
	home.Close(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	p.Database = db
	if err := e.crash(ctx, crash.FillDatabase, nil); err != nil {
		return err
	}
	return e.fillRemote(ctx, cat, id, p, s, func(ctx context.Context, tx pgx.Tx) error {
		return e.claimTemplateCopy(ctx, tx, id, p)
	})
}

// Drop drops the tenant's database if it is the tenant's. DROP DATABASE cannot run inside a
// transaction, so it runs on its own connection while the caller holds the tenant's catalog row.
func (databaseKind) Drop(ctx context.Context, e *Env, _ pgx.Tx, id int64, p Placement, strict bool) (bool, error) {
	e.Conns.Evict(connKey(p))
	want, err := e.TenantMark(ctx, id, p)
	if err != nil {
		return false, err
	}
	notOurs := func(what string) error {
		if !strict {
			return nil
		}
		return fmt.Errorf("%w: %s on server %s", ErrNotOwned, what, ServerLabel(p.Server))
	}
	home, err := e.OwnerConn(ctx, p.Server, "")
	if err != nil {
		return false, err
	}
	defer home.Close(context.WithoutCancel(ctx))
	var comment *string
	err = home.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, p.Database).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // never made, or dropped before a crash
	}
	if err != nil {
		return false, err
	}
	drop := func() (bool, error) {
		err := DropDatabase(ctx, home, p.Database)
		return err == nil, err
	}
	if p.UID != "" && comment != nil {
		if *comment != want {
			return false, notOurs("database " + p.Database)
		}
		return drop()
	}
	// Unmarked: a copy of the template not yet marked or claimed (a crash in between) is ours
	// too; a placement older than marks is known by its local row.
	conn, err := e.OwnerConn(ctx, p.Server, p.Database)
	if err != nil {
		return false, err
	}
	var owner *int64
	lo, err := catalog.LocalOwnerOf(ctx, conn, TemplateID, "", false)
	conn.Close(context.WithoutCancel(ctx))
	ours := false
	if err == nil {
		owner = lo.Tenant
		if ours, err = e.madeHere(ctx, lo.Catalog, p); err != nil {
			return false, err
		}
	}
	if !ours || (owner != nil && (*owner != id || p.UID != "")) {
		return false, notOurs("database " + p.Database)
	}
	return drop()
}

// DatabaseSchema is the schema that holds a database-tier tenant's tables.
const DatabaseSchema = "tenant"

// TemplateID is the id of the one placement row inside a template or tenant database.
const TemplateID = 1

// ensureTemplate makes sure server's template database exists at the latest tenant migration.
// Its comment says it is ours and at which version, so an up-to-date template is used without
// connecting to it (a template cannot be copied for a moment after a connection to it closes).
func (e *Env) ensureTemplate(ctx context.Context, server string, conn *pgx.Conn) (string, error) {
	catalogDB, err := e.CatalogDB(ctx)
	if err != nil {
		return "", err
	}
	cid, err := e.CatalogID(ctx)
	if err != nil {
		return "", err
	}
	tpl := TemplateDatabaseName(catalogDB, cid)
	// Building or migrating the template takes its lock exclusively; copying it takes it shared,
	// since a template cannot be copied while anyone is connected to it.
	key := lockkey.Template(tpl)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)

	latest := migrate.Latest(e.TenantMigs)
	want, err := e.TemplateMark(ctx, server, latest)
	if err != nil {
		return "", err
	}
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, tpl).Scan(&comment)
	var m Mark
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := e.createTemplate(ctx, conn, server, catalogDB, tpl); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	case comment == nil:
		return "", fmt.Errorf("%w: database %s exists and is not a tenancy template", ErrNotOwned, tpl)
	case *comment == want:
		return tpl, nil
	default:
		// Ours at an older version, or a template of another catalog under our name: only the
		// first is migrated.
		if m, _ = ParseMark(*comment); m.Kind != "template" || m.Catalog != cid {
			return "", fmt.Errorf("%w: database %s exists and is not this catalog's template (%q)", ErrNotOwned, tpl, *comment)
		}
	}

	tconn, err := e.OwnerConn(ctx, server, tpl)
	if err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, tconn, func(tx pgx.Tx) error {
		var installed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenancy')`).Scan(&installed); err != nil {
			return err
		}
		// The local catalog is a migration line of its own (internal/catalog, sql/local):
		// installed, or brought up to date, in every template, hence every tenant database.
		if err := catalog.InstallLocal(ctx, tx); err != nil {
			return err
		}
		if !installed {
			if _, err := tx.Exec(ctx, `CREATE SCHEMA `+DatabaseSchema); err != nil {
				return err
			}
			if err := catalog.LocalInsert(ctx, tx, TemplateID, KindDatabase, DatabaseSchema, nil, cid); err != nil {
				return err
			}
		}
		if _, err := migrate.Apply(ctx, tx, TemplateID, e.searchPath(DatabaseSchema), e.TenantMigs, 0); err != nil {
			return fmt.Errorf("tenant migrations in the template database (tenant migrations that use shared tables cannot serve the database tier): %w", err)
		}
		return nil
	})
	tconn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{tpl}.Sanitize()+` IS `+QuoteLiteral(want)); err != nil {
		return "", err
	}
	return tpl, nil
}

// createTemplate makes the template database under a name of its own, marks it, and only then
// gives it the template's name, so that a database with that name always carries the mark: a
// crash in between leaves a marked database under the other name, which the next call renames,
// or (before the mark) an empty one that nothing uses.
func (e *Env) createTemplate(ctx context.Context, conn *pgx.Conn, server, catalogDB, tpl string) error {
	zero, err := e.TemplateMark(ctx, server, 0)
	if err != nil {
		return err
	}
	var building string
	err = conn.QueryRow(ctx, `
		SELECT datname FROM pg_database
		WHERE datname LIKE $1 || '\_building\_%' AND shobj_description(oid, 'pg_database') = $2
		LIMIT 1`, Prefix(catalogDB), zero).Scan(&building)
	if errors.Is(err, pgx.ErrNoRows) {
		building = Prefix(catalogDB) + "_building_" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{building}.Sanitize()); err != nil {
			return fmt.Errorf("create template database: %w", err)
		}
		if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{building}.Sanitize()+` IS `+QuoteLiteral(zero)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{building}.Sanitize()+` RENAME TO `+pgx.Identifier{tpl}.Sanitize())
	return err
}

// createTenantDatabase copies the template into the database of tenant id's placement p, and
// marks it, unless an earlier run made it already; it returns the database's name. A database of
// that name that is not this placement's (an earlier catalog made it for a tenant with the same
// id) is never taken over: the placement gets a fresh name, recorded through cat first.
func (e *Env) createTenantDatabase(ctx context.Context, cat CatalogConn, conn *pgx.Conn, id int64, p Placement) (string, error) {
	db := p.Database
	want, err := e.TenantMark(ctx, id, p)
	if err != nil {
		return "", err
	}
	for try := 0; ; try++ {
		var comment *string
		err := conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, db).Scan(&comment)
		if errors.Is(err, pgx.ErrNoRows) {
			break
		}
		if err != nil {
			return "", err
		}
		if p.UID == "" || (comment != nil && *comment == want) {
			return db, nil // an earlier run made it (a placement older than marks: as before)
		}
		if comment == nil {
			// A crash between CREATE DATABASE and its mark leaves a copy of the template that no
			// tenant has claimed: it holds no tenant's rows, so it may be marked and used.
			if copied, err := e.unclaimedCopy(ctx, p.Server, db); err != nil || copied {
				if err == nil {
					_, err = conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{db}.Sanitize()+` IS `+QuoteLiteral(want))
				}
				return db, err
			}
		}
		if try > 0 {
			return "", fmt.Errorf("%w: database %s exists and is not this tenant's", ErrNotOwned, db)
		}
		db = p.Database + "_" + p.UID[:6]
		if len(db) > 63 {
			return "", fmt.Errorf("%w: database %s exists and is not this tenant's", ErrNotOwned, p.Database)
		}
		if err := catalog.PlacementRename(ctx, cat, p.ID, "", db); err != nil {
			return "", err
		}
	}
	tpl, err := e.ensureTemplate(ctx, p.Server, conn)
	if err != nil {
		return "", err
	}
	key := lockkey.Template(tpl)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1)`, key); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_shared($1)`, key)
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, pgx.Identifier{db}.Sanitize(), pgx.Identifier{tpl}.Sanitize())); err != nil {
		return "", fmt.Errorf("create database %s: %w", db, err)
	}
	if p.UID != "" {
		if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{db}.Sanitize()+` IS `+QuoteLiteral(want)); err != nil {
			return "", err
		}
	}
	return db, nil
}

// unclaimedCopy reports whether db on server is a copy of this catalog's template that no
// tenant has claimed.
func (e *Env) unclaimedCopy(ctx context.Context, server, db string) (bool, error) {
	cid, err := e.CatalogID(ctx)
	if err != nil {
		return false, err
	}
	conn, err := e.OwnerConn(ctx, server, db)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	unclaimed, err := catalog.LocalUnclaimed(ctx, conn, TemplateID, cid)
	if errors.Is(err, pgx.ErrNoRows) || IsUndefinedTable(err) {
		return false, nil
	}
	return unclaimed, err
}

// claimTemplateCopy marks a database copied from the template as the tenant's. A database with
// another tenant's mark, or made by another catalog, is refused.
func (e *Env) claimTemplateCopy(ctx context.Context, tx pgx.Tx, id int64, p Placement) error {
	lo, err := catalog.LocalOwnerOf(ctx, tx, TemplateID, "", true)
	if err != nil {
		return fmt.Errorf("%w: database %s has no tenancy placement mark", ErrNotOwned, p.Database)
	}
	owner := lo.Tenant
	ours, err := e.madeHere(ctx, lo.Catalog, p)
	if err != nil {
		return err
	}
	if (owner != nil && *owner != id) || !ours {
		return fmt.Errorf("%w: database %s", ErrNotOwned, p.Database)
	}
	return catalog.LocalClaim(ctx, tx, TemplateID, id)
}

// dropDatabase drops db after ending the client sessions on it. Not DROP ... WITH (FORCE): that
// refuses a non-superuser when an autovacuum worker happens to be in the database, where a plain
// DROP DATABASE stops the worker itself; sessions that reconnect meanwhile are ended again.
func DropDatabase(ctx context.Context, conn *pgx.Conn, db string) error {
	for attempt := 0; ; attempt++ {
		_, err := conn.Exec(ctx, `
			SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`, db)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" {
			return fmt.Errorf("drop database %s: the owner role cannot end the application role's sessions on it: make it a member (GRANT <application role> TO <owner role>): %w", db, err)
		}
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{db}.Sanitize())
		if errors.As(err, &pgErr) && pgErr.Code == "55006" && attempt < 5 { // still accessed by other users
			continue
		}
		return err
	}
}
