package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// What tenancy makes carries a mark naming the catalog that made it (internal/placement, marks.go).

// catalogIdentity caches the catalog's identity once read.
type catalogIdentity struct {
	mu sync.Mutex
	id string
}

// catalogID returns the catalog's identity.
func (c *Client) catalogID(ctx context.Context) (string, error) {
	c.identity.mu.Lock()
	defer c.identity.mu.Unlock()
	if c.identity.id != "" {
		return c.identity.id, nil
	}
	admin, err := c.ownerPool()
	if err != nil {
		return "", err
	}
	// A connection of its own, not one of the pool's: the first call often comes from inside an
	// operation that already holds the owner pool's connections (a move's lock and transaction on
	// a pool of 2), where waiting for a third would wait forever.
	conn, err := pgx.ConnectConfig(ctx, admin.Config().ConnConfig)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	id, err := catalog.Identity(ctx, conn)
	if err != nil {
		return "", notFoundOr(err, ErrTenantNotFound, "")
	}
	c.identity.id = id
	return id, nil
}

// orphan is a schema or database that carries a tenancy mark (or a tenant database's name) and
// that no placement of this catalog describes.
type orphan struct {
	server   string // "" for the catalog's own
	database string // the database (a database orphan), or "" for a schema in the catalog's database
	schema   string // a schema orphan in the catalog's database
	tenantID int64  // from its mark, if any
	what     string // why it is an orphan, for people
	// removable: its mark names this catalog, or an earlier catalog of this database on this
	// server that no longer lives anywhere on it; DropOrphans drops only these.
	removable bool
	foreign   placement.Mark // the mark, when it names another catalog identity
}

// OrphanCommand is the command that drops removable orphans.
const OrphanCommand = "tenancy repair --orphans"

// findOrphans lists the orphans of this catalog: marked schemas in the catalog's database and
// databases named after it on every server. known holds "server\x00database\x00schema" of every
// placement (and "server\x00database" of database placements).
func (c *Client) findOrphans(ctx context.Context, known map[string]bool) ([]orphan, []string, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, nil, err
	}
	cid, err := c.catalogID(ctx)
	if err != nil {
		return nil, nil, err
	}
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []orphan
	var unreachable []string
	rows, err := admin.Query(ctx, `
		SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace
		WHERE obj_description(oid, 'pg_namespace') LIKE 'tenancy:tenant:%' OR obj_description(oid, 'pg_namespace') LIKE 'tenancy:pool:%'
		ORDER BY 1`)
	if err != nil {
		return nil, nil, err
	}
	var name, comment string
	if _, err := pgx.ForEachRow(rows, []any{&name, &comment}, func() error {
		if known["\x00\x00"+name] {
			return nil
		}
		m, _ := placement.ParseMark(comment)
		o := orphan{schema: name, tenantID: m.N, removable: m.Catalog == cid && m.DB == catalogDB}
		o.what = fmt.Sprintf("schema %s (%s) belongs to no tenant of the catalog", name, comment)
		out = append(out, o)
		return nil
	}); err != nil {
		return nil, nil, err
	}

	servers, err := catalog.ServerNames(ctx, admin)
	if err != nil {
		return nil, nil, err
	}
	pfx := placement.Prefix(catalogDB) + "_"
	current := placement.TemplateDatabaseName(catalogDB, cid)
	for _, server := range append([]string{""}, servers...) {
		conn, err := c.env.OwnerConn(ctx, server, "")
		if err != nil {
			unreachable = append(unreachable, fmt.Sprintf("server %s: %v", placement.ServerLabel(server), err))
			continue
		}
		drows, err := conn.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database
			WHERE starts_with(datname, $1) ORDER BY 1`, pfx)
		type dbRow struct{ name, comment string }
		var dbs []dbRow
		if err == nil {
			dbs, err = pgx.CollectRows(drows, func(r pgx.CollectableRow) (dbRow, error) {
				var d dbRow
				return d, r.Scan(&d.name, &d.comment)
			})
		}
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, nil, err
		}
		for _, d := range dbs {
			if known[server+"\x00"+d.name] || d.name == current {
				continue
			}
			rest := strings.TrimPrefix(d.name, pfx)
			m, marked := placement.ParseMark(d.comment)
			legacyName := rest == "template" || (strings.HasPrefix(rest, "t") && isDigits(strings.TrimPrefix(rest, "t")))
			switch {
			case marked && m.Catalog != "" && m.DB != catalogDB:
				continue // another catalog's, named alike
			case !marked || m.Catalog == "":
				if !legacyName {
					continue
				}
				id, _ := strconv.ParseInt(strings.TrimPrefix(rest, "t"), 10, 64)
				out = append(out, orphan{server: server, database: d.name, tenantID: id,
					what: fmt.Sprintf("database %s on server %s belongs to no tenant of the catalog and carries no catalog identity: drop it by hand after a look", d.name, placement.ServerLabel(server))})
				continue
			}
			o := orphan{server: server, database: d.name}
			kind := "database"
			if m.Kind == "template" {
				kind = "stale template database"
			} else {
				o.tenantID = m.N
			}
			ownHere := m.Own == (server == "")
			switch {
			case m.Catalog == cid && ownHere:
				o.removable = true
				o.what = fmt.Sprintf("%s %s on server %s was made by this catalog and belongs to none of its tenants", kind, d.name, placement.ServerLabel(server))
			case m.Own && server == "":
				o.foreign = m
				o.what = fmt.Sprintf("%s %s on server %s was made by an earlier catalog of this database (identity %s)", kind, d.name, placement.ServerLabel(server), m.Catalog)
			default:
				o.what = fmt.Sprintf("%s %s on server %s was made by another catalog (identity %s): not removable from here", kind, d.name, placement.ServerLabel(server), m.Catalog)
			}
			out = append(out, o)
		}
	}
	return out, unreachable, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// DropOrphansResult says what DropOrphans did.
type DropOrphansResult struct {
	Dropped []string // "database x_t4", "schema tenant_4"
	Kept    []string // orphans it may not drop, and why
}

// DropOrphans drops the schemas and databases that check reports as removable orphans: those
// whose mark names this catalog (made for a tenant or a template, and used by none), and those
// an earlier catalog of this very database made on this server, once no database on the server
// holds that catalog any more (it was dropped, not renamed away). Anything unmarked, marked by
// another catalog, or whose maker may still live, is kept and listed: it is never dropped.
func (c *Client) DropOrphans(ctx context.Context) (*DropOrphansResult, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	known, err := c.knownPlacements(ctx)
	if err != nil {
		return nil, err
	}
	orphans, unreachable, err := c.findOrphans(ctx, known)
	if err != nil {
		return nil, err
	}
	res := &DropOrphansResult{Kept: unreachable}
	for _, o := range orphans {
		if !o.removable && o.foreign.Catalog != "" {
			lives, err := c.identityLives(ctx, o.server, o.foreign.Catalog)
			if err != nil {
				return nil, err
			}
			o.removable = !lives
		}
		if !o.removable {
			res.Kept = append(res.Kept, o.what)
			continue
		}
		if o.database == "" {
			// Only if it is still unknown and still carries a mark of this catalog.
			err := pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
				if err := catalog.LockPlacementsShare(ctx, tx); err != nil {
					return err
				}
				used, comment, err := catalog.LocalSchemaUse(ctx, tx, o.schema)
				if err != nil {
					return err
				}
				if used || comment == nil || !strings.HasPrefix(*comment, "tenancy:tenant:") {
					return nil
				}
				_, err = tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{o.schema}.Sanitize()+` CASCADE`)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("drop schema %s: %w", o.schema, err)
			}
			res.Dropped = append(res.Dropped, "schema "+o.schema)
			continue
		}
		if used, err := catalog.DatabaseUsed(ctx, admin, o.server, o.database); err != nil || used {
			if err != nil {
				return nil, err
			}
			continue
		}
		conn, err := c.env.OwnerConn(ctx, o.server, "")
		if err != nil {
			return nil, err
		}
		err = placement.DropDatabase(ctx, conn, o.database)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		res.Dropped = append(res.Dropped, fmt.Sprintf("database %s on server %s", o.database, placement.ServerLabel(o.server)))
	}
	return res, nil
}

// knownPlacements returns the keys findOrphans takes.
func (c *Client) knownPlacements(ctx context.Context) (map[string]bool, error) {
	keys, err := catalog.PlacementKeys(ctx, c.owner)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k.Server+"\x00"+k.Database+"\x00"+k.Schema] = true
		if k.Kind == "database" {
			known[k.Server+"\x00"+k.Database] = true
		}
	}
	return known, nil
}

// identityLives reports whether any database on server (other than a tenancy-marked one) holds a
// catalog of identity id. A database it cannot read counts as holding it: only a catalog proven
// gone lets its leftovers be dropped.
func (c *Client) identityLives(ctx context.Context, server, id string) (bool, error) {
	home, err := c.env.OwnerConn(ctx, server, "")
	if err != nil {
		return true, err
	}
	rows, err := home.Query(ctx, `SELECT datname FROM pg_database
		WHERE datallowconn AND NOT datistemplate AND coalesce(shobj_description(oid, 'pg_database'), '') NOT LIKE 'tenancy:%'`)
	var names []string
	if err == nil {
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	home.Close(context.WithoutCancel(ctx))
	if err != nil {
		return true, err
	}
	for _, name := range names {
		conn, err := c.env.OwnerConn(ctx, server, name)
		if err != nil {
			return true, nil
		}
		found, err := catalog.HasIdentity(ctx, conn, id)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil && !placement.IsUndefinedTable(err) {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "3F000" { // no schema tenancy
				continue
			}
			return true, nil
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}
