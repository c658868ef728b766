package ormtest_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancysql"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// errRollback makes an ORM's transaction callback roll back.
var errRollback = errors.New("roll back")

// item is what every ORM writes and reads: a row of tenancysql's test table, items, whose
// tenant_id defaults to the bound tenant and is never set by the application.
type item struct {
	ID        int64
	Name      string
	Price     float64
	Qty       int
	Done      bool
	Attrs     []byte // jsonb
	CreatedAt time.Time
}

// orm is one ORM opened on tenancysql.OpenDB, reduced to what the checks need.
type orm interface {
	insert(ctx context.Context, it *item) error // sets it.ID
	items(ctx context.Context) ([]item, error)  // in id order
	// insertTx inserts it in a transaction begun with ctx, then commits, or rolls back when
	// rollback is set (the callback returns errRollback).
	insertTx(ctx context.Context, it *item, rollback bool) error
}

// eachTier runs the checks against an ORM that open returns, in every tier: a tenant writes and
// reads only its own rows, no tenant means an error and no rows, a rolled-back transaction
// leaves nothing.
func eachTier(t *testing.T, open func(t *testing.T, client *tenancy.Client) orm) {
	t.Helper()
	opts := &tenancytest.Options{TenantMigrations: os.DirFS("../testdata/migrations/tenant")}
	tenancytest.EachTier(t, opts, func(t *testing.T, d *tenancytest.TierDB) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		o := open(t, d.Client)
		other, err := d.Client.TenantCreate(ctx, "globex", &tenancy.TenantCreateOpts{Tier: d.Tier})
		if err != nil {
			t.Fatal(err)
		}
		acme, globex := d.Context(ctx), tenancy.WithTenant(ctx, other)

		anvil := &item{Name: "anvil", Price: 9.99, Qty: 3, Done: true, Attrs: []byte(`{"color": "black"}`), CreatedAt: time.Now()}
		if err := o.insert(acme, anvil); err != nil {
			t.Fatalf("insert for acme: %v", err)
		}
		if anvil.ID == 0 {
			t.Fatal("insert did not set the id")
		}
		if err := o.insert(globex, &item{Name: "rocket", CreatedAt: time.Now()}); err != nil {
			t.Fatalf("insert for globex: %v", err)
		}
		got := names(t, o, acme)
		if !reflect.DeepEqual(got, []string{"anvil"}) {
			t.Fatalf("acme sees %q", got)
		}
		if got := names(t, o, globex); !reflect.DeepEqual(got, []string{"rocket"}) {
			t.Fatalf("globex sees %q", got)
		}
		read, err := o.items(acme)
		if err != nil {
			t.Fatal(err)
		}
		r := read[0]
		if r.ID != anvil.ID || r.Price != 9.99 || r.Qty != 3 || !r.Done || string(r.Attrs) != `{"color": "black"}` ||
			r.CreatedAt.Sub(anvil.CreatedAt).Abs() > time.Millisecond {
			t.Fatalf("read back %+v, wrote %+v", r, *anvil)
		}

		// No tenant: an error, no rows, nothing written.
		if err := o.insert(ctx, &item{Name: "orphan", CreatedAt: time.Now()}); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("insert without a tenant: %v", err)
		}
		if its, err := o.items(ctx); !errors.Is(err, tenancy.ErrNoTenant) || len(its) != 0 {
			t.Fatalf("read without a tenant: %d rows, %v", len(its), err)
		}
		if err := o.insertTx(ctx, &item{Name: "orphan", CreatedAt: time.Now()}, false); !errors.Is(err, tenancy.ErrNoTenant) {
			t.Fatalf("transaction without a tenant: %v", err)
		}

		// A rolled-back transaction leaves nothing; a committed one stays.
		if err := o.insertTx(acme, &item{Name: "dropped", CreatedAt: time.Now()}, true); !errors.Is(err, errRollback) {
			t.Fatalf("rolled-back transaction: %v", err)
		}
		if err := o.insertTx(acme, &item{Name: "bolt", CreatedAt: time.Now()}, false); err != nil {
			t.Fatalf("committed transaction: %v", err)
		}
		if got := names(t, o, acme); !reflect.DeepEqual(got, []string{"anvil", "bolt"}) {
			t.Fatalf("acme sees %q after a rollback and a commit", got)
		}
		if got := names(t, o, globex); !reflect.DeepEqual(got, []string{"rocket"}) {
			t.Fatalf("globex sees %q", got)
		}
	})
}

func names(t *testing.T, o orm, ctx context.Context) []string {
	t.Helper()
	its, err := o.items(ctx)
	if err != nil {
		t.Fatalf("read items: %v", err)
	}
	out := []string{}
	for _, it := range its {
		out = append(out, it.Name)
	}
	return out
}

// sqlDB opens tenancysql's *sql.DB on client for the test.
func sqlDB(t *testing.T, client *tenancy.Client) *sql.DB {
	t.Helper()
	db := tenancysql.OpenDB(client)
	t.Cleanup(func() { _ = db.Close() })
	return db
}
