package tenancy_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestBeginTx: a transaction of BeginTx is bound to the tenant in ctx in every tier and on a
// second server, commits and rolls back as Tx does, is fenced during a move, and gives its
// connection back when it ends (the application pool has 2 connections; 6 transactions run).
func TestBeginTx(t *testing.T) {
	t.Parallel()
	for _, pc := range placementCases[:5] {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			db, create := conformanceDB(t, pc)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			a, b := create("alpha"), create("beta")
			ctxA, ctxB := tenancy.WithTenant(ctx, a), tenancy.WithTenant(ctx, b)
			// begin starts a bound transaction that ends before the test's pools close.
			begin := func(ctx context.Context) pgx.Tx {
				t.Helper()
				tx, err := db.Client.BeginTx(ctx, pgx.TxOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
				return tx
			}

			if tx, err := db.Client.BeginTx(ctx, pgx.TxOptions{}); !errors.Is(err, tenancy.ErrNoTenant) || tx != nil {
				t.Fatalf("BeginTx without a tenant: %v, %v", tx, err)
			}

			// Committed: seen by its tenant, never by the other, also while both are open.
			txA := begin(ctxA)
			if _, err := txA.Exec(ctx, `INSERT INTO notes (body) VALUES ('a1')`); err != nil {
				t.Fatal(err)
			}
			txB := begin(ctxB)
			var n int
			if err := txB.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("beta sees %d notes (%v) while alpha writes", n, err)
			}
			if err := txB.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := txA.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := txA.Rollback(ctx); !errors.Is(err, pgx.ErrTxClosed) {
				t.Fatalf("Rollback after Commit: %v, want pgx.ErrTxClosed", err)
			}
			if got := bodies(t, db.Client, a); len(got) != 1 || got[0] != "a1" {
				t.Fatalf("alpha's notes after commit: %q", got)
			}
			if got := bodies(t, db.Client, b); len(got) != 0 {
				t.Fatalf("beta's notes: %q", got)
			}

			// Rolled back, and committed after a failed statement: nothing is kept.
			txA = begin(ctxA)
			if _, err := txA.Exec(ctx, `INSERT INTO notes (body) VALUES ('rolled back')`); err != nil {
				t.Fatal(err)
			}
			if err := txA.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := txA.Commit(ctx); !errors.Is(err, pgx.ErrTxClosed) {
				t.Fatalf("Commit after Rollback: %v, want pgx.ErrTxClosed", err)
			}
			txA = begin(ctxA)
			if _, err := txA.Exec(ctx, `INSERT INTO notes (body) VALUES ('failed')`); err != nil {
				t.Fatal(err)
			}
			if _, err := txA.Exec(ctx, `SELECT 1/0`); err == nil {
				t.Fatal("1/0 did not fail")
			}
			if err := txA.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
				t.Fatalf("Commit after a failed statement: %v, want pgx.ErrTxCommitRollback", err)
			}
			if got := bodies(t, db.Client, a); len(got) != 1 {
				t.Fatalf("alpha's notes after the rollbacks: %q", got)
			}

			// Fenced by a mover: no transaction starts.
			moverURL := db.AdminURL
			if a.Placement.Database != "" || pc.second {
				moverURL = placementOwnerURL(t, db, pc, a)
			}
			mover, err := pgx.Connect(ctx, moverURL)
			if err != nil {
				t.Fatal(err)
			}
			defer mover.Close(ctx)
			class, id := tenancy.FenceKey(a.ID)
			if _, err := mover.Exec(ctx, `SELECT pg_advisory_lock($1::int4, $2::int4)`, class, id); err != nil {
				t.Fatal(err)
			}
			if tx, err := db.Client.BeginTx(ctxA, pgx.TxOptions{}); !errors.Is(err, tenancy.ErrTenantMoving) || tx != nil {
				t.Fatalf("BeginTx while fenced: %v, %v", tx, err)
			}
			if _, err := mover.Exec(ctx, `SELECT pg_advisory_unlock($1::int4, $2::int4)`, class, id); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// placementOwnerURL is the owner's URL of t's placement database.
func placementOwnerURL(tb testing.TB, db *tenancytest.DB, pc placementCase, t *tenancy.Tenant) string {
	tb.Helper()
	srv := db.Server
	if pc.second {
		srv = tenancytest.SecondCluster(tb)
	}
	database := t.Placement.Database
	if database == "" && pc.second {
		database = db.Name + "_home" // SecondServer's home database
	}
	return srv.URL(tenancytest.OwnerRole, database)
}

// TestBeginTxResetsSession: what a tenant's transaction sets at session level is undone by its
// Commit, on the connection that goes back to the pool (the pool's only one).
func TestBeginTxResetsSession(t *testing.T) {
	t.Parallel()
	db := newDB(t, 1)
	a := mustCreate(t, db.Client, "alpha")
	ctx := context.Background()
	tx, err := db.Client.BeginTx(tenancy.WithTenant(ctx, a), pgx.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var pid int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM set_config('tenancy.tenant_id', $1, false)`, strconv.FormatInt(a.ID, 10)).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var after int
	var setting string
	if err := db.AppPool.QueryRow(ctx, `SELECT pg_backend_pid(), current_setting('tenancy.tenant_id', true)`).Scan(&after, &setting); err != nil {
		t.Fatal(err)
	}
	if after != pid {
		t.Fatalf("another connection (%d, not %d): the test proves nothing", after, pid)
	}
	if setting != "" {
		t.Fatalf("after Commit the pooled connection still carries tenancy.tenant_id = %q", setting)
	}
}
