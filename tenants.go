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

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/hostname"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// tenantOf maps a catalog row to the public Tenant.
func tenantOf(r *catalog.Tenant) *Tenant {
	t := &Tenant{
		ID:          r.ID,
		Slug:        r.Slug,
		Name:        r.Name,
		Status:      Status(r.Status),
		Tier:        Tier(r.Tier),
		Type:        r.Type,
		Placement:   Placement{ID: r.PlacementID, Server: r.Server, Database: r.Database, Schema: r.Schema},
		Version:     r.Version,
		TypeVersion: r.TypeVersion,
		Custom:      r.Custom,
		Domains:     r.Domains,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
	}
	t.Limits = limitsFromCatalog(r.Limits)
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
	// Type is the tenant's type: DefaultType if empty, else a key of Config.TypeMigrations
	// (ErrUnknownType otherwise). It is fixed for the tenant's life.
	Type string
	// Pool, with TierPool, is the pool to join: pools hold tenants of one type, and the default
	// is PoolDefault for DefaultType, the type's name for others.
	Pool string
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
	row, err := opts.row(slug)
	if err != nil {
		return nil, err
	}
	if row.settings, err = c.checkSettings(slug, row.settings); err != nil {
		return nil, err
	}
	if row.typ, err = c.checkType(opts.Type); err != nil {
		return nil, err
	}
	if row.tier == TierPool && len(c.customMigs[slug]) > 0 {
		return nil, c.customizedErr(slug, "create it in the pool tier")
	}
	if err := c.checkSlugAddress(ctx, c.owner, slug, slug); err != nil {
		return nil, err
	}
	if row.tier == TierPool {
		return c.createPoolTenant(ctx, row, opts.Pool)
	}
	// Where it goes, and what that needs, first: a database's template that cannot take the
	// tenant migrations (they reference shared tables) refuses the tenant before anything is made.
	target, err := c.newPlacement(ctx, row.tier, opts.Server, "")
	if err != nil {
		return nil, fmt.Errorf("tenancy: create %s: %w", slug, err)
	}
	if _, err := c.catalogID(ctx); err != nil { // read now, while no connection is held
		return nil, err
	}
	if target.p.Server == "" && c.warmFits(row) {
		if t, done, err := c.createWarm(ctx, row); done {
			return t, err
		}
	}
	// The creating session holds the tenant's operation lock (lifecycle.go) from the transaction
	// that makes the catalog row until the tenant is active or removed, and runs every catalog
	// statement of the create on that one connection: a provisioning row whose lock is free was
	// left by a crash; one whose lock is held is being created right now, and is not touched.
	conn, err := admin.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	op := &tenantOp{conn: conn}
	defer op.release(ctx)
	if err := c.claimSlug(ctx, op, row, target); err != nil {
		return nil, err
	}
	if err := c.crash(ctx, crash.Created, nil); err != nil {
		return nil, err
	}
	if err := c.provision(ctx, op.conn, op.id); err != nil {
		if !errors.Is(err, crash.ErrSimulated) {
			// An ordinary error leaves nothing: the slug is free again.
			if rerr := c.removeUnfinished(context.WithoutCancel(ctx), op); rerr != nil {
				c.logger.Warn("tenancy: removing a tenant whose create failed", "tenant", slug, "err", rerr)
			}
		}
		return nil, fmt.Errorf("tenancy: create %s: %w", slug, err)
	}
	return c.TenantGetByID(ctx, op.id)
}

// newTenant is a tenant's catalog row as TenantCreate and Restore make it.
type newTenant struct {
	slug, name string
	typ        string // checked by checkType
	tier       Tier
	settings   []byte // a JSON object
}

// row validates the options and fills in the defaults.
func (o *TenantCreateOpts) row(slug string) (newTenant, error) {
	r := newTenant{slug: slug, name: o.Name, tier: o.Tier, settings: []byte("{}")}
	if r.tier == "" {
		r.tier = TierDefault
	}
	if _, err := ParseTier(string(r.tier)); err != nil {
		return r, err
	}
	if r.name == "" {
		r.name = slug
	}
	if len(o.Settings) > 0 {
		r.settings = o.Settings // checked by checkSettings (settings.go)
	}
	return r, nil
}

// claimSlug makes the tenant's catalog row in "provisioning" with its placement's row, and
// takes the operation lock in the same transaction, on op's connection. A slug already taken is
// ErrTenantExists, unless a crash left it in "provisioning" (takeOver), which op then finishes.
func (c *Client) claimSlug(ctx context.Context, op *tenantOp, row newTenant, target *plannedPlacement) error {
	for attempt := 0; ; attempt++ {
		if op.conn == nil {
			return fmt.Errorf("tenancy: create %s: the catalog connection was lost", row.slug)
		}
		err := pgx.BeginFunc(ctx, op.conn, func(tx pgx.Tx) error {
			id, ok, err := catalog.TenantInsertTyped(ctx, tx, row.slug, row.name, string(StatusProvisioning), string(row.tier), row.typ, row.settings, 0)
			if err != nil || !ok {
				return err // taken: see takeOver
			}
			op.id = id
			p := *target
			if err := p.insert(ctx, c, tx, op.id, true); err != nil {
				return err
			}
			return op.lock(ctx, tx)
		})
		if err != nil {
			return notFoundOr(err, ErrTenantNotFound, row.slug)
		}
		if op.locked {
			return nil
		}
		// Taken. Only a crash's leftover is finished here; anything else is someone's tenant.
		retry, err := c.takeOver(ctx, op, row.slug)
		if err != nil || !retry {
			return err
		}
		if attempt == 2 {
			return tenantErr(ErrTenantExists, row.slug)
		}
	}
}

// createPoolTenant adds a tenant to a pool: the pool exists or is made (its tier's Plan), and
// joining it is one catalog row, born active: no DDL.
func (c *Client) createPoolTenant(ctx context.Context, row newTenant, pool string) (*Tenant, error) {
	pool, err := c.poolOfType(ctx, pool, row.typ)
	if err != nil {
		return nil, err
	}
	target, err := c.newPlacement(ctx, TierPool, "", pool)
	if err != nil {
		return nil, err
	}
	id, ok, err := catalog.TenantInsertTyped(ctx, c.owner, row.slug, row.name, string(StatusActive), string(TierPool), row.typ, row.settings, target.p.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, tenantErr(ErrTenantExists, row.slug)
	}
	return c.TenantGetByID(ctx, id)
}

// takeOver looks at the tenant that holds slug: one in "provisioning" whose operation lock is
// free was left by a crash, and op takes it over (its lock held) to finish it; a half-made
// restore is removed first, and retry says to make the tenant anew. Anything else, including a
// tenant that another session is creating or restoring now, is ErrTenantExists.
func (c *Client) takeOver(ctx context.Context, op *tenantOp, slug string) (retry bool, err error) {
	var status Status
	var restoring bool
	read := func() error {
		id, st, recorded, err := catalog.TenantClaim(ctx, op.conn, slug)
		op.id, status, restoring = id, Status(st), recorded
		return err
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
	if free, err := op.tryLock(ctx); err != nil || !free {
		if err == nil {
			err = tenantErr(ErrTenantExists, slug) // in progress, not crashed
		}
		return false, err
	}
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
	err := catalog.TenantAbandon(ctx, op.conn, op.id)
	op.release(ctx)
	if err != nil {
		return err
	}
	return c.dropTenant(ctx, op.id)
}

// catalogConn runs catalog statements (placement.CatalogConn).
type catalogConn = placement.CatalogConn

// provision finishes a tenant in "provisioning": its placement is made, migrated and granted,
// and the tenant becomes active, by its tier's Fill. A tenant that is no longer provisioning is
// left alone.
func (c *Client) provision(ctx context.Context, cat catalogConn, id int64) error {
	row, err := catalog.TenantPlacement(ctx, cat, id)
	if err != nil {
		return err
	}
	p := placement.Placement(row)
	kind, err := placement.For(p.Kind)
	if err != nil {
		return err
	}
	lines, err := c.linesOf(ctx, cat, id)
	if err != nil {
		return err
	}
	return kind.Fill(ctx, c.env, cat, id, p, placement.Steps{
		Lines: lines,
		Begin: func(ctx context.Context, tx pgx.Tx) (bool, error) {
			status, err := catalog.TenantStatusForUpdate(ctx, tx, id)
			return Status(status) == StatusProvisioning, err
		},
		Finish: func(ctx context.Context, tx pgx.Tx) error {
			return catalog.TenantActivate(ctx, tx, id)
		},
	})
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
	return c.apply(ctx, slug, opSuspend)
}

// TenantResume serves a suspended or soft-deleted tenant again.
func (c *Client) TenantResume(ctx context.Context, slug string) (*Tenant, error) {
	return c.apply(ctx, slug, opResume)
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
		_, err := c.apply(ctx, slug, opSoftDelete)
		return err
	}
	if opts.Backup != nil {
		release, err := c.backupBeforeDelete(ctx, slug, opts.Backup)
		if err != nil {
			return err
		}
		defer release()
	}
	t, err := c.apply(ctx, slug, opHardDelete)
	if err != nil {
		return err
	}
	if err := c.crash(ctx, crash.Deleting, nil); err != nil {
		return err
	}
	return c.dropTenant(ctx, t.ID)
}

// dropTenant finishes a hard delete of a tenant in "deleting", in one catalog transaction that
// holds the tenant's row: its tier drops what it has in its placement, then the catalog forgets
// the tenant (and a placement of its own).
func (c *Client) dropTenant(ctx context.Context, id int64) error {
	return pgx.BeginFunc(ctx, c.owner, func(tx pgx.Tx) error {
		// Finished: the catalog's ledger records the placement's migrations, which happens only
		// once the tenant was made there. A placement never finished that holds something
		// without the tenant's mark holds what tenancy never made for it: it is left alone.
		row, err := catalog.TenantForDrop(ctx, tx, id)
		if err != nil {
			return notFoundOr(err, ErrTenantNotFound, strconv.FormatInt(id, 10))
		}
		slug, status, p, finished := row.Slug, Status(row.Status), placement.Placement(row.Placement), row.Finished
		if status != StatusDeleting {
			return nil
		}
		if p.ID != 0 {
			kind, err := placement.For(p.Kind)
			if err != nil {
				return err
			}
			if !p.Local() && !p.Owned {
				return fmt.Errorf("%w: placement of %s", ErrNotOwned, slug)
			}
			dropped, err := kind.Drop(ctx, c.env, tx, id, p, finished || p.UID == "")
			if err != nil {
				return err
			}
			if dropped && p.Kind != placement.KindPool {
				if err := c.crash(ctx, crash.Dropped, tx); err != nil {
					return err
				}
			}
		}
		return catalog.TenantRemove(ctx, tx, id, p.ID)
	})
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// PoolDefault is the pool that pool-tier tenants join unless TenantCreateOpts.Pool names another.
const PoolDefault = placement.PoolDefault

// PoolCreate creates the pool placement name (schema pool_<name>, at the current tenant
// migration version) if it does not exist yet. Pools are also created on first use.
func (c *Client) PoolCreate(ctx context.Context, name string) error {
	return c.PoolCreateType(ctx, name, DefaultType)
}

// PoolCreateType is PoolCreate for tenants of type typ: a pool holds tenants of one type and
// carries that type's migration line. A pool of that name and another type is ErrTypeMismatch.
func (c *Client) PoolCreateType(ctx context.Context, name, typ string) error {
	if _, err := c.ownerPool(); err != nil {
		return err
	}
	typ, err := c.checkType(typ)
	if err != nil {
		return err
	}
	_, err = c.env.EnsurePoolType(ctx, name, typ, c.lines(typ, "", TierPool))
	return notFoundOr(err, ErrTenantNotFound, "pool "+name)
}
