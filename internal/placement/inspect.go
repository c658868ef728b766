package placement

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// What Check (in the root package) reads of placements.

// Signature describes the tables of a schema: their names and columns (sorted, so that column
// order does not matter), whether each has forced RLS and a policy, and whether the
// application role may use each.
type Signature struct {
	Sig             string
	RLSOK, GrantsOK bool
}

// Signatures reads the Signature of each of schemas.
func Signatures(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, appRole string, schemas []string) (map[string]Signature, error) {
	rows, err := q.Query(ctx, `
		SELECT n.nspname,
		       string_agg(c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY c.relname, a.attname),
		       bool_and(c.relrowsecurity AND c.relforcerowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)),
		       bool_and(has_table_privilege($2, c.oid, 'SELECT, INSERT, UPDATE, DELETE'))
		FROM pg_namespace n
		JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		WHERE n.nspname = ANY($1)
		GROUP BY n.nspname`, schemas, appRole)
	if err != nil {
		return nil, err
	}
	out := map[string]Signature{}
	var name string
	var s Signature
	_, err = pgx.ForEachRow(rows, []any{&name, &s.Sig, &s.RLSOK, &s.GrantsOK}, func() error {
		out[name] = s
		return nil
	})
	return out, err
}

// Inspection is what a placement outside the catalog's database holds.
type Inspection struct {
	Exists  bool
	Comment string // its mark, or what stands for it (see Inspect)
	Ledger  int64  // the newest version its local ledger and the catalog's agree on
	Found   bool   // its tables were read (Signature)
	Signature
}

// Inspect reads a placement outside the catalog's database: whether it exists, its local mark
// (the tenant and catalog it was made for, written as the mark), its local ledger agreeing with
// the central one (ledger), and its tables.
func (e *Env) Inspect(ctx context.Context, p Placement, ledger int64) (*Inspection, error) {
	in := &Inspection{Ledger: ledger}
	if p.Kind == KindDatabase {
		home, err := e.OwnerConn(ctx, p.Server, "")
		if err != nil {
			return nil, err
		}
		err = home.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, p.Database).Scan(&in.Exists)
		home.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		if !in.Exists {
			return in, nil
		}
	}
	conn, err := e.OwnerConn(ctx, p.Server, p.Database)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	markedSchema := p.Schema // whose comment is the mark; "": the database's
	if p.Kind == KindDatabase {
		markedSchema = ""
	}
	st, err := catalog.LocalState(ctx, conn, p.LocalID(), markedSchema)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || IsUndefinedTable(err):
		in.Exists = p.Kind == KindDatabase // the database is there, its mark is not
		in.Comment = ""
	case err != nil:
		return nil, err
	default:
		in.Exists = true
		owner, comment, made, localLedger := st.Tenant, st.Comment, st.Catalog, st.Ledger
		ours, err := e.madeHere(ctx, made, p)
		if err != nil {
			return nil, err
		}
		if owner != nil && ours {
			in.Comment = OwnerMark(*owner)
			if p.UID != "" {
				in.Comment = ""
				if comment != nil {
					in.Comment = *comment
				}
			}
		} else {
			in.Comment = fmt.Sprintf("tenancy:catalog:%s", made)
		}
		if localLedger != ledger {
			// The central ledger is brought level after the local commit; a difference is a
			// crash in between (Migrate copies it) or damage.
			in.Ledger = min(ledger, localLedger)
		}
	}
	if p.Kind != KindDatabase {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, p.Schema).Scan(&ok); err != nil {
			return nil, err
		}
		in.Exists = in.Exists && ok
	}
	sc, err := e.Server(ctx, p.Server)
	if err != nil {
		return nil, err
	}
	sigs, err := Signatures(ctx, conn, sc.App.ConnConfig.User, []string{p.Schema})
	if err != nil {
		return nil, err
	}
	in.Signature, in.Found = sigs[p.Schema], true
	return in, nil
}

// foreignRowsLockTimeout bounds how long ForeignRows waits for a table it inspects as a plain owner.
const foreignRowsLockTimeout = "200ms"

// ForeignRows counts, per table of a dedicated placement p (schema or database tier), the rows
// whose tenant_id is not id (or NULL): the application never sees them (RLS), but a role that
// bypasses RLS would, and they are not the tenant's to back up or move. An owner without
// SUPERUSER or BYPASSRLS cannot see them through the forced policies: it lifts FORCE ROW LEVEL
// SECURITY inside a transaction that is always rolled back (a short lock on each table,
// lock_timeout bounded), so nothing changes.
func (e *Env) ForeignRows(ctx context.Context, p Placement, id int64) (map[string]int64, error) {
	conn, release, err := e.OwnerConnFor(ctx, p)
	if err != nil {
		return nil, err
	}
	defer release()
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
		ORDER BY 1`, p.Schema)
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
		q := pgx.Identifier{p.Schema, table}.Sanitize()
		if !bypass {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+q+` NO FORCE ROW LEVEL SECURITY`); err != nil {
				return nil, err
			}
		}
		// Three index-friendly ranges (tenant_id leads the keys), rather than <>, which scans all.
		sums = append(sums, fmt.Sprintf(`SELECT %s::text, (SELECT count(*) FROM %s WHERE tenant_id < %s) + (SELECT count(*) FROM %s WHERE tenant_id > %s) + (SELECT count(*) FROM %s WHERE tenant_id IS NULL)`,
			QuoteLiteral(table), q, lit, q, lit, q))
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
