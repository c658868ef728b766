package tenancyotel_test

import (
	"context"
	"fmt"
	"os"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyotel"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// A client whose tenant-bound calls make spans and per-tenant metrics. An application passes
// its own providers (exporting over OTLP, say); here they keep everything in memory.
func ExampleNew() {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	observer, err := tenancyotel.New(&tenancyotel.Config{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		TopTenants:     100, // tenants with a metric label of their own; the others are "_other"
	})
	if err != nil {
		panic(err)
	}
	db, closeDB, err := tenancytest.Open(ctx, &tenancytest.Options{
		SharedMigrations: os.DirFS("../testdata/migrations/shared"),
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
		// An application sets tenancy.Config{..., Observer: observer} itself.
		ClientConfig: func(cfg *tenancy.Config) { cfg.Observer = observer },
	})
	if err != nil {
		panic(err)
	}
	defer closeDB()

	acme, err := db.Client.TenantCreate(ctx, "acme", &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
	if err != nil {
		panic(err)
	}
	var notes int
	if err := db.Client.QueryRow(tenancy.WithTenant(ctx, acme), `SELECT count(*) FROM notes`).Scan(&notes); err != nil {
		panic(err)
	}

	for _, s := range spans.GetSpans() {
		for _, a := range s.Attributes {
			if a.Key == tenancyotel.AttrSlug || a.Key == tenancyotel.AttrTier {
				fmt.Println(s.Name, a.Key, a.Value.String())
			}
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "tenancy.calls" {
			tenant, _ := sum.DataPoints[0].Attributes.Value(tenancyotel.AttrTenant)
			fmt.Println(m.Name, tenant.String(), sum.DataPoints[0].Value)
		}
	}
	// Output:
	// tenancy.query_row tenancy.tenant.slug acme
	// tenancy.query_row tenancy.tier pool
	// tenancy.calls acme 1
}
