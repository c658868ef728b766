package tenancy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/archive"
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
	// OnTable, if set, is called after each table is copied.
	OnTable func(table string, rows int64)
}

// move is a row of tenancy.moves.
type move struct {
	kind       string
	from, to   int64
	toTier     Tier
	phase      string
	prevStatus Status
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
	target, err := c.newPlacement(ctx, tier, server, opts.Pool)
	if err != nil {
		return nil, err
	}
	if tier == t.Tier && (tier == TierPool && target.p.ID == t.Placement.ID || tier != TierPool && target.p.Server == t.Placement.Server) {
		return nil, fmt.Errorf("tenancy: %s is already in the %s tier on server %s", slug, tier, placement.ServerLabel(t.Placement.Server))
	}
	if err := c.moveTenant(ctx, t, target, obs.countRows(opts.OnTable)); err != nil {
		return nil, fmt.Errorf("tenancy: move %s: %w", slug, err)
	}
	return c.TenantGetByID(ctx, t.ID)
}

func (c *Client) moveTenant(ctx context.Context, t *Tenant, target *plannedPlacement, onTable func(string, int64)) error {
	err := pgx.BeginFunc(ctx, c.owner, func(tx pgx.Tx) error {
		var status Status
		var placementID int64
		if err := tx.QueryRow(ctx, `SELECT status, placement_id FROM tenancy.tenants WHERE id = $1 FOR UPDATE`, t.ID).Scan(&status, &placementID); err != nil {
			return err
		}
		if (status != StatusActive && status != StatusSuspended) || placementID != t.Placement.ID {
			return fmt.Errorf("%w: %s changed meanwhile (%s)", ErrTenantNotActive, t.Slug, status)
		}
		if target.tier != TierPool {
			if err := target.insert(ctx, c, tx, t.ID, false); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `
			WITH m AS (INSERT INTO tenancy.moves (tenant_id, kind, from_placement, to_placement, to_tier, phase, prev_status)
			           VALUES ($1, 'move', $2, $3, $4, 'copying', $5))
			UPDATE tenancy.tenants SET status = 'moving', updated_at = now() WHERE id = $1`,
			t.ID, t.Placement.ID, target.p.ID, string(target.tier), string(status))
		return err
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
		var phase string
		var prev Status
		if err := tx.QueryRow(ctx, `SELECT phase, prev_status FROM tenancy.moves WHERE tenant_id = $1 AND kind = 'move' FOR UPDATE`, t.ID).Scan(&phase, &prev); err != nil {
			return fmt.Errorf("the move record is gone: %w", err)
		}
		if phase != "copying" {
			return fmt.Errorf("the move is in phase %s", phase)
		}
		if _, err := tx.Exec(ctx, `UPDATE tenancy.tenants SET placement_id = $2, tier = $3, status = $4, updated_at = now() WHERE id = $1 AND status = 'moving'`,
			t.ID, target.p.ID, string(target.tier), string(prev)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE tenancy.moves SET phase = 'switched' WHERE tenant_id = $1`, t.ID)
		return err
	}
	if err := target.kind.Fill(ctx, c.env, c.owner, t.ID, target.p, placement.Steps{Load: load, Finish: switchCatalog}); err != nil {
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
	var mv move
	var from *int64
	err := c.owner.QueryRow(ctx, `SELECT kind, from_placement, to_placement, to_tier, phase, prev_status FROM tenancy.moves WHERE tenant_id = $1`, id).
		Scan(&mv.kind, &from, &mv.to, &mv.toTier, &mv.phase, &mv.prevStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if from != nil {
		mv.from = *from
	}
	switch {
	case mv.kind == "restore":
		return true, c.abandonRestore(ctx, id)
	case mv.phase == "switched":
		// The tenant is served from the new placement already: drop the old one.
		if err := c.dropPlacementOf(ctx, id, mv.from); err != nil {
			return true, err
		}
		if err := c.crash(ctx, crash.MoveDropped, nil); err != nil {
			return true, err
		}
		_, err := c.owner.Exec(ctx, `
			WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1)
			DELETE FROM tenancy.placements WHERE id = $2 AND kind IN ('schema', 'database')`, id, mv.from)
		return true, err
	default:
		// Still copying: the old placement is the tenant's; drop the copy.
		if err := c.dropPlacementOf(ctx, id, mv.to); err != nil {
			return true, err
		}
		_, err := c.owner.Exec(ctx, `
			WITH m AS (DELETE FROM tenancy.moves WHERE tenant_id = $1),
			p AS (DELETE FROM tenancy.placements WHERE id = $3 AND kind IN ('schema', 'database'))
			UPDATE tenancy.tenants SET status = $2, updated_at = now() WHERE id = $1 AND status = 'moving'`, id, string(mv.prevStatus), mv.to)
		return true, err
	}
}

// dropPlacementOf drops what tenant id has in placement placementID, which must not be the
// tenant's current placement: a schema or database tenancy made for it, or its rows in a pool.
func (c *Client) dropPlacementOf(ctx context.Context, id, placementID int64) error {
	var p placement.Placement
	var current *int64
	err := c.owner.QueryRow(ctx, `
		SELECT p.kind, p.server, p.database, p.schema, p.owned, (SELECT placement_id FROM tenancy.tenants WHERE id = $2), coalesce(p.uid, '')
		FROM tenancy.placements p WHERE p.id = $1`, placementID, id).Scan(&p.Kind, &p.Server, &p.Database, &p.Schema, &p.Owned, &current, &p.UID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // dropped already
	}
	if err != nil {
		return err
	}
	p.ID = placementID
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

// repairMoves resolves every move and restore that tenancy.moves records and no process is
// running (their operation lock is free). Repair calls it first, so that a half-restored tenant
// in "provisioning" is removed rather than provisioned empty.
func (c *Client) repairMoves(ctx context.Context, res *RepairResult) error {
	rows, err := c.owner.Query(ctx, `SELECT m.tenant_id, t.slug FROM tenancy.moves m JOIN tenancy.tenants t ON t.id = m.tenant_id ORDER BY 1`)
	if err != nil {
		if placement.IsUndefinedTable(err) {
			return nil
		}
		return err
	}
	type item struct {
		id   int64
		slug string
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (item, error) {
		var it item
		return it, r.Scan(&it.id, &it.slug)
	})
	if err != nil {
		return err
	}
	for _, it := range items {
		unlock, err := c.lockTenantOp(ctx, it.id, false)
		if errors.Is(err, errMoveInProgress) {
			continue // running now: not a crash's leftover
		}
		if err != nil {
			res.Failed[it.slug] = err
			continue
		}
		_, err = c.resolveMove(ctx, it.id)
		unlock()
		if err != nil {
			res.Failed[it.slug] = err
			continue
		}
		res.Moves = append(res.Moves, it.slug)
	}
	return nil
}
