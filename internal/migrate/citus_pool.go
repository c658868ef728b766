package migrate

// PoolCitusSQL keeps, for the rest of a pool placement's migration transaction, the tables its
// migrations create plain local tables on a Citus coordinator, even those that reference a
// reference table: Citus would otherwise make them Citus local tables at once, which it cannot
// then distribute when they have an identity column ("cannot complete operation on a table with
// identity column"), and which a role that is not a superuser cannot make in a schema created in
// the same transaction. The placement's AfterApply distributes them by tenant_id before COMMIT
// (internal/placement/citus_pool.go). On plain PostgreSQL it sets an unused placeholder.
const PoolCitusSQL = `SELECT set_config('citus.enable_local_reference_table_foreign_keys', 'off', true)`
