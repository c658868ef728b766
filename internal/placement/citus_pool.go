package placement

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/lockkey"
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
// migrated the pool (with migrate.PoolCitusSQL set at its start), after the grants: Citus copies a table's
// grants, RLS settings and policies to its shards. A no-op when everything is distributed
// already; call it only on Citus (IsCitus).
//
// The new tables' foreign keys to tables outside the pool are dropped first and made again once
// the tables are distributed: else making a referenced table a reference table would have Citus
// turn the pool's tables into Citus local tables, which fails for a role that is not a
// superuser in a schema made in the same transaction, and which cannot be distributed later
// when they have an identity column.
func DistributePool(ctx context.Context, tx pgx.Tx, schema string) error {
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
	var todo []string // referenced first: TablesReferencingFirst backwards
	for i := len(tables) - 1; i >= 0; i-- {
		if !dist[tables[i]] {
			todo = append(todo, tables[i])
		}
	}
	if len(todo) == 0 {
		return nil
	}
	refs, err := referencedOutside(ctx, tx, schema)
	if err != nil {
		return err
	}
	// The new tables' foreign keys to tables outside the pool, to make again at the end.
	type fk struct{ table, name, def string }
	var fks []fk
	rows, err = tx.Query(ctx, `
		SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
		FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
		WHERE k.contype = 'f' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
		  AND r.relnamespace <> c.relnamespace AND c.relname = ANY ($2)
		ORDER BY 1, 2`, schema, todo)
	if err != nil {
		return err
	}
	var f fk
	if _, err := pgx.ForEachRow(rows, []any{&f.table, &f.name, &f.def}, func() error { fks = append(fks, f); return nil }); err != nil {
		return err
	}
	for _, f := range fks {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{schema, f.table}.Sanitize()+` DROP CONSTRAINT `+pgx.Identifier{f.name}.Sanitize()); err != nil {
			return err
		}
	}
	if err := makeReference(ctx, tx, schema, refs); err != nil {
		return err
	}
	for _, t := range todo {
		qt := pgx.Identifier{schema, t}.Sanitize()
		var hasTenant bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'tenant_id' AND NOT attisdropped)`, qt).Scan(&hasTenant); err != nil {
			return err
		}
		if !hasTenant {
			return fmt.Errorf("tenancy: pool table %s has no tenant_id column: on Citus a pool's tables are distributed by tenant_id (docs/citus.md)", qt)
		}
		// A new co-location group for the pool's first table, so that pools do not share one.
		with := "none"
		if anchor != "" {
			with = pgx.Identifier{schema, anchor}.Sanitize()
		}
		if _, err := tx.Exec(ctx, `SELECT create_distributed_table($1::regclass, 'tenant_id', colocate_with => $2)`, qt, with); err != nil {
			return fmt.Errorf("distribute %s by tenant_id: %w", qt, err)
		}
		if anchor == "" {
			anchor = t
		}
	}
	for _, f := range fks {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{schema, f.table}.Sanitize()+` ADD CONSTRAINT `+pgx.Identifier{f.name}.Sanitize()+` `+f.def); err != nil {
			return fmt.Errorf("foreign key %s of %s: %w", f.name, f.table, err)
		}
	}
	return nil
}

// ReferenceShared makes the tables outside schema that schema's tables reference by foreign
// key (the shared schema's, in practice), and the tables those reference in turn, Citus
// reference tables, referenced first, and returns their names. A table that is a reference
// table already is left alone; a Citus local table is converted. Citus turns the local tables
// that reference them into Citus local tables (which keeps their foreign keys working). A table
// distributed otherwise is refused: schema's tables could not reference it. Call it only on
// Citus, and not for a schema made in the same transaction by a role that is not a superuser
// (Citus's workers would not see it: DistributePool drops the foreign keys first).
func ReferenceShared(ctx context.Context, tx pgx.Tx, schema string) ([]string, error) {
	refs, err := referencedOutside(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	if err := makeReference(ctx, tx, schema, refs); err != nil {
		return nil, err
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.name
	}
	return out, nil
}

// outsideTable is a table that a schema's tables reference, directly or not.
type outsideTable struct {
	name, method, model string // regclass text; pg_dist_partition's partmethod, repmodel
	refs                []string
}

// referencedOutside lists the tables outside schema that its tables reference by foreign key,
// and those they reference in turn, referenced first.
func referencedOutside(ctx context.Context, tx pgx.Tx, schema string) ([]*outsideTable, error) {
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
	var all []*outsideTable
	var t outsideTable
	if _, err := pgx.ForEachRow(rows, []any{&t.name, &t.method, &t.model, &t.refs}, func() error {
		c := t
		all = append(all, &c)
		return nil
	}); err != nil {
		return nil, err
	}
	// Referenced tables before the tables that reference them.
	return refsFirst(all, func(t *outsideTable) string { return t.name }, func(t *outsideTable) []string { return t.refs }), nil
}

// makeReference makes tables (referencedOutside's) reference tables, in order.
func makeReference(ctx context.Context, tx pgx.Tx, schema string, tables []*outsideTable) error {
	for _, t := range tables {
		switch {
		case t.method == "n" && t.model == "t": // a reference table already
			continue
		case t.method != "" && t.method != "n":
			return fmt.Errorf("tenancy: %s, which the tables of %s reference, is a distributed table: it must be a reference table (docs/citus.md)", t.name, schema)
		}
		// t.name is regclass text: quoted and schema-qualified as needed.
		if _, err := tx.Exec(ctx, `SELECT create_reference_table($1::regclass)`, t.name); err != nil {
			return fmt.Errorf("make %s a reference table: %w", t.name, err)
		}
	}
	return nil
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

// CheckOwnerCopiesShards returns ErrOwnerSubjectToRLS unless the role of conn bypasses
// row-level security. Every operation that makes Citus copy shards (isolate, citus_schema_move,
// the rebalancer) calls it before asking Citus anything.
func CheckOwnerCopiesShards(ctx context.Context, conn interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	var bypass bool
	if err := conn.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass); err != nil {
		return err
	}
	if !bypass {
		return ErrOwnerSubjectToRLS
	}
	return nil
}

// ErrOwnerSubjectToRLS: Citus moves and splits shards as the calling role, which must see
// every tenant's rows (IsolatePoolTenant).
var ErrOwnerSubjectToRLS = errors.New("tenancy: the owner role is subject to row-level security: Citus would copy none of the shard's rows (and drop them); isolate, move to a node and rebalance as an owner role with BYPASSRLS, or a superuser")

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
// and, if node (host:port) is set, moves them there (citus_move_shard_placement). Online, both
// copy rows while writes go on, by logical replication (Citus's 'auto' transfer mode); else
// writes to the shards being copied wait until the copy is done ('block_writes'). A tenant
// isolated already is not split again. conn is an owner connection to the coordinator, outside
// a transaction (Citus refuses both after other changes in a transaction).
//
// Citus copies a shard's rows as the calling role: a role subject to the pool's forced RLS
// policies would copy none, and Citus would then drop the old shard with every tenant's rows in
// it. So the owner role must bypass RLS (superuser or BYPASSRLS), or this refuses
// (ErrOwnerSubjectToRLS) before anything is done.
func IsolatePoolTenant(ctx context.Context, conn *pgx.Conn, schema string, id int64, node string, online bool) (TenantShard, error) {
	if err := CheckOwnerCopiesShards(ctx, conn); err != nil {
		return TenantShard{}, err
	}
	// A literal: the type citus.shard_transfer_mode is in a schema the owner may not use.
	mode := "'block_writes'"
	if online {
		mode = "'auto'"
	}
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
		if _, err := conn.Exec(ctx, `SELECT isolate_tenant_to_new_shard($1::regclass, $2::bigint, 'CASCADE', shard_transfer_mode => `+mode+`)`, s.Table, id); err != nil {
			return s, fmt.Errorf("isolate_tenant_to_new_shard: %w", err)
		}
		if s, err = PoolTenantShard(ctx, conn, schema, id); err != nil {
			return s, err
		}
	}
	if target != 0 && target != s.NodeID {
		if _, err := conn.Exec(ctx, `SELECT citus_move_shard_placement($1::bigint, $2::int, $3::int, `+mode+`)`, s.ShardID, s.NodeID, target); err != nil {
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

// makePoolSchema makes, on Citus, pool name's schema in a transaction of its own, before the
// transaction that records, migrates and distributes the pool: Citus records a new table's
// sequences on the workers over a superuser connection of its own, which does not see a schema
// made by another role in a transaction not yet committed ("schema ... does not exist"). An
// empty schema left by a crash after this commit is taken by the next attempt (checkPoolSchema)
// or dropped on failure (dropPoolSchema).
func (e *Env) makePoolSchema(ctx context.Context, name, schema string) error {
	return pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.Pool(schema)); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
			return err // the pool exists, or a schema that checkPoolSchema will judge
		}
		if err := catalog.KeepLocal(ctx, tx); err != nil {
			return err
		}
		s := pgx.Identifier{schema}.Sanitize()
		_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE SCHEMA %s; COMMENT ON SCHEMA %s IS %s`, s, s, QuoteLiteral(PoolMark(name))))
		return err
	})
}

// checkPoolSchema accepts, for a pool that the catalog does not have yet, only a schema that
// makePoolSchema made: empty, owned by the owner role, with the pool's mark. A schema tenancy
// did not create is never taken over.
func checkPoolSchema(ctx context.Context, tx pgx.Tx, name, schema string) error {
	var ours bool
	err := tx.QueryRow(ctx, `
		SELECT obj_description(n.oid, 'pg_namespace') IS NOT DISTINCT FROM $2 AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
		       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_namespace'::regclass AND d.refobjid = n.oid)
		FROM pg_namespace n WHERE n.nspname = $1`, schema, PoolMark(name)).Scan(&ours)
	if err == nil && !ours {
		err = fmt.Errorf("%w: schema %s exists and is not an empty schema tenancy made for pool %s", ErrNotOwned, schema, name)
	}
	return err
}

// dropPoolSchema drops, after a failed pool creation on Citus, the empty schema makePoolSchema
// made, unless the catalog has the pool after all. Best effort: a schema left behind is taken
// by the next attempt.
func (e *Env) dropPoolSchema(ctx context.Context, schema string) {
	ctx = context.WithoutCancel(ctx)
	_ = pgx.BeginFunc(ctx, e.Owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockkey.Pool(schema)); err != nil {
			return err
		}
		if _, _, found, err := catalog.PoolFind(ctx, tx, schema); found || err != nil {
			return err
		}
		// Without CASCADE: a schema that holds anything stays.
		_, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize())
		return err
	})
}
