// Package tenancyriver runs River (github.com/riverqueue/river), the job queue on PostgreSQL, for
// the tenants of a tenancy application, in every tier:
//
//   - SharedMigrations puts River's tables in the application's shared schema through tenancy's
//     shared migrations, so that the application role gets its privileges with the other shared
//     tables and nothing is granted by hand.
//   - Middleware carries the tenant of the inserting context in each job's metadata and gives it
//     back to the worker's context (tenancy.JobRef), so that the worker's Client.Tx, Exec, Query
//     and QueryRow are bound to the job's tenant.
//   - Tx is a tenant-bound transaction that can enqueue jobs which commit with it.
//
// Where the queue lives. One queue serves every tenant: River's tables are in the shared schema
// of the catalog's database, and the River client uses the application pool (the application
// role). A pool-tier tenant and a schema-tier tenant on the catalog's server live in that
// database, so their jobs are inserted in the tenant's own transaction: the job exists if and
// only if the transaction commits. A database-tier tenant, or a schema-tier tenant on another
// server, lives in another database, and no transaction spans two databases: Tx inserts its jobs
// on the queue's database right after the tenant's transaction commits, and only then. A crash
// between the two commits loses those jobs (at most once), and an error enqueuing them is
// returned (ErrEnqueueAfterCommit) with the tenant's transaction committed. Jobs whose loss would
// matter for such tenants need an outbox table in the tenant's migrations, read by a periodic job.
//
// The package uses only the public API of package tenancy, and lives in a module of its own so
// that River is not a dependency of applications that do not use it.
package tenancyriver
