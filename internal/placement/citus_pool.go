package placement

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The pool tier on Citus (docs/citus.md): a pool's tenant tables are distributed by tenant_id
// and co-located with each other, so that one tenant's rows of every table sit in one shard
// group on one worker and a statement that names the tenant is routed there. The shared tables
// they reference by foreign key become reference tables (a copy on every node), first, since a
// distributed table may reference only a co-located table or a reference table. Shared tables
// that no tenant table references, the shape schema and the catalog stay local.

// IsCitus reports whether the database db is on has the citus extension (a Citus coordinator).
func IsCitus(ctx context.Context, db catalog.DB) (bool, error) {
	kind, err := catalog.ServerKind(ctx, db)
	return kind == catalog.ServerKindCitus, err
}

// DistributePool makes, on a Citus coordinator, every table of pool schema that is not yet
// distributed a table distributed by tenant_id, co-located with the pool's first distributed
// table, referenced tables first; before that, the tables outside the pool that its tables
// reference become reference tables (ReferenceShared). It runs in the transaction that
// migrated the pool, after the grants (Citus copies a table's grants, RLS settings and
// policies to its shards). A no-op when everything is distributed already; call it only on
// Citus (IsCitus).
func DistributePool(ctx context.Context, tx pgx.Tx, schema string) error {
	// Citus creates shards over one connection per node in a transaction that also created
	// tables or changed reference tables; in parallel mode it refuses ("cannot execute parallel
	// ... after ... sequential access").
	if _, err := tx.Exec(ctx, `SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`); err != nil {
		return err
	}
	if _, err := ReferenceShared(ctx, tx, schema); err != nil {
		return err
	}
	tables, err := TablesReferencingFirst(ctx, tx, schema)
	if err != nil {
		return err
	}
	var anchor string
	dist := map[string]bool{}
	rows, err := tx.Query(ctx, `
		SELECT c.relname, p.partmethod = 'h'
		FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
		WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
		ORDER BY p.logicalrelid`, schema)
	if err != nil {
		return err
	}
	var name string
	var hash bool
	if _, err := pgx.ForEachRow(rows, []any{&name, &hash}, func() error {
		if hash {
			dist[name] = true
			if anchor == "" {
				anchor = name
			}
		}
		return nil
	}); err != nil {
		return err
	}
	// Referenced first: TablesReferencingFirst backwards.
	for i := len(tables) - 1; i >= 0; i-- {
		t := tables[i]
		if dist[t] {
			continue
		}
		var hasTenant bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'tenant_id' AND NOT attisdropped)`,
			pgx.Identifier{schema, t}.Sanitize()).Scan(&hasTenant); err != nil {
			return err
		}
		if !hasTenant {
			return fmt.Errorf("tenancy: pool table %s has no tenant_id column: on Citus a pool's tables are distributed by tenant_id (docs/citus.md)", pgx.Identifier{schema, t}.Sanitize())
		}
		// A new co-location group for the pool's first table, so that pools do not share one.
		with := "none"
		if anchor != "" {
			with = pgx.Identifier{schema, anchor}.Sanitize()
		}
		if _, err := tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, 'tenant_id', colocate_with => $2)`,
			pgx.Identifier{schema, t}.Sanitize(), with); err != nil {
			return fmt.Errorf("distribute %s by tenant_id: %w", pgx.Identifier{schema, t}.Sanitize(), err)
		}
		if anchor == "" {
			anchor = t
		}
	}
	return nil
}

// ReferenceShared makes the tables outside schema that schema's tables reference by foreign
// key (the shared schema's, in practice), and the tables those reference in turn, Citus
// reference tables, referenced first, and returns their names. A table that is a reference
// table already is left alone; a Citus local table (which Citus makes of a local table that
// references a reference table) is converted. A table distributed otherwise is refused: a
// pool's tables could not reference it. Call it only on Citus.
func ReferenceShared(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		WITH RECURSIVE fk AS (
			SELECT k.conrelid AS src, k.confrelid AS dst FROM pg_constraint k
			WHERE k.contype = 'f' AND k.conrelid <> k.confrelid),
		reached(oid) AS (
			SELECT f.dst FROM fk f JOIN pg_class c ON c.oid = f.src JOIN pg_class d ON d.oid = f.dst
			WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND d.relnamespace <> c.relnamespace
			UNION
			SELECT f.dst FROM fk f JOIN reached r ON f.src = r.oid JOIN pg_class d ON d.oid = f.dst
			WHERE d.relnamespace <> (SELECT oid FROM pg_namespace WHERE nspname = $1))
		SELECT r.oid::regclass::text, coalesce(p.partmethod::text, ''), coalesce(p.repmodel::text, ''),
		       coalesce((SELECT array_agg(f.dst::regclass::text) FROM fk f WHERE f.src = r.oid AND f.dst IN (SELECT oid FROM reached)), '{}')
		FROM reached r LEFT JOIN pg_dist_partition p ON p.logicalrelid = r.oid
		ORDER BY 1`, schema)
	if err != nil {
		return nil, err
	}
	type table struct {
		name, method, model string
		refs                []string
	}
	var all []*table
	byName := map[string]*table{}
	var t table
	if _, err := pgx.ForEachRow(rows, []any{&t.name, &t.method, &t.model, &t.refs}, func() error {
		c := t
		all = append(all, &c)
		byName[c.name] = &c
		return nil
	}); err != nil {
		return nil, err
	}
	// Depth-first, referenced tables before the tables that reference them.
	var order []*table
	state := map[string]int{}
	var visit func(*table)
	visit = func(t *table) {
		if state[t.name] != 0 {
			return
		}
		state[t.name] = 1
		refs := append([]string(nil), t.refs...)
		sort.Strings(refs)
		for _, r := range refs {
			if to := byName[r]; to != nil {
				visit(to)
			}
		}
		state[t.name] = 2
		order = append(order, t)
	}
	for _, t := range all {
		visit(t)
	}
	var out []string
	for _, t := range order {
		out = append(out, t.name)
		switch {
		case t.method == "n" && t.model == "t": // a reference table already
			continue
		case t.method != "" && t.method != "n":
			return nil, fmt.Errorf("tenancy: %s, which pool %s's tables reference, is a distributed table: it must be a reference table (docs/citus.md)", t.name, schema)
		}
		// t.name is regclass text: quoted and schema-qualified as needed.
		if _, err := tx.Exec(ctx, `SELECT create_reference_table($1::regclass)`, t.name); err != nil {
			return nil, fmt.Errorf("make %s a reference table: %w", t.name, err)
		}
	}
	return out, nil
}

// afterPool runs after migrations were applied to a pool placement: the application role gets
// the new tables, and on Citus they are distributed by tenant_id.
func (e *Env) afterPool(ctx context.Context, tx pgx.Tx, t *migrate.Target) error {
	if err := GrantMissing(ctx, tx, t.Schema, e.AppRole); err != nil {
		return err
	}
	citus, err := IsCitus(ctx, tx)
	if err != nil || !citus {
		return err
	}
	return DistributePool(ctx, tx, t.Schema)
}

// ErrNotDistributed: a pool on a Citus coordinator whose tables are not distributed (made
// before tenancy distributed pools: a fleet migration, or DistributePool, does it).
var ErrNotDistributed = errors.New("tenancy: the pool's tables are not distributed")

// TenantShard is where one pool tenant's rows live on Citus: the shard of the pool's first
// distributed table that holds its tenant_id (its co-located shards, one per table, are on the
// same node).
type TenantShard struct {
	Table    string // the pool's first distributed table, quoted and schema-qualified
	ShardID  int64
	Isolated bool // the shard holds this tenant_id only
	NodeID   int32
	Node     string // host:port
}

// PoolTenantShard returns the shard holding tenant id in pool schema.
func PoolTenantShard(ctx context.Context, db catalog.DB, schema string, id int64) (TenantShard, error) {
	var s TenantShard
	var name string
	err := db.QueryRow(ctx, `
		SELECT c.relname FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
		WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND p.partmethod = 'h'
		ORDER BY p.logicalrelid LIMIT 1`, schema).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("%w: %s", ErrNotDistributed, schema)
	}
	if err != nil {
		return s, err
	}
	s.Table = pgx.Identifier{schema, name}.Sanitize()
	var host string
	var port int32
	err = db.QueryRow(ctx, `
		SELECT s.shardid, s.shardminvalue = s.shardmaxvalue, n.nodeid, n.nodename, n.nodeport
		FROM pg_dist_shard s
		JOIN pg_dist_placement p ON p.shardid = s.shardid
		JOIN pg_dist_node n ON n.groupid = p.groupid AND n.noderole = 'primary'
		WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, $2::bigint)`, s.Table, id).Scan(&s.ShardID, &s.Isolated, &s.NodeID, &host, &port)
	if err != nil {
		return s, fmt.Errorf("the shard of tenant %d in %s: %w", id, s.Table, err)
	}
	s.Node = host + ":" + strconv.Itoa(int(port))
	return s, nil
}

// IsolatePoolTenant gives tenant id of pool schema shards of its own, one per table of the pool
// (isolate_tenant_to_new_shard with CASCADE: the co-located tables' shards are split alike),
// and, if node (host:port) is set, moves them there (citus_move_shard_placement). Both copy
// rows while writes go on, by logical replication where Citus can. A tenant isolated already
// is not split again. conn is an owner connection to the coordinator, outside a transaction
// (Citus refuses both after other changes in a transaction).
func IsolatePoolTenant(ctx context.Context, conn *pgx.Conn, schema string, id int64, node string) (TenantShard, error) {
	var target int32
	if node != "" {
		host, port, err := splitNode(node)
		if err != nil {
			return TenantShard{}, err
		}
		err = conn.QueryRow(ctx, `SELECT nodeid FROM pg_dist_node
			WHERE nodename = $1 AND nodeport = $2 AND isactive AND noderole = 'primary' AND shouldhaveshards`, host, port).Scan(&target)
		if errors.Is(err, pgx.ErrNoRows) {
			return TenantShard{}, fmt.Errorf("tenancy: no active Citus node %s that takes shards (see citus_get_active_worker_nodes())", node)
		}
		if err != nil {
			return TenantShard{}, err
		}
	}
	s, err := PoolTenantShard(ctx, conn, schema, id)
	if err != nil {
		return s, err
	}
	if !s.Isolated {
		if _, err := conn.Exec(ctx, `SELECT isolate_tenant_to_new_shard($1::regclass, $2::bigint, 'CASCADE')`, s.Table, id); err != nil {
			return s, fmt.Errorf("isolate_tenant_to_new_shard: %w", err)
		}
		if s, err = PoolTenantShard(ctx, conn, schema, id); err != nil {
			return s, err
		}
	}
	if target != 0 && target != s.NodeID {
		if _, err := conn.Exec(ctx, `SELECT citus_move_shard_placement($1::bigint, $2::int, $3::int)`, s.ShardID, s.NodeID, target); err != nil {
			return s, fmt.Errorf("citus_move_shard_placement: %w", err)
		}
		return PoolTenantShard(ctx, conn, schema, id)
	}
	return s, nil
}

// splitNode parses host:port.
func splitNode(node string) (string, int32, error) {
	i := strings.LastIndex(node, ":")
	ok := i > 0
	host, p := node, ""
	if ok {
		host, p = node[:i], node[i+1:]
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if !ok || host == "" || err != nil || port == 0 {
		return "", 0, fmt.Errorf("tenancy: invalid node %q (want host:port, as citus_get_active_worker_nodes() lists them)", truncate(node, 80))
	}
	return host, int32(port), nil
}

// insertSelectTail is what an owner's INSERT ... SELECT into a tenant table ends with: nothing
// on plain PostgreSQL; on Citus, RETURNING. Citus runs an INSERT ... SELECT that it cannot push
// down to the shards by collecting the rows on the coordinator and sending them to the shards
// with COPY, which a table under forced RLS refuses ("COPY FROM not supported with row-level
// security"); with RETURNING it sends them as INSERT ... SELECT from intermediate results,
// which the policies check as usual.
func insertSelectTail(ctx context.Context, tx pgx.Tx) (string, error) {
	citus, err := IsCitus(ctx, tx)
	if err != nil || !citus {
		return "", err
	}
	return " RETURNING NULL", nil
}
