package tenancy_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tenancy-go/tenancy"
)

// orphanDetails returns the details of check's orphan problems.
func orphanDetails(t *testing.T, c *tenancy.Client) []string {
	t.Helper()
	var out []string
	for _, p := range mustCheck(t, c).Problems {
		if p.Problem == tenancy.ProblemOrphan {
			out = append(out, p.Detail)
		}
	}
	return out
}

// TestRestoredCatalogAdoptsNothing: a catalog restored from an older backup hands out tenant
// ids again while the schemas and databases made for the later tenants live on. A new tenant
// with a reused id gets a fresh schema or database, never the earlier tenant's rows; check
// reports the earlier ones as orphans, and hard-deleting the new tenants leaves them be.
func TestRestoredCatalogAdoptsNothing(t *testing.T) {
	t.Parallel()
	db := newDB(t, 2)
	ctx := context.Background()
	oldDB := mustCreateTier(t, db.Client, "old-db", tenancy.TierDatabase)
	oldSchema := mustCreateTier(t, db.Client, "old-schema", tenancy.TierSchema)
	addNotes(t, db.Client, oldDB, "secret of the earlier database tenant")
	addNotes(t, db.Client, oldSchema, "secret of the earlier schema tenant")
	// The catalog as it was before those two existed.
	if _, err := db.OwnerPool.Exec(ctx, `
		DELETE FROM tenancy.tenants; DELETE FROM tenancy.placements WHERE kind IN ('schema', 'database');
		ALTER TABLE tenancy.tenants ALTER COLUMN id RESTART WITH 1`); err != nil {
		t.Fatal(err)
	}
	newDBTenant := mustCreateTier(t, db.Client, "new-db", tenancy.TierDatabase)
	newSchema := mustCreateTier(t, db.Client, "new-schema", tenancy.TierSchema)
	if newDBTenant.ID != oldDB.ID || newSchema.ID != oldSchema.ID {
		t.Fatalf("ids %d, %d were not reused (%d, %d): the test sets up nothing", newDBTenant.ID, newSchema.ID, oldDB.ID, oldSchema.ID)
	}
	if newDBTenant.Placement.Database == oldDB.Placement.Database || newSchema.Placement.Schema == oldSchema.Placement.Schema {
		t.Fatalf("new tenants placed in %s and %s, the earlier tenants' placements", newDBTenant.Placement.Database, newSchema.Placement.Schema)
	}
	for _, tn := range []*tenancy.Tenant{newDBTenant, newSchema} {
		if got := bodies(t, db.Client, tn); len(got) != 0 {
			t.Fatalf("new tenant %s sees %q", tn.Slug, got)
		}
	}
	orphans := orphanDetails(t, db.Client)
	if len(orphans) != 2 || !strings.Contains(strings.Join(orphans, "\n"), oldDB.Placement.Database) {
		t.Fatalf("orphans %q; want the earlier database and schema", orphans)
	}
	for _, slug := range []string{"new-db", "new-schema"} {
		if err := db.Client.TenantDelete(ctx, slug, &tenancy.TenantDeleteOpts{Hard: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n := ownerCount(t, db, oldSchema.Placement.Schema, oldSchema.ID); n != 1 {
		t.Fatalf("the earlier schema tenant's rows: %d, want 1", n)
	}
	var exists bool
	if err := db.OwnerPool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, oldDB.Placement.Database).Scan(&exists); err != nil || !exists {
		t.Fatalf("the earlier tenant's database was dropped (%v)", err)
	}
	// They carry this catalog's identity: DropOrphans removes them (an operator's explicit call).
	res, err := db.Client.DropOrphans(ctx)
	if err != nil || len(res.Dropped) != 2 {
		t.Fatalf("DropOrphans = %+v, %v; want the two dropped", res, err)
	}
	if orphans := orphanDetails(t, db.Client); len(orphans) != 0 {
		t.Fatalf("orphans after DropOrphans: %q", orphans)
	}
}

// TestRecreatedCatalogDatabaseTier: the catalog is dropped and made again in the same database
// with a changed tenant migration (development). Creating a database-tier tenant works (the
// earlier catalog's template is not used), the new tenant with a reused id does not get the
// earlier tenant's database, and the earlier catalog's leftovers are reported and kept.
func TestRecreatedCatalogDatabaseTier(t *testing.T) {
	t.Parallel()
	db := newDB(t, 2)
	ctx := context.Background()
	// Test databases are copies of one harness template, catalog identity included; this one
	// gets its own, so that once it is dropped no other database holds it.
	if _, err := db.OwnerPool.Exec(ctx, `UPDATE tenancy.identity SET id = md5(random()::text)`); err != nil {
		t.Fatal(err)
	}
	first, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.Close)
	old := mustCreateTier(t, first, "old", tenancy.TierDatabase)
	addNotes(t, first, old, "secret of the earlier catalog's tenant")
	if _, err := db.OwnerPool.Exec(ctx, `DROP SCHEMA tenancy, tenancy_shape CASCADE; DROP TABLE public.users`); err != nil {
		t.Fatal(err)
	}
	changed := fstest.MapFS{"0001_notes.up.sql": {Data: append(mustRead(t, "testdata/migrations/tenant/0001_notes.up.sql"),
		[]byte("\nALTER TABLE notes ADD COLUMN extra text;\n")...)}}
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedMigrations: sharedMigrations, TenantMigrations: changed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := c.TenantCreate(ctx, "new", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
	if err != nil {
		t.Fatalf("database-tier create in the recreated catalog: %v", err)
	}
	if tn.ID != old.ID || tn.Placement.Database == old.Placement.Database {
		t.Fatalf("new tenant id %d in %s; the earlier was id %d in %s", tn.ID, tn.Placement.Database, old.ID, old.Placement.Database)
	}
	if got := bodies(t, c, tn); len(got) != 0 {
		t.Fatalf("the new tenant sees %q", got)
	}
	orphans := orphanDetails(t, c)
	joined := strings.Join(orphans, "\n")
	if len(orphans) != 2 || !strings.Contains(joined, old.Placement.Database) || !strings.Contains(joined, "stale template") {
		t.Fatalf("orphans %q; want the earlier tenant database and template", orphans)
	}
	// The earlier catalog is gone, but DropOrphans drops its leftovers only once it has read
	// every database on the server and found it nowhere; the test cluster holds databases the
	// owner cannot read (other tests' templates), so here they must be kept, and listed.
	res, err := c.DropOrphans(ctx)
	if err != nil || len(res.Dropped) != 0 || len(res.Kept) != 2 {
		t.Fatalf("DropOrphans = %+v, %v; want the earlier catalog's two databases kept", res, err)
	}
	var n int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, old.Placement.Database).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the earlier tenant's database: %d (%v), want kept", n, err)
	}
	addNotes(t, c, tn, "mine")
}
