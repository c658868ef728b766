package archive

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tenancy-go/tenancy"
)

// createReport is what the create step measured: TenantCreate one at a time on the fleet, cold
// (schema, migrations and grants made in the call) and from the warm pool (Config.WarmPlacements,
// refilled between calls, untimed).
type createReport struct {
	N                    int
	ColdP50, ColdP95     time.Duration
	WarmP50, WarmP95     time.Duration
	Restore, WarmRestore time.Duration
}

// create times Creates tenants made cold, then Creates from the warm pool, each hard-deleted
// after so that the fleet stays as it was.
func (b *bench) create(ctx context.Context) error {
	n := b.o.Creates
	if n <= 0 {
		return nil
	}
	r := &b.rep.Create
	r.N = n
	var err error
	if r.ColdP50, r.ColdP95, err = b.timeCreates(ctx, b.client, "cold", n); err != nil {
		return err
	}
	warm, err := b.warmClient()
	if err != nil {
		return err
	}
	defer warm.Close()
	if r.WarmP50, r.WarmP95, err = b.timeCreates(ctx, warm, "warm", n); err != nil {
		return err
	}
	b.o.Log("TenantCreate on %d tenants: cold p50 %s p95 %s; warm p50 %s p95 %s", b.rep.Tenants, r.ColdP50, r.ColdP95, r.WarmP50, r.WarmP95)
	return nil
}

// timeCreates creates n tenants with c one at a time and returns the p50 and p95 latency. With
// a warm pool, the pool is refilled before each create, outside the timing.
func (b *bench) timeCreates(ctx context.Context, c *tenancy.Client, prefix string, n int) (p50, p95 time.Duration, err error) {
	ds := make([]time.Duration, 0, n)
	for i := range n {
		if _, err := c.WarmFill(ctx); err != nil {
			return 0, 0, err
		}
		slug := fmt.Sprintf("%s-%d", prefix, i)
		start := time.Now()
		if _, err := c.TenantCreate(ctx, slug, nil); err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(start))
		if err := b.removeAfter(ctx, slug); err != nil {
			return 0, 0, err
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[(len(ds)-1)*95/100], nil
}

// warmClient is a client of the fleet that keeps one warm placement.
func (b *bench) warmClient() (*tenancy.Client, error) {
	return tenancy.New(&tenancy.Config{AppPool: b.db.AppPool, OwnerPool: b.admin, TenantMigrations: schemaDir("tenant"),
		SharedMigrations: schemaDir("shared"), WarmPlacements: 1})
}

// removeAfter hard-deletes a tenant the run made, so a reused fleet stays the same.
func (b *bench) removeAfter(ctx context.Context, slug string) error {
	return b.client.TenantDelete(ctx, slug, &tenancy.TenantDeleteOpts{Hard: true})
}

func (b *bench) printCreate(w io.Writer) {
	r := &b.rep.Create
	if r.N == 0 {
		return
	}
	fmt.Fprintf(w, "create   TenantCreate cold   p50 %9s  p95 %9s  (%d tenants, one at a time)\n", r.ColdP50.Round(time.Microsecond), r.ColdP95.Round(time.Microsecond), r.N)
	fmt.Fprintf(w, "create   TenantCreate warm   p50 %9s  p95 %9s  (from the warm pool)\n", r.WarmP50.Round(time.Microsecond), r.WarmP95.Round(time.Microsecond))
}
