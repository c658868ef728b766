package tenancyhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
	"github.com/tenancy-go/tenancy/tenancytest"
)

func TestCacheHitSendsNoQuery(t *testing.T) {
	t.Parallel()
	db, qc := newDB(t)
	create(t, db, "acme", "acme.example.com")
	cache := newCache(t, db.Client, nil)
	h := tenancyhttp.Middleware(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain(), tenancyhttp.Subdomain("localhost")},
	})(echo)
	for _, tc := range []struct {
		host        string
		code        int
		firstLoads  int64 // queries of the first request
		repeatLoads int64 // queries of the next 1,000
	}{
		{"acme.example.com", 200, 1, 0},
		{"acme.localhost", 200, 2, 0}, // a domain miss, then the slug (already cached by the first load)
		{"nobody.example.com", 404, 1, 0},
		{"www.nobody.example.com", 404, 1, 0}, // www.nobody is a miss; nobody is cached as unknown
	} {
		before := qc.n.Load()
		if code, _, _ := do(h, req{host: tc.host}); code != tc.code {
			t.Fatalf("%s: %d, want %d", tc.host, code, tc.code)
		}
		if got := qc.n.Load() - before; got > tc.firstLoads {
			t.Errorf("%s: first request sent %d queries, want at most %d", tc.host, got, tc.firstLoads)
		}
		before = qc.n.Load()
		for i := 0; i < 1000; i++ {
			if code, _, _ := do(h, req{host: tc.host}); code != tc.code {
				t.Fatalf("%s: %d, want %d", tc.host, code, tc.code)
			}
		}
		if got := qc.n.Load() - before; got != tc.repeatLoads {
			t.Errorf("%s: 1,000 more requests sent %d queries, want %d", tc.host, got, tc.repeatLoads)
		}
	}
}

func TestCacheMissesShareOneQuery(t *testing.T) {
	t.Parallel()
	db, qc := newDB(t)
	create(t, db, "acme")
	cache := tenancyhttp.NewCache(db.Client, nil)
	before := qc.n.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tn, err := cache.TenantGet(context.Background(), "acme")
			if err == nil && tn.Slug != "acme" {
				err = fmt.Errorf("got %s", tn.Slug)
			}
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := qc.n.Load() - before; got != 1 {
		t.Fatalf("64 concurrent misses sent %d queries, want 1", got)
	}
}

// secondClient opens a Client on a pool of its own, standing in for another application process.
func secondClient(t testing.TB, db *tenancytest.DB) *tenancy.Client {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatal(err)
	}
	tenancy.ConfigurePool(cfg, "")
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	c, err := tenancy.New(&tenancy.Config{AppPool: pool})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestChangesReachAnotherClient: every catalog change made through one Client changes the answers
// of a second Client's started cache (its own pool and listener). The TTLs are an hour, so only a
// notification can explain the change; how soon it arrives is logged.
func TestChangesReachAnotherClient(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme", "acme.example.com")
	other := secondClient(t, db)
	cache := newCache(t, other, &tenancyhttp.CacheConfig{TTL: time.Hour, NegativeTTL: time.Hour})
	h := tenancyhttp.Middleware(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Domain(), tenancyhttp.Subdomain("localhost")},
	})(echo)
	ctx := context.Background()
	expect := func(host string, code int, body string) func() bool {
		return func() bool {
			c, b, _ := do(h, req{host: host})
			return c == code && (body == "" || b == body)
		}
	}
	// Warm every answer that a change below must overturn.
	for _, host := range []string{"acme.example.com", "acme.localhost", "new.example.com", "renamed.localhost", "later.localhost"} {
		do(h, req{host: host})
	}
	var slowest time.Duration
	for _, step := range []struct {
		name   string
		change func() error
		ok     func() bool
	}{
		{"suspend", func() error { _, err := db.Client.TenantSuspend(ctx, "acme"); return err }, expect("acme.localhost", 403, "")},
		{"suspend (domain)", func() error { return nil }, expect("acme.example.com", 403, "")},
		{"resume", func() error { _, err := db.Client.TenantResume(ctx, "acme"); return err }, expect("acme.example.com", 200, "acme /")},
		{"add domain", func() error { _, err := db.Client.DomainAdd(ctx, "acme", "new.example.com", nil); return err }, expect("new.example.com", 200, "acme /")},
		{"remove domain", func() error { return db.Client.DomainRemove(ctx, "acme.example.com") }, expect("acme.example.com", 404, "")},
		{"rename", func() error { _, err := db.Client.TenantRename(ctx, "acme", "renamed"); return err }, expect("renamed.localhost", 200, "renamed /")},
		{"old slug gone", func() error { return nil }, expect("acme.localhost", 404, "")},
		{"create", func() error { create(t, db, "later"); return nil }, expect("later.localhost", 200, "later /")},
		{"soft delete", func() error { return db.Client.TenantDelete(ctx, "renamed", nil) }, expect("new.example.com", 404, "")},
		{"hard delete", func() error { return db.Client.TenantDelete(ctx, "later", &tenancy.TenantDeleteOpts{Hard: true}) }, expect("later.localhost", 404, "")},
	} {
		start := time.Now()
		if err := step.change(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		for !step.ok() {
			if time.Since(start) > eventually {
				t.Fatalf("%s: not seen by the other client's cache within %v", step.name, eventually)
			}
			time.Sleep(2 * time.Millisecond)
		}
		slowest = max(slowest, time.Since(start))
	}
	t.Logf("slowest change to reach the other cache: %v; stats %+v", slowest, cache.Stats())
}

// TestListenerReconnects: the listener's connection is killed on the server; the cache drops
// everything, reconnects, and changes reach it again.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	db, qc := newDB(t)
	create(t, db, "acme")
	cache := newCache(t, db.Client, &tenancyhttp.CacheConfig{TTL: time.Hour})
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")}})(echo)
	if code, _, _ := do(h, req{host: "acme.localhost"}); code != 200 {
		t.Fatal(code)
	}
	ctx := context.Background()
	pids := func() []int32 {
		rows, err := db.Server.SuperPool().Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2`, db.Name, tenancyhttp.ListenerApplicationName)
		if err != nil {
			t.Fatal(err)
		}
		var out []int32
		for rows.Next() {
			var p int32
			rows.Scan(&p)
			out = append(out, p)
		}
		return out
	}
	old := pids()
	if len(old) != 1 {
		t.Fatalf("want one listener connection, found %v", old)
	}
	if _, err := db.Server.SuperPool().Exec(ctx, `SELECT pg_terminate_backend($1)`, old[0]); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, func() bool { s := cache.Stats(); return s.Reconnects == 1 && s.Listening })
	if now := pids(); len(now) != 1 || now[0] == old[0] {
		t.Fatalf("listener connections after reconnect: %v (was %v)", now, old)
	}
	// The cache was dropped: the next request asks the catalog again.
	before := qc.n.Load()
	do(h, req{host: "acme.localhost"})
	if qc.n.Load() == before {
		t.Error("the cache kept entries across a reconnect, when notifications may have been missed")
	}
	if _, err := db.Client.TenantSuspend(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	seen := waitFor(t, func() bool { code, _, _ := do(h, req{host: "acme.localhost"}); return code == 403 })
	t.Logf("reconnected in %v; a suspend reached the cache %v later", took, seen)
}

// TestListenerPingsIdleConnection: with a short health interval the idle listener pings, and the
// timeouts that wake it do not break its connection.
func TestListenerPingsIdleConnection(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme")
	cache := newCache(t, db.Client, &tenancyhttp.CacheConfig{TTL: time.Hour, HealthInterval: 20 * time.Millisecond})
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")}})(echo)
	do(h, req{host: "acme.localhost"})
	time.Sleep(200 * time.Millisecond) // about ten pings
	if _, err := db.Client.TenantSuspend(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { code, _, _ := do(h, req{host: "acme.localhost"}); return code == 403 })
	if s := cache.Stats(); s.Reconnects != 0 || !s.Listening {
		t.Fatalf("pings broke the listener: %+v", s)
	}
}

// TestTTLWithoutListener: an unstarted cache still converges, after TTL.
func TestTTLWithoutListener(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	create(t, db, "acme")
	cache := tenancyhttp.NewCache(db.Client, &tenancyhttp.CacheConfig{TTL: 100 * time.Millisecond})
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")}})(echo)
	do(h, req{host: "acme.localhost"})
	if _, err := db.Client.TenantSuspend(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { code, _, _ := do(h, req{host: "acme.localhost"}); return code == http.StatusForbidden })
	if s := cache.Stats(); s.Notifications != 0 || s.Loads < 2 {
		t.Fatalf("stats %+v: want no notifications and a reload", s)
	}
}
