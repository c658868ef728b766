package tenancy_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestFence: while a mover holds a tenant's fence, every bound call fails with ErrTenantMoving
// and writes nothing, in every tier; in-flight transactions finish before the mover gets it.
func TestFence(t *testing.T) {
	t.Parallel()
	for _, pc := range placementCases[:3] {
		t.Run(pc.name, func(t *testing.T) {
			t.Parallel()
			db, create := conformanceDB(t, pc)
			ctx := context.Background()
			a := create("fenced")
			other := create("free")
			ctxA := tenancy.WithTenant(ctx, a)

			// The mover's side: a session-level exclusive lock in the placement's database.
			moverURL := db.AdminURL
			if a.Placement.Database != "" {
				moverURL = db.Server.URL(tenancytest.OwnerRole, a.Placement.Database)
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
			_, err = db.Client.Exec(ctxA, `INSERT INTO notes (body) VALUES ('during the move')`)
			if !errors.Is(err, tenancy.ErrTenantMoving) {
				t.Fatalf("Exec while fenced: %v", err)
			}
			var n int
			if err := db.Client.QueryRow(ctxA, `SELECT count(*) FROM notes`).Scan(&n); !errors.Is(err, tenancy.ErrTenantMoving) {
				t.Fatalf("QueryRow while fenced: %v", err)
			}
			ran := false
			err = db.Client.Tx(ctxA, func(ctx context.Context, tx pgx.Tx) error { ran = true; return nil })
			if !errors.Is(err, tenancy.ErrTenantMoving) || ran {
				t.Fatalf("Tx while fenced: %v (ran %v)", err, ran)
			}
			// Another tenant is not held up.
			if _, err := db.Client.Exec(tenancy.WithTenant(ctx, other), `INSERT INTO notes (body) VALUES ('x')`); err != nil {
				t.Fatalf("other tenant while one is fenced: %v", err)
			}
			if _, err := mover.Exec(ctx, `SELECT pg_advisory_unlock($1::int4, $2::int4)`, class, id); err != nil {
				t.Fatal(err)
			}
			if err := db.Client.QueryRow(ctxA, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("after the fence: %d notes, %v; want 0 (nothing written while fenced)", n, err)
			}

			// A transaction in flight holds the mover back until it ends.
			inTx, release := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- db.Client.Tx(ctxA, func(ctx context.Context, tx pgx.Tx) error {
					close(inTx)
					<-release
					_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('in flight')`)
					return err
				})
			}()
			<-inTx
			var got bool
			if err := mover.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, $2::int4)`, class, id).Scan(&got); err != nil || got {
				t.Fatalf("mover took the fence while a transaction was in flight: %v %v", got, err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err := mover.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, $2::int4)`, class, id).Scan(&got); err != nil || !got {
				t.Fatalf("mover could not take the fence after the transaction ended: %v %v", got, err)
			}
		})
	}
}

// TestFenceStalePoolPlacement: a process holding a pool tenant's old placement after the tenant
// moved out cannot write into the pool it left.
func TestFenceStalePoolPlacement(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("testdata/migrations/shared"),
		TenantMigrations: os.DirFS("testdata/migrations/tenant"),
	})
	ctx := context.Background()
	stale, err := db.Client.TenantCreate(ctx, "mover", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Client.PoolCreate(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	// The catalog now places the tenant elsewhere, as a finished move would.
	if _, err := db.OwnerPool.Exec(ctx, `
		UPDATE tenancy.tenants SET placement_id = (SELECT id FROM tenancy.placements WHERE schema = 'pool_other')
		WHERE id = $1`, stale.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.Client.Exec(tenancy.WithTenant(ctx, stale), `INSERT INTO notes (body) VALUES ('lost?')`)
	if !errors.Is(err, tenancy.ErrTenantMoving) {
		t.Fatalf("write through a stale pool placement: %v", err)
	}
	var n int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM pool_default.notes WHERE body = 'lost?'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows written into the pool the tenant left (%v)", n, err)
	}
}
