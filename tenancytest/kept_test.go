package tenancytest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestOpenKeptOutlivesClose: OpenKept makes the named database the first time, its close function
// leaves it in place, and a second OpenKept opens it with what the first put there.
func TestOpenKeptOutlivesClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	name := fmt.Sprintf("kept_test_%d", os.Getpid())
	opts := &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations}
	super := tenancytest.Cluster(t).SuperPool()
	t.Cleanup(func() { _, _ = super.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	for i, want := range []string{"", "kept"} {
		db, closeDB, err := tenancytest.OpenKept(ctx, name, opts)
		if err != nil {
			t.Fatal(err)
		}
		var slug string
		err = db.OwnerPool.QueryRow(ctx, `SELECT coalesce(max(slug), '') FROM tenancy.tenants`).Scan(&slug)
		if err == nil && i == 0 {
			_, err = db.Client.TenantCreate(ctx, "kept", nil)
		}
		closeDB()
		if err != nil {
			t.Fatal(err)
		}
		if db.Name != name || slug != want {
			t.Errorf("open %d: database %s with tenant %q; want %s with %q", i+1, db.Name, slug, name, want)
		}
	}
}
