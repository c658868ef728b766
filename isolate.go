package tenancy

import (
	"context"
	"fmt"

	"github.com/tenancy-go/tenancy/internal/placement"
)

// IsolateOpts are the options of Isolate.
type IsolateOpts struct {
	// Node, if set, is the Citus worker (host:port, as citus_get_active_worker_nodes() lists
	// them) that the tenant's shards are moved to; empty leaves them where Citus split them.
	Node string
	// Online copies the rows by logical replication while writes go on (Citus's 'auto' transfer
	// mode): it needs wal_level = logical on every node and the server to let Citus decode
	// logically (on a PostgreSQL that restricts output plugins, citus among its
	// output_plugin_libraries). Without it, writes to the shards being copied (the tenant's, and
	// its shard neighbours' during the split) wait until the copy is done ('block_writes').
	Online bool
}

// IsolateResult says where an isolated tenant's rows are.
type IsolateResult struct {
	// ShardID is the tenant's shard of the pool's first table (each other table of the pool has
	// a co-located shard of its own, on the same node).
	ShardID int64
	Node    string // host:port of the worker that holds them
	// Already says that the tenant had shards of its own before this call (and was not split).
	Already bool
}

// Isolate gives a pool-tier tenant on a Citus server shards of its own, one per table of its
// pool, split off the shards it shared with other tenants (Citus's isolate_tenant_to_new_shard),
// and moves them to opts.Node if set: a large tenant then stops weighing on its neighbours'
// shards and can be given a worker. The tenant stays in its pool, served throughout: Citus copies
// the rows while writes go on (by logical replication where it can, else blocking writes to the
// shards being split for the copy's duration). Refused (ErrTierNotAvailable) on a plain server
// and for a tenant outside the pool tier. Calling it again is a no-op, or only moves the shards.
func (c *Client) Isolate(ctx context.Context, slug string, opts *IsolateOpts) (*IsolateResult, error) {
	if opts == nil {
		opts = &IsolateOpts{}
	}
	owner, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	if t.Tier != TierPool {
		return nil, fmt.Errorf("%w: isolate %s: only a pool-tier tenant shares shards with others (%s is in the %s tier)", ErrTierNotAvailable, slug, slug, t.Tier)
	}
	kind, err := c.env.ServerKind(ctx, t.Placement.Server)
	if err != nil {
		return nil, err
	}
	if kind != ServerKindCitus {
		return nil, fmt.Errorf("%w: isolate %s: its pool is on server %s, a plain PostgreSQL server (isolating a tenant needs a Citus cluster, docs/citus.md)", ErrTierNotAvailable, slug, placement.ServerLabel(t.Placement.Server))
	}
	// Not during a move, restore or delete of the tenant.
	unlock, err := c.lockTenantOp(ctx, t.ID, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, slug)
	}
	defer unlock()
	if t, err = c.TenantGetByID(ctx, t.ID); err != nil {
		return nil, err
	}
	if t.Status != StatusActive && t.Status != StatusSuspended {
		return nil, fmt.Errorf("%w: %s is %s", ErrTenantNotActive, slug, t.Status)
	}
	if t.Tier != TierPool {
		return nil, fmt.Errorf("%w: isolate %s: it moved to the %s tier meanwhile", ErrTierNotAvailable, slug, t.Tier)
	}
	conn, err := owner.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	before, err := placement.PoolTenantShard(ctx, conn, t.Placement.Schema, t.ID)
	if err != nil {
		return nil, fmt.Errorf("tenancy: isolate %s: %w", slug, err)
	}
	s, err := placement.IsolatePoolTenant(ctx, conn.Conn(), t.Placement.Schema, t.ID, opts.Node, opts.Online)
	if err != nil {
		return nil, fmt.Errorf("tenancy: isolate %s: %w", slug, err)
	}
	return &IsolateResult{ShardID: s.ShardID, Node: s.Node, Already: before.Isolated}, nil
}
