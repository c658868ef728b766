package tenancy_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// dbTracer is a pgx tracer that counts, by database, the statements and batches its
// connections ran, and those that ran under a context a recorder returned.
type dbTracer struct {
	mu     sync.Mutex
	dbs    map[string]int
	marked map[string]int
}

func (d *dbTracer) see(ctx context.Context, conn *pgx.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dbs == nil {
		d.dbs, d.marked = map[string]int{}, map[string]int{}
	}
	db := conn.Config().Database
	d.dbs[db]++
	if ctx.Value(markKey{}) != nil {
		d.marked[db]++
	}
}

func (d *dbTracer) count(db string) (n, marked int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dbs[db], d.marked[db]
}

func (d *dbTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	d.see(ctx, conn)
	return ctx
}
func (d *dbTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (d *dbTracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	d.see(ctx, conn)
	return ctx
}
func (d *dbTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (d *dbTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// TestServerKeepsTracers: the pools tenancy opens for another server (parsed from the URLs the
// catalog keeps) carry the application pool's and the owner pool's pgx tracers, so a
// database-tier tenant there is traced like one on the catalog's server.
func TestServerKeepsTracers(t *testing.T) {
	t.Parallel()
	app, owner := &dbTracer{}, &dbTracer{}
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, AppMaxConns: 2,
		AppPoolConfig:   func(c *pgxpool.Config) { c.ConnConfig.Tracer = app },
		OwnerPoolConfig: func(c *pgxpool.Config) { c.ConnConfig.Tracer = owner },
	})
	ctx := context.Background()
	ownerURL, appURL := db.SecondServer(t)
	if _, err := db.Client.ServerAdd(ctx, "second", ownerURL, appURL); err != nil {
		t.Fatal(err)
	}
	for _, tier := range []tenancy.Tier{tenancy.TierDatabase, tenancy.TierSchema} {
		tn, err := db.Client.TenantCreate(ctx, "far-"+string(tier), &tenancy.TenantCreateOpts{Tier: tier, Server: "second"})
		if err != nil {
			t.Fatal(err)
		}
		dbName := tn.Placement.Database
		if dbName == "" {
			dbName = db.Name + "_home"
		}
		if n, _ := owner.count(dbName); n == 0 {
			t.Errorf("%s tier on another server: the owner pool's tracer saw nothing in %s", tier, dbName)
		}
		if _, err := db.Client.Exec(tenancy.WithTenant(ctx, tn), `INSERT INTO notes (body) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
		if n, _ := app.count(dbName); n == 0 {
			t.Errorf("%s tier on another server: the application pool's tracer saw nothing in %s", tier, dbName)
		}
	}
}

type markKey struct{}

// recorder is an Observer that keeps what it is told and marks the contexts it returns.
type recorder struct {
	mu    sync.Mutex
	bound []boundEnd
	ops   []opEnd
}

type boundEnd struct {
	w      tenancy.BoundWork
	err    error
	marked bool
}

type opEnd struct {
	op     tenancy.Operation
	err    error
	marked bool
}

func (r *recorder) BoundStart(ctx context.Context, _ tenancy.BoundWork) context.Context {
	return context.WithValue(ctx, markKey{}, true)
}

func (r *recorder) BoundEnd(ctx context.Context, w tenancy.BoundWork, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bound = append(r.bound, boundEnd{w, err, ctx.Value(markKey{}) != nil})
}

func (r *recorder) OperationStart(ctx context.Context, _ tenancy.Operation) context.Context {
	return context.WithValue(ctx, markKey{}, true)
}

func (r *recorder) OperationEnd(ctx context.Context, op tenancy.Operation, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, opEnd{op, err, ctx.Value(markKey{}) != nil})
}

func (r *recorder) take() ([]boundEnd, []opEnd) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, o := r.bound, r.ops
	r.bound, r.ops = nil, nil
	return b, o
}

// TestObserver: in every tier, each bound call reaches Config.Observer once with its tenant,
// kind and error (also one refused before it ran: a moving tenant's) and runs under the context
// BoundStart returned (pgx's tracer sees it); Backup, Restore, Move and Migrate are reported
// with their tenant and rows.
func TestObserver(t *testing.T) {
	tracer := &dbTracer{}  // counts by database, so the tiers' parallel runs can share it
	var recorders sync.Map // the application pool -> its client's recorder
	tenancytest.EachTier(t, &tenancytest.Options{
		SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations,
		AppPoolConfig: func(c *pgxpool.Config) { c.ConnConfig.Tracer = tracer },
		ClientConfig: func(c *tenancy.Config) {
			rec := &recorder{}
			recorders.Store(c.AppPool, rec)
			c.Observer = rec
		},
	}, func(t *testing.T, d *tenancytest.TierDB) {
		ctx := d.Context(context.Background())
		c := d.Client
		r, _ := recorders.Load(d.AppPool)
		rec := r.(*recorder)
		rec.take() // TenantCreate's
		dbName := d.Name
		if d.Tier == tenancy.TierDatabase {
			dbName = d.Tenant.Placement.Database
		}

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
		if err := c.QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("count: %d, %v", n, err)
		}
		if err := c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('b')`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		_, execErr := c.Exec(ctx, `SELECT no_such_column FROM notes`)
		if execErr == nil {
			t.Fatal("a bad statement succeeded")
		}
		moving := *d.Tenant
		moving.Status = tenancy.StatusMoving
		if err := c.TxFor(ctx, &moving, pgx.TxOptions{}, func(context.Context, pgx.Tx) error { return nil }); !errors.Is(err, tenancy.ErrTenantMoving) {
			t.Fatalf("a moving tenant's transaction: %v", err)
		}
		if _, err := c.Exec(context.Background(), `SELECT 1`); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("no tenant: %v", err)
		}

		bound, _ := rec.take()
		want := []tenancy.BoundKind{tenancy.BoundExec, tenancy.BoundQuery, tenancy.BoundQueryRow, tenancy.BoundTx, tenancy.BoundExec, tenancy.BoundTx}
		if len(bound) != len(want) {
			t.Fatalf("observed %d bound calls, want %d: %+v", len(bound), len(want), bound)
		}
		for i, b := range bound {
			if b.w.Kind != want[i] || b.w.Tenant == nil || b.w.Tenant.ID != d.Tenant.ID || b.w.Tenant.Tier != d.Tier || !b.marked || b.w.Duration <= 0 {
				t.Errorf("call %d: %+v (marked %v), want %s for %s in %s", i, b.w, b.marked, want[i], d.Tenant.Slug, d.Tier)
			}
			if (i >= 4) != (b.err != nil) {
				t.Errorf("call %d (%s): error %v", i, b.w.Kind, b.err)
			}
		}
		if _, marked := tracer.count(dbName); marked < 5 {
			t.Errorf("pgx's tracer saw %d statements under the observer's context, want at least 5", marked)
		}

		// Lifecycle operations.
		var archive bytes.Buffer
		if _, err := c.Backup(ctx, d.Tenant.Slug, &archive, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Restore(ctx, bytes.NewReader(archive.Bytes()), &tenancy.RestoreOpts{Slug: "copy"}); err != nil {
			t.Fatal(err)
		}
		to := tenancy.TierSchema
		if d.Tier == tenancy.TierSchema {
			to = tenancy.TierPool
		}
		if _, err := c.Move(ctx, d.Tenant.Slug, &tenancy.MoveOpts{Tier: to}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Backup(ctx, "nobody", &archive, nil); !errors.Is(err, tenancy.ErrTenantNotFound) {
			t.Fatalf("backup of nobody: %v", err)
		}
		if _, err := c.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		_, ops := rec.take()
		wantOps := []tenancy.Operation{
			{Kind: tenancy.OpBackup, Tenant: d.Tenant.Slug, TenantID: d.Tenant.ID, Tier: d.Tier, Rows: 2},
			{Kind: tenancy.OpRestore, Tenant: "copy", Tier: d.Tier, Rows: 2},
			{Kind: tenancy.OpMove, Tenant: d.Tenant.Slug, TenantID: d.Tenant.ID, Tier: to, FromTier: d.Tier, Rows: 2},
			{Kind: tenancy.OpBackup, Tenant: "nobody"},
			{Kind: tenancy.OpMigrate},
		}
		if len(ops) != len(wantOps) {
			t.Fatalf("observed %d operations, want %d: %+v", len(ops), len(wantOps), ops)
		}
		for i, o := range ops {
			got := o.op
			got.Duration = 0
			if i == 1 {
				got.TenantID = 0 // a new tenant's
			}
			if got != wantOps[i] || !o.marked || (o.err != nil) != (i == 3) {
				t.Errorf("operation %d: %+v (err %v, marked %v), want %+v", i, o.op, o.err, o.marked, wantOps[i])
			}
		}
	})
}
