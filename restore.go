package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// RestoreOpts are the options of Restore. The zero value restores the archive's tenant under its
// own slug, in its own tier.
type RestoreOpts struct {
	Slug   string // restore under this slug; the archive's if empty
	Name   string // display name; the archive's if empty
	Tier   Tier   // the archive's tier if empty
	Server string // as TenantCreateOpts.Server
	Pool   string // with TierPool: the pool to join (if empty: the archive's if it exists, else PoolDefault)
	// Domains also restores the archive's domains; the restore is refused if one is taken.
	Domains bool
	// OnTable, if set, is called after each table is loaded.
	OnTable func(table string, rows int64)
}

// Restore loads an archive written by Backup into a new tenant and a new placement of any tier.
// The tenant is made in "provisioning", its placement is built and filled in one transaction,
// every table's row count and checksum are checked against the manifest, and only then does it
// become active. An archive from a newer tenant migration version is refused (ErrArchiveTooNew);
// an older one is loaded at its own version and migrated forward. A restore that fails, or a
// bad archive (ErrBadArchive), leaves no tenant and no placement behind; one interrupted by a
// crash is removed by Repair.
func (c *Client) Restore(ctx context.Context, r io.Reader, opts *RestoreOpts) (restored *Tenant, err error) {
	if opts == nil {
		opts = &RestoreOpts{}
	}
	ctx, obs := c.observeOp(ctx, Operation{Kind: OpRestore, Tenant: opts.Slug, Tier: opts.Tier})
	defer func() { obs.tenant(restored); obs.end(err) }()
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	ar, err := archive.NewReader(r)
	if err != nil {
		return nil, err
	}
	plan, err := c.planRestore(ctx, ar.Manifest(), opts)
	if err != nil {
		return nil, err
	}
	if obs != nil {
		obs.op.Tenant, obs.op.Tier = plan.row.slug, plan.row.tier
	}
	target, err := c.newPlacement(ctx, plan.row.tier, opts.Server, plan.pool)
	if err != nil {
		return nil, err
	}
	// The tenant's operation lock is taken, at session level, inside the transaction that makes
	// the tenant: Repair never sees the restore's record without the lock held.
	opConn, err := c.owner.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	op := &tenantOp{conn: opConn}
	defer op.release(ctx)
	if err := c.recordRestore(ctx, op, plan, target); err != nil {
		return nil, notFoundOr(err, ErrTenantNotFound, plan.row.slug)
	}
	if err := c.crash(ctx, crash.RestoreCreated, nil); err != nil {
		return nil, err
	}
	id := op.id
	onTable := obs.countRows(opts.OnTable)
	load := func(ctx context.Context, tx pgx.Tx, schema string, version int64, local bool) error {
		return c.env.Load(ctx, tx, ar, id, schema, version, local, plan.row.tier == TierPool, onTable)
	}
	finish := func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET status = 'active', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM tenancy.moves WHERE tenant_id = $1`, id)
		return err
	}
	if err := target.kind.Fill(ctx, c.env, opConn, id, target.p, placement.Steps{Load: load, Finish: finish}); err != nil {
		if !errors.Is(err, crash.ErrSimulated) {
			_ = c.abandonRestore(context.WithoutCancel(ctx), id)
		}
		return nil, fmt.Errorf("tenancy: restore %s: %w", plan.row.slug, err)
	}
	return c.TenantGetByID(ctx, id)
}

// restorePlan is what a restore makes: the tenant's row, its domains, its pool.
type restorePlan struct {
	row     newTenant
	hosts   []string
	primary []bool
	pool    string
}

// planRestore checks the archive's manifest against this application and the options, and says
// what the restore will make. Nothing is written.
func (c *Client) planRestore(ctx context.Context, m *archive.Manifest, opts *RestoreOpts) (*restorePlan, error) {
	if err := c.checkArchiveMigrations(m); err != nil {
		return nil, err
	}
	plan := &restorePlan{row: newTenant{slug: opts.Slug, name: opts.Name, tier: opts.Tier, settings: []byte("{}")}, pool: opts.Pool}
	if plan.row.slug == "" {
		plan.row.slug = m.Tenant.Slug
	}
	if err := ValidateSlug(plan.row.slug); err != nil {
		return nil, err
	}
	if err := c.checkSlugAddress(ctx, c.owner, plan.row.slug, plan.row.slug); err != nil {
		return nil, err
	}
	if plan.row.name == "" {
		plan.row.name = m.Tenant.Name
	}
	if plan.row.tier == "" {
		plan.row.tier = Tier(m.Tenant.Tier)
	}
	if _, err := ParseTier(string(plan.row.tier)); err != nil {
		return nil, err
	}
	if len(m.Tenant.Settings) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(m.Tenant.Settings, &obj); err != nil {
			return nil, fmt.Errorf("%w: tenant settings are not a JSON object", ErrBadArchive)
		}
		plan.row.settings = m.Tenant.Settings
	}
	if opts.Domains {
		for _, d := range m.Tenant.Domains {
			h, err := normalizeDomain(d.Host)
			if err != nil {
				return nil, err
			}
			if err := c.reservedHosts.check(h); err != nil {
				return nil, err
			}
			plan.hosts, plan.primary = append(plan.hosts, h), append(plan.primary, d.Primary)
		}
	}
	if plan.pool == "" && plan.row.tier == TierPool && m.Tenant.Pool != "" {
		// The archive's pool if it exists here; an archive never makes a pool.
		exists, err := c.env.PoolExists(ctx, m.Tenant.Pool)
		if err != nil {
			return nil, notFoundOr(err, ErrTenantNotFound, plan.row.slug)
		}
		if exists {
			plan.pool = m.Tenant.Pool
		}
	}
	return plan, nil
}

// recordRestore makes, in one transaction on op's connection, the tenant in "provisioning", its
// placement's row, its domains and the restore's record, and takes the operation lock.
func (c *Client) recordRestore(ctx context.Context, op *tenantOp, plan *restorePlan, target *plannedPlacement) error {
	return pgx.BeginFunc(ctx, op.conn, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO tenancy.tenants (slug, name, status, tier, settings)
			VALUES ($1, $2, 'provisioning', $3, $4)
			ON CONFLICT (slug) DO NOTHING RETURNING id`, plan.row.slug, plan.row.name, string(plan.row.tier), plan.row.settings).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return tenantErr(ErrTenantExists, plan.row.slug)
		}
		if err != nil {
			return err
		}
		if err := target.insert(ctx, c, tx, id, true); err != nil {
			return err
		}
		for i, h := range plan.hosts {
			_, err := tx.Exec(ctx, `INSERT INTO tenancy.domains (host, tenant_id, is_primary) VALUES ($1, $2, $3)`, h, id, plan.primary[i])
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: %s", ErrDomainExists, h)
			}
			if err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO tenancy.moves (tenant_id, kind, to_placement, to_tier, phase, prev_status)
			VALUES ($1, 'restore', $2, $3, 'copying', 'active')`, id, target.p.ID, string(plan.row.tier))
		if err != nil {
			return err
		}
		op.id = id
		return op.lock(ctx, tx)
	})
}

// checkArchiveMigrations refuses an archive of a newer tenant migration version, or whose
// applied migrations are not this application's.
func (c *Client) checkArchiveMigrations(m *archive.Manifest) error {
	if latest := c.LatestVersion(); m.Version > latest {
		return fmt.Errorf("%w: the archive is at tenant migration version %d, this application at %d (upgrade it first)", ErrArchiveTooNew, m.Version, latest)
	}
	byVersion := map[int64]migrate.Migration{}
	for _, mg := range c.tenantMigs {
		byVersion[mg.Version] = mg
	}
	for _, am := range m.Migrations {
		mine, ok := byVersion[am.Version]
		if !ok || mine.Checksum != am.Checksum {
			return fmt.Errorf("%w: its tenant migration %d_%s is not this application's", ErrBadArchive, am.Version, am.Name)
		}
	}
	return nil
}

// plannedPlacement is a placement to be made for a tenant (or, for the pool tier, joined).
type plannedPlacement struct {
	tier Tier
	kind placement.Kind
	p    placement.Placement
}

// newPlacement resolves where a tenant of tier would go (its Kind's Plan), as TenantCreate does.
func (c *Client) newPlacement(ctx context.Context, tier Tier, server, pool string) (*plannedPlacement, error) {
	kind, err := placement.For(string(tier))
	if err != nil {
		return nil, err
	}
	p, err := kind.Plan(ctx, c.env, server, pool)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrServerNotFound, server)
	}
	if err != nil {
		return nil, err
	}
	return &plannedPlacement{tier: tier, kind: kind, p: p}, nil
}

// insert records the placement for tenant id (a pool exists already), and with attach points
// the tenant at it (a restore; a move switches later).
func (pp *plannedPlacement) insert(ctx context.Context, c *Client, tx pgx.Tx, id int64, attach bool) error {
	if err := pp.kind.Record(ctx, c.env, tx, id, &pp.p); err != nil || !attach {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET placement_id = $2 WHERE id = $1`, id, pp.p.ID)
	return err
}

// abandonRestore removes a restore that failed: the tenant goes to "deleting" and is dropped as
// a hard delete would (only what tenancy made for it). A crash in between leaves it to Repair.
func (c *Client) abandonRestore(ctx context.Context, id int64) error {
	_, err := c.owner.Exec(ctx, `
		WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1)
		UPDATE tenancy.tenants SET status = 'deleting', updated_at = now() WHERE id = $1 AND status = 'provisioning'`, id)
	if err == nil {
		err = c.dropTenant(ctx, id)
	}
	if err != nil {
		c.logger.Warn("tenancy: removing a failed restore", "tenant_id", id, "err", err)
	}
	return err
}

// normalizeDomain is the spelling the domains table stores.
func normalizeDomain(host string) (string, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	return h, nil
}
