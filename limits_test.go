package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
)

// limitsClient returns a client on a fresh database with an application pool of conns.
func limitsClient(t *testing.T, conns int32, cfg tenancy.Config) (*tenancy.Client, *tenancy.Config) {
	t.Helper()
	db := newDB(t, conns)
	cfg.AppPool, cfg.OwnerPool, cfg.TenantMigrations = db.AppPool, db.OwnerPool, tenantMigrations
	cfg.PlacementPoolConns = conns
	c, err := tenancy.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, &cfg
}

func setLimits(t *testing.T, c *tenancy.Client, slug string, l tenancy.Limits) *tenancy.Tenant {
	t.Helper()
	tn, err := c.TenantSetLimits(context.Background(), slug, &l)
	if err != nil {
		t.Fatalf("set limits of %s: %v", slug, err)
	}
	if tn.Limits != l {
		t.Fatalf("limits of %s read back as %+v, want %+v", slug, tn.Limits, l)
	}
	return tn
}

// Timeouts fire per tenant, in every tier, through one-shot calls and transactions, and do not
// outlive the transaction: on a pool of one connection, the next tenant (which has none), and an
// unbound query, run on the same connection under the connection's own settings.
func TestLimitsTimeoutsPerTenant(t *testing.T) {
	t.Parallel()
	for _, tier := range []tenancy.Tier{tenancy.TierPool, tenancy.TierSchema, tenancy.TierDatabase} {
		t.Run(string(tier), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c, cfg := limitsClient(t, 1, tenancy.Config{})
			mk := func(slug string) *tenancy.Tenant {
				tn, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier})
				if err != nil {
					t.Fatal(err)
				}
				return tn
			}
			a, b := mk("limited-a"), mk("free-b")
			a = setLimits(t, c, a.Slug, tenancy.Limits{StatementTimeout: 200 * time.Millisecond})
			actx, bctx := tenancy.WithTenant(ctx, a), tenancy.WithTenant(ctx, b)

			_, err := c.Exec(actx, `SELECT pg_sleep(1)`)
			if sqlState(err) != "57014" {
				t.Fatalf("A's Exec of pg_sleep(1): %v, want a statement timeout (57014)", err)
			}
			err = c.Tx(actx, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `SELECT pg_sleep(1)`)
				return err
			})
			if sqlState(err) != "57014" {
				t.Fatalf("A's Tx with pg_sleep(1): %v, want a statement timeout (57014)", err)
			}
			var slept bool
			if err := c.QueryRow(actx, `SELECT pg_sleep(0.05) IS NULL`).Scan(&slept); err != nil {
				t.Fatalf("A's short query: %v", err)
			}
			// B, on the same (only) connection, has no timeout.
			if _, err := c.Exec(bctx, `SELECT pg_sleep(0.4)`); err != nil {
				t.Fatalf("B's Exec of pg_sleep(0.4) after A's timeout: %v", err)
			}
			err = c.Tx(bctx, func(ctx context.Context, tx pgx.Tx) error {
				var st string
				if err := tx.QueryRow(ctx, `SHOW statement_timeout`).Scan(&st); err != nil {
					return err
				}
				if st != "0" {
					return fmt.Errorf("B's transaction has statement_timeout %s, want 0", st)
				}
				_, err := tx.Exec(ctx, `SELECT pg_sleep(0.4)`)
				return err
			})
			if err != nil {
				t.Fatalf("B's Tx: %v", err)
			}
			if tier != tenancy.TierDatabase {
				var st, idle string
				if err := cfg.AppPool.QueryRow(ctx, `SELECT current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout')`).Scan(&st, &idle); err != nil {
					t.Fatal(err)
				}
				if st != "0" || idle != "0" {
					t.Fatalf("unbound use of the connection: statement_timeout %s, idle %s; want 0, 0", st, idle)
				}
			}
		})
	}
}

// An idle-in-transaction timeout ends a transaction that a tenant leaves idle; another tenant
// may stay idle as long as it likes.
func TestLimitsIdleInTransactionTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := limitsClient(t, 2, tenancy.Config{})
	a, b := mustCreate(t, c, "idle-a"), mustCreate(t, c, "idle-b")
	a = setLimits(t, c, a.Slug, tenancy.Limits{IdleInTransactionTimeout: 100 * time.Millisecond})
	idle := func(tn *tenancy.Tenant) error {
		return c.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error {
			time.Sleep(400 * time.Millisecond)
			_, err := tx.Exec(ctx, `SELECT 1`)
			return err
		})
	}
	if err := idle(a); err == nil {
		t.Fatal("A idle 400 ms in a transaction with a 100 ms idle timeout: no error")
	}
	if err := idle(b); err != nil {
		t.Fatalf("B idle 400 ms without limits: %v", err)
	}
	// A's next transaction gets a fresh connection and works.
	if _, err := c.Exec(tenancy.WithTenant(ctx, a), `SELECT 1`); err != nil {
		t.Fatalf("A after its timeout: %v", err)
	}
}

// A tenant over its cap waits Config.BusyWait, then gets ErrTenantBusy; other tenants are not
// held up; once a call ends, the tenant is served again. Usage counts the refusals.
func TestLimitsMaxConcurrentBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := limitsClient(t, 4, tenancy.Config{BusyWait: 50 * time.Millisecond})
	a, b := mustCreate(t, c, "capped-a"), mustCreate(t, c, "other-b")
	a = setLimits(t, c, a.Slug, tenancy.Limits{MaxConcurrent: 2})
	actx := tenancy.WithTenant(ctx, a)

	hold, held := make(chan struct{}), make(chan struct{}, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Tx(actx, func(ctx context.Context, tx pgx.Tx) error {
				held <- struct{}{}
				<-hold
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	<-held
	<-held
	start := time.Now()
	_, err := c.Exec(actx, `SELECT 1`)
	if !errors.Is(err, tenancy.ErrTenantBusy) {
		t.Fatalf("A's third call with 2 in flight: %v, want ErrTenantBusy", err)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatalf("ErrTenantBusy after %s, before Config.BusyWait", time.Since(start))
	}
	if err := c.QueryRow(actx, `SELECT 1`).Scan(new(int)); !errors.Is(err, tenancy.ErrTenantBusy) {
		t.Fatalf("A's QueryRow: %v, want ErrTenantBusy", err)
	}
	if _, err := c.BeginTxFor(ctx, a, pgx.TxOptions{}); !errors.Is(err, tenancy.ErrTenantBusy) {
		t.Fatalf("A's BeginTx: %v, want ErrTenantBusy", err)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, b), `SELECT 1`); err != nil {
		t.Fatalf("B while A is at its cap: %v", err)
	}
	// A waiter within BusyWait gets the slot that a call ending frees.
	done := make(chan error)
	go func() {
		_, err := c.Exec(actx, `SELECT 1`)
		done <- err
	}()
	close(hold)
	if err := <-done; err != nil && !errors.Is(err, tenancy.ErrTenantBusy) {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := c.Exec(actx, `SELECT 1`); err != nil {
		t.Fatalf("A after its calls ended: %v", err)
	}
	if err := c.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	u := usageOf(t, c, a.Slug)
	if u.Busy < 3 {
		t.Fatalf("usage of A counts %d refusals, want at least 3", u.Busy)
	}
}

func usageOf(t *testing.T, c *tenancy.Client, slug string) tenancy.TenantUsage {
	t.Helper()
	us, err := c.Usage(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Tenant == slug {
			return u
		}
	}
	t.Fatalf("no usage of %s", slug)
	return tenancy.TenantUsage{}
}

// Config.DefaultLimits apply to a tenant without limits of its own; its own replace them;
// clearing them brings the defaults back.
func TestLimitsDefault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := limitsClient(t, 2, tenancy.Config{DefaultLimits: tenancy.Limits{StatementTimeout: 100 * time.Millisecond}})
	a := mustCreate(t, c, "defaulted")
	if _, err := c.Exec(tenancy.WithTenant(ctx, a), `SELECT pg_sleep(0.5)`); sqlState(err) != "57014" {
		t.Fatalf("default 100 ms timeout: %v, want 57014", err)
	}
	a = setLimits(t, c, a.Slug, tenancy.Limits{StatementTimeout: 2 * time.Second})
	if _, err := c.Exec(tenancy.WithTenant(ctx, a), `SELECT pg_sleep(0.5)`); err != nil {
		t.Fatalf("own 2 s timeout: %v", err)
	}
	a, err := c.TenantSetLimits(ctx, a.Slug, nil)
	if err != nil || !a.Limits.IsZero() {
		t.Fatalf("clear: %v, %+v", err, a)
	}
	if _, err := c.Exec(tenancy.WithTenant(ctx, a), `SELECT pg_sleep(0.5)`); sqlState(err) != "57014" {
		t.Fatalf("after clearing, the default: %v, want 57014", err)
	}
	if _, err := tenancy.New(&tenancy.Config{AppPool: c.AppPool(), DefaultLimits: tenancy.Limits{MaxConcurrent: -1}}); !errors.Is(err, tenancy.ErrInvalidLimits) {
		t.Fatalf("New with negative DefaultLimits.MaxConcurrent: %v, want ErrInvalidLimits", err)
	}
}

// Bad limits get one clear error and change nothing.
func TestLimitsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := limitsClient(t, 2, tenancy.Config{})
	a := mustCreate(t, c, "bad-limits")
	want := setLimits(t, c, a.Slug, tenancy.Limits{MaxConcurrent: 3}).Limits
	for _, l := range []tenancy.Limits{
		{StatementTimeout: -time.Second},
		{IdleInTransactionTimeout: 1500 * time.Microsecond},
		{StatementTimeout: 30 * 24 * time.Hour},
		{MaxConcurrent: -2},
	} {
		if _, err := c.TenantSetLimits(ctx, a.Slug, &l); !errors.Is(err, tenancy.ErrInvalidLimits) {
			t.Errorf("%+v: %v, want ErrInvalidLimits", l, err)
		}
	}
	if _, err := c.TenantSetLimits(ctx, "no-such", &tenancy.Limits{MaxConcurrent: 1}); !errors.Is(err, tenancy.ErrTenantNotFound) {
		t.Errorf("unknown tenant: %v, want ErrTenantNotFound", err)
	}
	if _, err := c.TenantSetLimits(ctx, "Bad Slug", &tenancy.Limits{MaxConcurrent: 1}); !errors.Is(err, tenancy.ErrInvalidSlug) {
		t.Errorf("bad slug: %v, want ErrInvalidSlug", err)
	}
	got, err := c.TenantGet(ctx, a.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if got.Limits != want {
		t.Fatalf("limits after bad input: %+v, want %+v", got.Limits, want)
	}
}
