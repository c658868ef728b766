package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// execModes are the pgx execution modes the binding must hold in. Cache modes rely on
// ConfigurePool's search_path (tenancy_shape first); the others work with any pool.
var execModes = []pgx.QueryExecMode{
	pgx.QueryExecModeCacheStatement,
	pgx.QueryExecModeCacheDescribe,
	pgx.QueryExecModeDescribeExec,
	pgx.QueryExecModeExec,
	pgx.QueryExecModeSimpleProtocol,
}

func newDBMode(t testing.TB, maxConns int32, mode pgx.QueryExecMode) *tenancytest.DB {
	t.Helper()
	return tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		AppMaxConns:      maxConns,
		AppPoolConfig:    func(c *pgxpool.Config) { c.ConnConfig.DefaultQueryExecMode = mode },
	})
}

// TestIsolationCrossTenant: a tenant sees, changes and deletes only its own rows, whether it names
// the table plainly or qualified with another tenant's schema, on every binding path.
func TestIsolationCrossTenant(t *testing.T) {
	t.Parallel()
	for _, mode := range execModes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			db := newDBMode(t, 2, mode)
			c := db.Client
			a, b := mustCreate(t, c, "alpha"), mustCreate(t, c, "bravo")
			addNotes(t, c, a, "a1", "a2")
			addNotes(t, c, b, "b1")
			ctxA := tenancy.WithTenant(context.Background(), a)

			if got := bodies(t, c, a); !slices.Equal(got, []string{"a1", "a2"}) {
				t.Fatalf("alpha sees %q, want [a1 a2]", got)
			}
			// Reads of the other tenant's table, qualified by hand: RLS hides every row.
			var n int
			if err := c.QueryRow(ctxA, `SELECT count(*) FROM `+qualified(b)).Scan(&n); err != nil || n != 0 {
				t.Fatalf("QueryRow: alpha counts %d rows of bravo's table (err %v), want 0", n, err)
			}
			rows, err := c.Query(ctxA, `SELECT body FROM `+qualified(b))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(got) != 0 {
				t.Fatalf("Query: alpha reads %q from bravo's table (err %v), want nothing", got, err)
			}
			err = c.Tx(ctxA, func(ctx context.Context, tx pgx.Tx) error {
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+qualified(b)+` WHERE tenant_id = $1`, b.ID).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					return fmt.Errorf("Tx: alpha counts %d rows of bravo's, want 0", n)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			// Writes aimed at the other tenant's rows change nothing.
			for _, q := range []string{
				`UPDATE ` + qualified(b) + ` SET body = 'pwned'`,
				`DELETE FROM ` + qualified(b),
				`UPDATE ` + qualified(b) + ` SET body = 'pwned' WHERE tenant_id = ` + strconv.FormatInt(b.ID, 10),
			} {
				tag, err := c.Exec(ctxA, q)
				if err != nil || tag.RowsAffected() != 0 {
					t.Fatalf("Exec %s: %d rows (err %v), want 0", q, tag.RowsAffected(), err)
				}
				err = c.Tx(ctxA, func(ctx context.Context, tx pgx.Tx) error {
					tag, err := tx.Exec(ctx, q)
					if err == nil && tag.RowsAffected() != 0 {
						err = fmt.Errorf("%d rows", tag.RowsAffected())
					}
					return err
				})
				if err != nil {
					t.Fatalf("Tx %s: %v", q, err)
				}
			}
			// An UPDATE of its own rows touches only them.
			if tag, err := c.Exec(ctxA, `UPDATE notes SET body = body || '!'`); err != nil || tag.RowsAffected() != 2 {
				t.Fatalf("own update: %d rows (err %v), want 2", tag.RowsAffected(), err)
			}

			// Rows claiming to be another tenant's are refused by the policy's WITH CHECK.
			for _, q := range []string{
				`INSERT INTO notes (tenant_id, body) VALUES ($1, 'forged')`,
				`INSERT INTO ` + qualified(b) + ` (tenant_id, body) VALUES ($1, 'forged')`,
				`UPDATE notes SET tenant_id = $1`,
			} {
				if _, err := c.Exec(ctxA, q, b.ID); sqlState(err) != "42501" {
					t.Fatalf("Exec %s: err %v, want SQLSTATE 42501 (row-level security)", q, err)
				}
				err := c.Tx(ctxA, func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, q, b.ID)
					return err
				})
				if sqlState(err) != "42501" {
					t.Fatalf("Tx %s: err %v, want SQLSTATE 42501", q, err)
				}
			}

			if got := bodies(t, c, b); !slices.Equal(got, []string{"b1"}) {
				t.Fatalf("bravo sees %q, want [b1]", got)
			}
			if got := bodies(t, c, a); !slices.Equal(got, []string{"a1!", "a2!"}) {
				t.Fatalf("alpha sees %q, want [a1! a2!]", got)
			}
			if n := ownerCount(t, db, b.Placement.Schema, a.ID); n != 0 {
				t.Fatalf("%d rows tagged alpha landed in bravo's schema", n)
			}
		})
	}
}

// unboundState is what an unbound connection of the application pool reports.
type unboundState struct {
	tenantID   string
	searchPath string
	pid        uint32
}

func readUnbound(t *testing.T, db *tenancytest.DB) unboundState {
	t.Helper()
	var s unboundState
	err := db.AppPool.QueryRow(context.Background(), `
		SELECT coalesce(current_setting('tenancy.tenant_id', true), ''), current_setting('search_path'), pg_backend_pid()`).
		Scan(&s.tenantID, &s.searchPath, &s.pid)
	if err != nil {
		t.Fatalf("unbound query: %v", err)
	}
	return s
}

// assertUnbound checks that the application pool's next connection carries no tenant: no GUC,
// the default search_path, no access to tenant rows by plain or qualified names.
func assertUnbound(t *testing.T, db *tenancytest.DB, want unboundState, tn *tenancy.Tenant) unboundState {
	t.Helper()
	got := readUnbound(t, db)
	if got.tenantID != "" {
		t.Errorf("tenancy.tenant_id = %q on an unbound connection, want empty", got.tenantID)
	}
	if got.searchPath != want.searchPath {
		t.Errorf("search_path = %q on an unbound connection, want the default %q", got.searchPath, want.searchPath)
	}
	ctx := context.Background()
	var n int
	if err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); sqlState(err) != "42501" {
		t.Errorf("unbound SELECT FROM notes: %d rows, err %v; want permission denied on tenancy_shape", n, err)
	}
	if err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM `+qualified(tn)).Scan(&n); err != nil || n != 0 {
		t.Errorf("unbound SELECT FROM %s: %d rows (err %v), want 0", qualified(tn), n, err)
	}
	if s := db.AppPool.Stat(); s.TotalConns() > db.AppPool.Config().MaxConns {
		t.Errorf("pool has %d connections", s.TotalConns())
	}
	return got
}

// fault runs something that goes wrong inside a bound unit of work on tenant tn and reports the
// backend it ran on (0 if unknown).
type fault struct {
	name string
	// reused: the connection survives the fault, so the check below runs on the very same one.
	reused bool
	run    func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32
}

// boundPID reads the backend pid and checks the binding is in force (or the test proves nothing).
func boundPID(ctx context.Context, tx pgx.Tx, tn *tenancy.Tenant) (uint32, error) {
	var pid uint32
	var id string
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid(), current_setting('tenancy.tenant_id')`).Scan(&pid, &id); err != nil {
		return 0, err
	}
	if id != strconv.FormatInt(tn.ID, 10) {
		return pid, fmt.Errorf("bound transaction has tenancy.tenant_id %q, want %d", id, tn.ID)
	}
	return pid, nil
}

var errBoom = errors.New("boom")

var txFaults = []fault{
	{"committed", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		err := db.Client.Tx(tenancy.WithTenant(context.Background(), tn), func(ctx context.Context, tx pgx.Tx) (err error) {
			pid, err = boundPID(ctx, tx, tn)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}},
	{"error", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		err := db.Client.Tx(tenancy.WithTenant(context.Background(), tn), func(ctx context.Context, tx pgx.Tx) (err error) {
			if pid, err = boundPID(ctx, tx, tn); err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("Tx returned %v, want boom", err)
		}
		return pid
	}},
	{"sql-error-ignored", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		err := db.Client.Tx(tenancy.WithTenant(context.Background(), tn), func(ctx context.Context, tx pgx.Tx) (err error) {
			if pid, err = boundPID(ctx, tx, tn); err != nil {
				return err
			}
			_, _ = tx.Exec(ctx, `SELECT 1/0`) // the transaction is now aborted; fn pretends all is well
			return nil
		})
		if err == nil {
			t.Fatal("Tx committed an aborted transaction")
		}
		return pid
	}},
	{"panic", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		defer func() {
			if p := recover(); p != errBoom { //nolint:errorlint // a panic value, not a returned error
				t.Fatalf("recovered %v, want the panic to pass through Tx", p)
			}
		}()
		_ = db.Client.Tx(tenancy.WithTenant(context.Background(), tn), func(ctx context.Context, tx pgx.Tx) (err error) {
			if pid, err = boundPID(ctx, tx, tn); err != nil {
				return err
			}
			panic(errBoom)
		})
		t.Fatal("Tx swallowed a panic")
		return pid
	}},
	{"cancel", false, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		ctx, cancel := context.WithCancel(tenancy.WithTenant(context.Background(), tn))
		defer cancel()
		err := db.Client.Tx(ctx, func(ctx context.Context, tx pgx.Tx) (err error) {
			if pid, err = boundPID(ctx, tx, tn); err != nil {
				return err
			}
			time.AfterFunc(50*time.Millisecond, cancel)
			_, err = tx.Exec(ctx, `SELECT pg_sleep(10)`)
			return err
		})
		if err == nil || ctx.Err() == nil {
			t.Fatalf("Tx returned %v after its context was cancelled mid-query", err)
		}
		return pid
	}},
	{"cancel-before-commit", false, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		ctx, cancel := context.WithCancel(tenancy.WithTenant(context.Background(), tn))
		err := db.Client.Tx(ctx, func(ctx context.Context, tx pgx.Tx) (err error) {
			pid, err = boundPID(ctx, tx, tn)
			cancel()
			return err
		})
		if err == nil {
			t.Fatal("Tx committed with a cancelled context")
		}
		return pid
	}},
	{"killed-backend", false, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) (pid uint32) {
		err := db.Client.Tx(tenancy.WithTenant(context.Background(), tn), func(ctx context.Context, tx pgx.Tx) (err error) {
			if pid, err = boundPID(ctx, tx, tn); err != nil {
				return err
			}
			var ok bool
			if err := db.Server.SuperPool().QueryRow(ctx, `SELECT pg_terminate_backend($1, 5000)`, pid).Scan(&ok); err != nil || !ok {
				t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
			}
			_, err = tx.Exec(ctx, `SELECT 1`)
			return err
		})
		if err == nil {
			t.Fatal("Tx succeeded on a killed backend")
		}
		return pid
	}},
}

var oneShotFaults = []fault{
	{"exec-ok", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		if _, err := db.Client.Exec(tenancy.WithTenant(context.Background(), tn), `UPDATE notes SET body = body`); err != nil {
			t.Fatal(err)
		}
		return 0
	}},
	{"exec-error", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		if _, err := db.Client.Exec(tenancy.WithTenant(context.Background(), tn), `UPDATE notes SET body = (1/0)::text`); sqlState(err) != "22012" {
			t.Fatalf("Exec: %v, want division by zero", err)
		}
		return 0
	}},
	{"queryrow-error", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		var n int
		if err := db.Client.QueryRow(tenancy.WithTenant(context.Background(), tn), `SELECT 1/0`).Scan(&n); sqlState(err) != "22012" {
			t.Fatalf("QueryRow: %v, want division by zero", err)
		}
		return 0
	}},
	{"queryrow-no-rows", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		var s string
		if err := db.Client.QueryRow(tenancy.WithTenant(context.Background(), tn), `SELECT body FROM notes WHERE id = -1`).Scan(&s); !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("QueryRow: %v, want no rows", err)
		}
		return 0
	}},
	{"query-closed-early", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		rows, err := db.Client.Query(tenancy.WithTenant(context.Background(), tn), `
			SELECT pg_backend_pid(), current_setting('tenancy.tenant_id') FROM generate_series(1, 100000)`)
		if err != nil {
			t.Fatal(err)
		}
		var pid uint32
		var id string
		if !rows.Next() {
			t.Fatalf("no rows: %v", rows.Err())
		}
		if err := rows.Scan(&pid, &id); err != nil || id != strconv.FormatInt(tn.ID, 10) {
			t.Fatalf("bound query sees tenant %q (err %v), want %d", id, err, tn.ID)
		}
		rows.Close()
		return pid
	}},
	{"query-error-midway", true, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		rows, err := db.Client.Query(tenancy.WithTenant(context.Background(), tn), `SELECT 1/(g - 3) FROM generate_series(1, 10) g`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		if sqlState(rows.Err()) != "22012" {
			t.Fatalf("rows.Err() = %v, want division by zero", rows.Err())
		}
		rows.Close()
		return 0
	}},
	{"query-cancel", false, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		ctx, cancel := context.WithCancel(tenancy.WithTenant(context.Background(), tn))
		defer cancel()
		time.AfterFunc(50*time.Millisecond, cancel)
		var x string
		if err := db.Client.QueryRow(ctx, `SELECT pg_sleep(10)::text`).Scan(&x); err == nil {
			t.Fatal("QueryRow finished despite the cancelled context")
		}
		return 0
	}},
	{"exec-killed-backend", false, func(t *testing.T, db *tenancytest.DB, tn *tenancy.Tenant) uint32 {
		if _, err := db.Client.Exec(tenancy.WithTenant(context.Background(), tn), `SELECT pg_terminate_backend(pg_backend_pid())`); err == nil {
			t.Fatal("Exec survived the death of its backend")
		}
		return 0
	}},
}

// TestBindingDoesNotSurvive: whatever happens inside a bound unit of work, the connection it ran on
// carries no tenant afterwards. The application pool has one connection, so the check runs on
// the very connection the fault happened on, unless the fault destroyed it.
func TestBindingDoesNotSurvive(t *testing.T) {
	t.Parallel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			db := newDBMode(t, 1, mode)
			tn := mustCreate(t, db.Client, "acme")
			addNotes(t, db.Client, tn, "n1")
			before := readUnbound(t, db)
			if before.searchPath == "" || before.tenantID != "" {
				t.Fatalf("fresh connection: %+v", before)
			}
			// One after the other on the same one-connection pool.
			for _, group := range []struct {
				name   string
				faults []fault
			}{{"tx", txFaults}, {"oneshot", oneShotFaults}} {
				for _, f := range group.faults {
					t.Run(group.name+"/"+f.name, func(t *testing.T) {
						pid := f.run(t, db, tn)
						after := assertUnbound(t, db, before, tn)
						if f.reused && pid != 0 && after.pid != pid {
							t.Errorf("the connection was replaced (pid %d -> %d): the check proves less than it should", pid, after.pid)
						}
						// The same pool still binds correctly afterwards.
						if got := bodies(t, db.Client, tn); !slices.Equal(got, []string{"n1"}) {
							t.Errorf("after the fault the tenant sees %q, want [n1]", got)
						}
					})
				}
			}
		})
	}
}

// countingTracer counts what reaches the application pool.
type countingTracer struct{ acquires, queries, batches atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.queries.Add(1)
	return ctx
}
func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.batches.Add(1)
	return ctx
}
func (c *countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *countingTracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	c.acquires.Add(1)
	return ctx
}
func (c *countingTracer) TraceAcquireEnd(context.Context, *pgxpool.Pool, pgxpool.TraceAcquireEndData) {
}

func (c *countingTracer) total() int64 {
	return c.acquires.Load() + c.queries.Load() + c.batches.Load()
}

// TestNoTenant: without a tenant in the context, every binding call returns ErrNoTenant without
// touching the pool.
func TestNoTenant(t *testing.T) {
	t.Parallel()
	tracer := &countingTracer{}
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		AppMaxConns:      1,
		AppPoolConfig:    func(c *pgxpool.Config) { c.ConnConfig.Tracer = tracer },
	})
	c := db.Client
	a := mustCreate(t, c, "acme")
	addNotes(t, c, a, "n1")
	start := tracer.total()
	if start == 0 {
		t.Fatal("the tracer saw nothing during setup: it is not installed")
	}

	for name, ctx := range map[string]context.Context{
		"no tenant":  context.Background(),
		"nil tenant": tenancy.WithTenant(context.Background(), nil),
	} {
		called := false
		err := c.Tx(ctx, func(context.Context, pgx.Tx) error { called = true; return nil })
		if !errors.Is(err, tenancy.ErrNoTenant) || called {
			t.Errorf("%s: Tx = %v, fn called %v; want ErrNoTenant and no call", name, err, called)
		}
		if err := c.TxFor(ctx, nil, pgx.TxOptions{}, func(context.Context, pgx.Tx) error { called = true; return nil }); !errors.Is(err, tenancy.ErrNoTenant) || called {
			t.Errorf("%s: TxFor(nil) = %v, fn called %v", name, err, called)
		}
		if _, err := c.Exec(ctx, `DELETE FROM notes`); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Errorf("%s: Exec = %v, want ErrNoTenant", name, err)
		}
		if rows, err := c.Query(ctx, `SELECT * FROM notes`); !errors.Is(err, tenancy.ErrNoTenant) || rows != nil {
			t.Errorf("%s: Query = %v, %v; want nil, ErrNoTenant", name, rows, err)
		}
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Errorf("%s: QueryRow = %v, want ErrNoTenant", name, err)
		}
	}
	if got := tracer.total(); got != start {
		t.Errorf("binding calls without a tenant reached the pool (%d acquires/queries/batches)", got-start)
	}

	// Plain pool queries, with no binding, touch no tenant rows: the default search_path names the
	// unreadable shape schema, and qualified names meet RLS with no tenant set.
	ctx := context.Background()
	if _, err := db.AppPool.Exec(ctx, `DELETE FROM notes`); sqlState(err) != "42501" {
		t.Errorf("unbound DELETE FROM notes: %v, want permission denied", err)
	}
	for _, q := range []string{`UPDATE ` + qualified(a) + ` SET body = 'x'`, `DELETE FROM ` + qualified(a)} {
		if tag, err := db.AppPool.Exec(ctx, q); err != nil || tag.RowsAffected() != 0 {
			t.Errorf("unbound %s: %d rows (err %v), want 0", q, tag.RowsAffected(), err)
		}
	}
	var n int
	if err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM `+qualified(a)).Scan(&n); err != nil || n != 0 {
		t.Errorf("unbound count of %s: %d (err %v), want 0", qualified(a), n, err)
	}
	if _, err := db.AppPool.Exec(ctx, `INSERT INTO `+qualified(a)+` (body) VALUES ('x')`); err == nil {
		t.Error("unbound INSERT without tenant_id succeeded")
	}
	if _, err := db.AppPool.Exec(ctx, `INSERT INTO `+qualified(a)+` (tenant_id, body) VALUES ($1, 'x')`, a.ID); sqlState(err) != "42501" {
		t.Errorf("unbound INSERT with tenant_id: %v, want SQLSTATE 42501", err)
	}
	if got := bodies(t, c, a); !slices.Equal(got, []string{"n1"}) {
		t.Errorf("the tenant's rows changed: %q", got)
	}
}
