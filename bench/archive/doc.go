// Command archive is the load test behind the "Backup, restore, move" figures of
// docs/benchmarks.md. It builds a fleet of schema-tier tenants with the reference application's
// tenant schema (examples/taskboard: 7 tables), gives one of them a few hundred rows per table,
// and times, on the same server in the same run:
//
//   - backing that tenant up with tenancy (Client.Backup) and with `pg_dump -Fc -n <its schema>`;
//   - restoring it with tenancy (Client.Restore, a new schema-tier tenant in the same catalog)
//     and with `pg_restore` (into a database holding only the dump's prerequisites);
//   - moving a tenant of 100,000 rows from the pool tier to the schema tier and back.
//
// Usage:
//
//	go run ./bench/archive                    # 1,000 tenants (about 2 minutes on 2 cores)
//	go run ./bench/archive -tenants 10000     # 10,000 (about 30 minutes: pg_dump takes minutes each)
//
// It uses DATABASE_URL (a superuser; it creates two roles and a database of its own) or starts a
// local cluster in $TMPDIR/tenancy-bench-archive. The fleet is generated quickly: catalog rows in
// bulk, then each schema through the same DDL as the tenant migration, 100 per transaction.
package main
