package tenancy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/connpool"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// Placements outside the catalog's database (docs/tiers.md): the database tier (a database per
// tenant, on any server) and schema-tier placements on other servers.
//
// Such a database carries a small local catalog (schema tenancy: current_tenant_id(), a
// placements table and the migration ledger), so that DDL and its ledger rows commit together
// there exactly as in the catalog's own database; the central ledger is brought level after each
// commit, and a rerun copies whatever a crash left behind. The local placements rows also record
// which tenant and which catalog a placement was made for, so tenancy never takes over, nor
// drops, a database or schema it did not create.
//
// A database-tier tenant's database is copied from a template database kept at the current
// tenant migration version, so creating one replays no migration. Its tables live in the schema
// "tenant".

// databaseSchema is the schema that holds a database-tier tenant's tables.
const databaseSchema = "tenant"

// localCatalogSQL is installed in every template database (hence every tenant database) and in
// every other server's home database.
const localCatalogSQL = `
CREATE SCHEMA tenancy;
CREATE TABLE tenancy.placements (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,
    schema     text NOT NULL,
    version    bigint NOT NULL DEFAULT 0,
    tenant_id  bigint,          -- the tenant it was made for; NULL in a template
    catalog    text NOT NULL    -- the catalog database that made it
);
CREATE TABLE tenancy.migrations (
    placement_id bigint NOT NULL REFERENCES tenancy.placements (id) ON DELETE CASCADE,
    version      bigint NOT NULL,
    name         text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (placement_id, version)
);
CREATE FUNCTION tenancy.current_tenant_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint $$;`

const (
	templateCatalogSQL = localCatalogSQL + "\nCREATE SCHEMA tenant;"
	homeCatalogSQL     = localCatalogSQL + "\nCREATE SCHEMA tenancy_shape;"
)

// templatePlacementID is the id of the one placement row inside a template or tenant database.
const templatePlacementID = 1

// catalogDatabase returns the name of the catalog's database (cached).
func (c *Client) catalogDatabase(ctx context.Context) (string, error) {
	c.dbNameOnce.Do(func() {
		// A connection of its own, as catalogID does: callers may hold the pool's connections.
		conn, err := pgx.ConnectConfig(ctx, c.app.Config().ConnConfig)
		if err != nil {
			c.dbNameErr = err
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		c.dbNameErr = conn.QueryRow(ctx, `SELECT current_database()`).Scan(&c.dbName)
	})
	return c.dbName, c.dbNameErr
}

// tenantDatabaseName derives a database-tier tenant's database name from the catalog's database
// name and the tenant id: never from anything a user typed, and distinct per catalog.
func tenantDatabaseName(catalogDB string, id int64) string {
	return prefix(catalogDB) + "_t" + strconv.FormatInt(id, 10)
}

// templateDatabaseName names the template of the catalog with identity cid: a catalog recreated
// under the same name (a new identity) never meets an earlier one's template.
func templateDatabaseName(catalogDB, cid string) string {
	return prefix(catalogDB) + "_template_" + cid[:min(8, len(cid))]
}

func prefix(catalogDB string) string {
	if len(catalogDB) > 40 {
		h := fnv.New32a()
		h.Write([]byte(catalogDB))
		return catalogDB[:30] + "_" + strconv.FormatUint(uint64(h.Sum32()), 36)
	}
	return catalogDB
}

// applyTenantMigrations brings a local placement row's schema to the latest tenant migration.
func (c *Client) applyTenantMigrations(ctx context.Context, tx pgx.Tx, localID int64, schema string) (int64, error) {
	return migrate.Apply(ctx, tx, localID, pgx.Identifier{schema}.Sanitize()+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, 0)
}

// openPlacement configures a pool for a placement database (the registry's opener). The
// application role's search_path starts with a schema of the tenant's shape that it cannot read
// unbound (tenancy_shape in a home database), or, in a tenant's own database, with the tenant
// schema itself, whose forced RLS shows nothing unbound.
func (c *Client) openPlacement(ctx context.Context, k connpool.Key) (*pgxpool.Config, error) {
	sc, err := c.serverConfig(ctx, k.Server)
	if err != nil {
		return nil, err
	}
	base := sc.app
	if k.Admin {
		if base = sc.owner; base == nil {
			return nil, ErrReadOnly
		}
	}
	cfg := base.Copy()
	cfg.ConnConfig.Database = k.Database
	if k.Database == "" {
		cfg.ConnConfig.Database = sc.home
	}
	if !k.Admin {
		first := databaseSchema
		if k.Database == "" {
			first = "tenancy_shape"
		}
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{first}.Sanitize() + ", " + pgx.Identifier{c.shared}.Sanitize() + ", pg_temp"
	}
	cfg.MinConns = 0
	return cfg, nil
}

// ensureTemplate makes sure server's template database exists at the latest tenant migration.
// Its comment says it is ours and at which version, so an up-to-date template is used without
// connecting to it (a template cannot be copied for a moment after a connection to it closes).
func (c *Client) ensureTemplate(ctx context.Context, server string, conn *pgx.Conn) (string, error) {
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return "", err
	}
	cid, err := c.catalogID(ctx)
	if err != nil {
		return "", err
	}
	tpl := templateDatabaseName(catalogDB, cid)
	// Building or migrating the template takes its lock exclusively; copying it takes it shared,
	// since a template cannot be copied while anyone is connected to it.
	key := lockkey.Template(tpl)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)

	latest := migrate.Latest(c.tenantMigs)
	want, err := c.templateMark(ctx, server, latest)
	if err != nil {
		return "", err
	}
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, tpl).Scan(&comment)
	var m mark
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if err := c.createTemplate(ctx, conn, server, catalogDB, tpl); err != nil {
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
		if m, _ = parseMark(*comment); m.kind != "template" || m.catalog != cid {
			return "", fmt.Errorf("%w: database %s exists and is not this catalog's template (%q)", ErrNotOwned, tpl, *comment)
		}
	}

	tconn, err := c.ownerConn(ctx, server, tpl)
	if err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, tconn, func(tx pgx.Tx) error {
		var installed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenancy')`).Scan(&installed); err != nil {
			return err
		}
		if !installed {
			if _, err := tx.Exec(ctx, templateCatalogSQL); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, catalog) VALUES ($1, 'database', $2, $3)`,
				templatePlacementID, databaseSchema, cid); err != nil {
				return err
			}
		}
		if _, err := c.applyTenantMigrations(ctx, tx, templatePlacementID, databaseSchema); err != nil {
			return fmt.Errorf("tenant migrations in the template database (tenant migrations that use shared tables cannot serve the database tier): %w", err)
		}
		return nil
	})
	tconn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{tpl}.Sanitize()+` IS `+quoteLiteral(want)); err != nil {
		return "", err
	}
	return tpl, nil
}

// createTemplate makes the template database under a name of its own, marks it, and only then
// gives it the template's name, so that a database with that name always carries the mark: a
// crash in between leaves a marked database under the other name, which the next call renames,
// or (before the mark) an empty one that nothing uses.
func (c *Client) createTemplate(ctx context.Context, conn *pgx.Conn, server, catalogDB, tpl string) error {
	zero, err := c.templateMark(ctx, server, 0)
	if err != nil {
		return err
	}
	var building string
	err = conn.QueryRow(ctx, `
		SELECT datname FROM pg_database
		WHERE datname LIKE $1 || '\_building\_%' AND shobj_description(oid, 'pg_database') = $2
		LIMIT 1`, prefix(catalogDB), zero).Scan(&building)
	if errors.Is(err, pgx.ErrNoRows) {
		building = prefix(catalogDB) + "_building_" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{building}.Sanitize()); err != nil {
			return fmt.Errorf("create template database: %w", err)
		}
		if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{building}.Sanitize()+` IS `+quoteLiteral(zero)); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{building}.Sanitize()+` RENAME TO `+pgx.Identifier{tpl}.Sanitize())
	return err
}

// provisionRemote finishes a tenant in "provisioning" whose placement is outside the catalog's
// database: a database of its own (copied from the template), or a schema in another server's
// home database. It is fillPlacement (restore.go) with nothing to load: the placement is made
// and marked, then the catalog's ledger and status follow.
func (c *Client) provisionRemote(ctx context.Context, cat catalogConn, id int64, p Placement, kind string) error {
	tier := TierSchema
	if kind == "database" {
		tier = TierDatabase
	}
	noRows := func(context.Context, pgx.Tx, string, int64, bool) error { return nil }
	return c.fillPlacement(ctx, cat, id, tier, p, noRows, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET status = 'active', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id)
		return err
	})
}

// createTenantDatabase copies the template into the database of tenant id's placement p, and
// marks it, unless an earlier run made it already; it returns the database's name. A database of
// that name that is not this placement's (an earlier catalog made it for a tenant with the same
// id) is never taken over: the placement gets a fresh name, recorded through cat first.
func (c *Client) createTenantDatabase(ctx context.Context, cat catalogConn, conn *pgx.Conn, id int64, p Placement) (string, error) {
	db := p.Database
	want, err := c.tenantMark(ctx, id, p)
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
		if p.uid == "" || (comment != nil && *comment == want) {
			return db, nil // an earlier run made it (a placement older than marks: as before)
		}
		if comment == nil {
			// A crash between CREATE DATABASE and its mark leaves a copy of the template that no
			// tenant has claimed: it holds no tenant's rows, so it may be marked and used.
			if copied, err := c.unclaimedCopy(ctx, p.Server, db); err != nil || copied {
				if err == nil {
					_, err = conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{db}.Sanitize()+` IS `+quoteLiteral(want))
				}
				return db, err
			}
		}
		if try > 0 {
			return "", fmt.Errorf("%w: database %s exists and is not this tenant's", ErrNotOwned, db)
		}
		db = p.Database + "_" + p.uid[:6]
		if len(db) > 63 {
			return "", fmt.Errorf("%w: database %s exists and is not this tenant's", ErrNotOwned, p.Database)
		}
		if _, err := cat.Exec(ctx, `UPDATE tenancy.placements SET database = $2 WHERE id = $1`, p.ID, db); err != nil {
			return "", err
		}
	}
	tpl, err := c.ensureTemplate(ctx, p.Server, conn)
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
	if p.uid != "" {
		if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{db}.Sanitize()+` IS `+quoteLiteral(want)); err != nil {
			return "", err
		}
	}
	return db, nil
}

// unclaimedCopy reports whether db on server is a copy of this catalog's template that no
// tenant has claimed.
func (c *Client) unclaimedCopy(ctx context.Context, server, db string) (bool, error) {
	cid, err := c.catalogID(ctx)
	if err != nil {
		return false, err
	}
	conn, err := c.ownerConn(ctx, server, db)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var unclaimed bool
	err = conn.QueryRow(ctx, `SELECT tenant_id IS NULL AND catalog = $2 FROM tenancy.placements WHERE id = $1`, templatePlacementID, cid).Scan(&unclaimed)
	if errors.Is(err, pgx.ErrNoRows) || isUndefinedTable(err) {
		return false, nil
	}
	return unclaimed, err
}

// madeHere reports whether a local placement row's catalog column names this catalog: its
// identity, or (for a placement older than marks) the catalog database's name, as it used to.
func (c *Client) madeHere(ctx context.Context, made string, p Placement) (bool, error) {
	cid, err := c.catalogID(ctx)
	if err != nil {
		return false, err
	}
	if made == cid {
		return true, nil
	}
	catalogDB, err := c.catalogDatabase(ctx)
	return p.uid == "" && made == catalogDB, err
}

// claimTemplateCopy marks a database copied from the template as the tenant's. A database with
// another tenant's mark, or made by another catalog, is refused.
func (c *Client) claimTemplateCopy(ctx context.Context, tx pgx.Tx, id int64, p Placement) error {
	var owner *int64
	var made string
	if err := tx.QueryRow(ctx, `SELECT tenant_id, catalog FROM tenancy.placements WHERE id = $1 FOR UPDATE`, templatePlacementID).Scan(&owner, &made); err != nil {
		return fmt.Errorf("%w: database %s has no tenancy placement mark", ErrNotOwned, p.Database)
	}
	ours, err := c.madeHere(ctx, made, p)
	if err != nil {
		return err
	}
	if (owner != nil && *owner != id) || !ours {
		return fmt.Errorf("%w: database %s", ErrNotOwned, p.Database)
	}
	_, err = tx.Exec(ctx, `UPDATE tenancy.placements SET tenant_id = $2 WHERE id = $1`, templatePlacementID, id)
	return err
}

// createRemoteSchema creates a tenant's schema in another server's home database, or finds it
// made by an earlier, interrupted run.
func (c *Client) createRemoteSchema(ctx context.Context, tx pgx.Tx, id, localID int64, p Placement) error {
	want, err := c.tenantMark(ctx, id, p)
	if err != nil {
		return err
	}
	var owner *int64
	var made string
	var comment *string
	err = tx.QueryRow(ctx, `SELECT tenant_id, catalog, (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $2)
		FROM tenancy.placements WHERE id = $1 FOR UPDATE`, localID, p.Schema).Scan(&owner, &made, &comment)
	if err == nil {
		ours, err := c.madeHere(ctx, made, p)
		if err != nil {
			return err
		}
		if owner == nil || *owner != id || !ours || (p.uid != "" && (comment == nil || *comment != want)) {
			return fmt.Errorf("%w: placement %d on the remote server", ErrNotOwned, localID)
		}
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	cid, err := c.catalogID(ctx)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, tenant_id, catalog) VALUES ($1, 'schema', $2, $3, $4)`,
		localID, p.Schema, id, cid); err != nil {
		return err
	}
	s := pgx.Identifier{p.Schema}.Sanitize()
	_, err = tx.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; COMMENT ON SCHEMA %s IS %s`, s, s, quoteLiteral(want)))
	return err
}

func localLedger(ctx context.Context, tx pgx.Tx, localID int64) ([][]any, error) {
	rows, err := tx.Query(ctx, `SELECT version, name, checksum, applied_at, duration_ms FROM tenancy.migrations WHERE placement_id = $1`, localID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
}

// copyLedger brings the catalog's ledger of a placement level with its local ledger.
func copyLedger(ctx context.Context, tx pgx.Tx, placementID, version int64, ledger [][]any) error {
	for _, row := range ledger {
		if _, err := tx.Exec(ctx, `
			INSERT INTO tenancy.migrations (placement_id, version, name, checksum, applied_at, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, append([]any{placementID}, row...)...); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `UPDATE tenancy.placements SET version = $2 WHERE id = $1`, placementID, version)
	return err
}

// dropRemote removes a placement outside the catalog's database, if it exists and carries the
// tenant's mark. DROP DATABASE cannot run inside a transaction, so it runs on its own connection
// while the caller holds the tenant's catalog row. What does not carry the mark is never dropped:
// strict says to refuse (ErrNotOwned) rather than leave it, as for a placement the tenant was
// never finished in, which tenancy never made there.
func (c *Client) dropRemote(ctx context.Context, id int64, p Placement, kind string, strict bool) error {
	c.conns.Evict(connpool.Key{Server: p.Server, Database: p.Database})
	want, err := c.tenantMark(ctx, id, p)
	if err != nil {
		return err
	}
	notOurs := func(what string) error {
		if !strict {
			return nil
		}
		return fmt.Errorf("%w: %s on server %s", ErrNotOwned, what, serverLabel(p.Server))
	}
	home, err := c.ownerConn(ctx, p.Server, "")
	if err != nil {
		return err
	}
	defer home.Close(context.WithoutCancel(ctx))
	if kind == "schema" {
		return pgx.BeginFunc(ctx, home, func(tx pgx.Tx) error {
			var owner *int64
			var made string
			var comment *string
			err := tx.QueryRow(ctx, `SELECT tenant_id, catalog, (SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $2)
				FROM tenancy.placements WHERE id = $1 FOR UPDATE`, p.ID, p.Schema).Scan(&owner, &made, &comment)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // never made, or dropped before a crash
			}
			if err != nil {
				return err
			}
			ours, err := c.madeHere(ctx, made, p)
			if err != nil {
				return err
			}
			if owner == nil || *owner != id || !ours || (p.uid != "" && comment != nil && *comment != want) {
				return notOurs("schema " + p.Schema)
			}
			if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{p.Schema}.Sanitize()+` CASCADE`); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `DELETE FROM tenancy.placements WHERE id = $1`, p.ID)
			return err
		})
	}
	var comment *string
	err = home.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, p.Database).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.uid != "" && comment != nil {
		if *comment != want {
			return notOurs("database " + p.Database)
		}
		return dropDatabase(ctx, home, p.Database)
	}
	// Unmarked: a copy of the template not yet marked or claimed (a crash in between) is ours
	// too; a placement older than marks is known by its local row.
	conn, err := c.ownerConn(ctx, p.Server, p.Database)
	if err != nil {
		return err
	}
	var owner *int64
	var made string
	err = conn.QueryRow(ctx, `SELECT tenant_id, catalog FROM tenancy.placements WHERE id = $1`, templatePlacementID).Scan(&owner, &made)
	conn.Close(context.WithoutCancel(ctx))
	ours := false
	if err == nil {
		if ours, err = c.madeHere(ctx, made, p); err != nil {
			return err
		}
	}
	if !ours || (owner != nil && (*owner != id || p.uid != "")) {
		return notOurs("database " + p.Database)
	}
	return dropDatabase(ctx, home, p.Database)
}

// dropDatabase drops db after ending the client sessions on it. Not DROP ... WITH (FORCE): that
// refuses a non-superuser when an autovacuum worker happens to be in the database, where a plain
// DROP DATABASE stops the worker itself; sessions that reconnect meanwhile are ended again.
func dropDatabase(ctx context.Context, conn *pgx.Conn, db string) error {
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

// PlacementStats describes the connection pools the client keeps for placements outside the
// catalog's database (database-tier tenants, other servers).
type PlacementStats struct {
	Pools     int   `json:"pools"`      // pools open
	Held      int   `json:"held"`       // pools in use
	Conns     int64 `json:"conns"`      // connections open in all of them
	PeakConns int64 `json:"peak_conns"` // the most connections open at once so far
}

// PlacementStats reports the pools and connections to placements outside the catalog's
// database, which Config.MaxPlacementPools and Config.PlacementPoolConns cap.
func (c *Client) PlacementStats() PlacementStats {
	st := c.conns.Stats()
	return PlacementStats{Pools: st.Pools, Held: st.Held, Conns: st.Conns, PeakConns: st.PeakConns}
}

// migrateRemote brings a placement outside the catalog's database to version to (the fleet
// runner's RunOpts.Remote): the DDL and the local ledger commit together in the placement's
// database, then the catalog's ledger is brought level. A crash in between leaves the catalog
// behind the placement; the rerun finds nothing to apply there and copies the ledger.
func (c *Client) migrateRemote(ctx context.Context, t *migrate.Target, migs []migrate.Migration, to int64) (int64, error) {
	conn, err := c.ownerConn(ctx, t.Server, t.Database)
	if err != nil {
		return t.Version, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sc, err := c.serverConfig(ctx, t.Server)
	if err != nil {
		return t.Version, err
	}
	localID := t.PlacementID
	if t.Kind == migrate.KindDatabase {
		localID = templatePlacementID
	}
	var version int64
	var ledger [][]any
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var err error
		path := pgx.Identifier{t.Schema}.Sanitize() + ", " + pgx.Identifier{c.shared}.Sanitize()
		if version, err = migrate.Apply(ctx, tx, localID, path, migs, to); err != nil {
			return err
		}
		if err := grantMissingTo(ctx, tx, t.Schema, sc.app.ConnConfig.User); err != nil {
			return err
		}
		ledger, err = localLedger(ctx, tx, localID)
		return err
	})
	if err != nil {
		return t.Version, err
	}
	err = pgx.BeginFunc(ctx, c.owner, func(tx pgx.Tx) error { return copyLedger(ctx, tx, t.PlacementID, version, ledger) })
	if err != nil {
		return t.Version, err
	}
	return version, nil
}

// migrateServerShapes brings the shape schema of every other server's home database to version
// to (the fleet runner's RunOpts.BeforeTenants), so that statements prepared there match the
// tenant schemas they will run against.
func (c *Client) migrateServerShapes(ctx context.Context, to int64) error {
	rows, err := c.owner.Query(ctx, `SELECT name FROM tenancy.servers ORDER BY name`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		conn, err := c.ownerConn(ctx, name, "")
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			path := pgx.Identifier{"tenancy_shape"}.Sanitize() + ", " + pgx.Identifier{c.shared}.Sanitize()
			if _, err := migrate.Apply(ctx, tx, 0, path, c.tenantMigs, to); err != nil {
				return err
			}
			return catalog.CheckRLS(ctx, tx, "tenancy_shape")
		})
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("server %s: %w", name, err)
		}
	}
	return nil
}
