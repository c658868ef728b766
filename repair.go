package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// Repair finishes what crashes left half-done; DropOrphans removes what tenancy made that no
// tenant uses. Both read the catalog's lifecycle records (lifecycle.go) and the marks on what
// tenancy makes (internal/placement, marks.go).

// RepairResult says what Repair did.
type RepairResult struct {
	Provisioned []string // tenants left in "provisioning" by a crash, now active
	Deleted     []string // tenants left in "deleting" by a crash, now gone
	Moves       []string // moves finished or rolled back, restores removed (see move.go)
	// Removed: tenants left in "provisioning" that could not be finished (the error says why),
	// removed so that their slugs are free again.
	Removed map[string]error
	Failed  map[string]error
}

// Repair finishes what crashes left half-done: tenants in "provisioning" are provisioned (or,
// if that fails, removed), tenants in "deleting" are dropped. A tenant that a live session is
// creating right now is left to it. It is safe to run at any time and to run again.
func (c *Client) Repair(ctx context.Context) (*RepairResult, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	// Moves and restores first (move.go): a half-restored tenant is removed, not provisioned empty.
	res := &RepairResult{Failed: map[string]error{}, Removed: map[string]error{}}
	if err := c.repairMoves(ctx, res); err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	items, err := catalog.TenantsUnfinished(ctx, admin)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	for _, it := range items {
		if Status(it.Status) == StatusProvisioning {
			var done bool
			done, err = c.repairProvisioning(ctx, it.ID, it.Slug, res)
			if done && err == nil {
				res.Provisioned = append(res.Provisioned, it.Slug)
			}
		} else {
			err = c.dropTenant(ctx, it.ID)
			if err == nil {
				res.Deleted = append(res.Deleted, it.Slug)
			}
		}
		if err != nil {
			res.Failed[it.Slug] = err
		}
	}
	return res, nil
}

// repairProvisioning finishes tenant id, left in "provisioning", unless a live session is
// creating it (its operation lock is held: done is false). One that cannot be finished is
// removed, and the reason recorded in res.Removed.
func (c *Client) repairProvisioning(ctx context.Context, id int64, slug string, res *RepairResult) (done bool, err error) {
	conn, err := c.owner.Acquire(ctx)
	if err != nil {
		return false, err
	}
	op := &tenantOp{conn: conn, id: id}
	defer op.release(ctx)
	if free, err := op.tryLock(ctx); err != nil || !free {
		return false, err
	}
	err = c.provision(ctx, conn, id)
	if err == nil || errors.Is(err, crash.ErrSimulated) {
		return true, err
	}
	if rerr := c.removeUnfinished(context.WithoutCancel(ctx), op); rerr != nil {
		return false, fmt.Errorf("%w; removing it: %v", err, rerr)
	}
	res.Removed[slug] = err
	return false, nil
}

// repairMoves resolves every move and restore that tenancy.moves records and no process is
// running (their operation lock is free). Repair calls it first, so that a half-restored tenant
// in "provisioning" is removed rather than provisioned empty.
func (c *Client) repairMoves(ctx context.Context, res *RepairResult) error {
	items, err := catalog.TenantsRecorded(ctx, c.owner)
	if placement.IsUndefinedTable(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, it := range items {
		unlock, err := c.lockTenantOp(ctx, it.ID, false)
		if errors.Is(err, errMoveInProgress) {
			continue // running now: not a crash's leftover
		}
		if err != nil {
			res.Failed[it.Slug] = err
			continue
		}
		_, err = c.resolveMove(ctx, it.ID)
		unlock()
		if err != nil {
			res.Failed[it.Slug] = err
			continue
		}
		res.Moves = append(res.Moves, it.Slug)
	}
	return nil
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
