package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// TestPlacementPoolCaps touches more tenant databases than the caps allow, from many goroutines,
// and checks that the application role never holds more connections to them than
// MaxPlacementPools*PlacementPoolConns, and that a call that cannot get a pool in time fails
// clearly instead of opening one more.
func TestPlacementPoolCaps(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("testdata/migrations/shared"),
		TenantMigrations: os.DirFS("testdata/migrations/tenant"),
	})
	ctx := context.Background()
	const maxPools, perPool, tenants = 2, 1, 5
	c, err := tenancy.New(&tenancy.Config{
		AppPool:            db.AppPool,
		OwnerPool:          db.OwnerPool,
		TenantMigrations:   os.DirFS("testdata/migrations/tenant"),
		MaxPlacementPools:  maxPools,
		PlacementPoolConns: perPool,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ts []*tenancy.Tenant
	for i := 0; i < tenants; i++ {
		tn, err := c.TenantCreate(ctx, fmt.Sprintf("db%d", i), &tenancy.TenantCreateOpts{Tier: tenancy.TierDatabase})
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tn)
	}

	// Count the application role's connections to the tenant databases while the load runs.
	var peak atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			var n int64
			err := db.Server.SuperPool().QueryRow(ctx, `
				SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname LIKE $2 || '\_t%'`,
				tenancytest.AppRole, db.Name).Scan(&n)
			if err == nil && n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	var wg sync.WaitGroup
	var done atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				tn := ts[(w+i)%len(ts)]
				err := c.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO notes (body) VALUES ('x')`)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				done.Add(1)
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	if got := done.Load(); got != 16*30 {
		t.Fatalf("%d transactions done, want %d", got, 16*30)
	}
	// Exact, from the client's own count of the connections it opened and closed.
	if st := c.PlacementStats(); st.PeakConns > maxPools*perPool || st.PeakConns == 0 || st.Pools > maxPools {
		t.Fatalf("client: %+v, cap %d pools of %d", st, maxPools, perPool)
	}
	// As the server saw it. A backend whose connection was just closed lingers in
	// pg_stat_activity while it exits (longer on a loaded machine), so the server may briefly
	// show the closing pools beside the open ones: never more than twice the cap.
	if p := peak.Load(); p > 2*maxPools*perPool || p == 0 {
		t.Fatalf("server: peak %d application connections to tenant databases, cap %d", p, maxPools*perPool)
	}
	t.Logf("peak connections to tenant databases: client %d, server %d (cap %d)", c.PlacementStats().PeakConns, peak.Load(), maxPools*perPool)

	// Hold both pools; a third tenant's call waits, then fails clearly when its context ends.
	hold := make(chan struct{})
	var held sync.WaitGroup
	for _, tn := range ts[:maxPools] {
		held.Add(1)
		go func(tn *tenancy.Tenant) {
			_ = c.Tx(tenancy.WithTenant(ctx, tn), func(ctx context.Context, tx pgx.Tx) error {
				held.Done()
				<-hold
				return nil
			})
		}(tn)
	}
	held.Wait()
	short, cancel := context.WithTimeout(tenancy.WithTenant(ctx, ts[maxPools]), 200*time.Millisecond)
	defer cancel()
	_, err = c.Exec(short, `SELECT 1`)
	close(hold)
	if !errors.Is(err, tenancy.ErrPlacementBusy) {
		t.Fatalf("call beyond the cap: %v, want ErrPlacementBusy", err)
	}
}
