package tenancy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/crash"
	"github.com/tenancy-go/tenancy/internal/lockkey"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// MoveOpts are the options of Move.
type MoveOpts struct {
	Tier Tier // the tier to move to; the tenant's own if empty (then Server or Pool must differ)
	// Server is the server of a schema- or database-tier target (ServerDefault: the catalog's
	// own); empty keeps the tenant's server.
	Server string
	Pool   string // with TierPool: the pool to join (PoolDefault if empty)
	// Node, on a Citus server, moves a schema-tier tenant's distributed schema to that node of
	// the cluster (host:port, as TenantNodes and CitusNodes name it) with citus_schema_move,
	// without Tier, Server or Pool: the catalog does not change and the tenant stays served
	// (citus_move.go). ErrNotCitus elsewhere.
	Node string
	// TransferMode, with Node, is how Citus copies the schema's shards: as
	// RebalanceOpts.TransferMode (TransferAuto if empty).
	TransferMode string
	// OnTable, if set, is called after each table is copied.
	OnTable func(table string, rows int64)
}

// Move moves a tenant to another tier, server or pool. The tenant is held in "moving" (not
// served: HTTP 503 with Retry-After; bound transactions fail with ErrTenantMoving) and fenced
// in its current placement, its rows are copied as by Backup and Restore into a new placement
// and verified there, the catalog is switched in one transaction, and only then is the old
// placement dropped. Interrupted at any point, calling Move again or Repair finishes the move
// (once the catalog was switched) or rolls it back (before): the rows are never lost and never
// served from two placements.
func (c *Client) Move(ctx context.Context, slug string, opts *MoveOpts) (_ *Tenant, err error) {
	if opts == nil {
		opts = &MoveOpts{}
	}
	ctx, obs := c.observeOp(ctx, Operation{Kind: OpMove, Tenant: slug, Tier: opts.Tier})
	defer func() { obs.end(err) }()
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	if opts.Node != "" {
		return c.moveToNode(ctx, slug, opts)
	}
	if opts.Tier != "" {
		if _, err := ParseTier(string(opts.Tier)); err != nil {
			return nil, err
		}
	}
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	unlock, err := c.lockTenantOp(ctx, t.ID, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, slug)
	}
	defer unlock()
	// A move left half-done is finished or rolled back first.
	if _, err := c.resolveMove(ctx, t.ID); err != nil {
		return nil, fmt.Errorf("tenancy: move %s: finish the earlier move: %w", slug, err)
	}
	if t, err = c.TenantGetByID(ctx, t.ID); err != nil {
		return nil, err
	}
	if t.Status != StatusActive && t.Status != StatusSuspended {
		return nil, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, slug, t.Status)
	}
	tier := opts.Tier
	if obs != nil {
		obs.op.TenantID, obs.op.FromTier, obs.op.Tier = t.ID, t.Tier, cmp.Or(tier, t.Tier)
	}
	if tier == "" {
		tier = t.Tier
	}
	server := opts.Server
	if server == "" && tier != TierPool {
		server = placement.ServerLabel(t.Placement.Server)
		if t.Tier == TierPool {
			server = ServerDefault
		}
	}
	pool := opts.Pool
	if tier == TierPool {
		// A customized tenant's tables and columns cannot follow it into a shared placement,
		// and a pool holds tenants of one type: the tenant's.
		if t.Customized() || len(c.customMigs[t.Slug]) > 0 {
			return nil, c.customizedErr(t.Slug, "move it into the pool tier")
		}
		if pool, err = c.poolOfType(ctx, pool, t.Type); err != nil {
			return nil, err
		}
	}
	target, err := c.newPlacement(ctx, tier, server, pool)
	if err != nil {
		return nil, err
	}
	if tier == t.Tier && (tier == TierPool && target.p.ID == t.Placement.ID || tier != TierPool && target.p.Server == t.Placement.Server) {
		return nil, fmt.Errorf("tenancy: %s is already in the %s tier on server %s", slug, tier, placement.ServerLabel(t.Placement.Server))
	}
	if err := c.moveTenant(ctx, t, target, c.countArchiveRows(t.ID, obs.countRows(opts.OnTable))); err != nil {
		return nil, fmt.Errorf("tenancy: move %s: %w", slug, err)
	}
	return c.TenantGetByID(ctx, t.ID)
}

func (c *Client) moveTenant(ctx context.Context, t *Tenant, target *plannedPlacement, onTable func(string, int64)) error {
	err := pgx.BeginFunc(ctx, c.owner, func(tx pgx.Tx) error {
		st, placementID, err := catalog.TenantForMove(ctx, tx, t.ID)
		if err != nil {
			return err
		}
		status := Status(st)
		if (status != StatusActive && status != StatusSuspended) || placementID != t.Placement.ID {
			return fmt.Errorf("%w: %s changed meanwhile (%s)", ErrTenantNotActive, t.Slug, status)
		}
		if target.tier != TierPool {
			if err := target.insert(ctx, c, tx, t.ID, false); err != nil {
				return err
			}
		}
		return catalog.MoveStart(ctx, tx, t.ID, t.Placement.ID, target.p.ID, string(target.tier), string(status))
	})
	if err != nil {
		return err
	}
	if err := c.crash(ctx, crash.MoveMarked, nil); err != nil {
		return err
	}
	err = c.copyAndSwitch(ctx, t, target, onTable)
	if err != nil {
		if !errors.Is(err, crash.ErrSimulated) {
			if _, rerr := c.resolveMove(context.WithoutCancel(ctx), t.ID); rerr != nil {
				c.logger.Warn("tenancy: rolling back a failed move", "tenant", t.Slug, "err", rerr)
			}
		}
		return err
	}
	if err := c.crash(ctx, crash.MoveSwitched, nil); err != nil {
		return err
	}
	_, err = c.resolveMove(ctx, t.ID)
	return err
}

// copyAndSwitch fences the tenant in its placement, copies it into target and switches the
// catalog; the fence is let go only after the switch has committed.
func (c *Client) copyAndSwitch(ctx context.Context, t *Tenant, target *plannedPlacement, onTable func(string, int64)) error {
	// The fence waits for the tenant's bound transactions in flight and keeps new ones out.
	fence, err := c.env.OwnerConn(ctx, t.Placement.Server, t.Placement.Database)
	if err != nil {
		return err
	}
	defer func() {
		// Unlock, then close: a closed session's locks go only once its backend has exited.
		_, _ = fence.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock_all()`)
		fence.Close(context.WithoutCancel(ctx))
	}()
	if _, err := fence.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockkey.Fence, lockkey.Tenant(t.ID)); err != nil {
		return err
	}
	if err := c.crash(ctx, crash.MoveFenced, nil); err != nil {
		return err
	}
	spool, err := os.CreateTemp("", "tenancy-move-*")
	if err != nil {
		return err
	}
	defer func() { spool.Close(); os.Remove(spool.Name()) }()
	if _, err := c.backupTenant(ctx, t, spool, nil); err != nil {
		return err
	}
	if _, err := spool.Seek(0, 0); err != nil {
		return err
	}
	ar, err := archive.NewReader(spool)
	if err != nil {
		return err
	}
	if err := c.crash(ctx, crash.MoveCopied, nil); err != nil {
		return err
	}
	load := func(ctx context.Context, tx pgx.Tx, schema string, version int64, local bool) error {
		return c.env.Load(ctx, tx, ar, t.ID, schema, version, local, target.tier == TierPool, onTable)
	}
	switchCatalog := func(ctx context.Context, tx pgx.Tx) error {
		return catalog.MoveSwitch(ctx, tx, t.ID, target.p.ID, string(target.tier))
	}
	steps := placement.Steps{Load: load, Finish: switchCatalog, Lines: c.lines(t.Type, t.Slug, target.tier)}
	if err := target.kind.Fill(ctx, c.env, c.owner, t.ID, target.p, steps); err != nil {
		return err
	}
	_, err = fence.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockkey.Fence, lockkey.Tenant(t.ID))
	return err
}

// resolveMove finishes or rolls back what tenancy.moves records for tenant id: a move switched
// in the catalog is finished (the old placement dropped), one still copying is rolled back (the
// copy dropped, the tenant back to its status before), a restore is removed whole. The caller
// holds the tenant's operation lock. It reports whether there was anything to do.
func (c *Client) resolveMove(ctx context.Context, id int64) (bool, error) {
	mv, err := catalog.MoveGet(ctx, c.owner, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch {
	case mv.Kind == "restore":
		return true, c.abandonRestore(ctx, id)
	case mv.Phase == "switched":
		// The tenant is served from the new placement already: drop the old one.
		if err := c.dropPlacementOf(ctx, id, mv.From); err != nil {
			return true, err
		}
		if err := c.crash(ctx, crash.MoveDropped, nil); err != nil {
			return true, err
		}
		return true, catalog.MoveFinish(ctx, c.owner, id, mv.From)
	default:
		// Still copying: the old placement is the tenant's; drop the copy.
		if err := c.dropPlacementOf(ctx, id, mv.To); err != nil {
			return true, err
		}
		return true, catalog.MoveUndo(ctx, c.owner, id, mv.To, mv.PrevStatus)
	}
}

// dropPlacementOf drops what tenant id has in placement placementID, which must not be the
// tenant's current placement: a schema or database tenancy made for it, or its rows in a pool.
func (c *Client) dropPlacementOf(ctx context.Context, id, placementID int64) error {
	row, current, err := catalog.PlacementOf(ctx, c.owner, placementID, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // dropped already
	}
	if err != nil {
		return err
	}
	p := placement.Placement(row)
	if current != nil && *current == placementID {
		return fmt.Errorf("tenancy: placement %s is the tenant's own; not dropped", p.Label())
	}
	if !p.Owned {
		return fmt.Errorf("%w: placement %s", ErrNotOwned, p.Label())
	}
	kind, err := placement.For(p.Kind)
	if err != nil {
		return fmt.Errorf("tenancy: placement %s of kind %s is not a tenant's", p.Label(), p.Kind)
	}
	_, err = kind.Drop(ctx, c.env, nil, id, p, true)
	return err
}
