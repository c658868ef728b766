package placement

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// Which node of a Citus cluster holds a tenant's rows (docs/citus.md). The catalog records a
// placement (server, schema), never a node: Citus chooses the node, and its moves and
// rebalancer change it, so it is read from Citus's metadata on the coordinator when asked.
//   - A schema-tier tenant's distributed schema is one co-location group: all its tables'
//     single shards sit on one node (pg_dist_schema -> pg_dist_partition -> pg_dist_placement).
//   - A pool tenant's rows are in the shard that its tenant_id hashes to, in each of the
//     pool's co-located tables (get_shard_id_for_distribution_column).
//   - Tables that are not distributed are the coordinator's.

// NodeAt says where one tenant's rows are in a Citus cluster.
type NodeAt struct {
	Node        string // host:port from pg_dist_node; "" when nothing is distributed or the schema is empty
	Coordinator bool   // the rows are on the coordinator (local tables, or shards in its group)
	Distributed bool   // the rows are in distributed tables
	Empty       bool   // a distributed schema with no table yet: Citus places it with its first table
}

// NodeQuery names one tenant whose node is asked for.
type NodeQuery struct {
	ID     int64
	Kind   string // KindSchema or KindPool
	Schema string
}

// CitusNodes returns the node of each tenant of qs, which all live on server s, a Citus one.
func (e *Env) CitusNodes(ctx context.Context, s string, qs []NodeQuery) (map[int64]NodeAt, error) {
	conn, release, err := e.citusConn(ctx, s)
	if err != nil {
		return nil, err
	}
	defer release()
	out := map[int64]NodeAt{}
	var schemas []string
	var schemaIDs []int64
	pools := map[string][]int64{}
	for _, q := range qs {
		switch q.Kind {
		case KindSchema:
			schemas, schemaIDs = append(schemas, q.Schema), append(schemaIDs, q.ID)
		case KindPool:
			pools[q.Schema] = append(pools[q.Schema], q.ID)
		}
	}
	if len(schemas) > 0 {
		rows, err := conn.Query(ctx, schemaNodesSQL, schemas, schemaIDs)
		if err != nil {
			return nil, fmt.Errorf("read the nodes of tenant schemas: %w", err)
		}
		var id int64
		var distributed bool
		var node *string
		var group *int32
		_, err = pgx.ForEachRow(rows, []any{&id, &distributed, &node, &group}, func() error {
			out[id] = nodeAt(distributed, node, group)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the nodes of tenant schemas: %w", err)
		}
	}
	for schema, ids := range pools {
		for _, id := range ids {
			out[id] = NodeAt{Coordinator: true} // unless a distributed table says otherwise
		}
		rows, err := conn.Query(ctx, poolNodesSQL, schema, ids)
		if err != nil {
			return nil, fmt.Errorf("read the nodes of pool %s's tenants: %w", schema, err)
		}
		var id int64
		var node string
		var group int32
		_, err = pgx.ForEachRow(rows, []any{&id, &node, &group}, func() error {
			out[id] = nodeAt(true, &node, &group)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the nodes of pool %s's tenants: %w", schema, err)
		}
	}
	return out, nil
}

func nodeAt(distributed bool, node *string, group *int32) NodeAt {
	switch {
	case !distributed:
		return NodeAt{Coordinator: true}
	case node == nil:
		return NodeAt{Distributed: true, Empty: true}
	}
	return NodeAt{Node: *node, Coordinator: group != nil && *group == 0, Distributed: true}
}

// schemaNodesSQL gives, for each schema $1[i] (tenant $2[i]), whether it is distributed, and
// the node and group holding its co-location group's shards (null when it has no table).
const schemaNodesSQL = `
	SELECT u.id, ds.schemaid IS NOT NULL, n.nodename || ':' || n.nodeport, n.groupid
	FROM unnest($1::text[], $2::bigint[]) AS u(schema, id)
	LEFT JOIN pg_namespace ns ON ns.nspname = u.schema
	LEFT JOIN pg_catalog.pg_dist_schema ds ON ds.schemaid = ns.oid
	LEFT JOIN LATERAL (
		SELECT pl.groupid FROM pg_catalog.pg_dist_partition dp
		JOIN pg_catalog.pg_dist_shard sh ON sh.logicalrelid = dp.logicalrelid
		JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = sh.shardid
		WHERE dp.colocationid = ds.colocationid LIMIT 1) g ON true
	LEFT JOIN pg_catalog.pg_dist_node n ON n.groupid = g.groupid AND n.noderole = 'primary'`

// poolNodesSQL gives, for each tenant $2[i] of pool schema $1, the node and group of the shard
// its tenant_id hashes to in one of the pool's hash-distributed tables (all are co-located);
// no row when the pool has none. The pool's tables are found through pg_depend's index.
const poolNodesSQL = `
	SELECT u.id, n.nodename || ':' || n.nodeport, n.groupid
	FROM (SELECT dp.logicalrelid AS rel FROM pg_depend d
	      JOIN pg_catalog.pg_dist_partition dp ON dp.logicalrelid = d.objid AND dp.partmethod = 'h'
	      WHERE d.refclassid = 'pg_namespace'::regclass AND d.classid = 'pg_class'::regclass
	        AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = $1)
	      ORDER BY dp.logicalrelid LIMIT 1) r
	CROSS JOIN unnest($2::bigint[]) AS u(id)
	JOIN pg_catalog.pg_dist_placement pl ON pl.shardid = get_shard_id_for_distribution_column(r.rel, u.id)
	JOIN pg_catalog.pg_dist_node n ON n.groupid = pl.groupid AND n.noderole = 'primary'`

// citusConn returns an owner connection to the database of server s that holds its tenants'
// schemas (the catalog's own, or the server's home database), after checking that it is a
// Citus coordinator.
func (e *Env) citusConn(ctx context.Context, s string) (catalog.DB, func(), error) {
	kind, err := e.ServerKind(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if kind != catalog.ServerKindCitus {
		return nil, nil, fmt.Errorf("%w: server %s is not a Citus coordinator", ErrNotCitus, ServerLabel(s))
	}
	p := Placement{Kind: KindSchema, Server: s}
	conn, release, err := e.OwnerConnFor(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	return conn, release, nil
}

// ErrNotCitus reports a Citus operation (a move to a node, a rebalance) asked of a server that
// is not a Citus coordinator. The root package re-exports it.
var ErrNotCitus = errors.New("tenancy: not a Citus server")

// CitusNode is one node of a Citus cluster, as pg_dist_node has it.
type CitusNode struct {
	Node        string // host:port
	Coordinator bool
	Active      bool
	HasShards   bool // shouldhaveshards: the rebalancer and new schemas may put shards there
}

// CitusNodeList returns the primary nodes of Citus server s, the coordinator first.
func (e *Env) CitusNodeList(ctx context.Context, s string) ([]CitusNode, error) {
	conn, release, err := e.citusConn(ctx, s)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := conn.Query(ctx, `SELECT nodename, nodeport, groupid = 0, isactive, shouldhaveshards
		FROM pg_catalog.pg_dist_node WHERE noderole = 'primary' ORDER BY groupid, nodename, nodeport`)
	if err != nil {
		return nil, err
	}
	var out []CitusNode
	var host string
	var port int32
	var n CitusNode
	_, err = pgx.ForEachRow(rows, []any{&host, &port, &n.Coordinator, &n.Active, &n.HasShards}, func() error {
		n.Node = host + ":" + strconv.Itoa(int(port))
		out = append(out, n)
		return nil
	})
	return out, err
}

// ShardMove is one move of Citus's rebalancer plan: a shard and the shards co-located with it
// (a whole distributed schema, or one hash range of a pool's tables) go from one node to another.
type ShardMove struct {
	Table    string // the shard's table, as regclass prints it
	Schema   string // the table's schema: a tenant's schema, or a pool's
	Shard    int64
	From, To string // host:port
}

// CitusRebalance asks Citus's rebalancer for its plan on server s and, unless dryRun, runs it
// in this session (rebalance_table_shards: the moves happen one after the other, and it
// returns when they are done). mode is a citus.shard_transfer_mode. It returns the plan.
func (e *Env) CitusRebalance(ctx context.Context, s, mode string, dryRun bool) ([]ShardMove, error) {
	conn, release, err := e.citusConn(ctx, s)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := conn.Query(ctx, `
		SELECT p.table_name::text, n.nspname, p.shardid, p.sourcename || ':' || p.sourceport, p.targetname || ':' || p.targetport
		FROM get_rebalance_table_shards_plan() p
		JOIN pg_class c ON c.oid = p.table_name JOIN pg_namespace n ON n.oid = c.relnamespace
		ORDER BY p.shardid`)
	if err != nil {
		return nil, fmt.Errorf("plan the rebalance: %w", err)
	}
	var plan []ShardMove
	var m ShardMove
	if _, err := pgx.ForEachRow(rows, []any{&m.Table, &m.Schema, &m.Shard, &m.From, &m.To}, func() error {
		plan = append(plan, m)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("plan the rebalance: %w", err)
	}
	if dryRun || len(plan) == 0 {
		return plan, nil
	}
	// A shard copied as a role subject to RLS arrives empty, and the source is dropped.
	if err := CheckOwnerCopiesShards(ctx, conn); err != nil {
		return plan, err
	}
	// mode is one of three names (checked by the caller) and goes in as a literal: naming the
	// type (citus.shard_transfer_mode) needs USAGE on schema citus, which the owner lacks.
	if _, err := conn.Exec(ctx, `SELECT rebalance_table_shards(shard_transfer_mode => `+QuoteLiteral(mode)+`)`); err != nil {
		return plan, fmt.Errorf("rebalance: %w", err)
	}
	return plan, nil
}
