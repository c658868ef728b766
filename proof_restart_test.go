package tenancy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/bench/soak/isolation"
	"github.com/tenancy-go/tenancy/internal/pglocal"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// TestProofRestart stops PostgreSQL in the middle of a run of HTTP requests and starts it again
// (docs/reliability.md, section 3). It runs its own cluster: the shared test cluster is never
// stopped. During the outage requests must fail with 503 (not hang); the service must recover by
// itself after the restart; every acknowledged write (201) must be there afterwards; and no
// connection of the application pool may carry a tenant binding. Each phase lasts a fixed number
// of requests, not a time: how fast the outage is answered and recovered is logged, not asserted.
func TestProofRestart(t *testing.T) {
	t.Parallel()
	if _, err := pglocal.FindBinaries(); err != nil {
		t.Skip(err)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenancy-restart-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user must reach it when we are root
		t.Fatal(err)
	}
	opts := &pglocal.Options{Fast: true}
	cl, err := pglocal.Start(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pglocal.Stop(context.Background(), dir); err != nil {
			t.Logf("stop the restart cluster: %v", err)
		}
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("kept the cluster folder %s", dir)
		}
	})

	// Roles and a catalog database, as production has them: an owner and an application role.
	super, err := pgx.Connect(ctx, cl.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`CREATE ROLE rs_owner LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS PASSWORD 'owner-pw'`,
		`CREATE ROLE rs_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'app-pw'`,
		`CREATE DATABASE rs OWNER rs_owner`,
	} {
		if _, err := super.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	_ = super.Close(ctx)
	// connect_timeout: a server that does not answer at all must not hold a request for long.
	admin, err := pgxpool.New(ctx, cl.URLFor("rs_owner", "owner-pw", "rs")+"&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	pcfg, err := pgxpool.ParseConfig(cl.URLFor("rs_app", "app-pw", "rs") + "&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	tenancy.ConfigurePool(pcfg, "")
	pcfg.MaxConns = 4
	app, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	c, err := tenancy.New(&tenancy.Config{AppPool: app, OwnerPool: admin, TenantMigrations: migV1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Init(ctx); err != nil {
		t.Fatal(err)
	}
	slugs := []string{"alpha", "bravo", "charlie", "delta"}
	for i, slug := range slugs {
		tier := tenancy.TierSchema
		switch i {
		case 2:
			tier = tenancy.TierDatabase // a pool of its own, to its own database
		case 3:
			tier = tenancy.TierPool
		}
		if _, err := c.TenantCreate(ctx, slug, &tenancy.TenantCreateOpts{Tier: tier}); err != nil {
			t.Fatal(err)
		}
	}

	// The HTTP stack: a preloaded cache, the subdomain resolver, and a handler that writes through
	// the binding and answers 503 when the database cannot be reached.
	cache := tenancyhttp.NewCache(c, nil)
	if _, err := cache.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	unavailable := func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seq := r.URL.Query().Get("seq")
		if _, err := c.Exec(r.Context(), `INSERT INTO notes (body) VALUES ($1)`, seq); err != nil {
			if isolation.Unavailable(err) {
				unavailable(w)
				return
			}
			t.Errorf("a write failed with an error that is not the outage: %v", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	srv := httptest.NewServer(tenancyhttp.Middleware(&tenancyhttp.Config{
		Tenants:   cache,
		Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("rs.test")},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if tenancyhttp.StatusCode(err) == http.StatusInternalServerError && isolation.Unavailable(err) {
				unavailable(w)
				return
			}
			tenancyhttp.DefaultErrorHandler(w, r, err)
		},
	})(handler))
	defer srv.Close()
	hc := &http.Client{Timeout: 2 * time.Minute} // a hang guard: a hung request fails the test

	type result struct {
		start, end time.Time
		code       int
		err        error
	}
	var (
		mu      sync.Mutex
		results []result
		acked   = map[string][]string{} // slug -> bodies acknowledged with 201
		seq     atomic.Int64
	)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; runCtx.Err() == nil; i++ {
				slug := slugs[(w+i)%len(slugs)]
				body := strconv.FormatInt(seq.Add(1), 10)
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/notes?seq="+body, nil)
				req.Host = slug + ".rs.test"
				r := result{start: time.Now()}
				resp, err := hc.Do(req)
				r.end = time.Now()
				if err != nil {
					r.err = err
				} else {
					r.code = resp.StatusCode
					_ = resp.Body.Close()
				}
				mu.Lock()
				results = append(results, r)
				if r.code == http.StatusCreated {
					acked[slug] = append(acked[slug], body)
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	// count reports how many results satisfy f, and when the last failure ended.
	count := func(f func(r result) bool) (n int, lastFail time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range results {
			if f(r) {
				n++
			}
			if r.code != http.StatusCreated && r.end.After(lastFail) {
				lastFail = r.end
			}
		}
		return n, lastFail
	}
	// waitUntil waits for cond, which a fixed number of requests meets; the limit only catches a hang.
	waitUntil := func(what string, cond func() bool) bool {
		for limit := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(limit) {
				t.Errorf("%s: not within %v", what, 2*time.Minute)
				return false
			}
		}
		return true
	}
	waitUntil("20 writes acknowledged before the stop", func() bool {
		n, _ := count(func(r result) bool { return r.code == http.StatusCreated })
		return n >= 20
	})
	stopAt := time.Now()
	if err := pglocal.Stop(ctx, dir); err != nil {
		stop()
		wg.Wait()
		t.Fatal(err)
	}
	down := time.Now()
	waitUntil("8 requests sent and answered while the server is down", func() bool {
		n, _ := count(func(r result) bool { return !r.start.Before(down) })
		return n >= 8
	})
	upBegin := time.Now()
	cl2, err := pglocal.Start(ctx, dir, opts)
	if err != nil {
		stop()
		wg.Wait()
		t.Fatal(err)
	}
	up := time.Now()
	if cl2.Port != cl.Port {
		stop()
		wg.Wait()
		t.Fatalf("the restarted server took port %d (%d was taken meanwhile): the service cannot find it", cl2.Port, cl.Port)
	}
	// Run on until 40 requests sent after the restart succeeded in a row after the last failure.
	recovered := waitUntil("the service recovers by itself after the restart", func() bool {
		_, lastFail := count(func(result) bool { return false })
		n, _ := count(func(r result) bool {
			return r.code == http.StatusCreated && r.start.After(up) && r.start.After(lastFail)
		})
		return n >= 40
	})
	stop()
	wg.Wait()

	// The figures.
	var total, ok, outageN, outage503, other int
	var slowest time.Duration
	var lastFail, firstOK time.Time
	for _, r := range results {
		total++
		downWhole := !r.start.Before(down) && r.start.Before(upBegin)
		if downWhole {
			outageN++
		}
		if r.code == http.StatusCreated {
			if downWhole {
				t.Errorf("a request was acknowledged while the server was stopped")
			}
			ok++
			if r.start.After(up) && (firstOK.IsZero() || r.end.Before(firstOK)) {
				firstOK = r.end
			}
			continue
		}
		if r.end.After(lastFail) {
			lastFail = r.end
		}
		if r.code != http.StatusServiceUnavailable {
			other++
			t.Errorf("request at %v after the stop: code %d, error %v; want 201 or 503",
				r.start.Sub(stopAt).Round(time.Millisecond), r.code, r.err)
			continue
		}
		if d := r.end.Sub(r.start); d > slowest {
			slowest = d
		}
		if downWhole {
			outage503++
		}
	}
	recovery := lastFail.Sub(up)
	if recovery < 0 {
		recovery = 0
	}
	t.Logf("stop took %v, down %v, start took %v", down.Sub(stopAt).Round(time.Millisecond),
		upBegin.Sub(down).Round(time.Millisecond), up.Sub(upBegin).Round(time.Millisecond))
	t.Logf("%d requests, %d acknowledged (201); %d of %d sent while the server was down failed with 503, slowest 503 %v; "+
		"last failure %v after the restart, first 201 %v after it",
		total, ok, outage503, outageN, slowest.Round(time.Millisecond), recovery.Round(time.Millisecond), firstOK.Sub(up).Round(time.Millisecond))
	if outageN == 0 {
		t.Errorf("no request failed during the outage: the outage was not observed")
	}
	if !recovered || firstOK.IsZero() {
		t.Errorf("the service did not recover after the restart (first 201: %v)", firstOK)
	}
	if other > 0 {
		t.Errorf("%d requests failed with something other than 503", other)
	}

	// Every acknowledged write is there, read back through the binding.
	lost := 0
	for _, slug := range slugs {
		tn, err := c.TenantGet(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := c.Query(tenancy.WithTenant(ctx, tn), `SELECT body FROM notes`)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, b := range got {
			have[b] = true
		}
		for _, b := range acked[slug] {
			if !have[b] {
				lost++
			}
		}
	}
	t.Logf("acknowledged writes %d, lost %d", ok, lost)
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}

	// No binding leaked: every connection of the application pool, used unbound, sees no tenant.
	conns := app.AcquireAllIdle(ctx)
	if len(conns) == 0 {
		t.Fatal("no idle connection in the application pool")
	}
	for _, pc := range conns {
		var id string
		if err := pc.QueryRow(ctx, `SELECT coalesce(current_setting('tenancy.tenant_id', true), '')`).Scan(&id); err != nil {
			t.Errorf("unbound query: %v", err)
		} else if id != "" {
			t.Errorf("an unbound connection of the application pool carries tenancy.tenant_id = %q", id)
		}
		pc.Release()
	}
	for range 20 {
		var id string
		if err := app.QueryRow(ctx, `SELECT coalesce(current_setting('tenancy.tenant_id', true), '')`).Scan(&id); err != nil || id != "" {
			t.Errorf("unbound query on the pool: %q, %v", id, err)
		}
	}
}
