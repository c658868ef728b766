package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// On a Citus coordinator (docs/citus.md) a tenant schema is a distributed schema, and Citus
// refuses a message of many statements that touches one ("cannot insert multiple commands into
// a prepared statement"). So there, and only there, a migration's file is split (SplitSQL) and
// its statements sent one message each, still in one round trip. Plain PostgreSQL gets the
// whole file in one simple-protocol message, as before.

// ErrNotDistributed reports a table that a migration made in a distributed schema but that
// stayed a local table on the Citus coordinator: made inside a DO block or a function, where
// Citus does not see the CREATE TABLE.
var ErrNotDistributed = errors.New("tenancy: a table stayed local in a distributed schema")

// citusSQL is true in a database with the citus extension; version reads carry it, so that
// plain PostgreSQL pays no round trip for asking.
const citusSQL = `EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`

// execUp runs a migration's SQL in tx: in one message, or split when split is set (Citus).
func execUp(ctx context.Context, tx pgx.Tx, sql string, split bool) error {
	if !split {
		// The simple protocol sends the whole file as one query: each statement runs at top level.
		_, err := tx.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	return ExecEach(ctx, tx, SplitSQL(sql))
}

// ExecEach sends stmts in one round trip, each in a message of its own (the extended protocol,
// unnamed, nothing prepared or cached), inside tx. The first failure stops the rest.
func ExecEach(ctx context.Context, tx pgx.Tx, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgconn.Batch{}
	for _, s := range stmts {
		b.ExecParams(s, nil, nil, nil, nil)
	}
	results, err := tx.Conn().PgConn().ExecBatch(ctx, b).ReadAll()
	if err != nil {
		if i := len(results) - 1; i >= 0 && results[i].Err != nil && len(stmts) > 1 {
			return fmt.Errorf("statement %d of %d (%s): %w", i+1, len(stmts), firstLine(stmts[i]), err)
		}
		return err
	}
	return nil
}

// firstLine is the head of stmt for messages.
func firstLine(stmt string) string {
	for _, l := range strings.Split(stmt, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
			if len(l) > 60 {
				l = l[:60] + "..."
			}
			return l
		}
	}
	return ""
}

// localTablesSQL lists the tables of the first schema in search_path (the placement's) that
// are local although the schema is distributed. Relations are found through pg_depend's index,
// not by scanning pg_class (see GrantMissing in internal/placement).
const localTablesSQL = `
	SELECT coalesce(string_agg(c.relname, ', ' ORDER BY c.relname), '')
	FROM pg_catalog.pg_dist_schema ds
	JOIN pg_depend d ON d.refclassid = 'pg_namespace'::regclass AND d.refobjid = ds.schemaid AND d.classid = 'pg_class'::regclass
	JOIN pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'p')
	WHERE ds.schemaid = (SELECT oid FROM pg_namespace WHERE nspname = (current_schemas(false))[1])
	  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid = c.oid)
	  AND NOT pg_catalog.relation_is_a_known_shard(c.oid)` // a shard on a coordinator that takes shards

// checkDistributed fails when a migration left a local table in the placement's distributed
// schema (Citus only): the placement's transaction rolls back, and the error says how to fix
// the migration.
func checkDistributed(ctx context.Context, tx pgx.Tx) error {
	var local string
	if err := tx.QueryRow(ctx, localTablesSQL).Scan(&local); err != nil {
		return err
	}
	if local != "" {
		return fmt.Errorf("%w: %s (created inside a DO block or a function, where Citus does not distribute it): create tenant tables with top-level CREATE TABLE statements", ErrNotDistributed, local)
	}
	return nil
}
