// Package tenancysql is tenancy's database/sql entry point: OpenDB returns a *sql.DB whose every
// statement and transaction is bound to the tenant in its context, exactly as tenancy.Client's
// are, so that code on database/sql and the ORMs built on it (GORM, sqlx, bun, ent) runs
// tenant-bound in every tier.
//
//	db := tenancysql.OpenDB(client)
//	ctx = tenancy.WithTenant(ctx, tenant) // or tenancyhttp's middleware
//	rows, err := db.QueryContext(ctx, `SELECT id, body FROM notes`)
//
// A statement outside a transaction is the Client's one-shot call (Client.Exec, Client.Query):
// the binding, the statement and the session reset in one round trip, on the pool of the tenant's
// placement. A transaction is Client.BeginTx: BEGIN and the binding in one round trip, COMMIT and
// the reset in one message. Without a tenant in the context a statement or BeginTx returns
// tenancy.ErrNoTenant and runs nothing; during a move, tenancy.ErrTenantMoving. Use the Context
// methods (QueryContext, ExecContext, BeginTx): the others use context.Background, which carries
// no tenant.
//
// The *sql.DB's connections are light handles, not PostgreSQL connections: the pgx pools of the
// Client (one per placement outside the catalog's database) hold those, so the *sql.DB's pool
// settings (SetMaxOpenConns, ...) do not size anything on the server, and its Close does not close
// the Client. One handle serves any tenant, one statement at a time.
//
// Arguments are encoded by pgx, which takes every type database/sql does and driver.Valuer;
// placeholders are $1, $2, ...; named arguments (sql.Named) are refused. Result columns reach
// Scan as int64 (integers, oid), float64, bool, []byte (bytea, json, jsonb), time.Time (date,
// timestamp, timestamptz; "infinity" as a string), and string for every other type in
// PostgreSQL's text form (numeric, uuid, interval, arrays, inet, text, enums, ...), which the
// sql.Scanner types of such values read. Ranges are not converted: cast them to text in the query.
// Result.LastInsertId is not supported: use RETURNING.
package tenancysql
