package tenancy_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Per-tenant statements (plans.go) on one connection that serves every tenant in turn: each
// tenant sees its own rows only, the texts of its own are in use, and no more of them than the
// connection's budget (half of a statement cache of 32: 16, with 20 tenants).
func TestOwnPlansIsolationAndBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		AppMaxConns:      1,
		AppPoolConfig:    func(cfg *pgxpool.Config) { cfg.ConnConfig.StatementCacheCapacity = 32 },
	})
	var ts []*tenancy.Tenant
	for i := range 20 {
		tn := mustCreate(t, db.Client, fmt.Sprintf("plans-%d", i))
		addNotes(t, db.Client, tn, fmt.Sprintf("%d-a", i), fmt.Sprintf("%d-b", i))
		ts = append(ts, tn)
	}
	const q = `SELECT coalesce(string_agg(body, ',' ORDER BY id), '') FROM notes WHERE id > $1`
	for round := range 3 {
		for k := range ts {
			i := (k*7 + round) % len(ts) // a different order each round
			var got string
			if err := db.Client.QueryRow(tenancy.WithTenant(ctx, ts[i]), q, 0).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("%d-a,%d-b", i, i); got != want {
				t.Fatalf("round %d: tenant %s read %q, want %q", round, ts[i].Slug, got, want)
			}
		}
	}
	// The one connection's prepared statements, read through it.
	var own int
	if err := db.AppPool.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '/* tenant %'`).Scan(&own); err != nil {
		t.Fatal(err)
	}
	if own == 0 || own > 16 {
		t.Errorf("%d statements of a tenant's own on the connection, want 1 to 16", own)
	}
}

// What per-tenant statements rely on: PostgreSQL analyses a prepared statement again when it runs
// under another search_path than it was planned under, so a statement prepared while tenant A
// was bound, run while B is bound, reads B's table (and RLS admits B's rows only).
func TestPreparedStatementFollowsBinding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 1)
	a, b := mustCreate(t, db.Client, "prep-a"), mustCreate(t, db.Client, "prep-b")
	addNotes(t, db.Client, a, "a-only")
	addNotes(t, db.Client, b, "b-only")
	conn, err := db.AppPool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	read := func(tn *tenancy.Tenant) string {
		t.Helper()
		var got string
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true), set_config('tenancy.tenant_id', $2::bigint::text, true)`,
				pgx.Identifier{tn.Placement.Schema}.Sanitize()+", public", tn.ID); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `own_a`).Scan(&got)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if _, err := conn.Conn().Prepare(ctx, "own_a", `SELECT coalesce(string_agg(body, ','), '') FROM notes`); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := read(a); got != "a-only" {
			t.Fatalf("A read %q", got)
		}
		if got := read(b); got != "b-only" {
			t.Fatalf("B, through the statement planned for A, read %q", got)
		}
	}
}

// A tenant's own statement outlives a move out of its schema and back (the schema is dropped and
// made again), and a migration that changes its table's shape (SQLSTATE 0A000, retried once);
// another tenant on the same connection sees its own rows throughout.
func TestOwnPlansAfterMoveAndMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 1)
	a, b := mustCreate(t, db.Client, "own-a"), mustCreate(t, db.Client, "own-b")
	addNotes(t, db.Client, a, "a1")
	addNotes(t, db.Client, b, "b1")
	const q = `SELECT * FROM notes ORDER BY id LIMIT 1`
	check := func(step string, tn *tenancy.Tenant, want string, cols int) {
		t.Helper()
		dest := make([]any, cols)
		var body string
		for i := range dest {
			dest[i] = new(any)
		}
		dest[2] = &body
		if err := db.Client.QueryRow(tenancy.WithTenant(ctx, tn), q).Scan(dest...); err != nil {
			t.Fatalf("%s: %s: %v", step, tn.Slug, err)
		}
		if body != want {
			t.Fatalf("%s: %s read %q, want %q", step, tn.Slug, body, want)
		}
	}
	for range 2 {
		check("before", a, "a1", 4)
		check("before", b, "b1", 4)
	}
	var err error
	if a, err = db.Client.Move(ctx, a.Slug, &tenancy.MoveOpts{Tier: tenancy.TierPool}); err != nil {
		t.Fatal(err)
	}
	check("in the pool", a, "a1", 4)
	check("in the pool", b, "b1", 4)
	if a, err = db.Client.Move(ctx, a.Slug, &tenancy.MoveOpts{Tier: tenancy.TierSchema}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		check("back", a, "a1", 4)
		check("back", b, "b1", 4)
	}

	v1, err := os.ReadFile("testdata/migrations/tenant/0001_notes.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	v2 := fstest.MapFS{
		"0001_notes.up.sql": {Data: v1},
		"0002_tag.up.sql":   {Data: []byte(`ALTER TABLE notes ADD COLUMN tag text NOT NULL DEFAULT '';`)},
	}
	mc, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations, TenantMigrations: v2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		check("migrated", a, "a1", 5)
		check("migrated", b, "b1", 5)
	}
	// And the statements were the tenants' own.
	rows, err := db.AppPool.Query(ctx, `SELECT statement FROM pg_prepared_statements WHERE statement LIKE '/* tenant %'`)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, fmt.Sprintf("/* tenant %d */", b.ID)) }) {
		t.Errorf("no statement of %s's own among %q", b.Slug, texts)
	}
}
