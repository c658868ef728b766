package tenancyotel_test

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyotel"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// The library's test application: notes, a tenant table.
var (
	sharedMigrations = os.DirFS("../testdata/migrations/shared")
	tenantMigrations = os.DirFS("../testdata/migrations/tenant")
)

// telemetry is an in-memory OpenTelemetry SDK and an Observer reporting to it.
type telemetry struct {
	spans    *tracetest.InMemoryExporter
	tp       *sdktrace.TracerProvider
	reader   *sdkmetric.ManualReader
	observer *tenancyotel.Observer
}

func newTelemetry(cfg tenancyotel.Config) *telemetry {
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	cfg.TracerProvider = tel.tp
	cfg.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	var err error
	if tel.observer, err = tenancyotel.New(&cfg); err != nil {
		panic(err)
	}
	return tel
}

// options are tenancytest's, with a telemetry per database, kept in tels by application pool.
func options(cfg tenancyotel.Config, tels *sync.Map) *tenancytest.Options {
	return &tenancytest.Options{
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, AppMaxConns: 2,
		ClientConfig: func(c *tenancy.Config) {
			tel := newTelemetry(cfg)
			tels.Store(c.AppPool, tel)
			c.Observer = tel.observer
		},
	}
}

func telemetryOf(tels *sync.Map, pool *pgxpool.Pool) *telemetry {
	v, _ := tels.Load(pool)
	return v.(*telemetry)
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

func (tel *telemetry) spansNamed(prefix string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range tel.spans.GetSpans() {
		if len(s.Name) >= len(prefix) && s.Name[:len(prefix)] == prefix {
			out = append(out, s)
		}
	}
	return out
}

// points returns metric name's data points: their attribute sets and values (a histogram's count).
func (tel *telemetry) points(t *testing.T, name string) map[attribute.Set]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[attribute.Set]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[p.Attributes] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[p.Attributes] += int64(p.Count)
				}
			default:
				t.Fatalf("metric %s: unexpected %T", name, m.Data)
			}
		}
	}
	return out
}

// TestSpansAndMetricsInEveryTier: in every tier, each one-shot call (Exec, Query, QueryRow) and
// each transaction makes a span carrying the tenant's id, slug and tier, a failed call's span
// says so, a backup makes a span with its rows; the metrics count the calls, errors, durations,
// connection waits and archive rows under the tenant's label.
func TestSpansAndMetricsInEveryTier(t *testing.T) {
	var tels sync.Map
	tenancytest.EachTier(t, options(tenancyotel.Config{}, &tels), func(t *testing.T, d *tenancytest.TierDB) {
		tel := telemetryOf(&tels, d.AppPool)
		ctx := d.Context(context.Background())
		c := d.Client

		if _, err := c.Exec(ctx, `INSERT INTO notes (body) VALUES ('a')`); err != nil {
			t.Fatal(err)
		}
		rows, err := c.Query(ctx, `SELECT body FROM notes`)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('b')`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, `SELECT no_such_column FROM notes`); err == nil {
			t.Fatal("a bad statement succeeded")
		}
		var archive bytes.Buffer
		if _, err := c.Backup(ctx, d.Tenant.Slug, &archive, nil); err != nil {
			t.Fatal(err)
		}

		spans := tel.spansNamed("tenancy.")
		want := []string{"tenancy.exec", "tenancy.query", "tenancy.query_row", "tenancy.tx", "tenancy.exec", "tenancy.backup"}
		if len(spans) != len(want) {
			t.Fatalf("%d spans, want %d: %v", len(spans), len(want), spans)
		}
		for i, s := range spans {
			a := attrs(s)
			if s.Name != want[i] || a[tenancyotel.AttrTenantID].AsInt64() != d.Tenant.ID ||
				a[tenancyotel.AttrSlug].AsString() != d.Tenant.Slug || a[tenancyotel.AttrTier].AsString() != string(d.Tier) {
				t.Errorf("span %d: %s %v, want %s for tenant %d (%s) in the %s tier", i, s.Name, s.Attributes, want[i], d.Tenant.ID, d.Tenant.Slug, d.Tier)
			}
			if failed := s.Status.Code == codes.Error; failed != (i == 4) {
				t.Errorf("span %d (%s): status %v", i, s.Name, s.Status)
			}
		}
		if rows := attrs(spans[5])[tenancyotel.AttrRows].AsInt64(); rows != 2 {
			t.Errorf("the backup span says %d rows, want 2", rows)
		}

		tenant := func(call string) attribute.Set {
			return attribute.NewSet(tenancyotel.AttrTenant.String(d.Tenant.Slug), tenancyotel.AttrTier.String(string(d.Tier)), tenancyotel.AttrCall.String(call))
		}
		calls := tel.points(t, "tenancy.calls")
		for call, n := range map[string]int64{"exec": 2, "query": 1, "query_row": 1, "tx": 1} {
			if calls[tenant(call)] != n {
				t.Errorf("tenancy.calls %s: %d, want %d (%v)", call, calls[tenant(call)], n, calls)
			}
		}
		if errs := tel.points(t, "tenancy.call.errors"); errs[tenant("exec")] != 1 || len(errs) != 1 {
			t.Errorf("tenancy.call.errors: %v, want 1 exec", errs)
		}
		for _, h := range []string{"tenancy.call.duration", "tenancy.call.pool_wait"} {
			if p := tel.points(t, h); p[tenant("exec")] != 2 || p[tenant("tx")] != 1 {
				t.Errorf("%s: %v, want 2 exec and 1 tx", h, p)
			}
		}
		rowsSet := attribute.NewSet(tenancyotel.AttrOperation.String("backup"), tenancyotel.AttrTier.String(string(d.Tier)), tenancyotel.AttrTenant.String(d.Tenant.Slug))
		if p := tel.points(t, "tenancy.archive.rows"); p[rowsSet] != 2 {
			t.Errorf("tenancy.archive.rows: %v, want 2 for the backup", p)
		}
		opSet := attribute.NewSet(tenancyotel.AttrOperation.String("backup"), tenancyotel.AttrTier.String(string(d.Tier)),
			tenancyotel.AttrTenant.String(d.Tenant.Slug), tenancyotel.AttrError.Bool(false))
		if p := tel.points(t, "tenancy.operation.duration"); p[opSet] != 1 {
			t.Errorf("tenancy.operation.duration: %v, want one backup", p)
		}
	})
}

// spanTracer is a pgx tracer that makes a span of each batch, as an OpenTelemetry pgx tracer
// does, naming the database it ran in.
type spanTracer struct{ tracer trace.Tracer }

func (s spanTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (s spanTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s spanTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	ctx, _ = s.tracer.Start(ctx, "pgx.batch", trace.WithAttributes(attribute.String("db.namespace", conn.Config().Database)))
	return ctx
}
func (s spanTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s spanTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	trace.SpanFromContext(ctx).End()
}

// TestOtherServerKeepsPgxTracer: a database-tier tenant on a server added with ServerAdd is
// reached through a pool tenancy opens from the server's URL; that pool keeps the application
// pool's pgx tracer, whose spans nest under tenancy's.
func TestOtherServerKeepsPgxTracer(t *testing.T) {
	t.Parallel()
	tel := newTelemetry(tenancyotel.Config{})
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, AppMaxConns: 2,
		AppPoolConfig: func(c *pgxpool.Config) { c.ConnConfig.Tracer = spanTracer{tel.tp.Tracer("pgx")} },
		ClientConfig:  func(c *tenancy.Config) { c.Observer = tel.observer },
	})
	ctx := context.Background()
	ownerURL, appURL := db.SecondServer(t)
	if _, err := db.Client.ServerAdd(ctx, "second", ownerURL, appURL); err != nil {
		t.Fatal(err)
	}
	tn, err := db.Client.TenantCreate(ctx, "far", &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase, Server: "second"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Client.Exec(tenancy.WithTenant(ctx, tn), `INSERT INTO notes (body) VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	execs := tel.spansNamed("tenancy.exec")
	if len(execs) != 1 {
		t.Fatalf("%d tenancy.exec spans, want 1", len(execs))
	}
	var nested bool
	for _, s := range tel.spansNamed("pgx.batch") {
		if s.Parent.SpanID() == execs[0].SpanContext.SpanID() && attrs(s)["db.namespace"].AsString() == tn.Placement.Database {
			nested = true
		}
	}
	if !nested {
		t.Fatalf("no pgx span in %s under tenancy.exec: the pool of the other server lost the application pool's tracer", tn.Placement.Database)
	}
}

// TestTopTenantsCapMetricLabels: with TopTenants 2, six busy tenants give the metrics at most
// three tenant label values (two slugs and OtherTenants), and no call is lost from the counts.
func TestTopTenantsCapMetricLabels(t *testing.T) {
	t.Parallel()
	var tels sync.Map
	db := tenancytest.New(t, options(tenancyotel.Config{TopTenants: 2}, &tels))
	tel := telemetryOf(&tels, db.AppPool)
	ctx := context.Background()
	var total int64
	for i := range 6 {
		tn, err := db.Client.TenantCreate(ctx, "t"+string(rune('a'+i)), &tenancy.TenantCreateOpts{Tier: tenancy.TierPool})
		if err != nil {
			t.Fatal(err)
		}
		for range i + 1 {
			var n int
			if err := db.Client.QueryRow(tenancy.WithTenant(ctx, tn), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			total++
		}
	}
	labels := map[string]int64{}
	for set, n := range tel.points(t, "tenancy.calls") {
		v, _ := set.Value(tenancyotel.AttrTenant)
		labels[v.AsString()] += n
	}
	var sum int64
	for _, n := range labels {
		sum += n
	}
	if len(labels) != 3 || labels[tenancyotel.OtherTenants] == 0 || sum != total {
		t.Fatalf("tenant labels %v (%d calls), want two tenants and %s, %d calls", labels, sum, tenancyotel.OtherTenants, total)
	}
}
