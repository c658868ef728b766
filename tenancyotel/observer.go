package tenancyotel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenancy-go/tenancy"
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/tenancy-go/tenancy/tenancyotel"

// Defaults of Config.
const (
	TopTenantsDefault = 50
	TopWindowDefault  = time.Minute
)

// The attributes of spans and metrics.
const (
	AttrTenantID  = attribute.Key("tenancy.tenant.id")   // spans: the tenant's id
	AttrSlug      = attribute.Key("tenancy.tenant.slug") // spans: the tenant's slug
	AttrTier      = attribute.Key("tenancy.tier")        // the tenant's tier (a move's target tier)
	AttrFromTier  = attribute.Key("tenancy.from_tier")   // spans of a move: the tier it left
	AttrCall      = attribute.Key("tenancy.call")        // exec, query, query_row, tx
	AttrOperation = attribute.Key("tenancy.operation")   // migrate, backup, restore, move
	AttrRows      = attribute.Key("tenancy.rows")        // spans of operations: tenancy.Operation.Rows
	// AttrTenant is the metrics' tenant label: the slug of a top tenant, or OtherTenants.
	AttrTenant = attribute.Key("tenancy.tenant")
	// AttrError is true on the metrics of calls and operations that failed.
	AttrError = attribute.Key("error")
)

// Config configures an Observer. The zero value (or nil) uses the global providers.
type Config struct {
	// TracerProvider and MeterProvider; otel.GetTracerProvider() and otel.GetMeterProvider()
	// if nil.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider

	// TopTenants is how many tenants get a metric label of their own (TopTenantsDefault if 0;
	// negative: none, every tenant is counted under OtherTenants). TopWindow is how often they
	// are chosen again (TopWindowDefault if 0). A tenant that leaves the top keeps the series
	// it had, which stop growing: with cumulative temporality the label values ever exported
	// grow only as fast as the top changes. The SDK's cardinality limit is a further backstop.
	TopTenants int
	TopWindow  time.Duration

	// OmitQueryText leaves the statement out of the spans (db.query.text). tenancy's calls
	// take their values as parameters, so the text holds no values unless the application
	// writes them into it.
	OmitQueryText bool
}

// Observer is a tenancy.Observer that reports to OpenTelemetry. It is safe for concurrent use.
type Observer struct {
	tracer    trace.Tracer
	top       *topTenants
	queryText bool

	calls, errs, rows  metric.Int64Counter
	duration, poolWait metric.Float64Histogram
	opDuration         metric.Float64Histogram
}

var _ tenancy.Observer = (*Observer)(nil)

// Bucket boundaries in seconds: bound calls take from a tenth of a millisecond on, operations
// from milliseconds (a backup) to an hour (a fleet's migration).
var (
	callBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	opBuckets   = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}
)

// New returns an Observer; set it as tenancy.Config.Observer.
func New(cfg *Config) (*Observer, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.TopWindow < 0 {
		return nil, fmt.Errorf("tenancyotel: Config.TopWindow %v is negative", cfg.TopWindow)
	}
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	n := cfg.TopTenants
	if n == 0 {
		n = TopTenantsDefault
	}
	window := cfg.TopWindow
	if window == 0 {
		window = TopWindowDefault
	}
	o := &Observer{
		tracer:    tp.Tracer(ScopeName),
		top:       newTopTenants(n, window, time.Now),
		queryText: !cfg.OmitQueryText,
	}
	m := mp.Meter(ScopeName)
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, e := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	histogram := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, e := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(buckets...))
		err = errors.Join(err, e)
		return h
	}
	o.calls = counter("tenancy.calls", "{call}", "Tenant-bound calls (Exec, Query, QueryRow, Tx).")
	o.errs = counter("tenancy.call.errors", "{call}", "Tenant-bound calls that failed.")
	o.duration = histogram("tenancy.call.duration", "Duration of tenant-bound calls, waiting for a connection included.", callBuckets)
	o.poolWait = histogram("tenancy.call.pool_wait", "Time tenant-bound calls waited for a connection.", callBuckets)
	o.rows = counter("tenancy.archive.rows", "{row}", "Rows backed up, restored and moved.")
	o.opDuration = histogram("tenancy.operation.duration", "Duration of migrations, backups, restores and moves.", opBuckets)
	if err != nil {
		return nil, fmt.Errorf("tenancyotel: %w", err)
	}
	return o, nil
}

// BoundStart starts the call's span.
func (o *Observer) BoundStart(ctx context.Context, w tenancy.BoundWork) context.Context {
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, attribute.String("db.system.name", "postgresql"), AttrCall.String(string(w.Kind)))
	attrs = appendTenant(attrs, w.Tenant)
	if o.queryText && w.SQL != "" {
		attrs = append(attrs, attribute.String("db.query.text", w.SQL))
	}
	kind := trace.SpanKindClient
	if w.Kind == tenancy.BoundTx {
		kind = trace.SpanKindInternal // its statements are pgx's spans
	}
	ctx, _ = o.tracer.Start(ctx, "tenancy."+string(w.Kind), trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	return ctx
}

// BoundEnd ends the call's span and records its metrics.
func (o *Observer) BoundEnd(ctx context.Context, w tenancy.BoundWork, err error) {
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil // QueryRow found nothing: an answer, not a failure
	}
	span := trace.SpanFromContext(ctx)
	endSpan(span, err)
	var id int64
	var slug string
	var tier tenancy.Tier
	if w.Tenant != nil {
		id, slug, tier = w.Tenant.ID, w.Tenant.Slug, w.Tenant.Tier
	}
	set := metric.WithAttributeSet(attribute.NewSet(
		AttrTenant.String(o.top.label(id, slug)), AttrTier.String(string(tier)), AttrCall.String(string(w.Kind)),
	))
	o.calls.Add(ctx, 1, set)
	if err != nil {
		o.errs.Add(ctx, 1, set)
	}
	o.duration.Record(ctx, w.Duration.Seconds(), set)
	o.poolWait.Record(ctx, w.PoolWait.Seconds(), set)
}

// OperationStart starts the operation's span.
func (o *Observer) OperationStart(ctx context.Context, op tenancy.Operation) context.Context {
	ctx, _ = o.tracer.Start(ctx, "tenancy."+string(op.Kind), trace.WithAttributes(opAttrs(op)...))
	return ctx
}

// OperationEnd ends the operation's span, with what the operation learnt, and records its metrics.
func (o *Observer) OperationEnd(ctx context.Context, op tenancy.Operation, err error) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(append(opAttrs(op), AttrRows.Int64(op.Rows))...)
	endSpan(span, err)
	label := OtherTenants
	if op.TenantID != 0 {
		label = o.top.label(op.TenantID, op.Tenant)
	}
	attrs := []attribute.KeyValue{AttrOperation.String(string(op.Kind))}
	if op.Kind != tenancy.OpMigrate { // a run over the fleet
		attrs = append(attrs, AttrTier.String(string(op.Tier)), AttrTenant.String(label))
	}
	if op.Rows > 0 && op.Kind != tenancy.OpMigrate {
		o.rows.Add(ctx, op.Rows, metric.WithAttributes(attrs...))
	}
	o.opDuration.Record(ctx, op.Duration.Seconds(), metric.WithAttributes(append(attrs, AttrError.Bool(err != nil))...))
}

func appendTenant(attrs []attribute.KeyValue, t *tenancy.Tenant) []attribute.KeyValue {
	if t == nil {
		return attrs
	}
	return append(attrs, AttrTenantID.Int64(t.ID), AttrSlug.String(t.Slug), AttrTier.String(string(t.Tier)))
}

func opAttrs(op tenancy.Operation) []attribute.KeyValue {
	attrs := []attribute.KeyValue{AttrOperation.String(string(op.Kind))}
	if op.Tenant != "" {
		attrs = append(attrs, AttrSlug.String(op.Tenant))
	}
	if op.TenantID != 0 {
		attrs = append(attrs, AttrTenantID.Int64(op.TenantID))
	}
	if op.Tier != "" {
		attrs = append(attrs, AttrTier.String(string(op.Tier)))
	}
	if op.FromTier != "" {
		attrs = append(attrs, AttrFromTier.String(string(op.FromTier)))
	}
	return attrs
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
