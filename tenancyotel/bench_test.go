package tenancyotel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyotel"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// BenchmarkObserverCost prices observing bound calls: Client.QueryRow and Client.Tx with no
// Observer, with one that does nothing, and with tenancyotel (the SDK's tracer provider sampling
// every span, without an exporter, and a meter provider with a manual reader). The variants
// run interleaved in blocks of 100 operations on one connection and one goroutine (20 schema-tier
// tenants, a primary-key lookup), so that a loaded machine disturbs them alike. The statements
// are the same in every variant, so the cost is the client's: reported as client CPU per
// operation (getrusage), beside wall time.
//
//	go test -run '^$' -bench BenchmarkObserverCost -benchtime 20000x -count 3 .
func BenchmarkObserverCost(b *testing.B) {
	const tenants, block = 20, 100
	ctx := context.Background()
	db := tenancytest.New(b, &tenancytest.Options{
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, AppMaxConns: 1,
	})
	otelObs, err := tenancyotel.New(&tenancyotel.Config{
		TracerProvider: sdktrace.NewTracerProvider(),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
	})
	if err != nil {
		b.Fatal(err)
	}
	client := func(o tenancy.Observer) *tenancy.Client {
		c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool,
			SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, Observer: o})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	var ctxs []context.Context
	for i := range tenants {
		t, err := db.Client.TenantCreate(ctx, fmt.Sprintf("obs-%02d", i), nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx := tenancy.WithTenant(ctx, t)
		if _, err := db.Client.Exec(ctx, `INSERT INTO notes (body) VALUES ('one'), ('two'), ('three')`); err != nil {
			b.Fatal(err)
		}
		ctxs = append(ctxs, ctx)
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
	none, nop, withOtel := client(nil), client(nopObserver{}), client(otelObs)
	variants := []struct {
		name string
		op   func(ctx context.Context, id int64) error
	}{
		{"queryrow", queryRow(none)}, {"queryrow-nop", queryRow(nop)}, {"queryrow-otel", queryRow(withOtel)},
		{"tx", tx(none)}, {"tx-nop", tx(nop)}, {"tx-otel", tx(withOtel)},
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
			c0, w0 := clientCPU(), time.Now()
			for range n {
				if err := v.op(ctxs[r.IntN(tenants)], 1+r.Int64N(3)); err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
			}
			wall[i] += time.Since(w0)
			cpu[i] += clientCPU() - c0
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

// nopObserver is an Observer that does nothing: the cost of the hook itself.
type nopObserver struct{}

func (nopObserver) BoundStart(ctx context.Context, _ tenancy.BoundWork) context.Context { return ctx }
func (nopObserver) BoundEnd(context.Context, tenancy.BoundWork, error)                  {}
func (nopObserver) OperationStart(ctx context.Context, _ tenancy.Operation) context.Context {
	return ctx
}
func (nopObserver) OperationEnd(context.Context, tenancy.Operation, error) {}

// clientCPU is the CPU time this process has used, user and system.
func clientCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
