package tenancy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestSharedSchemaReserved: the application role gets write access to the shared schema, so a
// schema tenancy owns or generates, or one of PostgreSQL's, is refused as Config.SharedSchema
// (as "tenancy" it would let the application role rewrite the catalog).
func TestSharedSchemaReserved(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations,
		TenantMigrations: tenantMigrations,
		SharedSchema:     "app_shared",
	})
	for _, name := range []string{"tenancy", "tenancy_shape", "tenancy_x", "pool_default", "pool_x", "tenant_1", "tenant_x", "pg_catalog", "pg_temp", "pg_x", "information_schema"} {
		_, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, SharedSchema: name})
		if err == nil || !strings.Contains(err.Error(), "Config.SharedSchema") || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("SharedSchema %q: err %v, want a refusal naming Config.SharedSchema", name, err)
		}
	}

	// A schema of the application's own is accepted, and the application role can write there
	// but not in the catalog.
	ctx := context.Background()
	if err := db.Client.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppPool.Exec(ctx, `INSERT INTO app_shared.users (email) VALUES ('a@example.com')`); err != nil {
		t.Fatalf("write the shared schema as the application role: %v", err)
	}
	if _, err := db.AppPool.Exec(ctx, `UPDATE tenancy.tenants SET name = 'x'`); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("UPDATE tenancy.tenants as the application role: %v, want permission denied", err)
	}
}
