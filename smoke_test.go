package tenancy_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func TestSmoke(t *testing.T) {
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("testdata/migrations/shared"),
		TenantMigrations: os.DirFS("testdata/migrations/tenant"),
	})
	ctx := context.Background()
	a, err := db.Client.TenantCreate(ctx, "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", a)
	err = db.Client.Tx(tenancy.WithTenant(ctx, a), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('hi')`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Client.QueryRow(tenancy.WithTenant(ctx, a), `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 1 {
		t.Fatal(n, err)
	}
}
