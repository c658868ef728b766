package tenancytest_test

import (
	"context"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestCitusCluster: NewCitus gives a database on a coordinator with two workers, with the catalog
// installed, and the Client sees a Citus server.
func TestCitusCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.NewCitus(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations}, nil)
	var workers int
	if err := db.OwnerPool.QueryRow(ctx, `SELECT count(*) FROM pg_dist_node WHERE groupid <> 0 AND isactive`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers != 2 {
		t.Fatalf("workers = %d, want 2", workers)
	}
	kind, err := db.Client.ServerKind(ctx, tenancy.ServerDefault)
	if err != nil || kind != tenancy.ServerKindCitus {
		t.Fatalf("ServerKind = %q, %v; want %q", kind, err, tenancy.ServerKindCitus)
	}
}
