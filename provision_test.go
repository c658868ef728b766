package tenancy_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

var errCrash = errors.New("simulated crash")

// crashAt makes db's client crash once at step: inside a transaction the backend is killed (as a
// dying process would leave it), outside one the operation simply stops.
func crashAt(db *tenancytest.DB, step string) *atomic.Bool {
	var crashed atomic.Bool
	tenancy.SetTestHook(db.Client, func(ctx context.Context, s string, tx pgx.Tx) error {
		if s != step || crashed.Swap(true) {
			return nil
		}
		if tx != nil {
			_, _ = tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
		}
		return errCrash
	})
	return &crashed
}

// placementState is what exists of a tenant's placement, read as the owner.
type placementState struct {
	status      string // "" when the tenant is not in the catalog
	schema      string
	schemaFound bool
	comment     string
	ledgerRows  int
	placements  int // placement rows for the schema
}

func readPlacement(t *testing.T, db *tenancytest.DB, slug, schema string) placementState {
	t.Helper()
	ctx := context.Background()
	s := placementState{schema: schema}
	err := db.OwnerPool.QueryRow(ctx, `SELECT status FROM tenancy.tenants WHERE slug = $1`, slug).Scan(&s.status)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	var comment *string
	err = db.OwnerPool.QueryRow(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, schema).Scan(&comment)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	s.schemaFound = err == nil
	if comment != nil {
		s.comment = *comment
	}
	err = db.OwnerPool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM tenancy.placements WHERE schema = $1),
		       (SELECT count(*) FROM tenancy.migrations m JOIN tenancy.placements p ON p.id = m.placement_id WHERE p.schema = $1)`,
		schema).Scan(&s.placements, &s.ledgerRows)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaOf returns the placement schema the catalog gave slug.
func schemaOf(t *testing.T, db *tenancytest.DB, slug string) string {
	t.Helper()
	var schema string
	err := db.OwnerPool.QueryRow(context.Background(), `
		SELECT p.schema FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id WHERE t.slug = $1`, slug).Scan(&schema)
	if err != nil {
		t.Fatalf("placement of %s: %v", slug, err)
	}
	return schema
}

// assertActive checks that slug is fully provisioned and usable through the binding.
func assertActive(t *testing.T, db *tenancytest.DB, slug string) *tenancy.Tenant {
	t.Helper()
	tn, err := db.Client.TenantGet(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Status != tenancy.StatusActive || tn.Version != db.Client.LatestVersion() {
		t.Fatalf("%s: status %s version %d, want active at %d", slug, tn.Status, tn.Version, db.Client.LatestVersion())
	}
	st := readPlacement(t, db, slug, tn.Placement.Schema)
	if !st.schemaFound || st.comment == "" || st.placements != 1 || st.ledgerRows != 1 {
		t.Fatalf("%s: placement %+v, want the schema with its ownership mark, one placement, one ledger row", slug, st)
	}
	addNotes(t, db.Client, tn, "hello")
	if got := bodies(t, db.Client, tn); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("%s sees %q, want [hello]", slug, got)
	}
	return tn
}

// TestCreateCrashRepaired: a crash between any two provisioning steps leaves a tenant in
// "provisioning" with nothing of its placement made and nothing served; calling TenantCreate
// again, or Repair, finishes it.
func TestCreateCrashRepaired(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"created", "schema", "migrated", "granted"} {
		for _, fix := range []string{"rerun", "repair"} {
			t.Run(step+"/"+fix, func(t *testing.T) {
				t.Parallel()
				db := newDB(t, 1)
				ctx := context.Background()
				crashed := crashAt(db, step)
				if _, err := db.Client.TenantCreate(ctx, "acme", nil); err == nil || !crashed.Load() {
					t.Fatalf("TenantCreate = %v, crashed %v; want the simulated crash", err, crashed.Load())
				}
				schema := schemaOf(t, db, "acme")
				st := readPlacement(t, db, "acme", schema)
				if st.status != "provisioning" || st.schemaFound || st.ledgerRows != 0 || st.placements != 1 {
					t.Fatalf("after the crash: %+v; want provisioning, no schema, no ledger rows", st)
				}
				// Nothing half-made is served.
				half, err := db.Client.TenantGet(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if half.Servable() {
					t.Fatal("a provisioning tenant is servable")
				}
				var n int
				if err := db.Client.QueryRow(tenancy.WithTenant(ctx, half), `SELECT count(*) FROM notes`).Scan(&n); !errors.Is(err, tenancy.ErrTenantNotActive) {
					t.Fatalf("binding a provisioning tenant: %v, want ErrTenantNotActive", err)
				}

				switch fix {
				case "rerun":
					if _, err := db.Client.TenantCreate(ctx, "acme", nil); err != nil {
						t.Fatalf("rerun: %v", err)
					}
				case "repair":
					res, err := db.Client.Repair(ctx)
					if err != nil || !slices.Equal(res.Provisioned, []string{"acme"}) || len(res.Failed) != 0 {
						t.Fatalf("Repair = %+v, %v; want acme provisioned", res, err)
					}
				}
				tn := assertActive(t, db, "acme")
				if tn.ID != half.ID || tn.Placement.Schema != schema {
					t.Fatalf("repaired tenant is id %d in %s, want id %d in %s", tn.ID, tn.Placement.Schema, half.ID, schema)
				}
				// Finished: a third create is a duplicate, and Repair has nothing to do.
				if _, err := db.Client.TenantCreate(ctx, "acme", nil); !errors.Is(err, tenancy.ErrTenantExists) {
					t.Fatalf("create after repair: %v, want ErrTenantExists", err)
				}
				if res, err := db.Client.Repair(ctx); err != nil || len(res.Provisioned)+len(res.Deleted)+len(res.Failed) != 0 {
					t.Fatalf("second Repair = %+v, %v; want nothing to do", res, err)
				}
			})
		}
	}
}

// TestHardDeleteCrashRepaired: a hard delete interrupted before or while dropping the schema
// leaves the tenant in "deleting" (never served), which Repair or a second delete finishes.
func TestHardDeleteCrashRepaired(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"deleting", "dropped"} {
		for _, fix := range []string{"rerun", "repair"} {
			t.Run(step+"/"+fix, func(t *testing.T) {
				t.Parallel()
				db := newDB(t, 1)
				ctx := context.Background()
				tn := mustCreate(t, db.Client, "acme")
				if _, err := db.Client.DomainAdd(ctx, "acme", "acme.example.com", nil); err != nil {
					t.Fatal(err)
				}
				addNotes(t, db.Client, tn, "n1")
				crashAt(db, step)
				if err := db.Client.TenantDelete(ctx, "acme", &tenancy.TenantDeleteOpts{Hard: true}); err == nil {
					t.Fatalf("TenantDelete = %v, want the simulated crash", err)
				}
				st := readPlacement(t, db, "acme", tn.Placement.Schema)
				if st.status != "deleting" || !st.schemaFound {
					t.Fatalf("after the crash: %+v; want deleting with the schema still there", st)
				}
				half, err := db.Client.TenantGet(ctx, "acme")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Client.Exec(tenancy.WithTenant(ctx, half), `SELECT 1`); !errors.Is(err, tenancy.ErrTenantNotActive) {
					t.Fatalf("binding a deleting tenant: %v, want ErrTenantNotActive", err)
				}
				switch fix {
				case "rerun":
					if err := db.Client.TenantDelete(ctx, "acme", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
						t.Fatalf("second delete: %v", err)
					}
				case "repair":
					res, err := db.Client.Repair(ctx)
					if err != nil || !slices.Equal(res.Deleted, []string{"acme"}) || len(res.Failed) != 0 {
						t.Fatalf("Repair = %+v, %v; want acme deleted", res, err)
					}
				}
				st = readPlacement(t, db, "acme", tn.Placement.Schema)
				if st.status != "" || st.schemaFound || st.placements != 0 || st.ledgerRows != 0 {
					t.Fatalf("after the repair: %+v; want no tenant, schema, placement or ledger rows", st)
				}
				if _, err := db.Client.TenantGetByDomain(ctx, "acme.example.com"); !errors.Is(err, tenancy.ErrTenantNotFound) {
					t.Fatalf("domain of a deleted tenant: %v, want ErrTenantNotFound", err)
				}
				// The slug is free again, for a brand-new tenant with a new schema.
				again := mustCreate(t, db.Client, "acme")
				if again.ID == tn.ID || again.Placement.Schema == tn.Placement.Schema {
					t.Fatalf("re-created tenant reuses id %d / schema %s", again.ID, again.Placement.Schema)
				}
				if got := bodies(t, db.Client, again); len(got) != 0 {
					t.Fatalf("re-created tenant sees %q, want nothing", got)
				}
			})
		}
	}
}

// TestForeignSchemaNeverTakenOver: a schema made by hand under the name the catalog picks for a
// tenant is never taken over: the tenant gets a schema of a fresh name, and the hand-made one is
// left as it was, by hard delete too; and hard delete refuses a tenant schema whose ownership
// mark is gone.
func TestForeignSchemaNeverTakenOver(t *testing.T) {
	t.Parallel()
	t.Run("squatted", func(t *testing.T) {
		t.Parallel()
		db := newDB(t, 1)
		ctx := context.Background()
		// Between the catalog row and the schema, someone creates the schema by hand.
		var squatted string
		tenancy.SetTestHook(db.Client, func(ctx context.Context, step string, _ pgx.Tx) error {
			if step != "created" {
				return nil
			}
			squatted = schemaOf(t, db, "acme")
			schema := pgx.Identifier{squatted}.Sanitize()
			_, err := db.OwnerPool.Exec(ctx, `CREATE SCHEMA `+schema+`; CREATE TABLE `+schema+`.precious (v text); INSERT INTO `+schema+`.precious VALUES ('keep me')`)
			return err
		})
		tn, err := db.Client.TenantCreate(ctx, "acme", nil)
		if err != nil || tn.Placement.Schema == squatted {
			t.Fatalf("TenantCreate over a hand-made schema: %+v, %v; want a schema of another name", tn, err)
		}
		tenancy.SetTestHook(db.Client, nil)
		precious := func() {
			t.Helper()
			var v string
			if err := db.OwnerPool.QueryRow(ctx, `SELECT v FROM `+pgx.Identifier{squatted, "precious"}.Sanitize()).Scan(&v); err != nil || v != "keep me" {
				t.Fatalf("the hand-made schema was touched: %q, %v", v, err)
			}
			if st := readPlacement(t, db, "acme-gone", squatted); st.comment != "" || st.ledgerRows != 0 || st.placements != 0 {
				t.Fatalf("the hand-made schema was claimed: %+v", st)
			}
		}
		precious()
		assertActive(t, db, "acme")
		if err := db.Client.TenantDelete(ctx, "acme", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
			t.Fatalf("hard delete: %v", err)
		}
		precious()
	})
	t.Run("mark-removed", func(t *testing.T) {
		t.Parallel()
		db := newDB(t, 1)
		ctx := context.Background()
		tn := mustCreate(t, db.Client, "acme")
		addNotes(t, db.Client, tn, "n1")
		if _, err := db.OwnerPool.Exec(ctx, `COMMENT ON SCHEMA `+pgx.Identifier{tn.Placement.Schema}.Sanitize()+` IS 'mine now'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Client.TenantDelete(ctx, "acme", &tenancy.TenantDeleteOpts{Hard: true}); !errors.Is(err, tenancy.ErrNotOwned) {
			t.Fatalf("hard delete: %v, want ErrNotOwned", err)
		}
		if st := readPlacement(t, db, "acme", tn.Placement.Schema); !st.schemaFound || ownerCount(t, db, tn.Placement.Schema, tn.ID) != 1 {
			t.Fatalf("the schema or its rows were dropped: %+v", st)
		}
	})
}
