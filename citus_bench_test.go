package tenancy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// BenchmarkCitus compares a Citus coordinator (two workers) with a plain single node, side by
// side: a bound read of a schema-tier tenant, and creating a schema-tier tenant (docs/citus.md).
//
//	go test -run '^$' -bench BenchmarkCitus -benchtime 2s -count 3 .
func BenchmarkCitus(b *testing.B) {
	opts := &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations}
	dbs := []struct {
		name string
		db   *tenancytest.DB
	}{
		{"plain", tenancytest.New(b, opts)},
		{"citus", tenancytest.NewCitus(b, opts, nil)},
	}
	ctx := context.Background()
	for _, d := range dbs {
		tn, err := d.db.Client.TenantCreate(ctx, "reader", &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema})
		if err != nil {
			b.Fatal(err)
		}
		addNotes(b, d.db.Client, tn, "a", "b", "c")
	}
	for _, d := range dbs {
		b.Run("read/"+d.name, func(b *testing.B) {
			tn, err := d.db.Client.TenantGet(ctx, "reader")
			if err != nil {
				b.Fatal(err)
			}
			tctx := tenancy.WithTenant(ctx, tn)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var n int
				if err := d.db.Client.QueryRow(tctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 3 {
					b.Fatal(n, err)
				}
			}
		})
	}
	made := 0
	for _, d := range dbs {
		b.Run("create/"+d.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				made++
				if _, err := d.db.Client.TenantCreate(ctx, fmt.Sprintf("t%d", made), &tenancy.TenantCreateOpts{Tier: tenancy.TierSchema}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
