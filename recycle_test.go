package tenancy_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// backendPID returns the server pid of the connection that serves tn's next bound call, through
// a one-shot call (tx false) or Tx.
func backendPID(t *testing.T, c *tenancy.Client, tn *tenancy.Tenant, tx bool) int {
	t.Helper()
	ctx := tenancy.WithTenant(context.Background(), tn)
	var pid int
	var err error
	if tx {
		err = c.Tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT count(*) FROM notes) n`).Scan(&pid)
		})
	} else {
		err = c.QueryRow(ctx, `SELECT pg_backend_pid() FROM (SELECT count(*) FROM notes) n`).Scan(&pid)
	}
	if err != nil {
		t.Fatalf("%s: %v", tn.Slug, err)
	}
	return pid
}

// The tenants of one pool placement share its tables, so they count once: a pool-tier connection
// serving more tenants than ConnMaxTenants is kept (recycling it would drop warm caches and free
// no memory); a schema-tier tenant after them is a second placement.
func TestConnRecycleCountsPlacements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newDB(t, 1)
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, TenantMigrations: tenantMigrations, ConnMaxTenants: 2})
	if err != nil {
		t.Fatal(err)
	}
	pool := make([]*tenancy.Tenant, 4)
	for i := range pool {
		if pool[i], err = c.TenantCreate(ctx, fmt.Sprintf("pooled-%d", i), &tenancy.TenantCreateOpts{Tier: tenancy.TierPool}); err != nil {
			t.Fatal(err)
		}
	}
	schema := mustCreate(t, c, "own-schema")
	first := backendPID(t, c, pool[0], false)
	for i, tn := range []*tenancy.Tenant{pool[1], pool[2], pool[3], pool[0], pool[2]} {
		if pid := backendPID(t, c, tn, i%2 == 0); pid != first {
			t.Fatalf("%s: pid %d, want %d: a pool-tier connection was recycled for tenants of one placement", tn.Slug, pid, first)
		}
	}
	// The second placement reaches the limit: served, then recycled on release.
	if pid := backendPID(t, c, schema, false); pid != first {
		t.Fatalf("%s: pid %d, want %d", schema.Slug, pid, first)
	}
	if pid := backendPID(t, c, pool[0], false); pid == first {
		t.Fatalf("after 2 distinct placements the connection (pid %d) was reused", first)
	}
}

// A connection that has served ConnMaxTenants distinct tenants is closed when released, not
// reused: on a pool of one connection, the backend pid changes right after the third tenant,
// whichever binding path served it; serving the same tenants again does not count.
func TestConnRecycledAfterMaxTenants(t *testing.T) {
	t.Parallel()
	db := newDB(t, 1)
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, TenantMigrations: tenantMigrations, ConnMaxTenants: 3})
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]*tenancy.Tenant, 4)
	for i := range ts {
		ts[i] = mustCreate(t, c, fmt.Sprintf("recycle-%d", i))
	}
	first := backendPID(t, c, ts[0], false)
	for _, step := range []struct {
		tn *tenancy.Tenant
		tx bool
	}{{ts[0], true}, {ts[1], false}, {ts[0], false}, {ts[1], true}, {ts[2], false}} {
		if pid := backendPID(t, c, step.tn, step.tx); pid != first {
			t.Fatalf("%s (tx %v): pid %d, want the first connection's %d: recycled before 3 distinct tenants", step.tn.Slug, step.tx, pid, first)
		}
	}
	second := backendPID(t, c, ts[3], true)
	if second == first {
		t.Fatalf("after 3 distinct tenants the connection (pid %d) was reused", first)
	}
	// The new connection counts afresh; the old backend is gone.
	for _, tn := range []*tenancy.Tenant{ts[3], ts[0], ts[3], ts[1]} {
		if pid := backendPID(t, c, tn, false); pid != second {
			t.Fatalf("%s: pid %d, want %d", tn.Slug, pid, second)
		}
	}
	if third := backendPID(t, c, ts[2], false); third == second {
		t.Fatalf("the second connection (pid %d) was reused after 3 distinct tenants", second)
	}
	var alive bool
	if err := db.OwnerPool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, first).Scan(&alive); err != nil {
		t.Fatal(err)
	}
	if alive {
		t.Errorf("the recycled backend %d is still connected", first)
	}
}

// Without a limit (negative) or under the default one, a connection serves any number of
// tenants; and rows stay where they belong across recycling.
func TestConnRecycleLimits(t *testing.T) {
	t.Parallel()
	db := newDB(t, 1)
	for _, limit := range []int{-1, 0} {
		c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, OwnerPool: db.OwnerPool, TenantMigrations: tenantMigrations, ConnMaxTenants: limit})
		if err != nil {
			t.Fatal(err)
		}
		var pids []int
		for i := range 6 {
			tn := mustCreate(t, c, fmt.Sprintf("limit%d-%d", -limit, i))
			addNotes(t, c, tn, tn.Slug)
			pids = append(pids, backendPID(t, c, tn, i%2 == 0))
			if got := bodies(t, c, tn); len(got) != 1 || got[0] != tn.Slug {
				t.Fatalf("%s sees %q", tn.Slug, got)
			}
		}
		for _, p := range pids {
			if p != pids[0] {
				t.Fatalf("ConnMaxTenants %d: pids %v, want one connection throughout", limit, pids)
			}
		}
	}
	if _, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, ConnMaxBytes: -1}); err == nil || !strings.Contains(err.Error(), "Config.ConnMaxBytes") {
		t.Errorf("ConnMaxBytes -1: %v, want an error naming the field", err)
	}
}

// lockedBuffer is a log destination safe for the release hook's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// ConnMaxBytes recycles a connection whose backend's memory is over the budget, read every 50
// tenant switches by a role allowed to read it (here a superuser); for the application role,
// which may not, it logs one warning and keeps the connection.
func TestConnRecycledAfterMaxBytes(t *testing.T) {
	t.Parallel()
	db := tenancytest.New(t, &tenancytest.Options{SharedMigrations: sharedMigrations, TenantMigrations: tenantMigrations, AppMaxConns: 1, Owner: tenancytest.OwnerSuperuser})
	ctx := context.Background()
	a, b := mustCreate(t, db.Client, "bytes-a"), mustCreate(t, db.Client, "bytes-b")

	run := func(pool *pgxpool.Pool, logs *lockedBuffer) []int {
		c, err := tenancy.New(&tenancy.Config{AppPool: pool, OwnerPool: db.OwnerPool, TenantMigrations: tenantMigrations,
			ConnMaxTenants: -1, ConnMaxBytes: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		var pids []int
		for i := range 120 {
			pids = append(pids, backendPID(t, c, []*tenancy.Tenant{a, b}[i%2], false))
		}
		return pids
	}
	changes := func(pids []int) (n int, at []int) {
		for i := 1; i < len(pids); i++ {
			if pids[i] != pids[i-1] {
				n++
				at = append(at, i)
			}
		}
		return n, at
	}

	cfg, err := pgxpool.ParseConfig(db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	tenancy.ConfigurePool(cfg, "")
	super, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(super.Close)
	var logs lockedBuffer
	// 120 calls alternate tenants: a reading after the 50th and the 100th switch, each over
	// the 1-byte budget.
	if n, at := changes(run(super, &logs)); n != 2 || at[0] != 50 || at[1] != 100 {
		t.Errorf("superuser pool: the connection changed %d times, at calls %v; want 2, at [50 100]", n, at)
	}
	if logs.String() != "" {
		t.Errorf("superuser pool logged %q", logs.String())
	}

	var appLogs lockedBuffer
	if n, _ := changes(run(db.AppPool, &appLogs)); n != 0 {
		t.Errorf("application role: the connection changed %d times; it cannot read its memory, so ConnMaxBytes cannot apply", n)
	}
	if got := strings.Count(appLogs.String(), "pg_read_all_stats"); got != 1 {
		t.Errorf("application role: %d warnings, want 1: %q", got, appLogs.String())
	}
}
