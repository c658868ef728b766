// Package archive is the load test behind the "Backup, restore, move" figures of
// docs/benchmarks.md (`go run ./bench archive`). It builds a fleet of schema-tier tenants with the
// reference application's tenant schema (7 tables; a frozen copy of examples/taskboard's first
// migrations, in schema/), gives one of them a few hundred rows per table, and times, on the same
// server in the same run:
//
//   - backing that tenant up with tenancy (Client.Backup) and with `pg_dump -Fc -n <its schema>`;
//   - restoring it with tenancy (Client.Restore, a new schema-tier tenant in the same catalog)
//     and with `pg_restore` (into a database holding only the dump's prerequisites);
//   - moving a tenant of 100,000 rows from the pool tier to the schema tier and back.
//
// The fleet is generated quickly: catalog rows in bulk, then each schema through the same DDL as
// the tenant migration, 100 per transaction.
package archive
