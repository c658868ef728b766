package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/hostname"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// tenantOf maps a catalog row to the public Tenant.
func tenantOf(r *catalog.Tenant) *Tenant {
	t := &Tenant{
		ID:        r.ID,
		Slug:      r.Slug,
		Name:      r.Name,
		Status:    Status(r.Status),
		Tier:      Tier(r.Tier),
		Placement: Placement{ID: r.PlacementID, Server: r.Server, Database: r.Database, Schema: r.Schema},
		Version:   r.Version,
		Domains:   r.Domains,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
	}
	if len(r.Settings) > 0 && string(r.Settings) != "{}" {
		t.Settings = json.RawMessage(r.Settings)
	}
	return t
}

func tenantsOf(rs []*catalog.Tenant) []*Tenant {
	var out []*Tenant
	for _, r := range rs {
		out = append(out, tenantOf(r))
	}
	return out
}

// TenantGet returns the tenant with the given slug.
func (c *Client) TenantGet(ctx context.Context, slug string) (*Tenant, error) {
	if err := ValidateSlug(slug); err != nil && !errors.Is(err, ErrReservedSlug) {
		return nil, err
	}
	t, err := catalog.TenantBySlug(ctx, c.app, slug)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, slug)
	}
	return tenantOf(t), nil
}

// TenantGetByID returns the tenant with the given id.
func (c *Client) TenantGetByID(ctx context.Context, id int64) (*Tenant, error) {
	t, err := catalog.TenantByID(ctx, c.app, id)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "id "+strconv.FormatInt(id, 10))
	}
	return tenantOf(t), nil
}

// TenantGetByDomain returns the tenant that host (any spelling: case, trailing dot, IDNA) maps to.
func (c *Client) TenantGetByDomain(ctx context.Context, host string) (*Tenant, error) {
	h, err := hostname.Normalize(host, true)
	if err != nil {
		return nil, hostErr(err)
	}
	t, err := catalog.TenantByDomain(ctx, c.app, h)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "domain "+h)
	}
	return tenantOf(t), nil
}

// TenantListOpts filters and pages TenantList. The zero value lists the first page of all tenants.
type TenantListOpts struct {
	After  string // list tenants whose slug sorts after this one (the last slug of the previous page)
	Limit  int    // at most this many; TenantListLimitDefault if 0
	Status Status // only tenants in this status, if set
	Tier   Tier   // only tenants in this tier, if set
}

// TenantListLimitDefault is the page size of TenantList.
const TenantListLimitDefault = 100

// TenantList returns tenants in slug order, one page at a time.
func (c *Client) TenantList(ctx context.Context, opts *TenantListOpts) ([]*Tenant, error) {
	if opts == nil {
		opts = &TenantListOpts{}
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = TenantListLimitDefault
	}
	ts, err := catalog.TenantList(ctx, c.app, catalog.TenantFilter{After: opts.After, Status: string(opts.Status), Tier: string(opts.Tier), Limit: limit})
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	return tenantsOf(ts), nil
}

// TenantCreateOpts are the options of TenantCreate.
type TenantCreateOpts struct {
	Name     string          // display name; the slug if empty
	Tier     Tier            // TierDefault if empty
	Settings json.RawMessage // free-form settings (plan, limits, ...), a JSON object
	Pool     string          // with TierPool: the pool to join (PoolDefault if empty)
	// Server places a schema- or database-tier tenant on a server added with ServerAdd
	// (ServerDefault: the catalog's own). Empty: the server holding the fewest tenants.
	Server string
}

// TenantCreate creates a tenant and its placement, applies the tenant migrations there and makes
// it active. The steps are ordered so that a crash at any point leaves either nothing or a
// tenant in "provisioning", never served, that calling TenantCreate again (or Repair) finishes:
// the catalog row is committed first, then the schema, its migrations, its ledger entries and
// the status change commit together in one transaction.
func (c *Client) TenantCreate(ctx context.Context, slug string, opts *TenantCreateOpts) (*Tenant, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if err := ValidateSlug(slug); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &TenantCreateOpts{}
	}
	tier := opts.Tier
	if tier == "" {
		tier = TierDefault
	}
	if _, err := ParseTier(string(tier)); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = slug
	}
	settings := []byte("{}")
	if len(opts.Settings) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(opts.Settings, &obj); err != nil {
			return nil, fmt.Errorf("tenancy: settings of %s must be a JSON object: %w", slug, err)
		}
		settings = opts.Settings
	}
	if err := c.checkSlugAddress(ctx, c.owner, slug, slug); err != nil {
		return nil, err
	}
	switch tier {
	case TierPool:
		return c.createPoolTenant(ctx, slug, name, settings, opts.Pool)
	}
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, slug)
	}
	server := opts.Server
	switch server {
	case ServerDefault:
		server = ""
	case "":
		if server, err = c.chooseServer(ctx); err != nil {
			return nil, notFoundOr(err, ErrServerNotFound, "")
		}
	default:
		if _, err := c.serverConfig(ctx, server); err != nil {
			return nil, err
		}
	}

	if tier == TierDatabase {
		// The template first: tenant migrations it cannot take (they reference shared tables)
		// are refused before anything is made.
		conn, err := c.ownerConn(ctx, server, "")
		if err != nil {
			return nil, err
		}
		_, err = c.ensureTemplate(ctx, server, conn)
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("tenancy: create %s: %w", slug, err)
		}
	}
	if _, err := c.catalogID(ctx); err != nil { // read now, while no connection is held
		return nil, err
	}
	// The creating session holds the tenant's operation lock (move.go) from the transaction that
	// makes the catalog row until the tenant is active or removed, and runs every catalog
	// statement of the create on that one connection: a provisioning row whose lock is free was
	// left by a crash; one whose lock is held is being created right now, and is not touched.
	conn, err := admin.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	op := &tenantOp{conn: conn}
	defer op.release(ctx)
	for attempt := 0; ; attempt++ {
		if op.conn == nil {
			return nil, fmt.Errorf("tenancy: create %s: the catalog connection was lost", slug)
		}
		err = pgx.BeginFunc(ctx, op.conn, func(tx pgx.Tx) error {
			err := tx.QueryRow(ctx, `
				INSERT INTO tenancy.tenants (slug, name, status, tier, settings)
				VALUES ($1, $2, 'provisioning', $3, $4)
				ON CONFLICT (slug) DO NOTHING RETURNING id`, slug, name, string(tier), settings).Scan(&op.id)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil // taken: see takeOver
			}
			if err != nil {
				return err
			}
			// Placement names derive from the tenant id, never from user input.
			kind, database, schema := "schema", "", "tenant_"+strconv.FormatInt(op.id, 10)
			if tier == TierDatabase {
				kind, database, schema = "database", tenantDatabaseName(catalogDB, op.id), databaseSchema
			}
			if _, err = tx.Exec(ctx, `
				WITH p AS (INSERT INTO tenancy.placements (kind, server, database, schema, owned, uid) VALUES ($2, $5, $3, $4, true, $6) RETURNING id)
				UPDATE tenancy.tenants SET placement_id = (SELECT id FROM p) WHERE id = $1`, op.id, kind, database, schema, server, newPlacementUID()); err != nil {
				return err
			}
			return op.lock(ctx, tx)
		})
		if err != nil {
			return nil, notFoundOr(err, ErrTenantNotFound, slug)
		}
		if op.locked {
			break
		}
		// Taken. Only a crash's leftover is finished here; anything else is someone's tenant.
		retry, err := c.takeOver(ctx, op, slug)
		if err != nil {
			return nil, err
		}
		if !retry {
			break
		}
		if attempt == 2 {
			return nil, tenantErr(ErrTenantExists, slug)
		}
	}
	id := op.id
	if err := c.opCrashPoint(ctx, crashCreated, nil); err != nil {
		return nil, err
	}
	if err := c.provision(ctx, op.conn, id); err != nil {
		if !errors.Is(err, errCrashHook) {
			// An ordinary error leaves nothing: the slug is free again.
			if rerr := c.removeUnfinished(context.WithoutCancel(ctx), op); rerr != nil {
				c.logger.Warn("tenancy: removing a tenant whose create failed", "tenant", slug, "err", rerr)
			}
		}
		return nil, fmt.Errorf("tenancy: create %s: %w", slug, err)
	}
	return c.TenantGetByID(ctx, id)
}

// tenantOp is a catalog connection holding (once locked) the operation lock of tenant id.
type tenantOp struct {
	conn   *pgxpool.Conn
	id     int64
	locked bool
}

// lock takes the operation lock at session level, inside tx: the lock is held from the moment
// the row it guards is visible to others.
func (op *tenantOp) lock(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}) error {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(op.id)); err != nil {
		return err
	}
	op.locked = true
	return nil
}

// unlock lets go of the lock, keeping the connection if it still works.
func (op *tenantOp) unlock(ctx context.Context) {
	if !op.locked || op.conn == nil {
		return
	}
	op.locked = false
	if _, err := op.conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(op.id)); err != nil {
		closeAndWait(ctx, op.conn)
		op.conn = nil
	}
}

// release lets go of the lock and gives the connection back; it may be called again.
func (op *tenantOp) release(ctx context.Context) {
	if op.conn == nil {
		return
	}
	if op.unlock(ctx); op.conn != nil {
		op.conn.Release()
		op.conn = nil
	}
}

// takeOver looks at the tenant that holds slug: one in "provisioning" whose operation lock is
// free was left by a crash, and op takes it over (its lock held) to finish it; a half-made
// restore is removed first, and retry says to make the tenant anew. Anything else, including a
// tenant that another session is creating or restoring now, is ErrTenantExists.
func (c *Client) takeOver(ctx context.Context, op *tenantOp, slug string) (retry bool, err error) {
	var status Status
	var restoring bool
	read := func() error {
		return op.conn.QueryRow(ctx, `SELECT id, status, EXISTS (SELECT 1 FROM tenancy.moves WHERE tenant_id = t.id)
			FROM tenancy.tenants t WHERE slug = $1`, slug).Scan(&op.id, &status, &restoring)
	}
	err = read()
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil // its create failed and removed it meanwhile
	}
	if err != nil {
		return false, err
	}
	if status != StatusProvisioning {
		return false, tenantErr(ErrTenantExists, slug)
	}
	var free bool
	if err := op.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(op.id)).Scan(&free); err != nil {
		return false, err
	}
	if !free {
		return false, tenantErr(ErrTenantExists, slug) // in progress, not crashed
	}
	op.locked = true
	// Read again under the lock: its creator may have finished or given up just before.
	lockedID := op.id
	if err := read(); errors.Is(err, pgx.ErrNoRows) || (err == nil && op.id != lockedID) {
		op.id = lockedID
		op.unlock(ctx)
		return true, nil
	} else if err != nil {
		return false, err
	}
	if status != StatusProvisioning {
		op.unlock(ctx)
		return false, tenantErr(ErrTenantExists, slug)
	}
	if restoring {
		// A restore a crash interrupted: removed whole (as Repair does), never provisioned empty.
		_, err := c.resolveMove(ctx, op.id)
		op.unlock(ctx)
		return err == nil, err
	}
	return false, nil
}

// removeUnfinished removes a tenant in "provisioning" that op holds and that could not be
// finished: it goes to "deleting" (so the lock no longer matters), then is dropped as a hard
// delete would. A crash in between leaves it to Repair.
func (c *Client) removeUnfinished(ctx context.Context, op *tenantOp) error {
	_, err := op.conn.Exec(ctx, `UPDATE tenancy.tenants SET status = 'deleting', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, op.id)
	op.release(ctx)
	if err != nil {
		return err
	}
	return c.dropTenant(ctx, op.id)
}

// catalogConn runs catalog statements: the owner pool, or the one connection that holds a
// tenant's operation lock, so that the holder never waits for a second connection of a full pool.
type catalogConn interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// provision finishes a tenant in "provisioning": schema, migrations, grants and status change in
// one transaction. A tenant that is no longer provisioning is left alone.
func (c *Client) provision(ctx context.Context, cat catalogConn, id int64) error {
	var kind string
	var p Placement
	if err := cat.QueryRow(ctx, `
		SELECT p.kind, p.id, p.server, p.database, p.schema, coalesce(p.uid, '') FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		WHERE t.id = $1`, id).Scan(&kind, &p.ID, &p.Server, &p.Database, &p.Schema, &p.uid); err != nil {
		return err
	}
	if kind == "database" || p.Server != "" {
		return c.provisionRemote(ctx, cat, id, p, kind)
	}
	return pgx.BeginFunc(ctx, cat, func(tx pgx.Tx) error {
		var status Status
		err := tx.QueryRow(ctx, `
			SELECT t.status, p.id, p.schema, coalesce(p.uid, '') FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
			WHERE t.id = $1 FOR UPDATE OF t`, id).Scan(&status, &p.ID, &p.Schema, &p.uid)
		if err != nil {
			return err
		}
		if status != StatusProvisioning {
			return nil
		}
		if err := c.createLocalSchema(ctx, tx, id, &p); err != nil {
			return err
		}
		placementID, schema := p.ID, p.Schema
		s := pgx.Identifier{schema}.Sanitize()
		if err := c.opCrashPoint(ctx, crashSchema, tx); err != nil {
			return err
		}
		if _, err := migrate.Apply(ctx, tx, placementID, s+", "+pgx.Identifier{c.shared}.Sanitize(), c.tenantMigs, 0); err != nil {
			return err
		}
		if err := c.opCrashPoint(ctx, crashMigrated, tx); err != nil {
			return err
		}
		if err := c.grantSchema(ctx, tx, schema); err != nil {
			return err
		}
		if err := c.opCrashPoint(ctx, crashGranted, tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE tenancy.tenants SET status = 'active', updated_at = now() WHERE id = $1`, id)
		return err
	})
}

// createLocalSchema creates the schema of tenant id's placement p in the catalog's database, and
// marks it. A schema of that name that exists already (an earlier catalog made it for a tenant
// with the same id) is never taken over: the placement gets a fresh name, recorded in tx.
func (c *Client) createLocalSchema(ctx context.Context, tx pgx.Tx, id int64, p *Placement) error {
	if p.uid != "" {
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, p.Schema).Scan(&taken); err != nil {
			return err
		}
		if taken {
			p.Schema += "_" + p.uid[:6]
			if _, err := tx.Exec(ctx, `UPDATE tenancy.placements SET schema = $2 WHERE id = $1`, p.ID, p.Schema); err != nil {
				return err
			}
		}
	}
	m, err := c.tenantMark(ctx, id, *p)
	if err != nil {
		return err
	}
	s := pgx.Identifier{p.Schema}.Sanitize()
	// CREATE SCHEMA without IF NOT EXISTS: a schema tenancy did not create is never taken over.
	_, err = tx.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; COMMENT ON SCHEMA %s IS %s`, s, s, quoteLiteral(m)))
	return err
}

// ownerMark is written as the comment of every schema tenancy created for a tenant before marks
// carried the catalog's identity (see tenantMark); hard delete drops only a schema that carries
// its tenant's mark.
func ownerMark(id int64) string { return "tenancy:tenant:" + strconv.FormatInt(id, 10) }

// grantSchema gives the application role row access to every table of a tenant schema (it owns
// none of them, so RLS applies).
func (c *Client) grantSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	return grantSchemaTo(ctx, tx, schema, c.appRole)
}

// grantSchemaTo gives role the schema and row access to its tables and sequences. The tables are
// named one by one (found through pg_depend's index, see grantMissingTo): GRANT ... ON ALL TABLES
// IN SCHEMA scans all of pg_class, which costs time in proportion to the whole fleet.
func grantSchemaTo(ctx context.Context, tx pgx.Tx, schema, role string) error {
	if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA `+pgx.Identifier{schema}.Sanitize()+` TO `+pgx.Identifier{role}.Sanitize()); err != nil {
		return err
	}
	return grantMissingTo(ctx, tx, schema, role)
}

// setStatus moves a tenant from one of the statuses in from to status to, or explains why not.
func (c *Client) setStatus(ctx context.Context, slug string, to Status, from ...Status) (*Tenant, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if err := ValidateSlug(slug); err != nil && !errors.Is(err, ErrReservedSlug) {
		return nil, err
	}
	fromText := make([]string, len(from))
	for i, s := range from {
		fromText[i] = string(s)
	}
	cur, err := catalog.TenantSetStatus(ctx, admin, slug, string(to), fromText)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, slug)
	}
	current := Status(cur)
	ok := false
	for _, s := range from {
		ok = ok || s == current
	}
	if !ok && current != to {
		return nil, fmt.Errorf("%w: %s is %s, cannot become %s", ErrTenantNotActive, slug, current, to)
	}
	return c.TenantGet(ctx, slug)
}

// TenantSuspend stops serving a tenant (HTTP 403) without touching its data.
func (c *Client) TenantSuspend(ctx context.Context, slug string) (*Tenant, error) {
	return c.setStatus(ctx, slug, StatusSuspended, StatusActive)
}

// TenantResume serves a suspended or soft-deleted tenant again.
func (c *Client) TenantResume(ctx context.Context, slug string) (*Tenant, error) {
	return c.setStatus(ctx, slug, StatusActive, StatusSuspended, StatusDeleted)
}

// TenantRename changes a tenant's slug. Its id, placement and data stay as they are.
func (c *Client) TenantRename(ctx context.Context, slug, newSlug string) (*Tenant, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if err := ValidateSlug(newSlug); err != nil {
		return nil, err
	}
	if err := c.checkSlugAddress(ctx, admin, newSlug, slug); err != nil {
		return nil, err
	}
	renamed, err := catalog.TenantRename(ctx, admin, slug, newSlug)
	if isUniqueViolation(err) {
		return nil, tenantErr(ErrTenantExists, newSlug)
	}
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, slug)
	}
	if !renamed {
		return nil, tenantErr(ErrTenantNotFound, slug)
	}
	return c.TenantGet(ctx, newSlug)
}

// TenantDeleteOpts are the options of TenantDelete.
type TenantDeleteOpts struct {
	// Hard drops the tenant's placement and removes it from the catalog. Without it the tenant is
	// soft-deleted: kept, never served, and TenantResume brings it back.
	Hard bool
	// Backup, with Hard, receives the tenant's archive (see Backup) first: the placement is
	// dropped only after it has been written, read back and checked. A file is synced.
	Backup io.Writer
}

// TenantDelete deletes a tenant, softly unless opts.Hard. A hard delete marks the tenant
// "deleting" first, so that a crash leaves something Repair finishes, and drops only a schema
// that tenancy created for this very tenant.
func (c *Client) TenantDelete(ctx context.Context, slug string, opts *TenantDeleteOpts) error {
	if opts == nil || !opts.Hard {
		_, err := c.setStatus(ctx, slug, StatusDeleted, StatusActive, StatusSuspended)
		return err
	}
	if opts.Backup != nil {
		release, err := c.backupBeforeDelete(ctx, slug, opts.Backup)
		if err != nil {
			return err
		}
		defer release()
	}
	t, err := c.setStatus(ctx, slug, StatusDeleting, StatusActive, StatusSuspended, StatusDeleted, StatusProvisioning)
	if err != nil {
		return err
	}
	if err := c.crashPoint(ctx, crashDeleting, nil); err != nil {
		return err
	}
	return c.dropTenant(ctx, t.ID)
}

// dropTenant finishes a hard delete of a tenant in "deleting".
func (c *Client) dropTenant(ctx context.Context, id int64) error {
	return pgx.BeginFunc(ctx, c.owner, func(tx pgx.Tx) error {
		var slug, schema, database, server, kind, uid string
		var status Status
		var tier Tier
		var placementID int64
		var owned, finished bool
		// finished: the catalog's ledger records the placement's migrations, which happens only
		// once the tenant was made there. A placement never finished that holds something
		// without the tenant's mark holds what tenancy never made for it: it is left alone.
		err := tx.QueryRow(ctx, `
			SELECT t.slug, t.status, t.tier, coalesce(p.id, 0), coalesce(p.schema, ''), coalesce(p.database, ''),
			       coalesce(p.server, ''), coalesce(p.kind, ''), coalesce(p.owned, false), coalesce(p.uid, ''),
			       p.version > 0 OR EXISTS (SELECT 1 FROM tenancy.migrations m WHERE m.placement_id = p.id)
			FROM tenancy.tenants t LEFT JOIN tenancy.placements p ON p.id = t.placement_id
			WHERE t.id = $1 FOR UPDATE OF t`, id).Scan(&slug, &status, &tier, &placementID, &schema, &database, &server, &kind, &owned, &uid, &finished)
		if err != nil {
			return notFoundOr(err, ErrTenantNotFound, strconv.FormatInt(id, 10))
		}
		if status != StatusDeleting {
			return nil
		}
		if kind == "database" || (server != "" && kind == "schema") {
			if !owned {
				return fmt.Errorf("%w: placement of %s", ErrNotOwned, slug)
			}
			p := Placement{ID: placementID, Server: server, Database: database, Schema: schema, uid: uid}
			if err := c.dropRemote(ctx, id, p, kind, finished || uid == ""); err != nil {
				return err
			}
			if err := c.crashPoint(ctx, crashDropped, tx); err != nil {
				return err
			}
			schema = ""
		}
		if tier == TierPool {
			// The pool placement holds other tenants: remove this one's rows, keep the placement.
			if err := deletePoolRows(ctx, tx, id, schema); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM tenancy.tenants WHERE id = $1`, id)
			return err
		}
		if schema != "" {
			var comment *string
			var exists bool
			if err := tx.QueryRow(ctx, `
				SELECT true, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, schema).Scan(&exists, &comment); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			want, err := c.tenantMark(ctx, id, Placement{Schema: schema, uid: uid})
			if err != nil {
				return err
			}
			if exists && uid != "" && !finished && (comment == nil || *comment != want) {
				exists = false // not made for this placement: left alone
			}
			if exists {
				if !owned || comment == nil || *comment != want {
					return fmt.Errorf("%w: schema %s of %s", ErrNotOwned, schema, slug)
				}
				if _, err := tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
					return err
				}
				if err := c.crashPoint(ctx, crashDropped, tx); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tenancy.tenants WHERE id = $1`, id); err != nil {
			return err
		}
		if placementID != 0 {
			_, err = tx.Exec(ctx, `DELETE FROM tenancy.placements WHERE id = $1 AND kind IN ('schema', 'database')`, placementID)
		}
		return err
	})
}

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
	rows, err := admin.Query(ctx, `SELECT id, slug, status FROM tenancy.tenants WHERE status IN ('provisioning', 'deleting')
		AND id NOT IN (SELECT tenant_id FROM tenancy.moves) ORDER BY id`)
	if err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, "")
	}
	type item struct {
		id     int64
		slug   string
		status Status
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
		var it item
		return it, r.Scan(&it.id, &it.slug, &it.status)
	})
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.status == StatusProvisioning {
			var done bool
			done, err = c.repairProvisioning(ctx, it.id, it.slug, res)
			if done && err == nil {
				res.Provisioned = append(res.Provisioned, it.slug)
			}
		} else {
			err = c.dropTenant(ctx, it.id)
			if err == nil {
				res.Deleted = append(res.Deleted, it.slug)
			}
		}
		if err != nil {
			res.Failed[it.slug] = err
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
	var free bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockkey.TenantOp, lockkey.Tenant(id)).Scan(&free); err != nil || !free {
		return false, err
	}
	op.locked = true
	err = c.provision(ctx, conn, id)
	if err == nil || errors.Is(err, errCrashHook) {
		return true, err
	}
	if rerr := c.removeUnfinished(context.WithoutCancel(ctx), op); rerr != nil {
		return false, fmt.Errorf("%w; removing it: %v", err, rerr)
	}
	res.Removed[slug] = err
	return false, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
