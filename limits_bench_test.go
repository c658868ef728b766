package tenancy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
)

// BenchmarkLimitsCost measures what the noisy-neighbour machinery (limits.go, internal/fair)
// costs a bound read: client CPU and wall time per operation, the variants interleaved in blocks
// of 100 operations on one connection (20 schema-tier tenants, a primary-key lookup, statement
// cache on), so that a loaded machine slows them all alike:
//
//   - "bare": no gate and no usage counts, as before limits.go (WithoutAdmission);
//
//   - "default": nothing configured (the fair-share gate and the usage counts run);
//
//   - "fairoff": Config.FairShareOff (usage counts only);
//
//   - "limits": every tenant with a statement timeout, an idle timeout and a cap far above the load.
//
//     go test -run '^$' -bench BenchmarkLimitsCost -benchtime 20000x -count 3 .
func BenchmarkLimitsCost(b *testing.B) {
	const tenants, block = 20, 100
	ctx := context.Background()
	db := newDB(b, 1)
	client := func(cfg tenancy.Config) *tenancy.Client {
		cfg.AppPool, cfg.OwnerPool, cfg.TenantMigrations = db.AppPool, db.OwnerPool, tenantMigrations
		c, err := tenancy.New(&cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		return c
	}
	def := client(tenancy.Config{})
	var ctxs []context.Context
	for i := range tenants {
		t := mustCreate(b, def, fmt.Sprintf("cost-%02d", i))
		addNotes(b, def, t, "one", "two", "three")
		ctxs = append(ctxs, tenancy.WithTenant(ctx, t))
	}
	const lookup = `SELECT body FROM notes WHERE id = $1`
	queryRow := func(c *tenancy.Client) func(ctx context.Context, id int64) error {
		return func(ctx context.Context, id int64) error {
			var body string
			return c.QueryRow(ctx, lookup, id).Scan(&body)
		}
	}
	tx := func(c *tenancy.Client) func(ctx context.Context, id int64) error {
		return func(ctx context.Context, id int64) error {
			return c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				var body string
				return tx.QueryRow(ctx, lookup, id).Scan(&body)
			})
		}
	}
	bare, off := tenancy.WithoutAdmission(def), client(tenancy.Config{FairShareOff: true})
	limited := client(tenancy.Config{DefaultLimits: tenancy.Limits{StatementTimeout: 10 * time.Second,
		IdleInTransactionTimeout: 10 * time.Second, MaxConcurrent: 1000}})
	variants := []struct {
		name string
		op   func(ctx context.Context, id int64) error
	}{
		{"queryrow-bare", queryRow(bare)}, {"queryrow-default", queryRow(def)}, {"queryrow-fairoff", queryRow(off)}, {"queryrow-limits", queryRow(limited)},
		{"tx-bare", tx(bare)}, {"tx-default", tx(def)}, {"tx-fairoff", tx(off)}, {"tx-limits", tx(limited)},
	}
	for _, v := range variants { // warm the connection's statement cache
		for i := range tenants * 2 {
			if err := v.op(ctxs[i%tenants], 1); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	cpu := make([]time.Duration, len(variants))
	wall := make([]time.Duration, len(variants))
	ops := make([]int, len(variants))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		for i, v := range variants {
			n := min(block, b.N-done)
			if n == 0 {
				break
			}
			c0, w0 := processCPU(), time.Now()
			for range n {
				if err := v.op(ctxs[r.IntN(tenants)], 1+r.Int64N(3)); err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
			}
			wall[i] += time.Since(w0)
			cpu[i] += processCPU() - c0
			ops[i] += n
			done += n
		}
	}
	b.StopTimer()
	for i, v := range variants {
		if ops[i] > 0 {
			b.ReportMetric(float64(cpu[i].Microseconds())/float64(ops[i]), v.name+"-cpu-µs/op")
			b.ReportMetric(float64(wall[i].Microseconds())/float64(ops[i]), v.name+"-wall-µs/op")
		}
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
