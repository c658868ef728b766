package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// Benchmarks of the three tiers (issue 5), side by side in one run:
//
//	go test -run '^$' -bench 'BenchmarkTier' -benchtime 2s -count 3 .
//	go test -run '^$' -bench BenchmarkPoolRLS -benchtime 2s -count 3 .
//
// The hand-written baselines connect as a role that bypasses RLS (see bench_test.go) and name
// the placement and the tenant explicitly; pools have the same size and concurrency.

const tierBenchTenants = 20 // per tier: 20 databases are plenty for the database tier's pools

// rawPool opens a pool as the RLS-bypassing baseline role on database db (of db's cluster).
func rawPool(b *testing.B, db *tenancytest.DB, database string, conns int32) *pgxpool.Pool {
	b.Helper()
	fleet1000(b) // creates the baseline role
	u, err := url.Parse(db.Server.URL(tenancytest.AppRole, database))
	if err != nil {
		b.Fatal(err)
	}
	u.User = url.UserPassword(benchRole, benchPassword)
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns, cfg.MinConns = conns, conns
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}

func BenchmarkTierRead(b *testing.B) {
	ctx := context.Background()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		db := tenancytest.New(b, &tenancytest.Options{
			SharedMigrations: sharedMigrations,
			TenantMigrations: tenantMigrations,
			AppMaxConns:      benchConns,
		})
		c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, TenantMigrations: tenantMigrations,
			MaxPlacementPools: tierBenchTenants, PlacementPoolConns: 4})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		var ts []*tenancy.Tenant
		var ctxs []context.Context
		hand := map[int]*pgxpool.Pool{}
		var handSQL []string
		for i := range tierBenchTenants {
			tn, err := c.TenantCreate(ctx, fmt.Sprintf("%s-%02d", tier, i), &tenancy.TenantCreateOpts{Tier: tier})
			if err != nil {
				b.Fatal(err)
			}
			tctx := tenancy.WithTenant(ctx, tn)
			if _, err := c.Exec(tctx, `INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, $1::int) g`, benchNotes); err != nil {
				b.Fatal(err)
			}
			ts, ctxs = append(ts, tn), append(ctxs, tctx)
			handSQL = append(handSQL, `SELECT body FROM `+pgx.Identifier{tn.Placement.Schema, "notes"}.Sanitize()+` WHERE tenant_id = $1 AND id = $2`)
			switch {
			case tier == tenancy.TierDatabase:
				hand[i] = rawPool(b, db, tn.Placement.Database, 4)
			case i == 0:
				hand[0] = rawPool(b, db, db.Name, benchConns)
			default:
				hand[i] = hand[0]
			}
		}
		// Each tenant's first note id: 1 in a placement of its own, wherever the pool's shared
		// identity sequence put it in the pool.
		bases := make([]int64, len(ts))
		for i := range ts {
			if err := c.QueryRow(ctxs[i], `SELECT min(id) FROM notes`).Scan(&bases[i]); err != nil {
				b.Fatal(err)
			}
		}
		noReset := tenancy.WithoutSessionReset(c)
		ops := map[string]func(i int, id int64) error{
			"hand": func(i int, id int64) error {
				var body string
				return hand[i].QueryRow(ctx, handSQL[i], ts[i].ID, id).Scan(&body)
			},
			"queryrow": func(i int, id int64) error {
				var body string
				return c.QueryRow(ctxs[i], `SELECT body FROM notes WHERE id = $1`, id).Scan(&body)
			},
			// Without the session reset that ends each use (bind.go, resetSQL): its cost.
			"queryrow-noreset": func(i int, id int64) error {
				var body string
				return noReset.QueryRow(ctxs[i], `SELECT body FROM notes WHERE id = $1`, id).Scan(&body)
			},
		}
		for _, name := range []string{"hand", "queryrow", "queryrow-noreset"} {
			op := ops[name]
			b.Run(fmt.Sprintf("tier=%s/tenants=%d/%s", tier, tierBenchTenants, name), func(b *testing.B) {
				for i := range ts {
					for range 4 {
						if err := op(i, bases[i]); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.SetParallelism(benchParallelism)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
					for pb.Next() {
						i := r.IntN(len(ts))
						if err := op(i, bases[i]+r.Int64N(benchNotes)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkTierCreate reports tenant creation latency per tier (p50, p95).
func BenchmarkTierCreate(b *testing.B) {
	ctx := context.Background()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		b.Run("tier="+string(tier), func(b *testing.B) {
			db := newDB(b, 2)
			if _, err := db.Client.TenantCreate(ctx, "warm-up", &tenancy.TenantCreateOpts{Tier: tier}); err != nil {
				b.Fatal(err)
			}
			d := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if _, err := db.Client.TenantCreate(ctx, fmt.Sprintf("t-%06d", i), &tenancy.TenantCreateOpts{Tier: tier}); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(d[(len(d)-1)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}

// BenchmarkPoolRLS: a pool placement of 10,000 tenants and 1,000,000 rows. The same lookups
// through the binding (the RLS policy supplies tenant_id) and written by hand with an explicit
// WHERE tenant_id = $1 by a role RLS does not apply to.
func BenchmarkPoolRLS(b *testing.B) {
	const tenants, perTenant = 10_000, 100
	ctx := context.Background()
	db := newDB(b, benchConns)
	start := time.Now()
	if err := db.Client.PoolCreate(ctx, tenancy.PoolDefault); err != nil {
		b.Fatal(err)
	}
	// Catalog rows and notes in bulk (as TenantCreate would, minus 10,000 round trips); the notes
	// go in tenant by tenant so that each tenant's ids are contiguous.
	super, err := pgxpool.New(ctx, db.Server.URL("", db.Name))
	if err != nil {
		b.Fatal(err)
	}
	defer super.Close()
	if _, err := super.Exec(ctx, `
		INSERT INTO tenancy.tenants (slug, name, status, tier, placement_id)
		SELECT 'p' || g, 'p' || g, 'active', 'pool', (SELECT id FROM tenancy.placements WHERE schema = 'pool_default')
		FROM generate_series(1, $1::int) g`, tenants); err != nil {
		b.Fatal(err)
	}
	if _, err := super.Exec(ctx, `
		INSERT INTO pool_default.notes (tenant_id, body)
		SELECT t.id, 'note ' || g FROM tenancy.tenants t, generate_series(1, $1::int) g ORDER BY t.id, g`, perTenant); err != nil {
		b.Fatal(err)
	}
	if _, err := super.Exec(ctx, `ANALYZE pool_default.notes`); err != nil {
		b.Fatal(err)
	}
	rows, err := super.Query(ctx, `SELECT tenant_id, min(id) FROM pool_default.notes GROUP BY tenant_id ORDER BY tenant_id`)
	if err != nil {
		b.Fatal(err)
	}
	type tb struct{ id, base int64 }
	bases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tb, error) {
		var x tb
		return x, r.Scan(&x.id, &x.base)
	})
	if err != nil || len(bases) != tenants {
		b.Fatalf("%d tenants with rows, %v", len(bases), err)
	}
	ctxs := make([]context.Context, tenants)
	for i, x := range bases {
		tn, err := db.Client.TenantGetByID(ctx, x.id)
		if err != nil {
			b.Fatal(err)
		}
		ctxs[i] = tenancy.WithTenant(ctx, tn)
	}
	fmt.Fprintf(os.Stderr, "pool setup: %d tenants, %d rows in %v\n", tenants, tenants*perTenant, time.Since(start).Round(time.Millisecond))
	raw := rawPool(b, db, db.Name, benchConns)

	cases := []struct {
		name string
		op   func(i int, id int64) error
	}{
		{"lookup/rls", func(i int, id int64) error {
			var body string
			return db.Client.QueryRow(ctxs[i], `SELECT body FROM notes WHERE id = $1`, id).Scan(&body)
		}},
		{"lookup/bound-explicit", func(i int, id int64) error {
			// The binding (and so the policy) plus the predicate written by hand: the difference
			// from lookup/rls is what the policy costs over the explicit predicate.
			var body string
			return db.Client.QueryRow(ctxs[i], `SELECT body FROM notes WHERE tenant_id = $1 AND id = $2`, bases[i].id, id).Scan(&body)
		}},
		{"lookup/explicit", func(i int, id int64) error {
			var body string
			return raw.QueryRow(ctx, `SELECT body FROM pool_default.notes WHERE tenant_id = $1 AND id = $2`, bases[i].id, id).Scan(&body)
		}},
		{"page/rls", func(i int, _ int64) error {
			rows, err := db.Client.Query(ctxs[i], `SELECT id, body FROM notes ORDER BY id LIMIT 20`)
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
				ID   int64
				Body string
			}])
			return err
		}},
		{"page/explicit", func(i int, _ int64) error {
			rows, err := raw.Query(ctx, `SELECT id, body FROM pool_default.notes WHERE tenant_id = $1 ORDER BY id LIMIT 20`, bases[i].id)
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
				ID   int64
				Body string
			}])
			return err
		}},
	}
	for _, cs := range cases {
		b.Run(cs.name, func(b *testing.B) {
			b.SetParallelism(benchParallelism)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
				for pb.Next() {
					i := r.IntN(tenants)
					if err := cs.op(i, bases[i].base+r.Int64N(perTenant)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
