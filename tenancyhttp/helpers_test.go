package tenancyhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancy-go/tenancy"
	"github.com/tenancy-go/tenancy/tenancyhttp"
	"github.com/tenancy-go/tenancy/tenancytest"
)

// queryCounter counts the statements sent on a pool (a pgx QueryTracer).
type queryCounter struct{ n atomic.Int64 }

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	q.n.Add(1)
	return ctx
}
func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// newDB returns a test database whose application pool counts its queries.
func newDB(t testing.TB) (*tenancytest.DB, *queryCounter) {
	t.Helper()
	qc := &queryCounter{}
	db := tenancytest.New(t, &tenancytest.Options{
		SharedMigrations: os.DirFS("../testdata/migrations/shared"),
		TenantMigrations: os.DirFS("../testdata/migrations/tenant"),
		AppPoolConfig:    func(c *pgxpool.Config) { c.ConnConfig.Tracer = qc },
	})
	return db, qc
}

func create(t testing.TB, db *tenancytest.DB, slug string, domains ...string) *tenancy.Tenant {
	t.Helper()
	ctx := context.Background()
	if _, err := db.Client.TenantCreate(ctx, slug, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range domains {
		if _, err := db.Client.DomainAdd(ctx, slug, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	tn, err := db.Client.TenantGet(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// setStatus forces a status the public API has no verb for yet (moving, provisioning), as the
// owner role; the catalog's trigger announces it like any other change.
func setStatus(t testing.TB, db *tenancytest.DB, slug string, s tenancy.Status) {
	t.Helper()
	if _, err := db.OwnerPool.Exec(context.Background(), `UPDATE tenancy.tenants SET status = $2 WHERE slug = $1`, slug, string(s)); err != nil {
		t.Fatal(err)
	}
}

// echo answers with the tenant's slug and the path it was given.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	t, ok := tenancy.FromContext(r.Context())
	if !ok {
		http.Error(w, "no tenant in context", 500)
		return
	}
	io.WriteString(w, t.Slug+" "+r.URL.Path)
})

var public = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, ok := tenancy.FromContext(r.Context()); ok {
		http.Error(w, "tenant in public context", 500)
		return
	}
	io.WriteString(w, "public "+r.URL.Path)
})

type req struct {
	host, path string
	header     map[string]string
}

// do serves one request through h, returning status and body.
func do(h http.Handler, q req) (int, string, http.Header) {
	if q.path == "" {
		q.path = "/"
	}
	r := httptest.NewRequest("GET", "http://placeholder"+q.path, nil)
	r.Host = q.host
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, strings.TrimSpace(w.Body.String()), w.Header()
}

func newCache(t testing.TB, c *tenancy.Client, cfg *tenancyhttp.CacheConfig) *tenancyhttp.Cache {
	t.Helper()
	cache := tenancyhttp.NewCache(c, cfg)
	if err := cache.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	return cache
}

// newServer serves h on a loopback port, as production does (a real listener, real HTTP).
func newServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
