package tenancy_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The test application: shared users, tenant notes (testdata/migrations).
var (
	sharedMigrations = os.DirFS("testdata/migrations/shared")
	tenantMigrations = os.DirFS("testdata/migrations/tenant")
)

// newDB returns a test database with the test application's migrations and an application pool
// of maxConns connections (so that small pools reuse connections).
func newDB(t testing.TB, maxConns int32) *tenancytest.DB {
	t.Helper()
	return tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		AppMaxConns:      maxConns,
	})
}

// mustCreate creates an active tenant or fails the test.
func mustCreate(t testing.TB, c *tenancy.Client, slug string) *tenancy.Tenant {
	t.Helper()
	tn, err := c.TenantCreate(context.Background(), slug, nil)
	if err != nil {
		t.Fatalf("create %s: %v", slug, err)
	}
	if tn.Status != tenancy.StatusActive {
		t.Fatalf("create %s: status %s, want active", slug, tn.Status)
	}
	return tn
}

// addNotes inserts bodies into t's notes through the binding and returns their ids.
func addNotes(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant, bodies ...string) []int64 {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), tn)
	var ids []int64
	for _, b := range bodies {
		var id int64
		if err := c.QueryRow(ctx, `INSERT INTO notes (body) VALUES ($1) RETURNING id`, b).Scan(&id); err != nil {
			t.Fatalf("insert into %s: %v", tn.Slug, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// bodies returns the bodies of t's notes as t sees them, in id order.
func bodies(t testing.TB, c *tenancy.Client, tn *tenancy.Tenant) []string {
	t.Helper()
	rows, err := c.Query(tenancy.WithTenant(context.Background(), tn), `SELECT body FROM notes ORDER BY id`)
	if err != nil {
		t.Fatalf("read notes of %s: %v", tn.Slug, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read notes of %s: %v", tn.Slug, err)
	}
	return out
}

// ownerCount counts rows of schema.table as the owner role with RLS set aside by binding the
// owner's own transaction to tenantID (the owner is subject to the forced policy too).
func ownerCount(t testing.TB, db *tenancytest.DB, schema string, tenantID int64) int {
	t.Helper()
	var n int
	err := pgx.BeginFunc(context.Background(), db.OwnerPool, func(tx pgx.Tx) error {
		ctx := context.Background()
		if _, err := tx.Exec(ctx, `SELECT set_config('tenancy.tenant_id', $1::bigint::text, true)`, tenantID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "notes"}.Sanitize()).Scan(&n)
	})
	if err != nil {
		t.Fatalf("count %s.notes: %v", schema, err)
	}
	return n
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// qualified returns the schema-qualified, quoted name of a tenant's notes table.
func qualified(tn *tenancy.Tenant) string {
	return pgx.Identifier{tn.Placement.Schema, "notes"}.Sanitize()
}

// childPools opens, in a child process of a kill test, the owner and application pools named by
// the URLs in the environment variables adminEnv and appEnv (the application pool configured as
// tenancy.ConfigurePool does), and checks that both connect.
func childPools(t testing.TB, adminEnv, appEnv string) (admin, app *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, os.Getenv(adminEnv))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv(appEnv))
	if err != nil {
		t.Fatal(err)
	}
	tenancy.ConfigurePool(cfg, "")
	if app, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := admin.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	return admin, app
}

// waitSessionsGone waits until the server has ended every session a killed child opened (named
// by application_name): a statement the dead process sent may still be running, and may commit.
// limit only catches a hang.
func waitSessionsGone(t testing.TB, appName string, limit time.Duration) {
	t.Helper()
	ctx := context.Background()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := tenancytest.Cluster(t).SuperPool().QueryRow(ctx,
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("the killed child's sessions (%s) linger", appName)
		}
	}
}
