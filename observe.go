package tenancy

import (
	"context"
	"time"

	"github.com/tenancy-go/tenancy/internal/placement"
)

// Observer is told which tenant each unit of work serves, for traces and metrics
// (docs/opentelemetry.md; package tenancyotel implements it with OpenTelemetry). pgx's tracer
// (ConnConfig.Tracer) sees the statements but not the tenant, and sees a one-shot call as a
// batch (the binding, the statement, the session reset): an Observer sees the call.
//
// Its methods run on the caller's goroutine, so they must be quick and safe for concurrent use.
// The context a Start method returns is the one the work runs under (pgx's tracer sees it, and
// Tx passes it to fn) and the one its End method receives. A nil Config.Observer costs nothing.
type Observer interface {
	// BoundStart is called as a bound call (Exec, Query, QueryRow, Tx, TxFor) begins, before
	// it waits for a connection; BoundEnd when it ends: Query's when its rows are closed.
	BoundStart(ctx context.Context, w BoundWork) context.Context
	BoundEnd(ctx context.Context, w BoundWork, err error)
	// OperationStart and OperationEnd bracket Migrate, Backup, Restore and Move.
	OperationStart(ctx context.Context, op Operation) context.Context
	OperationEnd(ctx context.Context, op Operation, err error)
}

// BoundKind says which call a BoundWork is.
type BoundKind string

// The bound calls.
const (
	BoundExec     BoundKind = "exec"
	BoundQuery    BoundKind = "query"
	BoundQueryRow BoundKind = "query_row"
	BoundTx       BoundKind = "tx"
)

// BoundWork is one bound call, as an Observer sees it.
type BoundWork struct {
	Tenant *Tenant
	Kind   BoundKind
	SQL    string // the statement of a one-shot call; "" for a transaction
	// Known at BoundEnd: the time spent waiting for a connection (and, for a placement
	// outside the catalog's database, for its pool), and the call's whole duration.
	PoolWait time.Duration
	Duration time.Duration
}

// OperationKind says which lifecycle operation an Operation is.
type OperationKind string

// The observed lifecycle operations.
const (
	OpMigrate OperationKind = "migrate"
	OpBackup  OperationKind = "backup"
	OpRestore OperationKind = "restore"
	OpMove    OperationKind = "move"
)

// Operation is one lifecycle operation, as an Observer sees it.
type Operation struct {
	Kind OperationKind
	// Tenant is the slug (empty for Migrate). TenantID and Tier are 0 and "" until known: a
	// Restore learns its tenant's id when it has made it. For Restore and Move, Tier is the
	// target tier; FromTier is the tier a Move leaves.
	Tenant   string
	TenantID int64
	Tier     Tier
	FromTier Tier
	// Known at OperationEnd: the rows written (Backup) or loaded (Restore, Move), or the
	// placements migrated (Migrate); and the duration.
	Rows     int64
	Duration time.Duration
}

// observedCall is one bound call under an Observer; nil without one, and its methods then do
// nothing, so an unobserved call pays a nil check.
type observedCall struct {
	obs   Observer
	ctx   context.Context
	w     BoundWork
	start time.Time
}

// observeBound starts observing a bound call for t (nil: the tenant in ctx, if any).
func (c *Client) observeBound(ctx context.Context, t *Tenant, kind BoundKind, sql string) (context.Context, *observedCall) {
	if c.obs == nil {
		return ctx, nil
	}
	if t == nil {
		var ok bool
		if t, ok = FromContext(ctx); !ok {
			return ctx, nil // ErrNoTenant follows: nothing ran
		}
	}
	o := &observedCall{obs: c.obs, w: BoundWork{Tenant: t, Kind: kind, SQL: sql}, start: time.Now()}
	o.ctx = c.obs.BoundStart(ctx, o.w)
	return o.ctx, o
}

// waitStart and waitEnd time a wait for a connection.
func (o *observedCall) waitStart() time.Time {
	if o == nil {
		return time.Time{}
	}
	return time.Now()
}

func (o *observedCall) waitEnd(since time.Time) {
	if o != nil {
		o.w.PoolWait += time.Since(since)
	}
}

func (o *observedCall) end(err error) {
	if o == nil || o.obs == nil {
		return
	}
	o.w.Duration = time.Since(o.start)
	o.obs.BoundEnd(o.ctx, o.w, err)
	o.obs = nil // once
}

// observedOp is one lifecycle operation under an Observer; nil without one.
type observedOp struct {
	obs   Observer
	ctx   context.Context
	op    Operation
	start time.Time
}

func (c *Client) observeOp(ctx context.Context, op Operation) (context.Context, *observedOp) {
	if c.obs == nil {
		return ctx, nil
	}
	o := &observedOp{obs: c.obs, op: op, start: time.Now()}
	o.ctx = c.obs.OperationStart(ctx, op)
	return o.ctx, o
}

// tenant records what the operation learnt of its tenant.
func (o *observedOp) tenant(t *Tenant) {
	if o != nil && t != nil {
		o.op.Tenant, o.op.TenantID = t.Slug, t.ID
		if o.op.Tier == "" {
			o.op.Tier = t.Tier
		}
	}
}

// countRows returns onTable, counting the rows it is told of.
func (o *observedOp) countRows(onTable func(string, int64)) func(string, int64) {
	if o == nil {
		return onTable
	}
	return func(table string, rows int64) {
		o.op.Rows += rows
		if onTable != nil {
			onTable(table, rows)
		}
	}
}

func (o *observedOp) end(err error) {
	if o == nil {
		return
	}
	o.op.Duration = time.Since(o.start)
	o.obs.OperationEnd(o.ctx, o.op, err)
}

// carryTracers gives the pools of another server the tracers of the client's own pools, so
// that its placements are traced as the catalog's server is (their configurations are parsed
// from the URLs the catalog keeps, which carry no tracer).
func (c *Client) carryTracers(sc *placement.ServerConf) {
	if sc.App != nil && sc.App.ConnConfig.Tracer == nil {
		sc.App.ConnConfig.Tracer = c.app.Config().ConnConfig.Tracer
	}
	if sc.Owner != nil && sc.Owner.ConnConfig.Tracer == nil && c.owner != nil {
		sc.Owner.ConnConfig.Tracer = c.owner.Config().ConnConfig.Tracer
	}
}
