package tenancy

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// Backup, restore and move (docs/archive.md). A tenant's rows are read, in any tier, by the owner role
// in one repeatable-read transaction bound to the tenant, and every statement names the tenant
// (tenantRows): forced RLS alone does not hold back a superuser or BYPASSRLS owner. Every catalog lookup goes through an index (the tenant by
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
			Settings: t.Settings, CreatedAt: t.CreatedAt, Domains: []archive.Domain{}},
	}
	for _, s := range placement.SessionSettings {
		m.Session[s[0]] = s[1]
	}
	if t.Tier == TierPool {
		m.Tenant.Pool = strings.TrimPrefix(t.Placement.Schema, "pool_")
	}
	rows, err := c.owner.Query(ctx, `SELECT host, is_primary FROM tenancy.domains WHERE tenant_id = $1 ORDER BY is_primary DESC, host`, t.ID)
	if err != nil {
		return nil, err
	}
	var d archive.Domain
	if _, err := pgx.ForEachRow(rows, []any{&d.Host, &d.Primary}, func() error { m.Tenant.Domains = append(m.Tenant.Domains, d); return nil }); err != nil {
		return nil, err
	}

	spool, err := os.CreateTemp("", "tenancy-backup-*")
	if err != nil {
		return nil, err
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()

	conn, release, err := c.env.OwnerConnFor(ctx, placementOf(t))
	if err != nil {
		return nil, err
	}
	defer func() { release() }()
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := placement.BindOwnerTx(ctx, tx, t.ID); err != nil {
			return err
		}
		var err error
		m.Version, m.Migrations, m.Tables, err = placement.Dump(ctx, tx, placementOf(t), t.ID, spool, opts.OnTable)
		return err
	})
	release()
	release = func() {}
	if err != nil {
		return nil, err
	}
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
