package tenancy_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
)

// Usage counts each tenant's transactions, time, errors, timeouts and rows written by restore
// and move, in memory; FlushUsage (and Close) add them to the catalog, where another client
// reads them, summed over clients.
func TestUsageCounters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, cfg := limitsClient(t, 2, tenancy.Config{})
	a, b := mustCreate(t, c, "usage-a"), mustCreate(t, c, "usage-b")
	a = setLimits(t, c, a.Slug, tenancy.Limits{StatementTimeout: 100 * time.Millisecond})
	actx := tenancy.WithTenant(ctx, a)
	addNotes(t, c, a, "one", "two")                               // 2 calls
	if _, err := c.Exec(actx, `SELECT pg_sleep(1)`); err == nil { // timeout
		t.Fatal("no timeout")
	}
	if err := c.Tx(actx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT 1/0`)
		return err
	}); err == nil {
		t.Fatal("1/0 did not fail")
	}
	rows, err := c.Query(actx, `SELECT body FROM notes`)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// The application role cannot write the rows of b's backup: the owner-side restore does.
	var buf bytes.Buffer
	addNotes(t, c, b, "b1", "b2", "b3")
	if _, err := c.Backup(ctx, b.Slug, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Restore(ctx, &buf, &tenancy.RestoreOpts{Slug: "usage-copy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(ctx, b.Slug, &tenancy.MoveOpts{Tier: tenancy.TierPool}); err != nil {
		t.Fatal(err)
	}
	// A second client, as another process would, counts b's calls too; Close flushes them.
	other, err := tenancy.New(&tenancy.Config{AppPool: cfg.AppPool})
	if err != nil {
		t.Fatal(err)
	}
	b, err = other.TenantGet(ctx, b.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(tenancy.WithTenant(ctx, b), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := c.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	ua, ub, uc := usageOf(t, c, a.Slug), usageOf(t, c, b.Slug), usageOf(t, c, "usage-copy")
	if ua.Transactions != 5 || ua.Errors != 2 || ua.Timeouts != 1 || ua.StatementTime < 100*time.Millisecond || ua.Busy != 0 {
		t.Errorf("usage of a: %+v; want 5 transactions, 2 errors, 1 timeout, at least 100 ms", ua)
	}
	if ub.Transactions != 4 || ub.ArchiveRows != 3 { // addNotes (a call per note) + the other client's Exec; the move wrote 3 rows
		t.Errorf("usage of b: %+v; want 4 transactions, 3 archive rows", ub)
	}
	if uc.ArchiveRows != 3 {
		t.Errorf("usage of the restored copy: %+v; want 3 archive rows", uc)
	}
	// A flush with nothing new adds nothing.
	if err := c.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if again := usageOf(t, c, a.Slug); again.Transactions != ua.Transactions {
		t.Fatalf("an empty flush changed the counts: %d then %d", ua.Transactions, again.Transactions)
	}
}

// With the application pool saturated by one tenant's slow calls, a call of a tenant with
// nothing in flight gets the next free connection, ahead of the busy tenant's earlier waiters.
// With FairShareOff it waits behind them (the pool serves waiters in arrival order).
func TestFairShareQuietGoesFirst(t *testing.T) {
	t.Parallel()
	for _, off := range []bool{false, true} {
		name := map[bool]string{false: "fair", true: "off"}[off]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, _ := limitsClient(t, 2, tenancy.Config{FairShareOff: off})
			noisy, quiet := mustCreate(t, c, "noisy"), mustCreate(t, c, "quiet")
			var mu sync.Mutex
			var order []string
			var wg sync.WaitGroup
			call := func(tn *tenancy.Tenant, sql string) {
				defer wg.Done()
				if _, err := c.Exec(tenancy.WithTenant(ctx, tn), sql); err != nil {
					t.Error(err)
				}
				mu.Lock()
				order = append(order, tn.Slug)
				mu.Unlock()
			}
			for range 6 {
				wg.Add(1)
				go call(noisy, `SELECT pg_sleep(0.3)`)
			}
			time.Sleep(100 * time.Millisecond) // two run, four wait
			wg.Add(1)
			go call(quiet, `SELECT 1`)
			wg.Wait()
			after := 0 // noisy calls that ended after the quiet one
			for i := len(order) - 1; order[i] != "quiet"; i-- {
				after++
			}
			if !off && after < 3 {
				t.Fatalf("completion order %v: the quiet call waited behind the noisy tenant's queue", order)
			}
			if off && after > 1 {
				t.Fatalf("fair sharing off, completion order %v: want the quiet call behind the queue, as the pool alone orders it", order)
			}
		})
	}
}
