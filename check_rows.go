package tenancy

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// foreignRowsLockTimeout bounds how long Check waits for a table it inspects as a plain owner.
const foreignRowsLockTimeout = "200ms"

// checkForeignRows reports rows of a dedicated placement (schema or database tier) tagged with
// another tenant's id than its own, t's: the application never sees them (RLS), but a role
// that bypasses RLS would, and they are not t's to back up or move.
func (c *Client) checkForeignRows(ctx context.Context, p *checkPlacement, t *checkTenant, add func(*checkTenant, string, string, bool)) {
	counts, err := c.foreignRows(ctx, p, t.id)
	if err != nil {
		add(t, ProblemUnreachable, fmt.Sprintf("the rows of %s could not be inspected: %v", checkLabel(p), err), false)
		return
	}
	if len(counts) == 0 {
		return
	}
	var parts []string
	for table, n := range counts {
		parts = append(parts, fmt.Sprintf("%s (%d)", table, n))
	}
	sort.Strings(parts)
	add(t, ProblemForeignRows, fmt.Sprintf("%s holds rows tagged with another tenant's id in %s", checkLabel(p), strings.Join(parts, ", ")), false)
}

// foreignRows counts, per table of placement p, the rows whose tenant_id is not id (or NULL).
// An owner without SUPERUSER or BYPASSRLS cannot see them through the forced policies: it lifts
// FORCE ROW LEVEL SECURITY inside a transaction that is always rolled back (a short lock on each
// table, lock_timeout bounded), so nothing changes.
func (c *Client) foreignRows(ctx context.Context, p *checkPlacement, id int64) (map[string]int64, error) {
	var conn *pgx.Conn
	if p.server == "" && p.database == "" {
		pc, err := c.owner.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer pc.Release()
		conn = pc.Conn()
	} else {
		var err error
		if conn, err = c.ownerConn(ctx, p.server, p.database); err != nil {
			return nil, err
		}
		defer conn.Close(context.WithoutCancel(ctx))
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var bypass bool
	if err := tx.QueryRow(ctx, `SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&bypass); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
		ORDER BY 1`, p.sch)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return nil, err
	}
	if !bypass {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+foreignRowsLockTimeout+`'`); err != nil {
			return nil, err
		}
	}
	lit := strconv.FormatInt(id, 10)
	var sums []string
	for _, table := range tables {
		q := pgx.Identifier{p.sch, table}.Sanitize()
		if !bypass {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+q+` NO FORCE ROW LEVEL SECURITY`); err != nil {
				return nil, err
			}
		}
		// Three index-friendly ranges (tenant_id leads the keys), rather than <>, which scans all.
		sums = append(sums, fmt.Sprintf(`SELECT %s::text, (SELECT count(*) FROM %s WHERE tenant_id < %s) + (SELECT count(*) FROM %s WHERE tenant_id > %s) + (SELECT count(*) FROM %s WHERE tenant_id IS NULL)`,
			quoteLiteral(table), q, lit, q, lit, q))
	}
	rows, err = tx.Query(ctx, strings.Join(sums, " UNION ALL "))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var table string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&table, &n}, func() error {
		if n > 0 {
			out[table] = n
		}
		return nil
	})
	return out, err
}
