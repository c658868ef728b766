package tenancy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/placement"
)

// ErrEmptySchema: a schema-tier tenant on Citus whose schema has no table yet cannot be moved
// to a node (Citus places an empty distributed schema with its first table).
var ErrEmptySchema = errors.New("tenancy: the tenant's distributed schema has no table")

// moveToNode is Move with MoveOpts.Node: a schema-tier tenant's distributed schema goes to
// another node of its Citus cluster with citus_schema_move, which copies its shards there
// (logically replicated, writes blocked only for the switch-over) and drops the old ones. The
// catalog does not change (the placement is the same server and schema) and the tenant stays
// served; its operation lock keeps tenancy's own moves, restores and deletes out meanwhile.
func (c *Client) moveToNode(ctx context.Context, slug string, opts *MoveOpts) (*Tenant, error) {
	if opts.Tier != "" || opts.Server != "" || opts.Pool != "" {
		return nil, fmt.Errorf("tenancy: move %s: MoveOpts.Node moves a tenant inside its Citus cluster; give no Tier, Server or Pool with it", slug)
	}
	host, port, err := parseNode(opts.Node)
	if err != nil {
		return nil, err
	}
	mode, err := transferMode(opts.TransferMode)
	if err != nil {
		return nil, fmt.Errorf("tenancy: move %s: %w", slug, err)
	}
	t, err := c.TenantGet(ctx, slug)
	if err != nil {
		return nil, err
	}
	if t.Tier != TierSchema {
		return nil, fmt.Errorf("%w: move %s to node %s: only a schema-tier tenant has a distributed schema to move; a pool tenant's rows share their shards with other tenants (move it to the schema tier first)", ErrTierNotAvailable, slug, opts.Node)
	}
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
	server := t.Placement.Server
	nodes, err := c.env.CitusNodes(ctx, server, []placement.NodeQuery{{ID: t.ID, Kind: placement.KindSchema, Schema: t.Placement.Schema}})
	if err != nil {
		return nil, fmt.Errorf("tenancy: move %s to node %s: %w", slug, opts.Node, err)
	}
	at := nodes[t.ID]
	switch {
	case !at.Distributed:
		return nil, fmt.Errorf("%w: move %s to node %s: its schema %s is a local schema on the coordinator, not a distributed one (made before tenancy distributed tenant schemas): move it to the schema tier again (Move with Server) to distribute it", ErrTierNotAvailable, slug, opts.Node, t.Placement.Schema)
	case at.Empty:
		return nil, fmt.Errorf("%w: move %s to node %s: nothing to move; Citus places the schema with its first table", ErrEmptySchema, slug, opts.Node)
	case at.Node == opts.Node:
		return nil, fmt.Errorf("tenancy: %s is on node %s already", slug, opts.Node)
	}
	list, err := c.env.CitusNodeList(ctx, server)
	if err != nil {
		return nil, err
	}
	var names []string
	found := false
	for _, n := range list {
		names = append(names, n.Node)
		if n.Node == opts.Node {
			found = true
			if !n.Active || !n.HasShards {
				return nil, fmt.Errorf("tenancy: move %s: node %s does not take shards (inactive, or shouldhaveshards is off)", slug, opts.Node)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("tenancy: move %s: no node %s in the Citus cluster of server %s (nodes: %s)", slug, opts.Node, placement.ServerLabel(server), strings.Join(names, ", "))
	}
	conn, release, err := c.env.OwnerConnFor(ctx, placement.Placement{Kind: placement.KindSchema, Server: server})
	if err != nil {
		return nil, err
	}
	defer release()
	// A schema copied as a role subject to RLS arrives empty, and the source is dropped.
	if err := placement.CheckOwnerCopiesShards(ctx, conn); err != nil {
		return nil, fmt.Errorf("%w: move %s to node %s", err, slug, opts.Node)
	}
	// The mode goes in as a literal: naming its type needs USAGE on schema citus (rebalance.go).
	if _, err := conn.Exec(ctx, `SELECT citus_schema_move($1::regnamespace, $2::text, $3::int, `+placement.QuoteLiteral(mode)+`)`,
		pgx.Identifier{t.Placement.Schema}.Sanitize(), host, port); err != nil {
		return nil, fmt.Errorf("tenancy: move %s to node %s: %w", slug, opts.Node, err)
	}
	return t, nil
}

// parseNode splits a node named host:port, as pg_dist_node and TenantNode name it.
func parseNode(node string) (string, int, error) {
	host, p, err := net.SplitHostPort(node)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || host == "" || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("tenancy: invalid node %q: want host:port, as `tenancy status` shows the nodes", node)
	}
	return host, port, nil
}
