package migrate

// PoolCitusSQL keeps, for the rest of a pool placement's migration transaction, the tables its
// migrations create plain local tables on a Citus coordinator, even those that reference a
// reference table: Citus would otherwise make them Citus local tables at once, which it cannot
// then distribute when they have an identity column ("cannot complete operation on a table with
// identity column"), and which a role that is not a superuser cannot make in a schema created in
// the same transaction. The placement's AfterApply distributes them by tenant_id before COMMIT
// (internal/placement/citus_pool.go). The whole transaction runs in Citus's sequential mode
// (one connection per worker), which distributing tables beside reference tables needs, and
// which cannot be switched to once a parallel statement (DDL on a distributed table) ran. On
// plain PostgreSQL it sets unused placeholders.
const PoolCitusSQL = `SELECT set_config('citus.enable_local_reference_table_foreign_keys', 'off', true),
	set_config('citus.multi_shard_modify_mode', 'sequential', true)`
