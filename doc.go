// Package tenancy lets one Go application on PostgreSQL serve many customer organisations
// (tenants), each one isolated from the others, without the customer ever noticing them.
//
// # Tiers
//
// A tenant's rows live in one of three tiers, behind one API, and a tenant can be moved from one
// to another ([Client.Move]):
//
//   - [TierPool]: shared tables in a pool schema, rows told apart by tenant_id and a forced
//     row-level security (RLS) policy. Costs nothing per tenant; for many small tenants.
//   - [TierSchema], the default: a schema of its own in a shared database.
//   - [TierDatabase]: a database of its own, on the catalog's server or on another one
//     ([Client.ServerAdd]).
//
// Where a tenant lives is its [Placement]. Every tenant table carries a tenant_id column and an
// RLS policy in every tier, so the same tenant migrations apply to every placement and a move is
// a copy of the tenant's rows. See docs/tiers.md and docs/rls.md.
//
// # Binding a unit of work to a tenant
//
// [WithTenant] puts a [Tenant] in a context and [FromContext] reads it back. Every call that
// takes that context works on that tenant's rows only: [Client.Tx] runs a function in a bound
// transaction ([Client.BeginTx] starts one for code that ends it itself), and [Client.Exec],
// [Client.Query] and [Client.QueryRow] run one bound statement; package tenancysql puts all of
// this behind database/sql and the ORMs built on it.
// The binding sets search_path and the tenancy.tenant_id setting for one transaction only, in the
// same round trip as BEGIN or the statement, so a pooled connection never carries a tenant once
// the transaction is over (also behind PgBouncer in transaction mode). Without a tenant in the
// context a call fails with [ErrNoTenant]; a query run on the pool with no binding reaches no
// tenant's rows. Background jobs carry the tenant with them ([JobRef], [RunJob]); [LogAttr] and
// [NewLogHandler] name it in logs.
//
// # The catalog and the lifecycle of a tenant
//
// The catalog, the schema "tenancy" in the main database, holds tenants, their domains, servers
// and the migration ledger; [Client.Init] installs or upgrades it. [Client.TenantCreate] is
// idempotent and crash-safe: a tenant stays in [StatusProvisioning], never served, until its
// placement is built and migrated. Tenants are suspended, resumed, renamed and deleted (softly,
// or for good with [TenantDeleteOpts]); a hard delete drops only what tenancy created. Domains
// map host names to tenants ([Client.DomainAdd]) for tenancyhttp.
// [Client.Check] compares the catalog with the placements, and [Client.Repair] finishes or undoes
// what a crash left. Every change is announced to other processes, whose caches drop it at once.
//
// # Migrations
//
// Two lines of SQL migrations, each an fs.FS of NNNN_name.up.sql files: the shared line, applied
// once to the shared schema, and the tenant line, applied once per placement. [Client.Migrate]
// migrates the whole fleet with bounded concurrency, one migrator at a time; one failing tenant
// does not stop the others and is named in a [PartialError], and a rerun resumes. With nothing to
// apply it costs one query. [Client.MigrateStatus] tells which tenants are at which version, and
// [Client.ExecTenants] runs SQL across tenants.
//
// # Archives
//
// [Client.Backup] writes one tenant, in any tier, to a self-describing archive (in the pool tier
// only that tenant's rows); [Client.Restore] loads an archive into a new placement of any tier,
// under the same or a new slug, and checks every table's row count and checksum before the tenant
// is served. [Client.Move] is both, with the tenant held in [StatusMoving] and its rows fenced.
// The format and what a restore checks are in docs/archive.md.
//
// # Roles
//
// A [Client] is built by [New] from two pools ([Config]):
//
//   - Config.Pool connects as the application role, which is not a superuser, has no BYPASSRLS
//     and owns no tenant table, so that RLS holds it. Every bound call runs on it; prepare it with
//     [ConfigurePool].
//   - Config.OwnerPool connects as the owner role, which owns the catalog and the placements and
//     runs DDL, migrations, backups and moves. Without it the client only binds and looks tenants
//     up ([ErrReadOnly]). The owner role is often a superuser, which RLS does not hold: every
//     owner-side statement on a pool names the tenant itself.
//
// docs/rls.md says how to create both roles.
//
// # Errors
//
// Errors wrap sentinels such as [ErrTenantNotFound] and [ErrTenantMoving] with the tenant's slug or
// the offending value: test them with errors.Is. A run over many tenants returns a [PartialError]
// that names each failed tenant in a [TenantError]. All of them are in errors.go.
//
// # Around this package
//
//   - [github.com/tenancy-go/tenancy/tenancyhttp]: HTTP middleware that finds each request's
//     tenant (domain, subdomain, header, path) from an in-process cache.
//   - [github.com/tenancy-go/tenancy/tenancycli]: the command line as a library, to embed in an
//     application's binary with its migrations; cmd/tenancy is the generic binary.
//   - [github.com/tenancy-go/tenancy/tenancytest]: a database per test on a real PostgreSQL, with
//     the owner and application roles as production has them.
//   - examples/taskboard: the reference application (go run ./examples/taskboard demo).
//   - docs/: tiers.md, rls.md, archive.md, reliability.md (what is tested and how) and
//     benchmarks.md (what each figure costs, and the command that measured it).
package tenancy
