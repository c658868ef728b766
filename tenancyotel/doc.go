// Package tenancyotel reports what a tenancy application does, tenant by tenant, to
// OpenTelemetry: it is a tenancy.Observer (set it as tenancy.Config.Observer) that makes
//
//   - a span for each bound call (Client.Exec, Query, QueryRow, Tx) and for each Migrate,
//     Backup, Restore and Move, carrying the tenant's id, slug and tier; the spans of pgx's own
//     tracer (an otelpgx tracer on the pools, say) nest under them;
//   - metrics per tenant: calls, errors, call duration, time waiting for a connection, rows
//     backed up, restored and moved, operation duration.
//
// A metric's tenant label (tenancy.tenant) has bounded cardinality: only the TopTenants most
// active tenants get their slug, chosen again every TopWindow; every other tenant is counted
// under OtherTenants, so a million tenants cannot blow up a metrics backend. Spans carry every
// tenant, as a trace backend indexes them per span, not per series.
//
// docs/opentelemetry.md in the repository is the guide. The package lives in a module of its
// own so that OpenTelemetry is not a dependency of applications that do not use it.
package tenancyotel
