package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// race runs fns at the same moment and returns their errors.
func race(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var start, done sync.WaitGroup
	start.Add(1)
	for i, fn := range fns {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = fn()
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// oneWinner checks that exactly one of errs is nil and every other is ErrTenantExists, and that
// slug is one active tenant.
func oneWinner(t *testing.T, db *tenancytest.DB, slug string, errs []error) *tenancy.Tenant {
	t.Helper()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, tenancy.ErrTenantExists):
			t.Errorf("a loser got %v, want ErrTenantExists", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d simultaneous creates of %s succeeded, want exactly 1 (errors %v)", won, len(errs), slug, errs)
	}
	tn, err := db.Client.TenantGet(context.Background(), slug)
	if err != nil || tn.Status != tenancy.StatusActive {
		t.Fatalf("%s after the race: %+v, %v; want active", slug, tn, err)
	}
	var n int
	if err := db.OwnerPool.QueryRow(context.Background(), `SELECT count(*) FROM tenancy.tenants`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d tenants in the catalog (%v), want 1", n, err)
	}
	return tn
}

// TestCreateRaceOneWins: N creates of one slug at the same moment, in every tier: exactly one
// succeeds, the others get ErrTenantExists (two sign-ups for one organisation must not both
// become its owner).
func TestCreateRaceOneWins(t *testing.T) {
	t.Parallel()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			db := newDB(t, 2)
			ctx := context.Background()
			if tier == tenancy.TierDatabase {
				// The template exists before the race, as on any server that made one tenant.
				mustCreateTier(t, db.Client, "warm", tier)
				if err := db.Client.TenantDelete(ctx, "warm", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
					t.Fatal(err)
				}
			}
			fns := make([]func() error, 6)
			for i := range fns {
				fns[i] = func() error {
					_, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tier})
					return err
				}
			}
			tn := oneWinner(t, db, "acme", race(fns...))
			addNotes(t, db.Client, tn, "mine")
			if res := mustCheck(t, db.Client); !res.OK() {
				t.Fatalf("check after the race: %v", res.Problems)
			}
		})
	}
}

// TestRestoreAsRaces: restores of one archive under one new slug at the same moment, and a
// create racing a restore of the same slug: exactly one of them makes the tenant.
func TestRestoreAsRaces(t *testing.T) {
	t.Parallel()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			db := newDB(t, 2)
			ctx := context.Background()
			src := mustCreateTier(t, db.Client, "source", tier)
			addNotes(t, db.Client, src, "n1", "n2")
			var buf bytes.Buffer
			if _, err := db.Client.Backup(ctx, "source", &buf, nil); err != nil {
				t.Fatal(err)
			}
			restore := func(slug string) func() error {
				return func() error {
					_, err := db.Client.Restore(ctx, bytes.NewReader(buf.Bytes()), &tenancy.RestoreOpts{Slug: slug, Tier: tier})
					return err
				}
			}
			create := func(slug string) func() error {
				return func() error {
					_, err := db.Client.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier})
					return err
				}
			}
			count := func() int {
				var n int
				if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM tenancy.tenants WHERE slug <> 'source'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			errs := race(restore("copy"), restore("copy"), restore("copy"))
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else if !errors.Is(err, tenancy.ErrTenantExists) {
					t.Errorf("restore --as lost with %v, want ErrTenantExists", err)
				}
			}
			if won != 1 || count() != 1 {
				t.Fatalf("restores under one slug: %d won, %d tenants (%v); want 1", won, count(), errs)
			}
			for round := range 3 {
				slug := []string{"race-a", "race-b", "race-c"}[round]
				errs := race(create(slug), restore(slug), create(slug), restore(slug))
				won := 0
				for _, err := range errs {
					if err == nil {
						won++
					} else if !errors.Is(err, tenancy.ErrTenantExists) {
						t.Errorf("%s: a loser got %v, want ErrTenantExists", slug, err)
					}
				}
				if won != 1 || count() != 2+round {
					t.Fatalf("%s: creates racing restores: %d won, %d tenants (%v); want 1 winner", slug, won, count(), errs)
				}
				tn, err := db.Client.TenantGet(ctx, slug)
				if err != nil || tn.Status != tenancy.StatusActive {
					t.Fatalf("%s: %+v %v", slug, tn, err)
				}
			}
			if res := mustCheck(t, db.Client); !res.OK() {
				t.Fatalf("check after the races: %v", res.Problems)
			}
		})
	}
}

// failingTenantMigrations passes in the shape schema (so Init succeeds) and fails in a tenant
// schema, as a migration that depends on data can.
func failingTenantMigrations(t testing.TB) fstest.MapFS {
	t.Helper()
	return fstest.MapFS{
		"0001_notes.up.sql": {Data: mustRead(t, "testdata/migrations/tenant/0001_notes.up.sql")},
		"0002_fails.up.sql": {Data: []byte(`DO $$ BEGIN
			IF current_schema() LIKE 'tenant%' THEN RAISE EXCEPTION 'migration 2 fails in %', current_schema(); END IF;
		END $$;`)},
	}
}

// TestCreateFailedMigrationLeavesNothing: a tenant migration that fails during TenantCreate
// leaves no tenant (the slug is free again), no placement row and no schema; a tenant left in
// provisioning whose migrations cannot succeed is removed by Repair.
func TestCreateFailedMigrationLeavesNothing(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: failingTenantMigrations(t), AppMaxConns: 2})
	ctx := context.Background()
	before := catalogState(t, db)
	if _, err := db.Client.TenantCreate(ctx, "acme", nil); err == nil {
		t.Fatal("create with a failing migration succeeded")
	}
	if _, err := db.Client.TenantGet(ctx, "acme"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after the failed create: %v, want ErrTenantNotFound", err)
	}
	if after := catalogState(t, db); after != before {
		t.Fatalf("the failed create left %+v (before %+v)", after, before)
	}
	if res := mustCheck(t, db.Client); !res.OK() {
		t.Fatalf("check: %v", res.Problems)
	}

	// A crash before provisioning leaves the tenant in provisioning; Repair cannot finish it
	// (its migration fails), so it removes it.
	crashAt(db, "created")
	if _, err := db.Client.TenantCreate(ctx, "globex", nil); !errors.Is(err, errCrash) {
		t.Fatalf("create: %v, want the simulated crash", err)
	}
	res, err := db.Client.Repair(ctx)
	if err != nil || len(res.Removed) != 1 || res.Removed["globex"] == nil || len(res.Failed) != 0 {
		t.Fatalf("Repair = %+v, %v; want globex removed", res, err)
	}
	if _, err := db.Client.TenantGet(ctx, "globex"); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Fatalf("after repair: %v, want ErrTenantNotFound", err)
	}
	if after := catalogState(t, db); after != before {
		t.Fatalf("repair left %+v (before %+v)", after, before)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
