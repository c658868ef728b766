package tenancycli

import (
	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

// isolateFlags are move's --isolate and --node: give a pool tenant on Citus shards of its own
// (Client.Isolate) instead of moving it to another placement.
type isolateFlags struct {
	isolate bool
	online  bool
	node    string
}

func (f *isolateFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.isolate, "isolate", false, "Citus, pool tier: give the tenant shards of its own, in its pool (isolate_tenant_to_new_shard)")
	cmd.Flags().StringVar(&f.node, "node", "", "on Citus: the node (host:port, as status shows them) to move a schema-tier tenant's distributed schema to; with --isolate, the worker for the tenant's own shards")
	cmd.Flags().BoolVar(&f.online, "online", false, "with --isolate: copy by logical replication while writes go on (needs wal_level=logical; default: writes wait)")
}

// run does move --isolate; other move flags are refused with it.
func (f *isolateFlags) run(a *app, cmd *cobra.Command, slug string, others bool, asJSON bool) error {
	if others {
		return usagef(cmd, "--isolate keeps the tenant in its pool: it takes no --tier, --server or --pool")
	}
	ctx := cmd.Context()
	c, err := a.client(ctx, false)
	if err != nil {
		return err
	}
	res, err := c.Isolate(ctx, slug, &tenancy.IsolateOpts{Node: f.node, Online: f.online})
	if err != nil {
		return err
	}
	if asJSON {
		return a.printJSON(map[string]any{"slug": slug, "shard_id": res.ShardID, "node": res.Node, "already": res.Already})
	}
	if res.Already {
		a.printf("tenant %s has shards of its own already (shard %d, on %s)", slug, res.ShardID, res.Node)
		return nil
	}
	a.printf("isolated tenant %s: shards of its own (shard %d, on %s)", slug, res.ShardID, res.Node)
	return nil
}
