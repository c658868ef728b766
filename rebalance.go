package tenancy

import (
	"context"
	"fmt"
	"time"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/placement"
)

// RebalanceOpts are the options of Rebalance.
type RebalanceOpts struct {
	// Server is the Citus server to rebalance: ServerDefault or "" for the catalog's own.
	Server string
	// DryRun reports the moves Citus's rebalancer would make, and makes none.
	DryRun bool
	// TransferMode is how Citus copies a shard: TransferAuto (the default: logical
	// replication, writes blocked only for the switch-over, which needs a primary key or a
	// replica identity on every table), TransferForceLogical or TransferBlockWrites.
	TransferMode string
}

// Citus's shard transfer modes (citus.shard_transfer_mode), for RebalanceOpts.TransferMode.
const (
	TransferAuto         = "auto"
	TransferForceLogical = "force_logical"
	TransferBlockWrites  = "block_writes"
)

// transferMode checks a RebalanceOpts.TransferMode or MoveOpts.TransferMode ("" is TransferAuto).
func transferMode(mode string) (string, error) {
	switch mode {
	case "":
		return TransferAuto, nil
	case TransferAuto, TransferForceLogical, TransferBlockWrites:
		return mode, nil
	}
	return "", fmt.Errorf("invalid transfer mode %q (want %s, %s or %s)", truncate(mode, 40), TransferAuto, TransferForceLogical, TransferBlockWrites)
}

// RebalanceMove is one move of the rebalancer: a shard and the shards co-located with it. A
// schema-tier tenant's distributed schema is one co-location group and moves whole; a pool's
// shard holds the rows of every tenant whose tenant_id hashes into its range.
type RebalanceMove struct {
	Schema  string   `json:"schema"`            // the tenant's schema, or the pool's
	Tenants []string `json:"tenants,omitempty"` // the schema's tenant (schema tier); empty for a pool's shard and a warm placement
	Pool    bool     `json:"pool,omitempty"`    // a pool's shard
	Table   string   `json:"table"`
	Shard   int64    `json:"shard"`
	From    string   `json:"from"` // host:port
	To      string   `json:"to"`
}

// RebalanceResult says what Rebalance did (or, with DryRun, would do).
type RebalanceResult struct {
	Moves    []RebalanceMove `json:"moves"`
	DryRun   bool            `json:"dry_run,omitempty"`
	Duration time.Duration   `json:"duration"`
}

// Rebalance spreads the tenants of a Citus server over its workers with Citus's rebalancer
// (rebalance_table_shards), typically after a worker was added (docs/citus.md): it reads the
// rebalancer's plan, then runs it in this call, one move after the other, and returns when
// they are done. Tenants stay served: Citus copies each shard group while it takes writes and
// blocks them only for the switch-over (TransferAuto). The catalog does not change: it records
// servers and schemas, never nodes (TenantNodes reads them). ErrNotCitus on a plain server.
func (c *Client) Rebalance(ctx context.Context, opts *RebalanceOpts) (*RebalanceResult, error) {
	if opts == nil {
		opts = &RebalanceOpts{}
	}
	mode, err := transferMode(opts.TransferMode)
	if err != nil {
		return nil, fmt.Errorf("tenancy: rebalance: %w", err)
	}
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	s, err := c.serverName(ctx, opts.Server)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	plan, err := c.env.CitusRebalance(ctx, s, mode, opts.DryRun)
	res := &RebalanceResult{DryRun: opts.DryRun, Moves: []RebalanceMove{}}
	if len(plan) > 0 {
		schemas := make([]string, len(plan))
		for i, m := range plan {
			schemas[i] = m.Schema
		}
		places, perr := catalog.PlacementsBySchema(ctx, admin, s, schemas)
		if perr != nil && err == nil {
			err = perr
		}
		for _, m := range plan {
			pl := places[m.Schema]
			res.Moves = append(res.Moves, RebalanceMove{Schema: m.Schema, Table: m.Table, Shard: m.Shard, From: m.From, To: m.To,
				Pool: pl.Kind == placement.KindPool, Tenants: pl.Slugs})
		}
	}
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("tenancy: rebalance server %s: %w", placement.ServerLabel(s), err)
	}
	return res, nil
}
