package fleet

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The tenant migrations of the root package's tests: one table, notes.
var migrations = os.DirFS("../../../testdata/migrations/tenant")

func spec(t *testing.T, n int) Spec {
	up, err := fs.ReadFile(migrations, "0001_notes.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	return Spec{
		Tenants: n,
		Names:   func(i int, id int64) (string, string) { return fmt.Sprintf("gen-%d", i), fmt.Sprintf("Gen %d", id) },
		Version: 1,
		SQL: func(id int64) string {
			return string(up) + fmt.Sprintf(`GRANT USAGE ON SCHEMA tenant_%[1]d TO %[2]s;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_%[1]d.notes TO %[2]s;
GRANT USAGE, SELECT ON SEQUENCE tenant_%[1]d.notes_id_seq TO %[2]s;
`, id, pgx.Identifier{tenancytest.AppRole}.Sanitize())
		},
	}
}

// TestGenerate: a generated fleet (two chunks) beside a tenant made by TenantCreate is one
// tenancy takes as its own: Check finds nothing wrong, every schema carries the mark tenancy
// wrote before marks named the catalog, the slugs and names are the Spec's, ids follow the
// existing tenant's and the next TenantCreate gets the id after the fleet's. Resume remakes the
// schemas that are missing.
func TestGenerate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, &tenancytest.Options{TenantMigrations: migrations})
	first, err := db.Client.TenantCreate(ctx, "first", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Generate(ctx, db.OwnerPool, spec(t, 150)); err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]int64{0: first.ID + 1, 149: first.ID + 150} {
		tn, err := db.Client.TenantGet(ctx, fmt.Sprintf("gen-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if tn.ID != want || tn.Name != fmt.Sprintf("Gen %d", want) || tn.Tier != tenancy.TierSchema || tn.Status != tenancy.StatusActive || tn.Placement.Schema != fmt.Sprintf("tenant_%d", want) {
			t.Errorf("gen-%d: %+v, want id %d", i, tn, want)
		}
	}
	var bad int
	if err := db.OwnerPool.QueryRow(ctx, `
		SELECT count(*) FROM tenancy.tenants t JOIN tenancy.placements p ON p.id = t.placement_id
		JOIN pg_namespace n ON n.nspname = p.schema
		WHERE t.id > $1 AND (obj_description(n.oid, 'pg_namespace') IS DISTINCT FROM 'tenancy:tenant:' || t.id OR p.uid IS NOT NULL OR p.version <> 1
		   OR (SELECT count(*) FROM tenancy.migrations m WHERE m.placement_id = p.id AND m.version = 1 AND m.name = 'notes') <> 1)`, first.ID).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d generated tenants lack their schema, mark or ledger row", bad)
	}
	check := func(when string) {
		t.Helper()
		res, err := db.Client.Check(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() || res.Tenants != 151 {
			t.Errorf("%s: check of %d tenants found %d problems: %.3v", when, res.Tenants, len(res.Problems), res.Problems)
		}
	}
	check("after Generate")
	next, err := db.Client.TenantCreate(ctx, "next", nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID != first.ID+151 {
		t.Errorf("next tenant id %d, want %d", next.ID, first.ID+151)
	}
	if err := db.Client.TenantDelete(ctx, "next", &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
		t.Fatal(err)
	}

	for _, id := range []int64{first.ID + 3, first.ID + 120} {
		if _, err := db.OwnerPool.Exec(ctx, fmt.Sprintf(`DROP SCHEMA tenant_%d CASCADE`, id)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Resume(ctx, db.OwnerPool, spec(t, 0))
	if err != nil || n != 2 {
		t.Fatalf("Resume: %d, %v; want 2", n, err)
	}
	check("after Resume")
}

// TestGenerateWrongVersion: SQL for another version than the tenant migrations' is refused with
// one clear error before anything is written.
func TestGenerateWrongVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, &tenancytest.Options{TenantMigrations: migrations})
	s := spec(t, 3)
	s.Version = 2
	err := Generate(ctx, db.OwnerPool, s)
	if err == nil || !strings.Contains(err.Error(), "the tenant migrations are at version 1; the fleet's SQL knows version 2") {
		t.Fatalf("err %v", err)
	}
	var n int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenancy.tenants) + (SELECT count(*) FROM tenancy.placements WHERE kind = 'schema')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows written", n)
	}
}
