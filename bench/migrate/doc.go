// Package migrate is the load test behind the "Fleet migrations" figures of docs/benchmarks.md
// (`go run ./bench migrate`): it builds a fleet of schema-tier tenants, then times one new
// migration (a column with a default and an index on two small tables) applied by tenancy's
// fleet runner, by the same DDL as one plain psql script over every schema (the physical limit),
// and by a naive migrator (one tenant after another on one connection, a version read per
// tenant, as django-tenants' standard executor does); then the same fleet with nothing to apply.
//
// The fleet is generated quickly: TenantCreate for the first Options.Create tenants (timed: that
// is the sign-up rate), then catalog rows in bulk and every other schema through generated SQL
// scripts of the same DDL, two connections at a time.
package migrate
