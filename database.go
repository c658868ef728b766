package tenancy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// The database tier (DESIGN §1): a tenant gets a database of its own, created from a template
// database kept at the current tenant migration version, so creating one replays no migration.
//
// Inside a tenant database, the tenant's tables live in the schema "tenant", and a small local
// catalog (schema tenancy: current_tenant_id(), a one-row placements table and the migration
// ledger) lets DDL and its ledger rows commit together there, exactly as in the catalog's own
// database; the central catalog's ledger is brought level after each commit. The local
// placements row also records which tenant the database was made for, so tenancy never takes
// over, nor drops, a database it did not create.

// databaseSchema is the schema that holds a database-tier tenant's tables.
const databaseSchema = "tenant"

// placementCatalogSQL is installed in every template database (and so in every tenant database).
const placementCatalogSQL = `
CREATE SCHEMA tenancy;
CREATE TABLE tenancy.placements (
    id         bigint PRIMARY KEY,
    kind       text NOT NULL,
    schema     text NOT NULL,
    version    bigint NOT NULL DEFAULT 0,
    tenant_id  bigint,          -- NULL in the template; the tenant it was made for otherwise
    catalog    text NOT NULL    -- the catalog database that made it
);
CREATE TABLE tenancy.migrations (
    placement_id bigint NOT NULL REFERENCES tenancy.placements (id),
    version      bigint NOT NULL,
    name         text NOT NULL,
    checksum     text NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    duration_ms  double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (placement_id, version)
);
CREATE FUNCTION tenancy.current_tenant_id() RETURNS bigint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('tenancy.tenant_id', true), '')::bigint $$;
CREATE SCHEMA tenant;`

// localPlacementID is the id of the one placement row inside a tenant or template database.
const localPlacementID = 1

// catalogDatabase returns the name of the catalog's database (cached).
func (c *Client) catalogDatabase(ctx context.Context) (string, error) {
	c.dbNameOnce.Do(func() {
		c.dbNameErr = c.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&c.dbName)
	})
	return c.dbName, c.dbNameErr
}

// tenantDatabaseName derives a database-tier tenant's database name from the catalog's database
// name and the tenant id: never from anything a user typed.
func tenantDatabaseName(catalogDB string, id int64) string {
	return prefix(catalogDB) + "_t" + strconv.FormatInt(id, 10)
}

func templateDatabaseName(catalogDB string) string { return prefix(catalogDB) + "_template" }

func prefix(catalogDB string) string {
	if len(catalogDB) > 40 {
		h := fnv.New32a()
		h.Write([]byte(catalogDB))
		return catalogDB[:30] + "_" + strconv.FormatUint(uint64(h.Sum32()), 36)
	}
	return catalogDB
}

// openPlacement configures a pool for a placement database: the client's own pools' settings
// with another database, and for the application role a search_path naming the tenant schema.
func (c *Client) openPlacement(_ context.Context, k placement.Key) (*pgxpool.Config, error) {
	if k.Server != "" {
		return nil, fmt.Errorf("%w: placements on server %q", ErrTierNotAvailable, k.Server)
	}
	base := c.pool
	if k.Admin {
		if c.admin == nil {
			return nil, ErrReadOnly
		}
		base = c.admin
	}
	cfg := base.Config().Copy()
	cfg.ConnConfig.Database = k.Database
	if !k.Admin {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{databaseSchema}.Sanitize() + ", " + pgx.Identifier{c.shared}.Sanitize()
	}
	cfg.MinConns = 0
	return cfg, nil
}

// connectDatabase opens a single owner connection to a placement database (DDL, no pooling).
func (c *Client) connectDatabase(ctx context.Context, db string) (*pgx.Conn, error) {
	cfg := c.admin.Config().ConnConfig.Copy()
	cfg.Database = db
	return pgx.ConnectConfig(ctx, cfg)
}

// databaseLock serialises work on one server's template: building or migrating it takes the
// lock exclusively; copying it (CREATE DATABASE ... TEMPLATE) takes it shared, since a template
// cannot be copied while anyone is connected to it.
func databaseLockKey(template string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tenancy:template:" + template))
	return int64(h.Sum64())
}

// ensureTemplate makes sure the template database exists at the latest tenant migration.
func (c *Client) ensureTemplate(ctx context.Context, catalogDB string) (string, error) {
	tpl := templateDatabaseName(catalogDB)
	conn, err := c.admin.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	key := databaseLockKey(tpl)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return "", err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)

	// The template's comment says it is ours and at which version, so that an up-to-date
	// template is used without connecting to it: a template cannot be copied for a few moments
	// after a connection to it closes.
	latest := migrate.Latest(c.tenantMigs)
	var comment *string
	err = conn.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, tpl).Scan(&comment)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{tpl}.Sanitize()); err != nil {
			return "", fmt.Errorf("create template database: %w", err)
		}
		if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{tpl}.Sanitize()+` IS 'tenancy:template:0'`); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	case comment == nil || !strings.HasPrefix(*comment, "tenancy:template:"):
		return "", fmt.Errorf("%w: database %s exists and is not a tenancy template", ErrNotOwned, tpl)
	case *comment == "tenancy:template:"+strconv.FormatInt(latest, 10):
		return tpl, nil
	}

	tconn, err := c.connectDatabase(ctx, tpl)
	if err != nil {
		return "", err
	}
	defer tconn.Close(context.WithoutCancel(ctx))
	err = pgx.BeginFunc(ctx, tconn, func(tx pgx.Tx) error {
		var installed bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'tenancy')`).Scan(&installed); err != nil {
			return err
		}
		if !installed {
			if _, err := tx.Exec(ctx, placementCatalogSQL); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO tenancy.placements (id, kind, schema, catalog) VALUES ($1, 'database', $2, $3)`,
				localPlacementID, databaseSchema, catalogDB); err != nil {
				return err
			}
		}
		if _, err := migrate.Apply(ctx, tx, localPlacementID, pgx.Identifier{databaseSchema}.Sanitize()+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, 0); err != nil {
			return fmt.Errorf("tenant migrations in the template database (tenant migrations that use shared tables cannot serve the database tier): %w", err)
		}
		app := pgx.Identifier{c.appRole}.Sanitize()
		if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA tenancy TO `+app); err != nil {
			return err
		}
		return c.grantSchema(ctx, tx, pgx.Identifier{databaseSchema}.Sanitize())
	})
	if err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `COMMENT ON DATABASE `+pgx.Identifier{tpl}.Sanitize()+` IS `+quoteLiteral("tenancy:template:"+strconv.FormatInt(latest, 10))); err != nil {
		return "", err
	}
	return tpl, nil
}

// provisionDatabase finishes a database-tier tenant in "provisioning": its database from the
// template, the ownership mark, then the catalog's ledger and status.
func (c *Client) provisionDatabase(ctx context.Context, id int64, db string, placementID int64) error {
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return err
	}
	tpl, err := c.ensureTemplate(ctx, catalogDB)
	if err != nil {
		return err
	}
	var exists bool
	if err := c.admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if err := c.copyTemplate(ctx, tpl, db); err != nil {
			return err
		}
	}
	if err := c.crashPoint(ctx, "database", nil); err != nil {
		return err
	}
	conn, err := c.connectDatabase(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ledger [][]any
	var version int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var owner *int64
		var made string
		if err := tx.QueryRow(ctx, `SELECT tenant_id, catalog FROM tenancy.placements WHERE id = $1 FOR UPDATE`, localPlacementID).Scan(&owner, &made); err != nil {
			return fmt.Errorf("%w: database %s has no tenancy placement mark: %v", ErrNotOwned, db, err)
		}
		if (owner != nil && *owner != id) || made != catalogDB {
			return fmt.Errorf("%w: database %s", ErrNotOwned, db)
		}
		if _, err := tx.Exec(ctx, `UPDATE tenancy.placements SET tenant_id = $2 WHERE id = $1`, localPlacementID, id); err != nil {
			return err
		}
		if version, err = migrate.Apply(ctx, tx, localPlacementID, pgx.Identifier{databaseSchema}.Sanitize()+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, 0); err != nil {
			return err
		}
		if err := c.grantSchema(ctx, tx, pgx.Identifier{databaseSchema}.Sanitize()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version, name, checksum, applied_at, duration_ms FROM tenancy.migrations WHERE placement_id = $1`, localPlacementID)
		if err != nil {
			return err
		}
		ledger, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
		return err
	})
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, c.admin, func(tx pgx.Tx) error {
		for _, row := range ledger {
			if _, err := tx.Exec(ctx, `
				INSERT INTO tenancy.migrations (placement_id, version, name, checksum, applied_at, duration_ms)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, append([]any{placementID}, row...)...); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE tenancy.placements SET version = $2 WHERE id = $1`, placementID, version); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET status = 'active', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id)
		return err
	})
}

// copyTemplate runs CREATE DATABASE db TEMPLATE tpl, holding the template's lock shared.
func (c *Client) copyTemplate(ctx context.Context, tpl, db string) error {
	conn, err := c.admin.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	key := databaseLockKey(tpl)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock_shared($1)`, key); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_shared($1)`, key)
	_, err = conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, pgx.Identifier{db}.Sanitize(), pgx.Identifier{tpl}.Sanitize()))
	if err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

// dropDatabase drops a database-tier tenant's database if it exists and carries the tenant's
// mark. Called from dropTenant with the tenant row locked; DROP DATABASE cannot run inside a
// transaction, so it runs on a connection of its own.
func (c *Client) dropDatabase(ctx context.Context, id int64, db string) error {
	c.placements.Evict(placement.Key{Database: db})
	c.placements.Evict(placement.Key{Database: db, Admin: true})
	var exists bool
	if err := c.admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return err
	}
	conn, err := c.connectDatabase(ctx, db)
	if err != nil {
		return err
	}
	var owner *int64
	var made string
	err = conn.QueryRow(ctx, `SELECT tenant_id, catalog FROM tenancy.placements WHERE id = $1`, localPlacementID).Scan(&owner, &made)
	conn.Close(context.WithoutCancel(ctx))
	// A database copied from the template but not yet marked (a crash in between) is ours too.
	if err != nil || (owner != nil && *owner != id) || made != catalogDB {
		return fmt.Errorf("%w: database %s", ErrNotOwned, db)
	}
	_, err = c.admin.Exec(ctx, `DROP DATABASE `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`)
	return err
}
