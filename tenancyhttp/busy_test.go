package tenancyhttp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
)

// A tenant over its cap of concurrent bound calls gets 429 with Retry-After from a handler that
// answers the call's error with WriteError; another tenant is served meanwhile.
func TestBusyTenant429(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	create(t, db, "busy")
	create(t, db, "calm")
	if _, err := db.Client.TenantSetLimits(ctx, "busy", &tenancy.Limits{MaxConcurrent: 1}); err != nil {
		t.Fatal(err)
	}
	c, err := tenancy.New(&tenancy.Config{AppPool: db.AppPool, BusyWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cache := newCache(t, c, nil)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := c.Exec(r.Context(), `SELECT 1`); err != nil {
			tenancyhttp.WriteError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h := tenancyhttp.Middleware(&tenancyhttp.Config{Tenants: cache, Resolvers: []tenancyhttp.Resolver{tenancyhttp.Subdomain("localhost")}})(app)
	get := func(host string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://"+host+"/", nil))
		return w
	}
	if w := get("busy.localhost"); w.Code != http.StatusNoContent {
		t.Fatalf("busy, nothing in flight: %d", w.Code)
	}
	busy, err := cache.TenantGet(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	hold, held := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- c.Tx(tenancy.WithTenant(ctx, busy), func(context.Context, pgx.Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	w := get("busy.localhost")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("busy at its cap: %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	if w := get("calm.localhost"); w.Code != http.StatusNoContent {
		t.Fatalf("calm while busy is at its cap: %d", w.Code)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w := get("busy.localhost"); w.Code != http.StatusNoContent {
		t.Fatalf("busy after its call ended: %d", w.Code)
	}
}

// A change of a tenant's limits reaches another client's cache through the catalog's change
// notices, as any other change does.
func TestLimitsReachCache(t *testing.T) {
	t.Parallel()
	db, _ := newDB(t)
	ctx := context.Background()
	create(t, db, "acme")
	other := secondClient(t, db)
	cache := newCache(t, other, &tenancyhttp.CacheConfig{TTL: time.Hour, NegativeTTL: time.Hour})
	if tn, err := cache.TenantGet(ctx, "acme"); err != nil || !tn.Limits.IsZero() {
		t.Fatalf("before: %v, %+v", err, tn)
	}
	want := tenancy.Limits{StatementTimeout: 2 * time.Second, MaxConcurrent: 3}
	if _, err := db.Client.TenantSetLimits(ctx, "acme", &want); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); ; time.Sleep(2 * time.Millisecond) {
		tn, err := cache.TenantGet(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if tn.Limits == want {
			break
		}
		if time.Since(start) > eventually {
			t.Fatalf("limits not seen by the other client's cache within %v: %+v", eventually, tn.Limits)
		}
	}
}
