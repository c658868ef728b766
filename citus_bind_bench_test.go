package tenancy_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// BenchmarkCitusBind measures what the binding on Citus costs (citusbind.go, docs/citus.md), side
// by side in one run: a bound primary-key read of a schema-tier tenant (rows on the coordinator)
// on a plain server and on the Citus coordinator, there with the Citus binding and with the plain
// one (set_config, which the workers do not see: only valid for rows on the coordinator); and a
// pool-tier tenant's read on a table distributed by tenant_id, naming the tenant (routed to one
// shard) and with RLS alone (every shard), and routed without unbind_citus (what resetting the
// worker connections costs).
//
//	go test -run '^$' -bench BenchmarkCitusBind -benchtime 2s -count 3 .
func BenchmarkCitusBind(b *testing.B) {
	opts := &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations}
	ctx := context.Background()
	plainDB, citusDB := tenancytest.New(b, opts), tenancytest.NewCitus(b, opts, nil)
	reader := func(db *tenancytest.DB, tier tenancy.Tier) (*tenancy.Tenant, int64) {
		tn, err := db.Client.TenantCreate(ctx, "reader-"+string(tier), &tenancy.TenantCreateOpts{Tier: tier})
		if err != nil {
			b.Fatal(err)
		}
		if tier == tenancy.TierPool {
			distribute(b, citusDB, pgx.Identifier{tn.Placement.Schema, "notes"}.Sanitize())
		}
		return tn, addNotes(b, db.Client, tn, "a", "b", "c")[1]
	}
	plainT, plainID := reader(plainDB, tenancy.TierSchema)
	citusT, citusID := reader(citusDB, tenancy.TierSchema)
	poolT, poolID := reader(citusDB, tenancy.TierPool)
	read := func(c *tenancy.Client, tn *tenancy.Tenant, sql string, args ...any) func(b *testing.B) {
		return func(b *testing.B) {
			tctx := tenancy.WithTenant(ctx, tn)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var body string
				if err := c.QueryRow(tctx, sql, args...).Scan(&body); err != nil || body != "b" {
					b.Fatal(body, err)
				}
			}
		}
	}
	const byID = `SELECT body FROM notes WHERE id = $1`
	b.Run("schema/plain", read(plainDB.Client, plainT, byID, plainID))
	b.Run("schema/citus", read(citusDB.Client, citusT, byID, citusID))
	b.Run("schema/citus-setconfig", read(tenancy.WithoutCitusBinding(citusDB.Client), citusT, byID, citusID))
	b.Run("pool-distributed/routed", read(citusDB.Client, poolT, `SELECT body FROM notes WHERE tenant_id = $1 AND id = $2`, poolT.ID, poolID))
	b.Run("pool-distributed/rls-only", read(citusDB.Client, poolT, byID, poolID))
	b.Run("pool-distributed/routed-nounbind", read(tenancy.WithoutCitusUnbind(citusDB.Client), poolT, `SELECT body FROM notes WHERE tenant_id = $1 AND id = $2`, poolT.ID, poolID))
}
