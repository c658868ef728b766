package tenancycli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

// Citus (docs/citus.md): which node holds each tenant (status, tenants show), a schema-tier
// tenant's move to another node (move --node), and the rebalancer (rebalance).

func rebalanceCommand(a *app) *cobra.Command {
	var server, mode string
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "rebalance",
		Short: "Spread the tenants of a Citus server over its workers (Citus's rebalancer)",
		Long: `rebalance runs Citus's rebalancer on a Citus server (the catalog's own by default): after a worker
was added, it moves tenants' shard groups there until the workers hold about as many each. A
schema-tier tenant's distributed schema moves whole; a pool's shards each hold a range of its
tenants. Tenants stay served: each move copies while writes go on and blocks them only for the
switch-over (--transfer-mode auto). It lists the moves, and returns when they are done.
--dry-run lists them and moves nothing. On a plain PostgreSQL server it is refused.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			res, err := c.Rebalance(ctx, &tenancy.RebalanceOpts{Server: server, DryRun: dryRun, TransferMode: mode})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(res)
			}
			if len(res.Moves) == 0 {
				a.printf("balanced already: nothing to move")
				return nil
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "WHAT\tSHARD\tFROM\tTO")
			for _, m := range res.Moves {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", moveWhat(m), m.Shard, m.From, m.To)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if dryRun {
				a.printf("dry run: %d moves planned, none made", len(res.Moves))
			} else {
				a.printf("%d moves made in %s", len(res.Moves), res.Duration.Round(time.Millisecond))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&server, "server", "", "the Citus server (default: the catalog's own)")
	cmd.Flags().StringVar(&mode, "transfer-mode", tenancy.TransferAuto, "how shards are copied: auto, force_logical or block_writes")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the moves, make none")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// moveWhat names what a rebalancer move carries: "tenant acme", "pool pool_default (a range of its tenants)".
func moveWhat(m tenancy.RebalanceMove) string {
	switch {
	case m.Pool:
		return "pool " + m.Schema + " (a range of its tenants)"
	case len(m.Tenants) > 0:
		return "tenant " + strings.Join(m.Tenants, ", ")
	}
	return "schema " + m.Schema + " (no tenant: a warm placement)"
}

// moveToNode is `move SLUG --node HOST:PORT`.
func (a *app) moveToNode(cmd *cobra.Command, slug, node, mode string, others bool, asJSON bool) error {
	if others {
		return usagef(cmd, "--node moves a tenant inside its Citus cluster: give no --tier, --server or --pool with it")
	}
	ctx := cmd.Context()
	c, err := a.client(ctx, false)
	if err != nil {
		return err
	}
	start := time.Now()
	t, err := c.Move(ctx, slug, &tenancy.MoveOpts{Node: node, TransferMode: mode})
	if err != nil {
		return err
	}
	nodes, err := c.TenantNodes(ctx, []*tenancy.Tenant{t})
	if err != nil {
		return err
	}
	n := nodes[t.ID]
	if asJSON {
		return a.printJSON(tenantWithNode{t, &n})
	}
	a.printf("moved tenant %s to node %s in %s", t.Slug, n, time.Since(start).Round(time.Millisecond))
	return nil
}

// tenantWithNode is a tenant in JSON with its Citus node.
type tenantWithNode struct {
	*tenancy.Tenant
	Node *tenancy.TenantNode `json:"node,omitempty"`
}

// tenantNode returns t's Citus node, nil when t is not on a Citus server.
func tenantNode(ctx context.Context, c *tenancy.Client, t *tenancy.Tenant) (*tenancy.TenantNode, error) {
	nodes, err := c.TenantNodes(ctx, []*tenancy.Tenant{t})
	if err != nil {
		return nil, err
	}
	if n, ok := nodes[t.ID]; ok {
		return &n, nil
	}
	return nil, nil
}

// nodeCount is one node of a Citus server in status.
type nodeCount struct {
	Server string `json:"server"`
	tenancy.CitusNode
	Tenants int `json:"tenants"`
}

// citusNodes returns the nodes of every Citus server with the number of tenants each holds,
// and each tenant's node (by id), reading the tenants a page at a time; nil when no server is
// a Citus one.
func citusNodes(ctx context.Context, c *tenancy.Client) ([]nodeCount, map[int64]tenancy.TenantNode, error) {
	var servers []string
	kind, err := c.ServerKind(ctx, tenancy.ServerDefault)
	if err != nil {
		return nil, nil, err
	}
	if kind == tenancy.ServerKindCitus {
		servers = append(servers, tenancy.ServerDefault)
	}
	list, err := c.ServerList(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range list {
		if s.Kind == tenancy.ServerKindCitus { // as recorded by servers add: no connection needed
			servers = append(servers, s.Name)
		}
	}
	var out []nodeCount
	index := map[string]int{} // server + node -> position in out
	for _, s := range servers {
		nodes, err := c.CitusNodes(ctx, s)
		if err != nil {
			return nil, nil, err
		}
		for _, n := range nodes {
			index[s+" "+n.Node] = len(out)
			out = append(out, nodeCount{Server: s, CitusNode: n})
		}
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	all := map[int64]tenancy.TenantNode{}
	opts := &tenancy.TenantListOpts{Limit: 1000}
	for {
		page, err := c.TenantList(ctx, opts)
		if err != nil {
			return nil, nil, err
		}
		nodes, err := c.TenantNodes(ctx, page)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range page {
			n, ok := nodes[t.ID]
			if !ok {
				continue
			}
			all[t.ID] = n
			s := t.Placement.Server
			if s == "" {
				s = tenancy.ServerDefault
			}
			key := n.Node
			if !n.Distributed {
				for _, nc := range out { // local tables: the coordinator's
					if nc.Server == s && nc.Coordinator {
						key = nc.Node
					}
				}
			}
			if i, ok := index[s+" "+key]; ok {
				out[i].Tenants++
			}
		}
		if len(page) < opts.Limit {
			break
		}
		opts.After = page[len(page)-1].Slug
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Server < out[j].Server })
	return out, all, nil
}

// printNodes writes status's table of Citus nodes.
func (a *app) printNodes(nodes []nodeCount) error {
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SERVER\tNODE\tROLE\tTENANTS\t")
	for _, n := range nodes {
		role := "worker"
		if n.Coordinator {
			role = "coordinator"
		}
		note := ""
		if !n.Active {
			note = "inactive"
		} else if !n.HasShards && !n.Coordinator {
			note = "takes no shards"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", n.Server, n.Node, role, n.Tenants, note)
	}
	return w.Flush()
}

// nodeText is tenant id's node in status --tenants ("-" when not on Citus).
func nodeText(nodes map[int64]tenancy.TenantNode, id int64) string {
	if n, ok := nodes[id]; ok {
		return n.String()
	}
	return "-"
}
