package tenancysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancysql"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The test application: a tenant table, items (testdata/migrations/tenant).
var tenantMigrations = os.DirFS("testdata/migrations/tenant")

// names returns the names of the items that ctx's tenant sees, in id order.
func names(t *testing.T, db *sql.DB, ctx context.Context) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT name FROM items ORDER BY id`)
	if err != nil {
		t.Fatalf("read items: %v", err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read items: %v", err)
	}
	return out
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, ctx context.Context, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

// TestEveryTier: through database/sql, a tenant sees only its rows, no tenant means an error and
// nothing run, a rolled-back transaction leaves nothing, and a fenced tenant gets
// ErrTenantMoving, in every tier.
func TestEveryTier(t *testing.T) {
	t.Parallel()
	tenancytest.EachTier(t, &tenancytest.Options{TenantMigrations: tenantMigrations}, func(t *testing.T, d *tenancytest.TierDB) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		db := tenancysql.OpenDB(d.Client)
		defer db.Close()
		other, err := d.Client.TenantCreate(ctx, "globex", &tenancy.TenantCreateOpts{Tier: d.Tier})
		if err != nil {
			t.Fatal(err)
		}
		acme, globex := d.Context(ctx), tenancy.WithTenant(ctx, other)

		// Isolation.
		res := mustExec(t, db, acme, `INSERT INTO items (name, price, qty) VALUES ($1, $2, $3)`, "anvil", "9.99", 3)
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("RowsAffected: %d, %v", n, err)
		}
		mustExec(t, db, globex, `INSERT INTO items (name) VALUES ('rocket')`)
		if got := names(t, db, acme); !reflect.DeepEqual(got, []string{"anvil"}) {
			t.Fatalf("acme sees %q", got)
		}
		if got := names(t, db, globex); !reflect.DeepEqual(got, []string{"rocket"}) {
			t.Fatalf("globex sees %q", got)
		}
		stmt, err := db.PrepareContext(ctx, `SELECT count(*) FROM items WHERE name = $1`)
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		var n int
		if err := stmt.QueryRowContext(globex, "anvil").Scan(&n); err != nil || n != 0 {
			t.Fatalf("globex counts %d anvils (%v)", n, err)
		}

		// No tenant: an error, and nothing runs.
		if _, err := db.ExecContext(ctx, `INSERT INTO items (name, tenant_id) VALUES ('orphan', $1)`, d.Tenant.ID); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("Exec without a tenant: %v", err)
		}
		rows, err := db.QueryContext(ctx, `SELECT name FROM items`)
		if rows != nil {
			t.Fatalf("Query without a tenant returned rows (%v)", rows.Err())
		}
		if !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("Query without a tenant: %v", err)
		}
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("QueryRow without a tenant: %v", err)
		}
		if _, err := db.BeginTx(ctx, nil); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("BeginTx without a tenant: %v", err)
		}

		// Transactions: bound at BEGIN (their statements need no tenant in ctx), rolled back
		// they leave nothing, committed they stay.
		tx, err := db.BeginTx(acme, nil)
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, ctx, `INSERT INTO items (name) VALUES ('dropped')`)
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("acme's transaction counts %d items (%v), want 2", n, err)
		}
		if got := names(t, db, globex); !reflect.DeepEqual(got, []string{"rocket"}) {
			t.Fatalf("globex sees %q while acme's transaction is open", got)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		tx, err = db.BeginTx(acme, &sql.TxOptions{Isolation: sql.LevelSerializable})
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, ctx, `INSERT INTO items (name) VALUES ('bolt')`)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := names(t, db, acme); !reflect.DeepEqual(got, []string{"anvil", "bolt"}) {
			t.Fatalf("acme sees %q after a rollback and a commit", got)
		}

		// Fenced by a mover: nothing runs.
		moverURL := d.AdminURL
		if d.Tenant.Placement.Database != "" {
			moverURL = d.Server.URL(d.OwnerRole, d.Tenant.Placement.Database)
		}
		mover, err := pgx.Connect(ctx, moverURL)
		if err != nil {
			t.Fatal(err)
		}
		defer mover.Close(ctx)
		class, key := tenancy.FenceKey(d.Tenant.ID)
		if _, err := mover.Exec(ctx, `SELECT pg_advisory_lock($1::int4, $2::int4)`, class, key); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(acme, `INSERT INTO items (name) VALUES ('during the move')`); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Fatalf("Exec while fenced: %v", err)
		}
		if _, err := db.BeginTx(acme, nil); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Fatalf("BeginTx while fenced: %v", err)
		}
		if _, err := mover.Exec(ctx, `SELECT pg_advisory_unlock($1::int4, $2::int4)`, class, key); err != nil {
			t.Fatal(err)
		}
		if got := names(t, db, acme); !reflect.DeepEqual(got, []string{"anvil", "bolt"}) {
			t.Fatalf("acme sees %q after the fence", got)
		}
	})
}

// TestOtherServer: a database-tier tenant on another server is reached through the Client's pool
// for that server, and kept apart from a tenant on the catalog's server.
func TestOtherServer(t *testing.T) {
	t.Parallel()
	d := tenancytest.New(t, &tenancytest.Options{TenantMigrations: tenantMigrations})
	ctx := context.Background()
	owner, app := d.SecondServer(t)
	if _, err := d.Client.ServerAdd(ctx, "second", owner, app); err != nil {
		t.Fatal(err)
	}
	far, err := d.Client.TenantCreate(ctx, "far", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase, Server: "second"})
	if err != nil {
		t.Fatal(err)
	}
	near, err := d.Client.TenantCreate(ctx, "near", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := tenancysql.OpenDB(d.Client)
	defer db.Close()
	farCtx, nearCtx := tenancy.WithTenant(ctx, far), tenancy.WithTenant(ctx, near)
	tx, err := db.BeginTx(farCtx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, ctx, `INSERT INTO items (name) VALUES ('far away')`)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var server string
	if err := db.QueryRowContext(farCtx, `SELECT current_setting('port')`).Scan(&server); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.AdminURL, ":"+server+"/") {
		t.Fatalf("the far tenant's statement ran on the catalog's server (port %s)", server)
	}
	if got := names(t, db, farCtx); !reflect.DeepEqual(got, []string{"far away"}) {
		t.Fatalf("far sees %q", got)
	}
	if got := names(t, db, nearCtx); len(got) != 0 {
		t.Fatalf("near sees %q", got)
	}
}

// valuer is an application type encoded through driver.Valuer.
type valuer struct{ s string }

func (v valuer) Value() (driver.Value, error) { return strings.ToUpper(v.s), nil }

// TestValues: arguments of database/sql's usual types reach PostgreSQL, and columns come back as
// the driver values that Scan converts from.
func TestValues(t *testing.T) {
	t.Parallel()
	d := tenancytest.New(t, &tenancytest.Options{TenantMigrations: tenantMigrations})
	ctx := context.Background()
	tn, err := d.Client.TenantCreate(ctx, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx = tenancy.WithTenant(ctx, tn)
	db := tenancysql.OpenDB(d.Client)
	defer db.Close()

	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	cols := []struct {
		sql  string
		arg  any
		want any
	}{
		{`1::int2`, nil, int64(1)},
		{`2::int4`, nil, int64(2)},
		{`$1::int8`, 3, int64(3)},
		{`26::oid`, nil, int64(26)},
		{`1.5::float4`, nil, float64(1.5)},
		{`$1::float8`, 2.5, float64(2.5)},
		{`$1::bool`, true, true},
		{`$1::text`, "x", "x"},
		{`$1::varchar(5)`, sql.NullString{String: "y", Valid: true}, "y"},
		{`$1::text`, valuer{"v"}, "V"},
		{`$1::bytea`, []byte{1, 2}, []byte{1, 2}},
		{`'{"a": 1}'::json`, nil, []byte(`{"a": 1}`)},
		{`'{"b": 2}'::jsonb`, nil, []byte(`{"b": 2}`)},
		{`$1::timestamptz`, when, when},
		{`'2024-01-02 03:04:05'::timestamp`, nil, when},
		{`'2024-01-02'::date`, nil, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{`'infinity'::timestamptz`, nil, "infinity"},
		{`12.34::numeric(5, 2)`, nil, "12.34"},
		{`'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid`, nil, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
		{`'1 day 2 hours'::interval`, nil, "1 day 02:00:00"},
		{`ARRAY['a', 'b']`, nil, "{a,b}"},
		{`'10.0.0.1/8'::inet`, nil, "10.0.0.1/8"},
		{`int4range(1, 3)::text`, nil, "[1,3)"},
		{`$1::int4`, nil, nil},
	}
	for _, c := range cols {
		var args []any
		if strings.Contains(c.sql, "$1") {
			args = []any{c.arg}
		}
		var got any
		if err := db.QueryRowContext(ctx, `SELECT `+c.sql, args...).Scan(&got); err != nil {
			t.Errorf("SELECT %s: %v", c.sql, err)
			continue
		}
		if tm, ok := got.(time.Time); ok {
			got = tm.UTC()
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("SELECT %s: %#v (%T), want %#v (%T)", c.sql, got, got, c.want, c.want)
		}
	}

	if _, err := db.ExecContext(ctx, `SELECT $1::text`, sql.Named("x", "y")); err == nil || !strings.Contains(err.Error(), "named argument") {
		t.Errorf("a named argument: %v", err)
	}
	if _, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelLinearizable}); err == nil {
		t.Error("BeginTx with LevelLinearizable: no error")
	}
	rows, err := db.QueryContext(ctx, `SELECT 1::int8 AS a, 'x'::text AS b`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{types[0].Name(), types[0].DatabaseTypeName(), types[1].Name(), types[1].DatabaseTypeName()}; !reflect.DeepEqual(got, []string{"a", "INT8", "b", "TEXT"}) {
		t.Errorf("column types: %q", got)
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		t.Error(err)
	}
	if err := db.PingContext(context.Background()); err != nil {
		t.Errorf("Ping without a tenant: %v", err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("Ping with a tenant: %v", err)
	}
}

// counter counts what pgx sends: statements (a query, an Exec, a commit message) and batches.
type counter struct{ queries, batches atomic.Int64 }

func (c *counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.queries.Add(1)
	return ctx
}
func (c *counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.batches.Add(1)
	return ctx
}
func (c *counter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// take returns the counts since the last take.
func (c *counter) take() [2]int64 { return [2]int64{c.queries.Swap(0), c.batches.Swap(0)} }

// TestRoundTrips: through database/sql a statement is one batch (the binding, the statement and
// the reset), BEGIN and the binding one batch, the commit one message, as with the Client.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	c := &counter{}
	d := tenancytest.New(t, &tenancytest.Options{
		TenantMigrations: tenantMigrations,
		AppMaxConns:      1,
		AppPoolConfig:    func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = c },
	})
	ctx := context.Background()
	tn, err := d.Client.TenantCreate(ctx, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx = tenancy.WithTenant(ctx, tn)
	db := tenancysql.OpenDB(d.Client)
	defer db.Close()
	var n int
	steps := []struct {
		name string
		run  func() error
		want [2]int64 // queries, batches
	}{
		{"Exec", func() error { _, err := db.ExecContext(ctx, `INSERT INTO items (name) VALUES ($1)`, "a"); return err }, [2]int64{0, 1}},
		{"QueryRow", func() error { return db.QueryRowContext(ctx, `SELECT count(*) FROM items`).Scan(&n) }, [2]int64{0, 1}},
		{"BeginTx, Exec, Commit", func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO items (name) VALUES ($1)`, "b"); err != nil {
				return errors.Join(err, tx.Rollback())
			}
			return tx.Commit()
		}, [2]int64{2, 1}},
		// The rollback, then letting go of session advisory locks.
		{"BeginTx, Exec, Rollback", func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO items (name) VALUES ($1)`, "c"); err != nil {
				return errors.Join(err, tx.Rollback())
			}
			return tx.Rollback()
		}, [2]int64{3, 1}},
	}
	for _, s := range steps {
		if err := s.run(); err != nil { // once to prepare the statements
			t.Fatalf("%s: %v", s.name, err)
		}
		c.take()
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := c.take(); got != s.want {
			t.Errorf("%s: %d statements and %d batches, want %d and %d", s.name, got[0], got[1], s.want[0], s.want[1])
		}
	}
}
