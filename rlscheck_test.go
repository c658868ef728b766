package tenancy_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tenancy-go/tenancy"
)

// TestRLSConventionChecked: Init refuses tenant migrations that create a table without a
// tenant_id column, enabled and forced RLS or a policy, names the table and what it lacks, and
// changes nothing.
func TestRLSConventionChecked(t *testing.T) {
	t.Parallel()
	notes, err := fs.ReadFile(tenantMigrations, "0001_notes.up.sql")
	if err != nil {
		t.Fatal(err)
	}
	const good = `
		CREATE TABLE widgets (tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(), id bigint, PRIMARY KEY (tenant_id, id));
		ALTER TABLE widgets ENABLE ROW LEVEL SECURITY;
		ALTER TABLE widgets FORCE ROW LEVEL SECURITY;
		CREATE POLICY tenant_isolation ON widgets USING (tenant_id = tenancy.current_tenant_id());`
	for _, tc := range []struct {
		name, sql, lacks string
	}{
		{"no-tenant-id", `
			CREATE TABLE widgets (id bigint PRIMARY KEY);
			ALTER TABLE widgets ENABLE ROW LEVEL SECURITY;
			ALTER TABLE widgets FORCE ROW LEVEL SECURITY;
			CREATE POLICY p ON widgets USING (true);`, "a tenant_id column"},
		{"no-rls", `CREATE TABLE widgets (tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id(), id bigint, PRIMARY KEY (tenant_id, id));`, "ENABLE ROW LEVEL SECURITY"},
		{"not-forced", strings.Replace(good, "ALTER TABLE widgets FORCE ROW LEVEL SECURITY;", "", 1), "FORCE ROW LEVEL SECURITY"},
		{"no-policy", strings.Replace(good, "CREATE POLICY tenant_isolation ON widgets USING (tenant_id = tenancy.current_tenant_id());", "", 1), "a policy"},
		{"rls-disabled-later", good + `ALTER TABLE widgets DISABLE ROW LEVEL SECURITY;`, "ENABLE ROW LEVEL SECURITY"},
		// Archives, restore and the owner-side statements compare tenant_id with the catalog's bigint id.
		{"text-tenant-id", strings.ReplaceAll(strings.Replace(good, "tenant_id bigint NOT NULL DEFAULT tenancy.current_tenant_id()",
			"tenant_id text NOT NULL DEFAULT current_setting('tenancy.tenant_id')", 1), "tenancy.current_tenant_id())", "current_setting('tenancy.tenant_id'))"), "a bigint tenant_id (it is text)"},
		{"integer-tenant-id", strings.Replace(good, "tenant_id bigint", "tenant_id integer", 1), "a bigint tenant_id (it is integer)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, 1)
			c, err := tenancy.New(&tenancy.Config{
				AppPool:          db.AppPool,
				OwnerPool:        db.OwnerPool,
				SharedMigrations: sharedMigrations,
				TenantMigrations: fstest.MapFS{
					"0001_notes.up.sql":   {Data: notes},
					"0002_widgets.up.sql": {Data: []byte(tc.sql)},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Init(context.Background())
			if err == nil || !strings.Contains(err.Error(), "widgets lacks") || !strings.Contains(err.Error(), tc.lacks) {
				t.Fatalf("Init = %v; want an error naming widgets and %q", err, tc.lacks)
			}
			// Init is one transaction: nothing of the bad migration stayed.
			var n int
			if err := db.OwnerPool.QueryRow(context.Background(), `
				SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'tenancy_shape' AND c.relname = 'widgets'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("widgets left in the shape schema (%d, %v)", n, err)
			}
			if err := db.OwnerPool.QueryRow(context.Background(), `
				SELECT version FROM tenancy.placements WHERE kind = 'shape'`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("shape schema at version %d (%v), want 1", n, err)
			}
		})
	}
	t.Run("conforming", func(t *testing.T) {
		t.Parallel()
		db := newDB(t, 1)
		c, err := tenancy.New(&tenancy.Config{
			AppPool:          db.AppPool,
			OwnerPool:        db.OwnerPool,
			SharedMigrations: sharedMigrations,
			TenantMigrations: fstest.MapFS{
				"0001_notes.up.sql":   {Data: notes},
				"0002_widgets.up.sql": {Data: []byte(good)},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Init(context.Background()); err != nil {
			t.Fatalf("Init with conforming tables: %v", err)
		}
	})
}
