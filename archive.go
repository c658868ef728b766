package tenancy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/migrate"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// Backup, restore and move (docs/archive.md). A tenant's rows are read, in any tier, by the owner role
// in one repeatable-read transaction bound to the tenant, and every statement names the tenant
// (placement.TenantRows): forced RLS alone does not hold back a superuser or BYPASSRLS owner. Every catalog lookup goes through an index (the tenant by
// slug, the schema's tables through pg_depend), so the cost grows with the tenant, not the fleet.

// BackupOpts are the options of Backup.
type BackupOpts struct {
	// OnTable, if set, is called after each table is read.
	OnTable func(table string, rows int64)
}

// BackupResult describes an archive written by Backup.
type BackupResult struct {
	Tenant   string        `json:"tenant"`
	ID       int64         `json:"id"`
	Version  int64         `json:"version"` // the tenant migration version of the rows
	Tables   int           `json:"tables"`
	Rows     int64         `json:"rows"`
	Bytes    int64         `json:"bytes"` // archive bytes written
	Duration time.Duration `json:"duration_ns"`
}

// Backup writes the tenant slug to w as an archive (docs/archive.md): its catalog entry and
// domains, its migration version, and every row of its tables, read in one repeatable-read
// transaction. It works in every tier; in the pool tier the archive holds only the tenant's rows.
func (c *Client) Backup(ctx context.Context, slug string, w io.Writer, opts *BackupOpts) (res *BackupResult, err error) {
	ctx, obs := c.observeOp(ctx, Operation{Kind: OpBackup, Tenant: slug})
	defer func() { obs.end(err) }()
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	obs.tenant(t)
	switch t.Status {
	case StatusActive, StatusSuspended, StatusDeleted:
	default:
		return nil, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, slug, t.Status)
	}
	res, err = c.backupTenant(ctx, t, w, opts)
	if err != nil {
		return nil, fmt.Errorf("tenancy: backup %s: %w", slug, err)
	}
	if obs != nil {
		obs.op.Rows = res.Rows
	}
	return res, nil
}

// backupTenant writes t's archive. The rows are spooled to a temporary file while they are
// hashed, so that the manifest, which carries the checksums, can come first in the archive.
func (c *Client) backupTenant(ctx context.Context, t *Tenant, w io.Writer, opts *BackupOpts) (*BackupResult, error) {
	start := time.Now()
	if opts == nil {
		opts = &BackupOpts{}
	}
	catalogDB, err := c.catalogDatabase(ctx)
	if err != nil {
		return nil, err
	}
	m := &archive.Manifest{
		Format: archive.Format, FormatVersion: archive.FormatVersion, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Catalog: catalogDB, Session: map[string]string{},
		Tenant: archive.Tenant{ID: t.ID, Slug: t.Slug, Name: t.Name, Status: string(t.Status), Tier: string(t.Tier),
			Type: t.Type, Settings: t.Settings, CreatedAt: t.CreatedAt, Domains: []archive.Domain{}},
	}
	for _, s := range placement.SessionSettings {
		m.Session[s[0]] = s[1]
	}
	if t.Tier == TierPool {
		m.Tenant.Pool = strings.TrimPrefix(t.Placement.Schema, "pool_")
	}
	domains, err := catalog.DomainsOf(ctx, c.owner, t.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range domains {
		m.Tenant.Domains = append(m.Tenant.Domains, archive.Domain{Host: d.Host, Primary: d.Primary})
	}

	spool, err := os.CreateTemp("", "tenancy-backup-*")
	if err != nil {
		return nil, err
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()

	p := placementOf(t)
	conn, release, err := c.env.OwnerConnFor(ctx, p)
	if err != nil {
		return nil, err
	}
	defer func() { release() }()
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := placement.BindOwnerTx(ctx, tx, t.ID); err != nil {
			return err
		}
		var err error
		m.Version, m.Migrations, m.Tables, err = placement.Dump(ctx, tx, p, t.ID, spool, opts.OnTable)
		if err != nil {
			return err
		}
		m.Lines, err = archiveLines(ctx, tx, p)
		return err
	})
	release()
	release = func() {}
	if err != nil {
		return nil, err
	}
	m.FormatVersion = m.NeededFormat()
	cw := &countingWriter{w: w}
	aw, err := archive.NewWriter(cw, m)
	if err != nil {
		return nil, err
	}
	var off int64
	res := &BackupResult{Tenant: t.Slug, ID: t.ID, Version: m.Version, Tables: len(m.Tables)}
	for _, tb := range m.Tables {
		if err := aw.WriteTable(io.NewSectionReader(spool, off, tb.Bytes)); err != nil {
			return nil, err
		}
		off += tb.Bytes
		res.Rows += tb.Rows
	}
	if err := aw.Close(); err != nil {
		return nil, err
	}
	res.Bytes, res.Duration = cw.n, time.Since(start)
	return res, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// backupBeforeDelete writes slug's archive to w for a hard delete, after fencing the tenant in
// its placement (bound transactions in flight finish, new ones are kept out), and checks it by
// reading it back before anything is dropped. The returned func lets go of the fence; the
// caller calls it once the placement is dropped.
func (c *Client) backupBeforeDelete(ctx context.Context, slug string, w io.Writer) (func(), error) {
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	fence, err := c.env.OwnerConn(ctx, t.Placement.Server, t.Placement.Database)
	if err != nil {
		return nil, err
	}
	// Unlock before closing: the server drops a closed session's locks only when its backend has
	// exited, a moment after Close returns, and a caller may bind the tenant at once.
	release := func() {
		_, _ = fence.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_all()`)
		fence.Close(context.WithoutCancel(ctx))
	}
	fail := func(err error) (func(), error) {
		release()
		return nil, fmt.Errorf("tenancy: back up %s before deleting it: %w", slug, err)
	}
	if _, err := fence.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockkey.Fence, lockkey.Tenant(t.ID)); err != nil {
		return fail(err)
	}
	spool, err := os.CreateTemp("", "tenancy-delete-*")
	if err != nil {
		return fail(err)
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	if _, err := c.backupTenant(ctx, t, spool, nil); err != nil {
		return fail(err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	ar, err := archive.NewReader(spool)
	if err == nil {
		err = ar.Close() // reads every table back and checks it against the manifest
	}
	if err != nil {
		return fail(err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(w, spool); err != nil {
		return fail(err)
	}
	if f, ok := w.(interface{ Sync() error }); ok {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	return release, nil
}

// placementOf is t's placement as the tiers (internal/placement) know it.
func placementOf(t *Tenant) placement.Placement {
	return placement.Placement{ID: t.Placement.ID, Kind: string(t.Tier), Server: t.Placement.Server,
		Database: t.Placement.Database, Schema: t.Placement.Schema, UID: t.Placement.uid, Owned: true}
}

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
	c.kickWarm() // it may have claimed a warm placement

	if err := c.crash(ctx, crash.RestoreCreated, nil); err != nil {
		return nil, err
	}
	id := op.id
	onTable := c.countArchiveRows(id, obs.countRows(opts.OnTable))
	load := func(ctx context.Context, tx pgx.Tx, schema string, version int64, local bool) error {
		return c.env.Load(ctx, tx, ar, id, schema, version, local, plan.row.tier == TierPool, onTable)
	}
	finish := func(ctx context.Context, tx pgx.Tx) error { return catalog.RestoreFinish(ctx, tx, id) }
	steps := placement.Steps{Load: load, Finish: finish, Lines: c.lines(plan.row.typ, plan.row.slug, plan.row.tier)}
	if err := target.kind.Fill(ctx, c.env, opConn, id, target.p, steps); err != nil {
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
	if plan.row.tier == "" {
		plan.row.tier = Tier(m.Tenant.Tier)
	}
	typ, err := c.checkArchiveLines(m, plan.row.slug, plan.row.tier)
	if err != nil {
		return nil, err
	}
	plan.row.typ = typ
	if err := c.checkSlugAddress(ctx, c.owner, plan.row.slug, plan.row.slug); err != nil {
		return nil, err
	}
	if plan.row.name == "" {
		plan.row.name = m.Tenant.Name
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
	if plan.row.settings, err = c.checkSettings(plan.row.slug, plan.row.settings); err != nil {
		return nil, fmt.Errorf("%w (the archive's settings)", err)
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
	if plan.row.tier == TierPool {
		// A pool of the tenant's type: the archive's, if of that type, else the type's default.
		if plan.pool, err = c.poolOfType(ctx, plan.pool, typ); errors.Is(err, ErrTypeMismatch) && opts.Pool == "" {
			plan.pool, err = c.poolOfType(ctx, "", typ)
		}
		if err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// recordRestore makes, in one transaction on op's connection, the tenant in "provisioning", its
// placement's row, its domains and the restore's record, and takes the operation lock.
func (c *Client) recordRestore(ctx context.Context, op *tenantOp, plan *restorePlan, target *plannedPlacement) error {
	return pgx.BeginFunc(ctx, op.conn, func(tx pgx.Tx) error {
		id, ok, err := catalog.TenantInsertTyped(ctx, tx, plan.row.slug, plan.row.name, string(StatusProvisioning), string(plan.row.tier), plan.row.typ, plan.row.settings, 0)
		if err != nil {
			return err
		}
		if !ok {
			return tenantErr(ErrTenantExists, plan.row.slug)
		}
		if err := c.restoreTarget(ctx, tx, id, plan.row, target); err != nil {
			return err
		}
		for i, h := range plan.hosts {
			ok, err := catalog.DomainInsert(ctx, tx, h, id, plan.primary[i])
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s", ErrDomainExists, h)
			}
		}
		if err := catalog.RestoreStart(ctx, tx, id, target.p.ID, string(plan.row.tier)); err != nil {
			return err
		}
		op.id = id
		return op.lock(ctx, tx)
	})
}

// restoreTarget records the restored tenant's placement and attaches it: a warm placement
// (warm.go) when one is ready and fits the tenant (warmFits), which
// spares the restore the schema's DDL; else a new placement of target's tier.
func (c *Client) restoreTarget(ctx context.Context, tx pgx.Tx, id int64, row newTenant, target *plannedPlacement) error {
	if target.tier == TierSchema && target.p.Server == "" && c.warmFits(row) {
		p, found, err := c.env.ClaimWarm(ctx, tx, id, c.LatestVersion())
		if err != nil {
			return err
		}
		if found {
			target.p = p
			return catalog.TenantAttach(ctx, tx, id, p.ID)
		}
	}
	return target.insert(ctx, c, tx, id, true)
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
	return catalog.TenantAttach(ctx, tx, id, pp.p.ID)
}

// abandonRestore removes a restore that failed: the tenant goes to "deleting" and is dropped as
// a hard delete would (only what tenancy made for it). A crash in between leaves it to Repair.
func (c *Client) abandonRestore(ctx context.Context, id int64) error {
	err := catalog.TenantAbandon(ctx, c.owner, id)
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
