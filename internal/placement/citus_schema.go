package placement

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/internal/migrate"
)

// The schema tier on Citus (docs/citus.md): a tenant's schema is a distributed schema, a
// co-location group of its own that Citus places on one worker, moves with citus_schema_move
// and spreads with its rebalancer. Its tables become distributed tables only when created by
// top-level CREATE TABLE statements (internal/migrate checks it), and Citus refuses a message
// of many statements that touches it: so on Citus every multi-statement text tenancy sends
// there goes one statement per message (migrate.ExecEach).

// distributeSchemasSQL turns citus.enable_schema_based_sharding on for the rest of the
// transaction on a Citus coordinator, and says whether it is one; on plain PostgreSQL it does
// nothing and returns false. (A scalar subquery, not EXISTS: EXISTS would not run set_config.)
const distributeSchemasSQL = `SELECT coalesce((SELECT set_config('citus.enable_schema_based_sharding', 'on', true) = 'on'
	FROM pg_extension WHERE extname = 'citus'), false)`

// createTenantSchema creates schema, marked with mark, in tx: a distributed schema on a Citus
// coordinator, a plain one elsewhere. It returns whether the database is a Citus one. Schemas
// that the rest of tx creates (a restore's staging schema) stay local (catalog.KeepLocal).
// CREATE SCHEMA has no IF NOT EXISTS: a schema tenancy did not create is never taken over.
func createTenantSchema(ctx context.Context, tx pgx.Tx, schema, mark string) (citus bool, err error) {
	if err := tx.QueryRow(ctx, distributeSchemasSQL).Scan(&citus); err != nil {
		return false, err
	}
	s := pgx.Identifier{schema}.Sanitize()
	create, comment := `CREATE SCHEMA `+s, `COMMENT ON SCHEMA `+s+` IS `+QuoteLiteral(mark)
	if !citus {
		_, err := tx.Exec(ctx, create+`; `+comment)
		return false, err
	}
	if err := migrate.ExecEach(ctx, tx, []string{create, comment}); err != nil {
		return true, err
	}
	return true, catalog.KeepLocal(ctx, tx)
}

// execStatements runs stmts in tx in one round trip: as one message on plain PostgreSQL, one
// message each on Citus.
func execStatements(ctx context.Context, tx pgx.Tx, citus bool, stmts ...string) error {
	if !citus {
		sql := ""
		for i, s := range stmts {
			if i > 0 {
				sql += "; "
			}
			sql += s
		}
		_, err := tx.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	return migrate.ExecEach(ctx, tx, stmts)
}

// citusSQL is true in a database with the citus extension, to ask in a query already sent.
const citusSQL = `EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`
