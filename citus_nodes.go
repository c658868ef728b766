package tenancy

import (
	"context"

	"github.com/tenancy-go/tenancy/internal/placement"
)

// NodeCoordinator is TenantNode.String of a tenant whose rows are on the coordinator.
const NodeCoordinator = "coordinator"

// TenantNode says which node of a Citus cluster holds a tenant's rows (docs/citus.md). The
// catalog records the tenant's server and schema; Citus chooses the node and may move it (Move
// with MoveOpts.Node, Rebalance), so the node is read from Citus's metadata when asked.
type TenantNode struct {
	// Node is the host:port of the node holding the rows, as Citus's pg_dist_node names it; ""
	// when they are in local tables, or when the tenant's schema has no table yet.
	Node string `json:"node,omitempty"`
	// Coordinator: the rows are on the coordinator, in local tables or in its own shards.
	Coordinator bool `json:"coordinator,omitempty"`
	// Distributed: the rows are in distributed tables (a distributed schema, or a pool's tables
	// distributed by tenant_id); false: local tables on the coordinator.
	Distributed bool `json:"distributed"`
	// Empty: a distributed schema with no table, which Citus places with its first table.
	Empty bool `json:"empty,omitempty"`
}

// String names the node for people: host:port, "coordinator", "coordinator (local tables)"
// or "none (empty schema)".
func (n TenantNode) String() string {
	switch {
	case n.Empty:
		return "none (empty schema)"
	case !n.Distributed:
		return NodeCoordinator + " (local tables)"
	case n.Coordinator:
		return NodeCoordinator + " " + n.Node
	}
	return n.Node
}

// TenantNodes returns the Citus node of each of tenants (as TenantGet or TenantList return
// them) that lives on a Citus server, by tenant id; the others are left out. It costs one
// query per Citus server (and pool) involved, and one per server to learn its kind.
func (c *Client) TenantNodes(ctx context.Context, tenants []*Tenant) (map[int64]TenantNode, error) {
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	byServer := map[string][]placement.NodeQuery{}
	for _, t := range tenants {
		if t.Tier == TierDatabase {
			continue // never on a Citus server (refused there)
		}
		byServer[t.Placement.Server] = append(byServer[t.Placement.Server], placement.NodeQuery{ID: t.ID, Kind: string(t.Tier), Schema: t.Placement.Schema})
	}
	out := map[int64]TenantNode{}
	for s, qs := range byServer {
		kind, err := c.env.ServerKind(ctx, s)
		if err != nil {
			return nil, err
		}
		if kind != ServerKindCitus {
			continue
		}
		nodes, err := c.env.CitusNodes(ctx, s, qs)
		if err != nil {
			return nil, err
		}
		for id, n := range nodes {
			out[id] = TenantNode(n)
		}
	}
	return out, nil
}

// CitusNode is one node of a Citus cluster.
type CitusNode struct {
	Node        string `json:"node"` // host:port
	Coordinator bool   `json:"coordinator,omitempty"`
	Active      bool   `json:"active"`
	// HasShards: Citus may place shards there (pg_dist_node.shouldhaveshards); the coordinator
	// has none unless an operator asked for it.
	HasShards bool `json:"has_shards"`
}

// CitusNodes lists the nodes of a Citus server (ServerDefault or "" for the catalog's own), the
// coordinator first; ErrNotCitus on a plain PostgreSQL server.
func (c *Client) CitusNodes(ctx context.Context, server string) ([]CitusNode, error) {
	if _, err := c.ownerPool(); err != nil {
		return nil, err
	}
	s, err := c.serverName(ctx, server)
	if err != nil {
		return nil, err
	}
	list, err := c.env.CitusNodeList(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]CitusNode, len(list))
	for i, n := range list {
		out[i] = CitusNode(n)
	}
	return out, nil
}

// serverName resolves a server argument: "" and ServerDefault are the catalog's own (""), any
// other name must be a known server.
func (c *Client) serverName(ctx context.Context, server string) (string, error) {
	if server == "" || server == ServerDefault {
		return "", nil
	}
	if _, err := c.serverConfig(ctx, server); err != nil {
		return "", err
	}
	return server, nil
}
