// Command migrate is the load test behind the "Fleet migrations" figures of docs/benchmarks.md:
// it builds a fleet of schema-tier tenants, then times one new migration (a column with a
// default and an index on two small tables) applied by tenancy's fleet runner, by the same DDL as
// one plain psql script over every schema (the physical limit), and by a naive migrator (one
// tenant after another on one connection, a version read per tenant, as django-tenants' standard
// executor does); then the same fleet with nothing to apply.
//
//	go run ./bench/migrate -tenants 10000            # the figures (about 10 minutes on 2 cores)
//	go run ./bench/migrate -tenants 200 -naive 100   # a quick look
//
// It uses DATABASE_URL (a superuser; it creates two roles and a database of its own) or starts a
// local cluster in $TMPDIR/tenancy-bench-migrate. The fleet is generated quickly: TenantCreate
// for the first -create tenants (timed: that is the sign-up rate), then catalog rows in bulk and
// every other schema through generated SQL scripts of the same DDL, two connections at a time.
package main
