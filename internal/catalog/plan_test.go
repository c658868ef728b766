package catalog_test

import (
	"context"
	"testing"

	"github.com/tenancy-go/tenancy/internal/catalog"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The placement policy's statement, which every create runs, stays below jit_above_cost on a
// catalog of 10,000 tenants, with and without other servers: JIT compiling it cost more than
// the rest of the create (docs/benchmarks.md). Its answer is checked too.
func TestServerFewestTenantsPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := tenancytest.New(t, nil)
	q := db.OwnerPool
	if _, err := q.Exec(ctx, `
		INSERT INTO tenancy.placements (kind, schema) SELECT 'schema', 'tenant_' || i FROM generate_series(1, 10000) i;
		INSERT INTO tenancy.tenants (slug, name, status, tier, placement_id)
		SELECT 'fleet-' || p.id, 'x', 'active', 'schema', p.id FROM tenancy.placements p WHERE p.kind = 'schema';
		ANALYZE tenancy.tenants; ANALYZE tenancy.placements`); err != nil {
		t.Fatal(err)
	}
	check := func(want string) {
		t.Helper()
		var limit, cost float64
		if err := q.QueryRow(ctx, `SELECT current_setting('jit_above_cost')::float8`).Scan(&limit); err != nil {
			t.Fatal(err)
		}
		var plan []map[string]map[string]any
		if err := q.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+catalog.ServerFewestSQL).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		cost = plan[0]["Plan"]["Total Cost"].(float64)
		if cost >= limit {
			t.Errorf("estimated cost %.0f >= jit_above_cost %.0f", cost, limit)
		}
		if got, err := catalog.ServerFewestTenants(ctx, q); err != nil || got != want {
			t.Errorf("ServerFewestTenants = %q, %v; want %q", got, err, want)
		}
	}
	check("")
	if _, err := q.Exec(ctx, `INSERT INTO tenancy.servers (name, url, app_url) VALUES ('other', 'postgres://x/y', 'postgres://x/y')`); err != nil {
		t.Fatal(err)
	}
	check("other")
}
