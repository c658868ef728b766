package tenancytest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

var (
	sharedMigrations = os.DirFS("../testdata/migrations/shared")
	tenantMigrations = os.DirFS("../testdata/migrations/tenant")
)

// TestOpenCloseDropsEverything: Open's close function closes the Client's placement pools and
// drops the test database and every database its catalog made (<db>_t<id>, <db>_template), as
// New's cleanup does.
func TestOpenCloseDropsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, closeDB, err := tenancytest.Open(ctx, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := db.Client.TenantCreate(ctx, "big", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
	if err != nil {
		closeDB()
		t.Fatal(err)
	}
	// Binding the tenant opens a placement pool to its database.
	if err := db.Client.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error { return nil }); err != nil {
		closeDB()
		t.Fatal(err)
	}
	closeDB()
	super := tenancytest.Cluster(t).SuperPool()
	var left []string
	rows, err := super.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		left = append(left, n)
	}
	if len(left) > 0 {
		t.Errorf("databases left after close: %s", strings.Join(left, ", "))
	}
	err = db.Client.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("binding after close = %v; want the closed placement registry's error", err)
	}
}

// TestOwnRoles: the harness's roles are its own (a shared server's tenancy_owner and
// tenancy_app are not touched), and each Options.Owner is the role it says.
func TestOwnRoles(t *testing.T) {
	t.Parallel()
	for _, o := range tenancytest.Owners {
		t.Run(o.String(), func(t *testing.T) {
			t.Parallel()
			db := tenancytest.New(t, &tenancytest.Options{Owner: o, SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations})
			var who string
			var super, bypass bool
			if err := db.OwnerPool.QueryRow(context.Background(), `SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user`).Scan(&who, &super, &bypass); err != nil {
				t.Fatal(err)
			}
			if who != o.Role() || who != db.OwnerRole || !strings.HasPrefix(who, "tenancytest_") {
				t.Errorf("owner pool connects as %s; want %s", who, o.Role())
			}
			if super != (o == tenancytest.OwnerSuperuser) || (o == tenancytest.OwnerBypassRLS) != (bypass && !super) {
				t.Errorf("%s: rolsuper %v, rolbypassrls %v", who, super, bypass)
			}
			if err := db.AppPool.QueryRow(context.Background(), `SELECT current_user`).Scan(&who); err != nil || who != tenancytest.AppRole || !strings.HasPrefix(who, "tenancytest_") {
				t.Errorf("application pool connects as %s (%v)", who, err)
			}
		})
	}
}
